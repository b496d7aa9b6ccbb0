// `qguard bench`: how fast a model moderates a prompt set on this machine, next to what this machine
// can do at best, measured in the same run (so efficiencies are ratios of numbers taken together).
//
//   qguard bench --model DIR --prompts FILE [--json] [--threads N] [--weights auto|f32|bf16|int8]
//                [--warmup N] [--repeat R] [--reference-model DIR]
//
// FILE holds JSON lines {"prompt": "..."} (prompt moderation) or {"prompt": "...", "response": "..."}
// (response moderation). docs/performance.md describes every figure; with --json the last stdout line
// is one JSON object holding them. With --weights int8 the run ends by loading the f32 reference
// path too and reporting how far int8's severity probabilities are from it; --reference-model does
// the same against another model's f32 path (e.g. a quantized GGUF against the BF16 safetensors).
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>
#include <xsimd/xsimd.hpp>

#include "commands.hpp"
#include "kernels/dispatch.hpp"
#include "qguard/classifier.hpp"
#include "qguard/error.hpp"
#include "qguard/json.hpp"
#include "qguard/model.hpp"

namespace qguard::cli {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// ---------------------------------------------------------------------------------------------
// The prompt set

struct Request {
  std::size_t line;  // 1-based line in the prompt file, for messages
  Conversation conversation;
  bool is_response() const { return conversation.size() == 2; }
};

std::string_view string_member(simdjson::dom::object object, std::string_view key, const std::string& where,
                               bool required, bool& present) {
  simdjson::dom::element value;
  present = object.at_key(key).get(value) == simdjson::SUCCESS;
  if (!present) {
    if (required) throw Error(ErrorCode::kMalformedJson, fmt::format("{}: no \"{}\" member", where, key));
    return {};
  }
  std::string_view text;
  if (value.get_string().get(text) != simdjson::SUCCESS) {
    throw Error(ErrorCode::kMalformedJson, fmt::format("{}: \"{}\" must be a string", where, key));
  }
  return text;
}

// Blank lines are skipped; any other line must be {"prompt": string[, "response": string]}.
std::vector<Request> read_requests(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kNotFound, fmt::format("cannot open the prompt file '{}'", path));
  simdjson::dom::parser parser;
  std::vector<Request> requests;
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = fmt::format("{}:{}", path, number);
    simdjson::dom::object object;
    if (auto error = parser.parse(line).get_object().get(object)) {
      throw Error(ErrorCode::kMalformedJson,
                  fmt::format("{}: expected a JSON object such as {{\"prompt\": \"...\"}} ({})", where,
                              simdjson::error_message(error)));
    }
    bool present = false;
    Request request{number, {{Role::kUser, std::string(string_member(object, "prompt", where, true, present))}}};
    const std::string_view response = string_member(object, "response", where, false, present);
    if (present) request.conversation.push_back({Role::kAssistant, std::string(response)});
    requests.push_back(std::move(request));
  }
  if (in.bad()) throw Error(ErrorCode::kNotFound, fmt::format("cannot read the prompt file '{}'", path));
  if (requests.empty()) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("the prompt file '{}' holds no request", path));
  }
  return requests;
}

// The warm-up: the first request of each kind in the file (so both cached policy heads exist before
// anything is timed), then further requests in file order until `count` are run. 0 means none.
std::vector<std::size_t> warmup_order(const std::vector<Request>& requests, int count) {
  std::vector<std::size_t> order;
  if (count <= 0) return order;
  for (bool response : {false, true}) {
    const auto first = std::find_if(requests.begin(), requests.end(),
                                    [&](const Request& r) { return r.is_response() == response; });
    if (first != requests.end()) order.push_back(static_cast<std::size_t>(first - requests.begin()));
  }
  std::sort(order.begin(), order.end());
  const std::size_t kinds = order.size();
  for (std::size_t i = 0; order.size() < static_cast<std::size_t>(count); ++i) {
    const std::size_t index = i % requests.size();
    if (std::find(order.begin(), order.begin() + kinds, index) != order.begin() + kinds && i < requests.size()) {
      continue;
    }
    order.push_back(index);
  }
  return order;
}

