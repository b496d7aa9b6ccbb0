#include "metrics.hpp"

#include <algorithm>
#include <iterator>

#include <fmt/format.h>

namespace qguard::serve {

void Metrics::observe_request(const std::string& endpoint, int status, double seconds) {
  std::lock_guard lock(mutex_);
  ++requests_[{endpoint, status}];
  Histogram& h = latency_[endpoint];
  const auto bucket = std::lower_bound(kBuckets.begin(), kBuckets.end(), seconds) - kBuckets.begin();
  if (bucket < static_cast<std::ptrdiff_t>(kBuckets.size())) ++h.counts[static_cast<std::size_t>(bucket)];
  ++h.count;
  h.sum += seconds;
}

void Metrics::add_tokens(std::int64_t prompt, std::int64_t completion) {
  std::lock_guard lock(mutex_);
  prompt_tokens_ += prompt;
  completion_tokens_ += completion;
}

std::string Metrics::render(int running, int queued, bool loaded) const {
  std::lock_guard lock(mutex_);
  fmt::memory_buffer out;
  const auto it = std::back_inserter(out);
  fmt::format_to(it, "# HELP qguard_requests_total HTTP requests answered, by endpoint and status.\n"
       "# TYPE qguard_requests_total counter\n");
  for (const auto& [key, count] : requests_) {
    fmt::format_to(it, "qguard_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", key.first, key.second, count);
  }
  fmt::format_to(it, "# HELP qguard_request_duration_seconds Time from the request's arrival to its answer.\n"
       "# TYPE qguard_request_duration_seconds histogram\n");
  for (const auto& [endpoint, h] : latency_) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      cumulative += h.counts[i];
      fmt::format_to(it, "qguard_request_duration_seconds_bucket{{endpoint=\"{}\",le=\"{}\"}} {}\n", endpoint, kBuckets[i], cumulative);
    }
    fmt::format_to(it, "qguard_request_duration_seconds_bucket{{endpoint=\"{}\",le=\"+Inf\"}} {}\n", endpoint, h.count);
    fmt::format_to(it, "qguard_request_duration_seconds_sum{{endpoint=\"{}\"}} {}\n", endpoint, h.sum);
    fmt::format_to(it, "qguard_request_duration_seconds_count{{endpoint=\"{}\"}} {}\n", endpoint, h.count);
  }
  fmt::format_to(it, "# HELP qguard_queue_depth Requests waiting for a moderation slot.\n# TYPE qguard_queue_depth gauge\n"
       "qguard_queue_depth {}\n", queued);
  fmt::format_to(it, "# HELP qguard_requests_running Moderations running now.\n# TYPE qguard_requests_running gauge\n"
       "qguard_requests_running {}\n", running);
  fmt::format_to(it, "# HELP qguard_model_loaded 1 once the model is loaded.\n# TYPE qguard_model_loaded gauge\n"
       "qguard_model_loaded {}\n", loaded ? 1 : 0);
  fmt::format_to(it, "# HELP qguard_prompt_tokens_total Prompt tokens moderated.\n# TYPE qguard_prompt_tokens_total counter\n"
       "qguard_prompt_tokens_total {}\n", prompt_tokens_);
  fmt::format_to(it, "# HELP qguard_completion_tokens_total Answer tokens produced.\n# TYPE qguard_completion_tokens_total counter\n"
       "qguard_completion_tokens_total {}\n", completion_tokens_);
  return fmt::to_string(out);
}

}  // namespace qguard::serve
