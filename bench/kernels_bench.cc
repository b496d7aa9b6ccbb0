// Kernel benchmark: each kernel build this CPU runs, on the 0.6B model's matrix shapes, one thread,
// timed in the thread's CPU time (so other work on a shared machine distorts the figures less), next
// to the same build's peak loops timed the same way. Efficiency = achieved / peak.
//
//   kernels_bench [--seconds S] [--target baseline|avx2|avx512|avx512bf16|amx]   (S per measurement; default 0.5)
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "kernels/convert.hpp"
#include "kernels/dispatch.hpp"
#include "kernels/kernels.hpp"

namespace {

using namespace qguard::kernels;

double cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

// Runs `body` until `budget` CPU seconds have passed (at least 3 times); the median CPU seconds per run.
template <typename Body>
double median_seconds(double budget, const Body& body) {
  std::vector<double> runs;
  const double start = cpu_seconds();
  while (runs.size() < 3 || cpu_seconds() - start < budget) {
    const double begin = cpu_seconds();
    body();
    runs.push_back(cpu_seconds() - begin);
  }
  std::sort(runs.begin(), runs.end());
  return runs[runs.size() / 2];
}

// Operations per CPU second of a peak loop run for about `budget` wall seconds.
double peak(double (*loop)(PeakClock::time_point), double budget) {
  const double begin = cpu_seconds();
  const double ops = loop(PeakClock::now() + std::chrono::duration_cast<PeakClock::duration>(
                                                 std::chrono::duration<double>(budget)));
  return ops / (cpu_seconds() - begin);
}

std::vector<std::uint16_t> random_bf16(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, 0.05f);
  std::vector<std::uint16_t> v(n);
  for (auto& x : v) x = f32_to_bf16(normal(rng));
  return v;
}

// Random blocks of a GGUF block type for rows × cols values: random bytes, the f16 scale(s) of every
// block (at `scale_offsets`) a finite value.
std::vector<std::byte> random_blocks(qguard::io::GgmlType type, std::initializer_list<std::size_t> scale_offsets,
                                     std::size_t values, unsigned seed) {
  const qguard::io::GgmlTypeTraits traits = *qguard::io::ggml_type_traits(static_cast<std::uint32_t>(type));
  std::mt19937 rng(seed);
  std::vector<std::byte> bytes(values / traits.block_values * traits.block_bytes);
  for (auto& b : bytes) b = static_cast<std::byte>(rng() & 0xFF);
  for (std::size_t block = 0; block < bytes.size() / traits.block_bytes; ++block) {
    for (const std::size_t offset : scale_offsets) {
      const std::uint16_t scale = 0x1000 + (rng() & 0x0FFF);
      std::memcpy(&bytes[block * traits.block_bytes + offset], &scale, sizeof scale);
    }
  }
  return bytes;
}

struct Shape {
  const char* name;
  int rows, cols;
};
// One layer of Qwen3Guard-Gen-0.6B: hidden 1024, 16 query heads and 8 kv heads of 128, MLP 3072.
constexpr Shape kLayer[] = {{"q", 2048, 1024}, {"k", 1024, 1024}, {"v", 1024, 1024}, {"o", 1024, 2048},
                            {"gate", 3072, 1024}, {"up", 3072, 1024}, {"down", 1024, 3072}};

}  // namespace