// ---------------------------------------------------------------------------------------------
// Statistics

// Nearest-rank percentile: the smallest sample with at least p% of the samples at or below it.
double percentile(std::vector<double> samples, double p) {
  std::sort(samples.begin(), samples.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(samples.size())));
  return samples[std::max<std::size_t>(rank, 1) - 1];
}

// The median time of `runs` calls of run(i), i = 0 .. runs - 1: a call the machine interrupts does
// not move it.
template <class Run>
double median_seconds(int runs, const Run& run) {
  std::vector<double> seconds;
  for (int i = 0; i < runs; ++i) {
    const Clock::time_point start = Clock::now();
    run(i);
    seconds.push_back(seconds_since(start));
  }
  return percentile(seconds, 50);
}

// ---------------------------------------------------------------------------------------------
// The machine's peaks. Each runs `threads` std::threads for about kPeakSeconds; the rate is the
// operations of all threads over the wall time from the common start to the last thread's end.

constexpr double kPeakSeconds = 0.3;

// `per_thread(deadline)` runs until the deadline and returns the operations it did.
template <class Loop>
double ops_per_second(int threads, Loop per_thread) {
  std::vector<double> ops(threads);
  std::vector<std::thread> workers;
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = start + std::chrono::duration_cast<Clock::duration>(
                                                 std::chrono::duration<double>(kPeakSeconds));
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] { ops[t] = per_thread(deadline); });
  }
  for (auto& worker : workers) worker.join();
  const double elapsed = seconds_since(start);
  double total = 0;
  for (double o : ops) total += o;
  return total / elapsed;
}

// Keeps a value alive without storing it anywhere (so the loop computing it is not optimized away).
template <class T>
void keep(const T& value) {
  asm volatile("" : : "r"(&value) : "memory");
}

// How far apart two threads run: one cache line bounced between two threads, in ns per round trip
// (the best of 3 runs of up to 10,000 round trips, each cut short after 100 ms). Each job the pool
// hands to a worker, and each row one thread writes and another reads, pays it: on the 2-core Zen 5
// guest of docs/performance.md ~500 ns, the latency of two separate L3s.
double thread_round_trip_ns() {
  constexpr int kRoundTrips = 10000, kRuns = 3;
  constexpr auto kBudget = std::chrono::milliseconds(100);
  double best = 0;
  for (int run = 0; run < kRuns; ++run) {
    struct alignas(64) Line {
      std::atomic<int> value{0};
    };
    Line ball, stop;  // ball: odd while the partner's answer is due; stop: 1 when the run ends
    std::thread partner([&] {
      for (int served = 1; stop.value.load(std::memory_order_relaxed) == 0;) {
        if (ball.value.load(std::memory_order_acquire) == served) {
          ball.value.store(served + 1, std::memory_order_release);
          served += 2;
        }
      }
    });
    const Clock::time_point start = Clock::now();
    // Waits for the partner's answer; false when the budget runs out first (on one CPU the partner
    // answers only when it is scheduled, so the clock is read now and then).
    auto answered = [&](int answer) {
      for (int spins = 1; ball.value.load(std::memory_order_acquire) != answer; ++spins) {
        if (spins % 1024 == 0 && Clock::now() - start > kBudget) return false;
      }
      return true;
    };
    int trips = 0;  // completed
    for (; trips < kRoundTrips; ++trips) {
      ball.value.store(2 * trips + 1, std::memory_order_release);
      if (!answered(2 * trips + 2)) break;
    }
    const double ns = seconds_since(start) * 1e9 / std::max(trips, 1);  // none in 100 ms: a lower bound
    stop.value.store(1);
    partner.join();
    best = run == 0 ? ns : std::min(best, ns);
  }
  return best;
}

