// Tokenizer benchmark: load time of tokenizer.json, and single-thread encode throughput on English
// prose and on text mixing every locale and script (tests/tokenizer/bench_*.txt).
//
//   tokenizer_bench [--tokenizer PATH] [--seconds S]
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "qguard/error.hpp"
#include "qguard/tokenizer.hpp"

namespace {

// This thread's CPU time: on a machine shared with other work, wall time would mostly measure the
// scheduler. (Wall time is printed too.)
double cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw qguard::Error(qguard::ErrorCode::kNotFound, fmt::format("cannot open '{}'", path));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// Encodes `text` repeatedly for about `budget` seconds; returns the median MB/s over the repeats.
double encode_megabytes_per_second(const qguard::Tokenizer& tokenizer, const std::string& text, double budget,
                                   std::size_t& token_count) {
  std::vector<double> rates;
  const double start = cpu_seconds();
  while (rates.size() < 3 || cpu_seconds() - start < budget) {
    const double begin = cpu_seconds();
    token_count = tokenizer.encode(text).size();
    rates.push_back(static_cast<double>(text.size()) / 1e6 / (cpu_seconds() - begin));
  }
  return median(rates);
}

}  // namespace

int main(int argc, char** argv) {
  std::string tokenizer_path = QGUARD_TOKENIZER_JSON;
  double budget = 3.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (flag == "--tokenizer") {
      tokenizer_path = argv[i + 1];
    } else if (flag == "--seconds") {
      budget = std::atof(argv[i + 1]);
    } else {
      fmt::print(stderr, "usage: tokenizer_bench [--tokenizer PATH] [--seconds S]\n");
      return 2;
    }
  }
  try {
    std::vector<double> load_cpu, load_wall;
    for (int i = 0; i < 7; ++i) {
      const double cpu_begin = cpu_seconds();
      const auto wall_begin = std::chrono::steady_clock::now();
      const auto tokenizer = qguard::Tokenizer::load(tokenizer_path);
      load_cpu.push_back(cpu_seconds() - cpu_begin);
      load_wall.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_begin).count());
    }
    // The first load runs in a fresh process (cold allocator, every page faulted in): what a
    // program that loads once pays.
    fmt::print("load {}: first {:.1f} ms CPU ({:.1f} ms wall); of 7: median {:.1f} ms CPU ({:.1f} ms wall), best {:.1f}\n",
               tokenizer_path, load_cpu[0] * 1e3, load_wall[0] * 1e3, median(load_cpu) * 1e3, median(load_wall) * 1e3,
               *std::min_element(load_cpu.begin(), load_cpu.end()) * 1e3);

    const auto tokenizer = qguard::Tokenizer::load(tokenizer_path);
    for (const char* name : {"bench_english.txt", "bench_multilingual.txt"}) {
      const std::string text = read_text(std::string(QGUARD_SOURCE_DIR "/tests/tokenizer/") + name);
      std::size_t tokens = 0;
      const double rate = encode_megabytes_per_second(tokenizer, text, budget, tokens);
      fmt::print("encode {}: {:.1f} MB/s per CPU second, one thread ({} bytes, {} tokens, {:.2f} bytes/token)\n", name, rate,
                 text.size(), tokens, static_cast<double>(text.size()) / static_cast<double>(tokens));
    }
    // Linear time on hostile shapes: 4x the input should take about 4x the time (a quadratic step: 16x).
    const std::pair<const char*, std::string> shapes[] = {
        {"one long word", "a"}, {"spaces", " "}, {"newlines", "\n"}, {"digits", "7"}, {"punctuation", "!"},
        {"tabs and nbsp", "\t\xC2\xA0"}};
    for (const auto& [name, unit] : shapes) {
      std::string small, large;
      while (small.size() < 128 * 1024) small += unit;
      while (large.size() < 4 * small.size()) large += unit;
      double begin = cpu_seconds();
      tokenizer.encode(small);
      const double small_seconds = cpu_seconds() - begin;
      begin = cpu_seconds();
      tokenizer.encode(large);
      const double large_seconds = cpu_seconds() - begin;
      fmt::print("scaling {}: {:.3f} s for {} bytes, {:.3f} s for 4x ({:.1f}x)\n", name, small_seconds, small.size(),
                 large_seconds, large_seconds / small_seconds);
    }
  } catch (const qguard::Error& e) {
    fmt::print(stderr, "tokenizer_bench: {} (run scripts/fetch_tokenizer.sh for the default tokenizer)\n", e.what());
    return 1;
  }
  return 0;
}