int main(int argc, char** argv) {
  double budget = 0.5;
  std::vector<Target> targets = runnable_targets();
  for (int i = 1; i < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (flag == "--seconds" && i + 1 < argc) {
      budget = std::atof(argv[i + 1]);
    } else if (flag == "--target" && i + 1 < argc && parse_target(argv[i + 1])) {
      targets = {*parse_target(argv[i + 1])};
    } else {
      fmt::print(stderr, "usage: kernels_bench [--seconds S] [--target baseline|avx2|avx512|avx512bf16|amx]\n");
      return 2;
    }
  }
  ThreadPool pool(1);  // the caller's thread only: its CPU time is the whole cost
  for (Target target : targets) {
    const TargetKernels& k = kernels_for(target);
    const double f32_peak = peak(k.f32_fma_ops, budget), int8_peak = peak(k.int8_dot_ops, budget);
    fmt::print("{}: one thread, per CPU second: f32 FMA peak {:.1f} GFLOP/s, int8 peak {:.1f} GOP/s ({})\n",
               to_string(target), f32_peak / 1e9, int8_peak / 1e9, k.int8_instructions);

    std::vector<std::vector<std::uint16_t>> weights;
    for (const Shape& s : kLayer) weights.push_back(random_bf16(std::size_t(s.rows) * s.cols, s.rows + s.cols));
    for (Packing packing : {Packing::kF32, Packing::kBF16, Packing::kInt8}) {
      std::vector<PackedMatrix> packed;
      for (std::size_t i = 0; i < std::size(kLayer); ++i) {
        packed.push_back(k.pack(MatrixView{qguard::DType::kBF16, weights[i].data(), kLayer[i].rows, kLayer[i].cols}, packing));
      }
      const double layer_peak = packing == Packing::kInt8 && int8_peak > 0 ? int8_peak : f32_peak;
      for (int tokens : {1, 64, 170, 369}) {
        std::vector<float> x(std::size_t(tokens) * 3072, 0.5f), y(std::size_t(tokens) * 3072);
        for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.1f * static_cast<float>(i));
        double ops = 0, bytes = 0;
        for (const PackedMatrix& m : packed) {
          ops += 2.0 * tokens * m.rows * m.cols;
          bytes += static_cast<double>(m.bytes);
        }
        // Inputs prepared once per matrix input, as the model does (q, k, v share one; gate and up one).
        std::vector<LayerInput> inputs;
        const double prepare_seconds = median_seconds(budget / 4, [&] {
          inputs.clear();
          for (const PackedMatrix& m : packed) inputs.push_back(k.prepare_input(pool, x.data(), tokens, m.cols, packing));
        });
        const double seconds = median_seconds(budget, [&] {
          for (std::size_t i = 0; i < packed.size(); ++i) k.matmul_one(pool, inputs[i], packed[i], y.data());
        });
        if (tokens == 1) {
          fmt::print("  {:4} layer matrices, 1 token:     {:6.2f} ms  {:6.1f} GB/s of weights\n", packing_name(packing),
                     seconds * 1e3, bytes / seconds / 1e9);
        } else {
          fmt::print(
              "  {:4} layer matrices, {:3} tokens:  {:6.2f} ms  {:7.1f} G/s  {:5.1f}% of the {} peak"
              "  (+ {:.2f} ms preparing 7 inputs)\n",
              packing_name(packing), tokens, seconds * 1e3, ops / seconds / 1e9, 100 * ops / seconds / layer_peak,
              layer_peak == int8_peak ? "int8" : "f32", prepare_seconds * 1e3);
        }
      }
    }
    // Layer matrices read in place in a GGUF block type: each product decodes them (kernels' kInPlace).
    struct BlockType {
      const char* name;
      qguard::io::GgmlType type;
      std::initializer_list<std::size_t> scale_offsets;
    };
    using qguard::io::GgmlType;
    for (const BlockType& b : {BlockType{"Q8_0", GgmlType::kQ8_0, {0}}, BlockType{"Q4_0", GgmlType::kQ4_0, {0}},
                               BlockType{"Q4_K", GgmlType::kQ4_K, {0, 2}}, BlockType{"Q5_K", GgmlType::kQ5_K, {0, 2}},
                               BlockType{"Q6_K", GgmlType::kQ6_K, {208}}}) {
      std::vector<std::vector<std::byte>> blocks;
      std::vector<PackedMatrix> in_place;
      double values = 0;
      for (const Shape& s : kLayer) {
        blocks.push_back(random_blocks(b.type, b.scale_offsets, std::size_t(s.rows) * s.cols, s.rows + s.cols));
        in_place.push_back(
            qguard::kernels::in_place(b.type, s.rows, s.cols, blocks.back().data(), blocks.back().size()));
        in_place.back().target = target;
        values += double(s.rows) * s.cols;
      }
      std::vector<float> decoded(3072 * 1024);
      const double decode_seconds = median_seconds(budget, [&] {
        for (std::size_t i = 0; i < in_place.size(); ++i) {
          qguard::io::dequantize(b.type, blocks[i].data(), std::size_t(kLayer[i].rows) * kLayer[i].cols,
                                 decoded.data());
        }
      });
      fmt::print("  {} decoding alone (io::dequantize), one layer: {:6.2f} ms  {:5.2f} ns per weight\n", b.name,
                 decode_seconds * 1e3, decode_seconds / values * 1e9);
      for (int tokens : {1, 64, 170}) {
        std::vector<float> x(std::size_t(tokens) * 3072), y(std::size_t(tokens) * 3072);
        for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.1f * static_cast<float>(i));
        const double seconds = median_seconds(budget, [&] {
          for (std::size_t i = 0; i < in_place.size(); ++i) {
            k.matmul_one(pool, k.prepare_input(pool, x.data(), tokens, kLayer[i].cols, Packing::kInPlace), in_place[i],
                         y.data());
          }
        });
        fmt::print("  {} layer matrices in place, {:3} tokens: {:6.2f} ms  {:7.1f} G/s\n", b.name, tokens,
                   seconds * 1e3, 2.0 * tokens * values / seconds / 1e9);
      }
    }
    for (const auto& [tokens, length] : {std::pair{1, 370}, std::pair{125, 375}, std::pair{170, 370}}) {
      for (bool bf16 : {false, true}) {  // f32 operands (the exact path), BF16 ones (int8 weights)
        const AttentionShape shape{16, 8, 128, tokens, length, bf16};
        std::vector<float> q(std::size_t(tokens) * 16 * 128, 0.1f), kv(std::size_t(length) * 8 * 128, 0.25f),
            out(q.size());
        const std::vector<std::uint16_t> kv16(kv.size(), f32_to_bf16(0.25f));  // the BF16 cache of int8 weights
        const void* cached = bf16 ? static_cast<const void*>(kv16.data()) : kv.data();
        double flops = 0;
        for (int t = 0; t < tokens; ++t) flops += 4.0 * 16 * 128 * (length - tokens + t + 1);
        const double seconds =
            median_seconds(budget, [&] { k.attention(pool, shape, q.data(), cached, cached, out.data()); });
        fmt::print("  attention {}, {:3} tokens over {}: {:6.3f} ms  {:6.1f} GFLOP/s  {:5.1f}% of the f32 peak\n",
                   bf16 ? "bf16" : "f32 ", tokens, length, seconds * 1e3, flops / seconds / 1e9,
                   100 * flops / seconds / f32_peak);
      }
    }
  }
  return 0;
}