// Read bandwidth: `threads` threads sum their share of a 1 GiB buffer (each first writes its own
// share, so its pages are resident); the best of a few passes.
double memory_read_bytes_per_second(int threads) {
  using Batch = xsimd::batch<float>;
  constexpr std::size_t kBytes = std::size_t{1} << 30;
  constexpr std::size_t kFloats = kBytes / sizeof(float);
  constexpr int kPasses = 3;
  const std::unique_ptr<float[]> buffer(new float[kFloats]);
  const std::size_t share = kFloats / threads / Batch::size * Batch::size;
  auto range = [&](int t) {
    const std::size_t begin = share * t;
    return std::make_pair(begin, t + 1 == threads ? kFloats : begin + share);
  };
  auto on_all_threads = [&](auto body) {
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) workers.emplace_back([&, t] { body(range(t)); });
    for (auto& worker : workers) worker.join();
  };
  on_all_threads([&](std::pair<std::size_t, std::size_t> r) {
    std::fill(buffer.get() + r.first, buffer.get() + r.second, 1.0f);
  });
  double best = 0;
  for (int pass = 0; pass < kPasses; ++pass) {
    const Clock::time_point start = Clock::now();
    on_all_threads([&](std::pair<std::size_t, std::size_t> r) {
      Batch sum[4] = {Batch(0.0f), Batch(0.0f), Batch(0.0f), Batch(0.0f)};
      std::size_t i = r.first;
      for (; i + 4 * Batch::size <= r.second; i += 4 * Batch::size) {
        for (int k = 0; k < 4; ++k) sum[k] += xsimd::load_unaligned(&buffer[i + k * Batch::size]);
      }
      float total = xsimd::hadd(sum[0] + sum[1] + sum[2] + sum[3]);
      for (; i < r.second; ++i) total += buffer[i];
      keep(total);
    });
    best = std::max(best, static_cast<double>(kBytes) / seconds_since(start));
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Model arithmetic

// Floating-point operations of one prefill of `tokens` tokens from position 0 (what Model::logits
// does): 2 flops per weight of every layer per token, the lm_head on the last position only, and
// causal attention (for the i-th token, 1-based, per layer and head: q.k over i keys plus the
// weighted sum of i values, 2 * head_dim * i flops each). The last layer runs its queries, attention
// and MLP for the last position only (Qwen3::Outputs::kLast), so T - 1 positions skip its q, o and
// MLP matrices (S = h * q_dim * 2 + 3 * h * I weights) and all but the last query's attention:
//   flops(T) = 2 * N * T - 2 * S * (T - 1) + 2 * V * h
//              + 2 * heads * head_dim * ((layers - 1) * T * (T + 1) + 2 * T)
// with N = parameters without the embedding (and without an untied lm_head), V = vocab, h = hidden.
double prefill_flops(const ModelInfo& m, int tokens) {
  const double h = m.hidden_size, embedding = static_cast<double>(m.vocab_size) * h;
  const double n = static_cast<double>(m.parameters) - embedding * (m.tie_word_embeddings ? 1 : 2);
  const double skipped = h * m.num_heads * m.head_dim * 2 + 3 * h * m.intermediate_size;
  const double t = tokens;
  return 2 * n * t - 2 * skipped * (t - 1) + 2 * embedding +
         2.0 * m.num_heads * m.head_dim * ((m.num_layers - 1) * t * (t + 1) + 2 * t);
}

// Weight bytes one decode step reads. weight_bytes holds every distinct matrix once: the embedding,
// an untied lm_head, the layers. A step reads every layer matrix and the lm_head (the embedding
// itself when tied) but only one embedding row, so it reads weight_bytes minus the embedding plus
// the lm_head: weight_bytes when tied, weight_bytes minus one vocab x hidden matrix when untied.
// Bytes per element are weight_bytes over the matrices' element count (exact for one dtype). The
// KV cache read by attention is not counted.
double decode_weight_bytes(const ModelInfo& m) {
  const double h = m.hidden_size, q = double(m.num_heads) * m.head_dim, kv = double(m.num_kv_heads) * m.head_dim;
  const double embedding = static_cast<double>(m.vocab_size) * h;
  const double layer = h * q + 2 * h * kv + q * h + 3 * h * m.intermediate_size;
  const double elements = embedding * (m.tie_word_embeddings ? 1 : 2) + layer * m.num_layers;
  const double bytes_per_element = static_cast<double>(m.weight_bytes) / elements;
  return static_cast<double>(m.weight_bytes) - (m.tie_word_embeddings ? 0 : embedding * bytes_per_element);
}

// The first `count` ids of `pool`, repeated as often as needed.
std::vector<std::int32_t> take(const std::vector<std::int32_t>& pool, std::size_t count) {
  std::vector<std::int32_t> ids(count);
  for (std::size_t i = 0; i < count; ++i) ids[i] = pool[i % pool.size()];
  return ids;
}

// ---------------------------------------------------------------------------------------------
// The run

struct BenchArgs {
  std::string model_dir;
  std::string prompts;
  bool json = false;
  int threads = 0;
  WeightFormat weights = WeightFormat::kAuto;
  std::string pack_cache_dir;
  std::string reference_model;  // empty: the model itself, read on the f32 path
  int warmup = 2;
  int repeat = 1;
  bool compare = true;  // int8: also load the f32 path and compare (the model twice in memory)
};

struct Failure {
  std::string phase;  // "warm-up" or "timed"
  std::size_t line;
  std::string code;
  std::string message;
};

constexpr int kPrefillLengths[] = {64, 170, 369};
constexpr int kPrefillRuns = 3;       // per length; the median is reported
constexpr int kDecodeContext = 300;   // tokens in the cache before the timed steps
constexpr int kDecodeSteps = 32;

struct Results {
  int threads = 0;
  std::string dtype;
  std::string pack_cache;  // ModelInfo::pack_cache: whether load_ms packed or read the pack cache
  double load_ms = 0;
  std::size_t requests = 0;  // timed requests (file lines x repeat)
  std::size_t prompt_tokens_p50 = 0;
  std::vector<double> full_ms, label_ms;
  std::vector<Failure> failures;
  std::map<int, double> prefill_tok_s, prefill_gflops;
  double decode_tok_s = 0, decode_bytes_per_token = 0;
  double rss_mb = 0;
  double load_rss_mb = 0;  // resident right after the load: the model (its touched pages) and tokenizer
  double weight_mb = 0;    // ModelInfo::weight_bytes
  double f32_peak_gflops = 0;
  std::optional<double> int8_peak_gops;
  double mem_bw_gbs = 0;
  std::optional<double> thread_round_trip_ns;  // with 2 threads or more
  // Int8 weights against the f32 reference path, over the label-only verdicts of the first pass.
  std::size_t compared = 0;
  std::optional<double> mean_abs_dp, max_abs_dp, severity_agreement;

  // The peak prefill is measured against: int8 dot products for int8 weights, f32 FMA otherwise.
  bool int8_efficiency() const { return dtype == "INT8" && int8_peak_gops.has_value(); }
  double prefill_peak() const { return int8_efficiency() ? *int8_peak_gops : f32_peak_gflops; }

  std::size_t failed(std::string_view phase) const {
    return static_cast<std::size_t>(
        std::count_if(failures.begin(), failures.end(), [&](const Failure& f) { return f.phase == phase; }));
  }
};

class Progress {
 public:
  Progress() : enabled_(isatty(fileno(stderr)) != 0) {}
  template <class... Args>
  void operator()(fmt::format_string<Args...> format, Args&&... args) const {
    if (enabled_) fmt::print(stderr, "bench: {}\n", fmt::format(format, std::forward<Args>(args)...));
  }

 private:
  bool enabled_;
};

// Runs `call`, returning its milliseconds, or records the failure and returns nullopt.
template <class Call>
std::optional<double> timed(Call call, const Request& request, const char* phase, Results& results) {
  try {
    const Clock::time_point start = Clock::now();
    call();
    return seconds_since(start) * 1e3;
  } catch (const Error& e) {
    results.failures.push_back({phase, request.line, qguard::to_string(e.code()), e.what()});
    return std::nullopt;
  }
}

// Label-only verdicts of the f32 reference path (weights as in the file, computed in f32) of the
// model or of --reference-model against `labels`: mean and max |Δp| over the three severity probabilities, and how often severities agree.
void compare_with_reference(const BenchArgs& args, const std::vector<Request>& requests,
                            const std::vector<std::optional<Verdict>>& labels, Results& r) {
  Classifier::Options options;
  options.threads = r.threads;
  options.weights = WeightFormat::kAuto;
  const Classifier reference =
      Classifier::load(args.reference_model.empty() ? args.model_dir : args.reference_model, options);
  double sum = 0, max = 0;
  std::size_t agree = 0;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (!labels[i]) continue;
    const Verdict expected = reference.moderate_label(requests[i].conversation);
    for (int s = 0; s < 3; ++s) {
      const double dp = std::abs(double{labels[i]->probabilities[s]} - expected.probabilities[s]);
      sum += dp;
      max = std::max(max, dp);
    }
    agree += labels[i]->severity == expected.severity;
    ++r.compared;
  }
  if (r.compared == 0) return;
  r.mean_abs_dp = sum / (3.0 * static_cast<double>(r.compared));
  r.max_abs_dp = max;
  r.severity_agreement = static_cast<double>(agree) / static_cast<double>(r.compared);
}

