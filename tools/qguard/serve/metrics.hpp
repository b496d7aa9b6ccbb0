// Counters for GET /metrics, in Prometheus' text format: requests by endpoint and status, a latency
// histogram per endpoint, tokens processed; the queue gauges are read from the Admission at scrape time.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace qguard::serve {

class Metrics {
 public:
  // `endpoint` must come from a fixed set (known routes, or "other") so the series stay bounded.
  void observe_request(const std::string& endpoint, int status, double seconds);
  void add_tokens(std::int64_t prompt, std::int64_t completion);

  // The exposition text; the gauges are passed in by the caller.
  std::string render(int running, int queued, bool loaded) const;

 private:
  static constexpr std::array<double, 12> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  struct Histogram {
    std::array<std::uint64_t, kBuckets.size()> counts{};  // not cumulative; summed when rendered
    std::uint64_t count = 0;
    double sum = 0;
  };

  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;
  std::map<std::string, Histogram> latency_;
  std::int64_t prompt_tokens_ = 0;
  std::int64_t completion_tokens_ = 0;
};

}  // namespace qguard::serve