// This process's resident set now, in MiB (/proc/self/statm counts pages).
double resident_mib() {
  std::ifstream statm("/proc/self/statm");
  std::size_t size_pages = 0, resident_pages = 0;
  statm >> size_pages >> resident_pages;
  return static_cast<double>(resident_pages) * static_cast<double>(::sysconf(_SC_PAGESIZE)) / (1 << 20);
}

Results run_bench(const BenchArgs& args) {
  const Progress progress;
  Results r;
  r.threads = args.threads > 0 ? args.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const std::vector<Request> requests = read_requests(args.prompts);

  progress("loading {}", args.model_dir);
  Classifier::Options options;
  options.threads = r.threads;
  options.mode = DecodingMode::kFast;
  options.weights = args.weights;
  options.pack_cache_dir = args.pack_cache_dir;
  const Clock::time_point load_start = Clock::now();
  const Classifier classifier = Classifier::load(args.model_dir, options);
  r.load_ms = seconds_since(load_start) * 1e3;
  const ModelInfo& info = classifier.model().info();
  r.dtype = info.weight_format;
  r.load_rss_mb = resident_mib();
  r.weight_mb = static_cast<double>(info.weight_bytes) / (1 << 20);
  r.pack_cache = info.pack_cache;

  // Token ids of the prompt set's own text (no template), for the prefill and decode runs.
  std::vector<std::int32_t> pool;
  std::vector<double> prompt_lengths;
  for (const Request& request : requests) {
    for (const Message& message : request.conversation) {
      try {
        const auto ids = classifier.tokenizer().encode(message.content, SpecialTokens::kPlain);
        pool.insert(pool.end(), ids.begin(), ids.end());
      } catch (const Error&) {
        // Invalid UTF-8: the request itself fails below and is reported there.
      }
    }
    try {
      prompt_lengths.push_back(static_cast<double>(classifier.prompt_tokens(request.conversation).size()));
    } catch (const Error&) {
      // Same as above: the timed request reports it.
    }
  }
  if (!prompt_lengths.empty()) r.prompt_tokens_p50 = static_cast<std::size_t>(percentile(prompt_lengths, 50));
  if (pool.empty()) pool = {0};  // a set of empty messages still benchmarks the forward pass

  const std::vector<std::size_t> warmup = warmup_order(requests, args.warmup);
  progress("warm-up: {} requests", warmup.size());
  for (std::size_t index : warmup) {
    timed([&] { classifier.moderate(requests[index].conversation); }, requests[index], "warm-up", r);
  }

  progress("timing {} requests x {} passes", requests.size(), args.repeat);
  std::vector<std::optional<Verdict>> labels(requests.size());
  for (int pass = 0; pass < args.repeat; ++pass) {
    for (std::size_t i = 0; i < requests.size(); ++i) {
      const Request& request = requests[i];
      ++r.requests;
      const auto full = timed([&] { classifier.moderate(request.conversation); }, request, "timed", r);
      if (!full) continue;  // the label-only call would fail the same way
      r.full_ms.push_back(*full);
      const auto label = timed([&] { labels[i] = classifier.moderate_label(request.conversation); }, request, "timed", r);
      if (label) r.label_ms.push_back(*label);
    }
  }

  const Model& model = classifier.model();
  for (int length : kPrefillLengths) {
    progress("prefill {} tokens", length);
    const std::vector<std::int32_t> ids = take(pool, length);
    model.logits(ids);  // untimed: the first pass of a length allocates its buffers' pages
    const double median = median_seconds(kPrefillRuns, [&](int) { model.logits(ids); });
    r.prefill_tok_s[length] = length / median;
    r.prefill_gflops[length] = prefill_flops(info, length) / median / 1e9;
  }

  progress("decode: {} tokens, then {} single-token steps", kDecodeContext, kDecodeSteps);
  {
    // The Classifier owns the model and outlives the session: a non-owning shared_ptr.
    Model::Session session(std::shared_ptr<const Model>(std::shared_ptr<const Model>(), &model));
    // Room for every step first: the steps are timed, not the cache growing into fresh pages.
    session.reserve(kDecodeContext + kDecodeSteps);
    const std::vector<std::int32_t> ids = take(pool, kDecodeContext + kDecodeSteps);
    session.append(std::vector<std::int32_t>(ids.begin(), ids.begin() + kDecodeContext));
    const auto step = [&](int i) { session.append({ids[kDecodeContext + i]}); };
    r.decode_tok_s = 1 / median_seconds(kDecodeSteps, step);
    r.decode_bytes_per_token = decode_weight_bytes(info);
  }

  // Read before the bandwidth buffer below raises the peak.
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  r.rss_mb = static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux reports KiB

  if ((args.weights == WeightFormat::kInt8 && args.compare) || !args.reference_model.empty()) {
    progress("against the f32 reference path");
    compare_with_reference(args, requests, labels, r);
  }

  progress("machine peaks on {} threads", r.threads);
  // The peak loops of the kernel build the library runs (kernels/dispatch.hpp): the same instructions.
  const kernels::TargetKernels& kernels = kernels::active_kernels();
  r.f32_peak_gflops = ops_per_second(r.threads, kernels.f32_fma_ops) / 1e9;
  if (const double ops = ops_per_second(r.threads, kernels.int8_dot_ops); ops > 0) r.int8_peak_gops = ops / 1e9;
  r.mem_bw_gbs = memory_read_bytes_per_second(r.threads) / 1e9;
  if (r.threads > 1) r.thread_round_trip_ns = thread_round_trip_ns();
  return r;
}

// ---------------------------------------------------------------------------------------------
// Output


std::string json_number(std::optional<double> value) {
  return value && std::isfinite(*value) ? fmt::format("{:.6g}", *value) : "null";
}

std::optional<double> maybe_percentile(const std::vector<double>& samples, double p) {
  if (samples.empty()) return std::nullopt;
  return percentile(samples, p);
}

std::string json_by_length(const std::map<int, double>& values) {
  std::vector<std::string> members;
  for (const auto& [length, value] : values) members.push_back(fmt::format("\"{}\": {}", length, json_number(value)));
  return fmt::format("{{{}}}", fmt::join(members, ", "));
}

constexpr int kHeadlineLength = 170;  // the prefill length the single-number fields report
constexpr std::size_t kFailuresListed = 10;

void print_json(const Results& r, const BenchArgs& args) {
  std::map<int, double> efficiency;
  for (const auto& [length, gflops] : r.prefill_gflops) efficiency[length] = gflops / r.prefill_peak();
  const double decode_gbs = r.decode_bytes_per_token * r.decode_tok_s / 1e9;
  std::vector<std::string> failures;
  for (std::size_t i = 0; i < std::min(r.failures.size(), kFailuresListed); ++i) {
    const Failure& f = r.failures[i];
    failures.push_back(fmt::format("{{\"phase\": {}, \"line\": {}, \"code\": {}, \"message\": {}}}",
                                   to_json_string(f.phase), f.line, to_json_string(f.code), to_json_string(f.message)));
  }
  fmt::print(
      "{{\"p50_ms\": {}, \"p95_ms\": {}, \"label_p50_ms\": {}, \"label_p95_ms\": {}, "
      "\"prefill_tok_s\": {}, \"prefill_tok_s_by_length\": {}, \"prefill_gflops_by_length\": {}, "
      "\"prefill_efficiency\": {}, \"prefill_efficiency_by_length\": {}, \"efficiency_peak\": {}, "
      "\"decode_tok_s\": {}, \"decode_bytes_per_token\": {}, \"decode_gbs\": {}, \"decode_bw_efficiency\": {}, "
      "\"load_ms\": {}, \"pack_cache\": {}, \"rss_mb\": {}, \"load_rss_mb\": {}, \"weight_mb\": {}, "
      "\"dtype\": {}, \"threads\": {}, "
      "\"requests\": {}, \"failed\": {}, \"warmup_failed\": {}, \"failures\": [{}], \"repeat\": {}, "
      "\"prompt_tokens_p50\": {}, \"f32_peak_gflops\": {}, \"int8_peak_gops\": {}, \"int8_instructions\": {}, "
      "\"mem_bw_gbs\": {}, \"thread_round_trip_ns\": {}, \"reference_compared\": {}, \"mean_abs_dp\": {}, "
      "\"max_abs_dp\": {}, \"severity_agreement\": {}, \"kernels\": {}}}\n",
      json_number(maybe_percentile(r.full_ms, 50)), json_number(maybe_percentile(r.full_ms, 95)),
      json_number(maybe_percentile(r.label_ms, 50)), json_number(maybe_percentile(r.label_ms, 95)),
      json_number(r.prefill_tok_s.at(kHeadlineLength)), json_by_length(r.prefill_tok_s),
      json_by_length(r.prefill_gflops), json_number(efficiency.at(kHeadlineLength)), json_by_length(efficiency),
      r.int8_efficiency() ? "\"int8\"" : "\"f32\"", json_number(r.decode_tok_s), json_number(r.decode_bytes_per_token),
      json_number(decode_gbs), json_number(decode_gbs / r.mem_bw_gbs), json_number(r.load_ms),
      to_json_string(r.pack_cache), json_number(r.rss_mb), json_number(r.load_rss_mb), json_number(r.weight_mb),
      to_json_string(r.dtype), r.threads, r.requests, r.failed("timed"), r.failed("warm-up"), fmt::join(failures, ", "),
      args.repeat, r.prompt_tokens_p50, json_number(r.f32_peak_gflops), json_number(r.int8_peak_gops),
      r.int8_peak_gops ? to_json_string(kernels::active_kernels().int8_instructions) : "null",
      json_number(r.mem_bw_gbs), json_number(r.thread_round_trip_ns), r.compared, json_number(r.mean_abs_dp),
      json_number(r.max_abs_dp), json_number(r.severity_agreement),
      to_json_string(kernels::to_string(kernels::active_target())));
}

std::string ms_or_dash(std::optional<double> value) {
  return value ? fmt::format("{:8.1f} ms", *value) : "       — ms";
}

void print_text(const Results& r, const BenchArgs& args) {
  fmt::print("qguard bench  {}  ({}, weights held as {}, {} threads, {} kernels)\n", args.model_dir, args.prompts,
             r.dtype, r.threads, kernels::to_string(kernels::active_target()));
  fmt::print("requests            {} timed ({} lines x {} passes), median prompt {} tokens with the template\n",
             r.requests, r.requests / static_cast<std::size_t>(args.repeat), args.repeat, r.prompt_tokens_p50);
  fmt::print("load                {:8.1f} ms  (pack cache: {})\n", r.load_ms, r.pack_cache);
  fmt::print("full verdict        p50 {}   p95 {}\n", ms_or_dash(maybe_percentile(r.full_ms, 50)),
             ms_or_dash(maybe_percentile(r.full_ms, 95)));
  fmt::print("label only          p50 {}   p95 {}\n", ms_or_dash(maybe_percentile(r.label_ms, 50)),
             ms_or_dash(maybe_percentile(r.label_ms, 95)));
  for (const auto& [length, tok_s] : r.prefill_tok_s) {
    const double gflops = r.prefill_gflops.at(length);
    fmt::print("prefill {:4} tokens {:8.1f} tok/s  {:7.1f} GFLOP/s  {:5.1f}% of the {} peak\n", length, tok_s, gflops,
               100 * gflops / r.prefill_peak(), r.int8_efficiency() ? "int8" : "f32");
  }
  const double decode_gbs = r.decode_bytes_per_token * r.decode_tok_s / 1e9;
  fmt::print("decode (after {})  {:8.1f} tok/s  {:7.2f} GB/s of weights ({:.0f} MB/token), "
             "{:.1f}% of memory bandwidth\n",
             kDecodeContext, r.decode_tok_s, decode_gbs, r.decode_bytes_per_token / 1e6,
             100 * decode_gbs / r.mem_bw_gbs);
  fmt::print("peak RSS            {:8.1f} MiB  (after load {:.1f} MiB; weights {:.1f} MiB)\n", r.rss_mb, r.load_rss_mb,
             r.weight_mb);
  fmt::print("machine, {} threads  f32 FMA {:.1f} GFLOP/s, int8 dot {}, memory read {:.1f} GB/s\n", r.threads,
             r.f32_peak_gflops,
             r.int8_peak_gops ? fmt::format("{:.1f} GOP/s ({})", *r.int8_peak_gops, kernels::active_kernels().int8_instructions)
                              : std::string("not measured (no 8-bit dot instructions in these kernels)"),
             r.mem_bw_gbs);
  if (r.thread_round_trip_ns) {
    fmt::print("{:<20}a cache line's round trip between two threads {:.0f} ns\n", "", *r.thread_round_trip_ns);
  }
  if (r.compared > 0) {
    fmt::print("{:<20}mean |Δp| {:.2g}, max |Δp| {:.2g} over {} label verdicts, severities agree {:.1f}%\n",
               args.reference_model.empty() ? "int8 vs f32 path" : "vs reference model", *r.mean_abs_dp, *r.max_abs_dp,
               r.compared, 100 * *r.severity_agreement);
  }
  fmt::print("failed              {} timed, {} warm-up\n", r.failed("timed"), r.failed("warm-up"));
  for (const Failure& f : r.failures) {
    fmt::print("  {} line {}: [{}] {}\n", f.phase, f.line, f.code, f.message);
  }
}

}  // namespace

void add_bench_commands(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* bench = app.add_subcommand(
      "bench", "Latency and throughput on a prompt set, next to this machine's measured peaks (docs/performance.md)");
  bench->add_option("--model", args->model_dir,
                    "Model directory or GGUF file, or Hugging Face repo id ORG/NAME[@REV] (docs/hub.md)")
      ->required();
  bench->add_option("--prompts", args->prompts,
                    "JSON lines: {\"prompt\": ...} or {\"prompt\": ..., \"response\": ...}")
      ->required();
  bench->add_flag("--json", args->json, "Print the results as one JSON object (the last stdout line)");
  bench->add_option("--threads", args->threads, "Threads, the caller included (0 = one per core)")
      ->check(CLI::NonNegativeNumber);
  add_weight_options(*bench, args->weights, args->pack_cache_dir);
  bench->add_option("--reference-model", args->reference_model,
                    "Also report |Δp| of the severity probabilities against this model's f32 path (e.g. the BF16 "
                    "safetensors a quantized GGUF was made from)");
  bench->add_option("--warmup", args->warmup,
                    "Untimed requests first (at least one of each kind in the file unless 0)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  bench->add_option("--repeat", args->repeat, "Timed passes over the prompt file")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  bench->add_flag("!--no-compare", args->compare,
                  "With int8, skip the comparison with the f32 path (it holds the model twice: 8B needs ~25 GiB)");
  bench->callback([args] {
    const Results results = run_bench(*args);
    if (args->json) {
      print_json(results, *args);
    } else {
      print_text(results, *args);
    }
    std::fflush(stdout);
    if (results.full_ms.empty()) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("every request failed ({} of {}); see the failures above", results.failed("timed"),
                              results.requests));
    }
  });
}

}  // namespace qguard::cli
