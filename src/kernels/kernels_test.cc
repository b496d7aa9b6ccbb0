// Each kernel of every target this CPU runs (baseline, AVX2, AVX-512) against a plain scalar
// transcription of its formula.
#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "kernels/convert.hpp"
#include "kernels/dispatch.hpp"
#include "kernels/kernels.hpp"
#include "qguard/error.hpp"
#include "kernels/thread_pool.hpp"

using namespace qguard;
using namespace qguard::kernels;

namespace {

std::vector<float> random_vector(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = normal(rng);
  return v;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(double(a[i]) - double(b[i]));
    if (std::isnan(d)) return INFINITY;  // e.g. an output the kernel never wrote
    m = std::max(m, d);
  }
  return m;
}

// y[t, r] = Σ_c x[t, c] w[r, c] in double.
std::vector<float> naive_matmul(const std::vector<float>& x, int tokens, const std::vector<float>& w, int rows, int cols) {
  std::vector<float> y(static_cast<std::size_t>(tokens) * rows);
  for (int t = 0; t < tokens; ++t)
    for (int r = 0; r < rows; ++r) {
      double s = 0;
      for (int c = 0; c < cols; ++c) s += double(x[t * cols + c]) * w[r * cols + c];
      y[t * rows + r] = static_cast<float>(s);
    }
  return y;
}

// Runs `check(kernels)` for every target this CPU runs, naming the target in failures.
template <typename Check>
void for_each_target(const Check& check) {
  for (Target target : runnable_targets()) {
    CAPTURE(to_string(target));
    check(kernels_for(target));
  }
}

}  // namespace

TEST_CASE("the active target is one this CPU runs, and QGUARD_CPU names are parsed") {
  CHECK(active_target() <= detected_target());
  CHECK(runnable_targets().front() == Target::kBaseline);
  CHECK(runnable_targets().back() == detected_target());
  CHECK(parse_target("avx2") == Target::kAvx2);
  CHECK(!parse_target("sse9"));
  for_each_target([](const TargetKernels& k) { CHECK(kernels_for(k.target).target == k.target); });
}

TEST_CASE("bf16 conversion rounds to nearest even and widens exactly") {
  CHECK(bf16_to_f32(0x3f80) == 1.0f);
  CHECK(bf16_to_f32(0xc000) == -2.0f);
  CHECK(f32_to_bf16(1.0f) == 0x3f80);
  // 1 + 2^-8 lies halfway between bf16 1.0 and 1.0078125: ties go to the even mantissa (1.0).
  CHECK(f32_to_bf16(1.00390625f) == 0x3f80);
  // 1 + 3·2^-8 lies halfway between 1.0078125 (odd) and 1.015625 (even): rounds up.
  CHECK(f32_to_bf16(1.01171875f) == 0x3f82);
  CHECK(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
}

TEST_CASE("f16 widening covers normals, subnormals and specials") {
  CHECK(f16_to_f32(0x3c00) == 1.0f);
  CHECK(f16_to_f32(0xc000) == -2.0f);
  CHECK(f16_to_f32(0x7bff) == 65504.0f);
  CHECK(f16_to_f32(0x0001) == std::ldexp(1.0f, -24));
  CHECK(std::isinf(f16_to_f32(0x7c00)));
  CHECK(std::isnan(f16_to_f32(0x7e00)));
}

TEST_CASE("softmax numerators of any length, the largest score last, nothing written past the row") {
  for_each_target([](const TargetKernels& k) {
    for (std::size_t n : {1, 5, 16, 33, 203}) {
      CAPTURE(n);
      auto a = random_vector(n, 7);
      const float top = a.back() = *std::max_element(a.begin(), a.end()) + 1.f;  // in the last (partial) vector
      auto p = a;
      p.push_back(-7.f);  // a sentinel just past the row
      const float sum = k.softmax_numerators(p.data(), n);
      double total = 0;
      for (float x : a) total += std::exp(double(x) - top);
      CHECK(sum == doctest::Approx(total).epsilon(1e-6));
      for (std::size_t i = 0; i < n; ++i) CHECK(p[i] == doctest::Approx(std::exp(double(a[i]) - top)).epsilon(1e-6));
      CHECK(p[n] == -7.f);
    }
  });
}

TEST_CASE("dot, rmsnorm, rope, softmax numerators and silu_mul match their formulas") {
  for_each_target([](const TargetKernels& k) {
    const std::size_t n = 203;  // not a multiple of any SIMD width
    auto a = random_vector(n, 1), b = random_vector(n, 2), w = random_vector(n, 3);

    double d = 0;
    for (std::size_t i = 0; i < n; ++i) d += double(a[i]) * b[i];
    CHECK(k.dot(a.data(), b.data(), n) == doctest::Approx(d).epsilon(1e-5));

    double ms = 0;
    for (float x : a) ms += double(x) * x;
    const double inv = 1.0 / std::sqrt(ms / n + 1e-6);
    std::vector<float> normed(n);
    k.rmsnorm(a.data(), w.data(), n, 1e-6f, normed.data());
    for (std::size_t i = 0; i < n; ++i) CHECK(normed[i] == doctest::Approx(a[i] * inv * w[i]).epsilon(1e-5));

    const std::size_t half = 8;
    auto z = random_vector(2 * half, 4), cs = random_vector(half, 5), sn = random_vector(half, 6);
    auto rotated = z;
    k.rope(rotated.data(), cs.data(), sn.data(), half);
    for (std::size_t i = 0; i < half; ++i) {
      CHECK(rotated[i] == doctest::Approx(z[i] * cs[i] - z[i + half] * sn[i]));
      CHECK(rotated[i + half] == doctest::Approx(z[i + half] * cs[i] + z[i] * sn[i]));
    }

    // softmax = the numerators exp(x - max) over their returned sum.
    auto p = a;
    const float sum = k.softmax_numerators(p.data(), n);
    const double max = *std::max_element(a.begin(), a.end());
    double total = 0;
    for (float x : a) total += std::exp(double(x) - max);
    CHECK(sum == doctest::Approx(total).epsilon(1e-5));
    for (std::size_t i = 0; i < n; ++i) {
      CHECK(p[i] == doctest::Approx(std::exp(double(a[i]) - max)).epsilon(1e-5));
      CHECK(p[i] / sum == doctest::Approx(std::exp(double(a[i]) - max) / total).epsilon(1e-5));
    }

    auto g = a;
    k.silu_mul(g.data(), b.data(), n);
    for (std::size_t i = 0; i < n; ++i) {
      CHECK(g[i] == doctest::Approx(a[i] / (1 + std::exp(-double(a[i]))) * b[i]).epsilon(1e-5));
    }
  });
}

TEST_CASE("row-major matmul matches the naive product for F32 and BF16 weights, any thread count") {
  const int rows = 2 * 96 + 77, cols = 45;  // three 96-row panels, the last one partial
  auto w = random_vector(static_cast<std::size_t>(rows) * cols, 7);
  std::vector<std::uint16_t> w_bf16(w.size());
  std::transform(w.begin(), w.end(), w_bf16.begin(), f32_to_bf16);
  std::vector<float> w_rounded(w.size());
  widen(w_bf16.data(), DType::kBF16, w.size(), w_rounded.data());

  for_each_target([&](const TargetKernels& k) {
    for (int threads : {1, 2, 3}) {
      ThreadPool pool(threads);
      for (int tokens : {1, 2, 5, 33}) {
        CAPTURE(threads);
        CAPTURE(tokens);
        auto x = random_vector(static_cast<std::size_t>(tokens) * cols, 8 + tokens);
        std::vector<float> y(static_cast<std::size_t>(tokens) * rows);
        k.matmul_rows(pool, x.data(), tokens, MatrixView{DType::kF32, w.data(), rows, cols}, y.data());
        CHECK(max_abs_diff(y, naive_matmul(x, tokens, w, rows, cols)) < 1e-4);
        k.matmul_rows(pool, x.data(), tokens, MatrixView{DType::kBF16, w_bf16.data(), rows, cols}, y.data());
        CHECK(max_abs_diff(y, naive_matmul(x, tokens, w_rounded, rows, cols)) < 1e-4);
      }
    }

    auto x = random_vector(cols, 99);
    const std::vector<std::int32_t> chosen{rows - 1, 0, 13};
    std::vector<float> y(chosen.size());
    k.matvec_rows(x.data(), MatrixView{DType::kBF16, w_bf16.data(), rows, cols}, chosen.data(), 3, y.data());
    const auto full = naive_matmul(x, 1, w_rounded, rows, cols);
    for (int j = 0; j < 3; ++j) CHECK(y[j] == doctest::Approx(full[chosen[j]]).epsilon(1e-5));
  });
}

TEST_CASE("one pool serves concurrent parallel_for callers, each item exactly once") {
  // Item counts below, at and above the pool's size, split into uneven shares.
  for (int threads : {1, 2, 3, 4}) {
    CAPTURE(threads);
    ThreadPool pool(threads);
    std::vector<std::thread> callers;
    std::atomic<int> failures{0};
    for (int c = 0; c < 4; ++c) {
      callers.emplace_back([&] {
        for (int round = 0; round < 20; ++round) {
          for (std::size_t n : {0, 1, 2, 3, 5, 97}) {
            std::vector<std::atomic<int>> hits(n);
            pool.parallel_for(n, [&](std::size_t i) { hits[i].fetch_add(1); });
            for (auto& h : hits) failures += h.load() != 1;
          }
        }
      });
    }
    for (auto& t : callers) t.join();
    CHECK(failures.load() == 0);
    CHECK(pool.size() == threads);
  }
}

// Shapes that leave a padded last panel on every target (panels of 8 to 32 rows) and every tile size.
constexpr int kPackedRows = 2 * 32 + 5;

TEST_CASE("packed matmul matches the naive product for every token-tile size and a padded last panel") {
  const int rows = kPackedRows, cols = 37;
  auto w = random_vector(static_cast<std::size_t>(rows) * cols, 21);
  std::vector<std::uint16_t> w_bf16(w.size());
  std::transform(w.begin(), w.end(), w_bf16.begin(), f32_to_bf16);
  std::vector<float> w_rounded(w.size());
  widen(w_bf16.data(), DType::kBF16, w.size(), w_rounded.data());

  for_each_target([&](const TargetKernels& k) {
    const PackedMatrix f32 = k.pack(MatrixView{DType::kF32, w.data(), rows, cols}, Packing::kF32);
    const PackedMatrix bf16 = k.pack(MatrixView{DType::kBF16, w_bf16.data(), rows, cols}, Packing::kBF16);
    const PackedMatrix narrowed = k.pack(MatrixView{DType::kF32, w.data(), rows, cols}, Packing::kBF16);
    CHECK(kernels_for(f32.target).packed_layout == k.packed_layout);
    CHECK(f32.bytes == k.packed_bytes(Packing::kF32, rows, cols));
    CHECK(f32.bytes >= std::size_t{rows} * cols * 4);
    for (int threads : {1, 3}) {
      ThreadPool pool(threads);
      for (int tokens = 1; tokens <= 38; tokens += tokens < 14 ? 1 : 12) {
        CAPTURE(threads);
        CAPTURE(tokens);
        auto x = random_vector(static_cast<std::size_t>(tokens) * cols, 40 + tokens);
        const LayerInput in = k.prepare_input(pool, x.data(), tokens, cols, Packing::kF32);
        std::vector<float> y(static_cast<std::size_t>(tokens) * rows, NAN);
        k.matmul_one(pool, in, f32, y.data());
        CHECK(max_abs_diff(y, naive_matmul(x, tokens, w, rows, cols)) < 1e-4);
        k.matmul_one(pool, in, bf16, y.data());
        CHECK(max_abs_diff(y, naive_matmul(x, tokens, w_rounded, rows, cols)) < 1e-4);
        k.matmul_one(pool, in, narrowed, y.data());
        CHECK(max_abs_diff(y, naive_matmul(x, tokens, w_rounded, rows, cols)) < 1e-4);
      }
    }
  });
}

namespace {

// The documented int8 scheme, written out in scalar code: symmetric, scale = max |v| / 127,
// q = round-half-even(v · 127 / max |v|).
std::vector<int> quantize_scalar(const float* v, int n, double& scale) {
  float amax = 0.f;
  for (int i = 0; i < n; ++i) amax = std::max(amax, std::abs(v[i]));
  std::vector<int> q(n, 0);
  for (int i = 0; i < n; ++i) q[i] = amax > 0.f ? static_cast<int>(std::nearbyint(v[i] * (127.f / amax))) : 0;
  scale = amax / 127.f;
  return q;
}

}  // namespace

TEST_CASE("int8 matmul equals the int8 scheme computed in double, and stays within its error bound") {
  const int rows = kPackedRows, cols = 2 * kInt8Block + 22;  // padded last panel and block
  auto w = random_vector(static_cast<std::size_t>(rows) * cols, 31);
  std::fill(w.begin() + 3 * cols, w.begin() + 4 * cols, 0.f);  // an all-zero row: scale 0
  for (int i = 0; i < cols; i += 3) w[5 * cols + i] = i % 2 ? 1e3f : -1e3f;  // a row at ±127 after quantizing

  for_each_target([&](const TargetKernels& k) {
    const PackedMatrix packed = k.pack(MatrixView{DType::kF32, w.data(), rows, cols}, Packing::kInt8);
    CHECK(packed.packing == Packing::kInt8);
    CHECK(kernels_for(packed.target).packed_layout == k.packed_layout);  // AMX packs as avx512 does
    for (int threads : {1, 3}) {
      ThreadPool pool(threads);
      // 1-14: every VNNI register tile; 16 and more: AMX tiles of 16 and 32 tokens and what is left.
      for (int tokens : {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 29, 32, 45}) {
        CAPTURE(threads);
        CAPTURE(tokens);
        auto x = random_vector(static_cast<std::size_t>(tokens) * cols, 50 + tokens);
        x[0] = 40.f;  // an outlier coarsens only its own block
        if (tokens > 2) std::fill(x.begin() + cols, x.begin() + 2 * cols, 0.f);  // an all-zero token
        if (tokens > 3) std::fill(x.begin() + 2 * cols, x.begin() + 3 * cols, -2.f);  // every activation at -127
        std::vector<float> y(static_cast<std::size_t>(tokens) * rows, NAN);
        k.matmul_one(pool, k.prepare_input(pool, x.data(), tokens, cols, Packing::kInt8), packed, y.data());
        const auto exact = naive_matmul(x, tokens, w, rows, cols);

        int off_scheme = 0, off_bound = 0;
        for (int t = 0; t < tokens; ++t) {
          for (int r = 0; r < rows; ++r) {
            double w_scale;
            const auto qw = quantize_scalar(&w[r * cols], cols, w_scale);
            double scheme = 0, magnitude = 0, bound = 0;
            for (int c0 = 0; c0 < cols; c0 += kInt8Block) {
              const int n = std::min(kInt8Block, cols - c0);
              double x_scale;
              const auto qx = quantize_scalar(&x[t * cols + c0], n, x_scale);
              long long block = 0;
              for (int i = 0; i < n; ++i) {
                block += static_cast<long long>(qx[i]) * qw[c0 + i];
                const double xv = std::abs(x[t * cols + c0 + i]), wv = std::abs(w[r * cols + c0 + i]);
                magnitude += xv * wv;
                // |x w − x̂ ŵ| ≤ |x| |Δw| + |w| |Δx| + |Δx| |Δw|, with |Δ| ≤ scale / 2.
                bound += xv * w_scale / 2 + wv * x_scale / 2 + x_scale * w_scale / 4;
              }
              scheme += static_cast<double>(block) * x_scale * w_scale;
            }
            const double got = y[t * rows + r];
            off_scheme += std::abs(got - scheme) > 1e-5 * (magnitude + 1e-30);
            off_bound += std::abs(got - exact[t * rows + r]) > bound * 1.0001 + 1e-5;
            if (r == 3 || (t == 1 && tokens > 2)) off_scheme += got != 0.0;  // zero row / zero token
          }
        }
        CHECK(off_scheme == 0);
        CHECK(off_bound == 0);
      }
    }
  });
}

TEST_CASE("int8 products of an Inf or NaN are NaN, never a finite number") {
  const int rows = kPackedRows, cols = kInt8Block + 5, tokens = 4;
  auto w = random_vector(static_cast<std::size_t>(rows) * cols, 7);
  w[2 * cols + 1] = INFINITY;
  w[5 * cols + cols - 1] = NAN;  // in the last, partial block
  w[7 * cols + 20] = NAN;        // in a whole block: where the vector code looks
  auto x = random_vector(static_cast<std::size_t>(tokens) * cols, 8);
  x[1 * cols + 3] = -INFINITY;
  x[2 * cols + 40] = NAN;
  x[3 * cols + cols - 2] = NAN;
  for_each_target([&](const TargetKernels& k) {
    ThreadPool pool(1);
    const PackedMatrix packed = k.pack(MatrixView{DType::kF32, w.data(), rows, cols}, Packing::kInt8);
    std::vector<float> y(static_cast<std::size_t>(tokens) * rows, 0.f);
    k.matmul_one(pool, k.prepare_input(pool, x.data(), tokens, cols, Packing::kInt8), packed, y.data());
    int wrong = 0;
    for (int t = 0; t < tokens; ++t) {
      for (int r = 0; r < rows; ++r) {
        const bool poisoned = t != 0 || r == 2 || r == 5 || r == 7;
        wrong += poisoned ? !std::isnan(y[t * rows + r]) : !std::isfinite(y[t * rows + r]);
      }
    }
    CHECK(wrong == 0);
  });
}

TEST_CASE("AMX tiles give the VNNI kernel's int8 products bit for bit") {
  if (detected_target() < Target::kAmx) return;  // nothing to compare on this CPU
  const int rows = kPackedRows, cols = 3 * kInt8Block + 10;
  auto w = random_vector(static_cast<std::size_t>(rows) * cols, 71);
  const TargetKernels &vnni = kernels_for(Target::kAvx512), &amx = kernels_for(Target::kAmx);
  const PackedMatrix on_vnni = vnni.pack(MatrixView{DType::kF32, w.data(), rows, cols}, Packing::kInt8);
  const PackedMatrix on_amx = amx.pack(MatrixView{DType::kF32, w.data(), rows, cols}, Packing::kInt8);
  ThreadPool pool(2);
  // Whole groups of 16; last groups of 1 and 5 (VNNI), 6 and 13 (tiles); more than the 128 tokens
  // the AMX kernel takes at once (150: 128, then 16 + 6).
  for (int tokens : {16, 17, 21, 22, 32, 48, 77, 150, 200}) {
    CAPTURE(tokens);
    auto x = random_vector(static_cast<std::size_t>(tokens) * cols, 72 + tokens);
    std::vector<float> expected(static_cast<std::size_t>(tokens) * rows), got(expected.size(), NAN);
    vnni.matmul_one(pool, vnni.prepare_input(pool, x.data(), tokens, cols, Packing::kInt8), on_vnni, expected.data());
    amx.matmul_one(pool, amx.prepare_input(pool, x.data(), tokens, cols, Packing::kInt8), on_amx, got.data());
    CHECK(std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("AMX's BF16 products: fused multiply-adds in input order under 16 tokens, f32-accurate on tiles") {
  if (detected_target() < Target::kAmx) return;  // nothing to compare on this CPU
  // Tiles take two panels at once: two whole panels then a padded one alone, or a whole panel and a
  // padded one together. An odd column and a padded tile step.
  const int cols = 3 * 32 + 7;
  for (int rows : {kPackedRows, 32 + 5}) {
    CAPTURE(rows);
    auto w = random_vector(static_cast<std::size_t>(rows) * cols, 81);
    std::vector<std::uint16_t> w_bf16(w.size());
    std::transform(w.begin(), w.end(), w_bf16.begin(), f32_to_bf16);
    const TargetKernels& amx = kernels_for(Target::kAmx);
    const PackedMatrix packed = amx.pack(MatrixView{DType::kBF16, w_bf16.data(), rows, cols}, Packing::kBF16);
    CHECK(packed.bytes == amx.packed_bytes(Packing::kBF16, rows, cols));
    ThreadPool pool(2);
    // Under 16 tokens, whole groups, and last groups of 1, 2, 5 (FMAs), 6 and 10 tokens (tiles).
    for (int tokens : {1, 5, 15, 16, 22, 26, 33, 37, 50}) {
      CAPTURE(tokens);
      // Activations spanning many magnitudes: the three BF16 terms must carry all of f32's bits.
      auto x = random_vector(static_cast<std::size_t>(tokens) * cols, 82 + tokens);
      for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::ldexp(x[i], static_cast<int>(i % 41) - 20);
      std::vector<float> got(static_cast<std::size_t>(tokens) * rows, NAN);
      amx.matmul_one(pool, amx.prepare_input(pool, x.data(), tokens, cols, Packing::kBF16), packed, got.data());
      int wrong = 0;
      for (int t = 0; t < tokens; ++t) {
        for (int r = 0; r < rows; ++r) {
          float in_order = 0.f, magnitude = 0.f;  // one fused multiply-add per input, in order; Σ |w·x|
          for (int c = 0; c < cols; ++c) {
            const float wx = bf16_to_f32(w_bf16[r * cols + c]);
            in_order = std::fma(wx, x[t * cols + c], in_order);
            magnitude += std::abs(wx * x[t * cols + c]);
          }
          const float y = got[t * rows + r];
          // Under 16 tokens FMAs give exactly that; on tiles the same exact products are summed in f32
          // in another order: within f32 rounding of Σ |w·x|.
          const bool exact = std::memcmp(&y, &in_order, sizeof y) == 0;
          wrong += tokens < 16 ? !exact : !(std::abs(y - in_order) <= 1e-6f * magnitude);
        }
      }
      CHECK(wrong == 0);
    }
  }
}

TEST_CASE("products of one input in one call equal the products made one by one") {
  const int cols = 150;
  const int heights[] = {kPackedRows, 32, 7};  // a padded last panel, whole panels, a lone partial one
  auto x = random_vector(static_cast<std::size_t>(38) * cols, 62);
  for_each_target([&](const TargetKernels& k) {
    for (Packing packing : {Packing::kF32, Packing::kBF16, Packing::kInt8}) {
      CAPTURE(packing_name(packing));
      std::vector<PackedMatrix> m;
      for (int i = 0; i < 3; ++i) {
        const auto w = random_vector(static_cast<std::size_t>(heights[i]) * cols, 61 + i);
        m.push_back(k.pack(MatrixView{DType::kF32, w.data(), heights[i], cols}, packing));
      }
      for (int threads : {1, 3}) {
        ThreadPool pool(threads);
        // Runs of panels per task under 16 tokens (spanning the matrices), one panel per task above.
        for (int tokens : {1, 3, 7, 20, 38}) {
          CAPTURE(threads);
          CAPTURE(tokens);
          const LayerInput in = k.prepare_input(pool, x.data(), tokens, cols, packing);
          std::vector<std::vector<float>> together, alone;
          std::vector<Product> products;
          for (int i = 0; i < 3; ++i) {
            together.emplace_back(static_cast<std::size_t>(tokens) * heights[i], NAN);
            alone.emplace_back(together.back().size(), NAN);
          }
          for (int i = 0; i < 3; ++i) products.push_back({&m[i], together[i].data()});
          k.matmul_packed(pool, in, products);
          for (int i = 0; i < 3; ++i) {
            k.matmul_one(pool, k.prepare_input(pool, x.data(), tokens, cols, packing), m[i], alone[i].data());
            CHECK(std::memcmp(together[i].data(), alone[i].data(), alone[i].size() * sizeof(float)) == 0);
          }
          // The input is only read: it serves a later product the same.
          k.matmul_one(pool, in, m[0], alone[0].data());
          CHECK(std::memcmp(together[0].data(), alone[0].data(), alone[0].size() * sizeof(float)) == 0);
        }
      }
    }
  });
}

namespace {

float round_bf16(double x) { return bf16_to_f32(f32_to_bf16(static_cast<float>(x))); }

// Causal grouped-query attention in double, straight from its definition (a key in s.hidden's range
// for the query's token is left out); with s.bf16, with the operands rounded as AttentionShape::bf16
// says. A softmax numerator within float32 noise of a BF16 rounding tie may round either way in the
// kernel: `slack` bounds what that can change.
struct ExpectedAttention {
  std::vector<float> out;
  std::vector<double> slack;
};
ExpectedAttention naive_attention(const AttentionShape& s, const std::vector<float>& q, const std::vector<float>& keys,
                                  const std::vector<float>& values) {
  const int group = s.heads / s.kv_heads, hd = s.head_dim, p0 = s.length - s.tokens;
  const float scale = 1.f / std::sqrt(static_cast<float>(hd));
  ExpectedAttention expected{std::vector<float>(static_cast<std::size_t>(s.tokens) * s.heads * hd),
                             std::vector<double>(static_cast<std::size_t>(s.tokens) * s.heads * hd)};
  for (int t = 0; t < s.tokens; ++t) {
    for (int j = 0; j < s.heads; ++j) {
      const int g = j / group, visible = p0 + t + 1;
      const float* qv = &q[(static_cast<std::size_t>(t) * s.heads + j) * hd];
      std::vector<double> score(visible), tie(visible, 0.0);
      double peak = -INFINITY, total = 0;
      for (int k = 0; k < visible; ++k) {
        double dot = 0;
        for (int d = 0; d < hd; ++d) {
          const double query = s.bf16 ? round_bf16(qv[d] * scale) : qv[d] / std::sqrt(double(hd));
          dot += query * keys[(static_cast<std::size_t>(k) * s.kv_heads + g) * hd + d];
        }
        score[k] = dot;
        if (!s.hidden || k < s.hidden[t].begin || k >= s.hidden[t].end) peak = std::max(peak, score[k]);
      }
      for (int k = 0; k < visible; ++k) {
        const bool hidden = s.hidden && k >= s.hidden[t].begin && k < s.hidden[t].end;
        const double e = hidden ? 0.0 : std::exp(score[k] - peak);
        total += e;
        score[k] = s.bf16 ? round_bf16(e) : e;
        if (s.bf16) tie[k] = std::abs(round_bf16(e * (1 + 1e-6)) - round_bf16(e * (1 - 1e-6)));
      }
      for (int d = 0; d < hd; ++d) {
        double sum = 0, slack = 0;
        for (int k = 0; k < visible; ++k) {
          const double value = values[(static_cast<std::size_t>(k) * s.kv_heads + g) * hd + d];
          sum += score[k] * value;
          slack += tie[k] * std::abs(value);
        }
        const std::size_t at = (static_cast<std::size_t>(t) * s.heads + j) * hd + d;
        expected.out[at] = static_cast<float>(sum / total);
        expected.slack[at] = slack / total;
      }
    }
  }
  return expected;
}

// Random queries, keys and values for `s`, from seeds `seed` .. seed + 2; with s.bf16 the keys and
// values are BF16 values (the caller's part), and the cache holds their BF16 encoding.
struct AttentionInputs {
  AttentionInputs(const AttentionShape& s, unsigned seed)
      : q(random_vector(static_cast<std::size_t>(s.tokens) * s.heads * s.head_dim, seed)),
        keys(random_vector(static_cast<std::size_t>(s.length) * s.kv_heads * s.head_dim, seed + 1)),
        values(random_vector(keys.size(), seed + 2)),
        bf16(s.bf16) {
    if (!bf16) return;
    for (auto* side : {&keys, &values}) {
      for (float& x : *side) x = round_bf16(x);
    }
    for (float x : keys) keys16.push_back(static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(x) >> 16));
    for (float x : values) values16.push_back(static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(x) >> 16));
  }
  const void* cached_keys() const { return bf16 ? static_cast<const void*>(keys16.data()) : keys.data(); }
  const void* cached_values() const { return bf16 ? static_cast<const void*>(values16.data()) : values.data(); }

  std::vector<float> q, keys, values;
  bool bf16;
  std::vector<std::uint16_t> keys16, values16;
};

// Every output within 1e-5 of the formula's, plus its BF16 tie slack.
bool within(const std::vector<float>& out, const ExpectedAttention& expected) {
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (!(std::abs(double(out[i]) - expected.out[i]) <= 1e-5 + expected.slack[i])) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("attention matches the causal grouped-query formula, over a cached prefix and without one") {
  // heads, kv heads, head_dim, tokens, cached length: GQA 2:1 (0.6B), 4:1 (4B/8B), no grouping,
  // a head_dim that is not a multiple of any SIMD width, decode steps over a long cache (few query
  // rows take the direct path, more the gathered one; which depends on the target's width); 0.6B's
  // own shape over a policy-sized prefix (the AMX target's tiles take it with BF16 operands).
  const std::vector<AttentionShape> shapes = {{4, 2, 128, 9, 9},   {8, 2, 128, 5, 40},   {3, 3, 64, 17, 30},
                                              {6, 2, 20, 4, 11},   {2, 1, 128, 1, 300},  {4, 2, 8, 33, 33},
                                              {8, 4, 64, 2, 50},   {16, 8, 128, 1, 7},   {16, 8, 128, 21, 230},
                                              {4, 1, 96, 13, 45}, {2, 2, 32, 40, 40}};
  for (AttentionShape s : shapes) {
    for (bool bf16 : {false, true}) {
      s.bf16 = bf16;
      CAPTURE(s.heads);
      CAPTURE(s.kv_heads);
      CAPTURE(s.head_dim);
      CAPTURE(s.tokens);
      CAPTURE(s.length);
      CAPTURE(s.bf16);
      const AttentionInputs in(s, 70);
      const auto expected = naive_attention(s, in.q, in.keys, in.values);
      for_each_target([&](const TargetKernels& k) {
        for (int threads : {1, 3}) {
          ThreadPool pool(threads);
          std::vector<float> out(expected.out.size(), NAN);
          k.attention(pool, s, in.q.data(), in.cached_keys(), in.cached_values(), out.data());
          CHECK(within(out, expected));
          if (bf16) CHECK(max_abs_diff(out, naive_attention({s.heads, s.kv_heads, s.head_dim, s.tokens, s.length}, in.q,
                                                            in.keys, in.values).out) > 1e-6);  // it does round
        }
      });
    }
  }
}

TEST_CASE("attention leaves out each token's hidden keys: branches after a shared trunk see only themselves") {
  // A cached prefix, a trunk, then branches one after another (model/qwen3.hpp): a branch token does
  // not see the branches before it. Few query rows (the direct path) and many (the gathered one,
  // AMX tiles with bf16), 0.6B's grouping and another.
  struct Case {
    AttentionShape shape;
    int trunk;
    std::vector<int> branches;
  };
  const std::vector<Case> cases = {{{16, 8, 128, 7, 207}, 1, {3, 3}},
                                   {{16, 8, 128, 40, 240}, 12, {6, 9, 13}},
                                   {{4, 1, 64, 11, 30}, 2, {4, 2, 3}}};
  for (Case c : cases) {
    AttentionShape& s = c.shape;
    const int p0 = s.length - s.tokens;
    std::vector<HiddenKeys> hidden(s.tokens);
    int start = p0 + c.trunk;
    for (int length : c.branches) {
      for (int j = 0; j < length; ++j) hidden[start - p0 + j] = {p0 + c.trunk, start};
      start += length;
    }
    REQUIRE(start == s.length);
    s.hidden = hidden.data();
    for (bool bf16 : {false, true}) {
      s.bf16 = bf16;
      CAPTURE(s.tokens);
      CAPTURE(s.bf16);
      const AttentionInputs in(s, 73);
      const auto expected = naive_attention(s, in.q, in.keys, in.values);
      AttentionShape causal = s;
      causal.hidden = nullptr;
      for_each_target([&](const TargetKernels& k) {
        ThreadPool pool(2);
        std::vector<float> out(expected.out.size(), NAN);
        k.attention(pool, s, in.q.data(), in.cached_keys(), in.cached_values(), out.data());
        CHECK(within(out, expected));
        k.attention(pool, causal, in.q.data(), in.cached_keys(), in.cached_values(), out.data());
        CHECK(max_abs_diff(out, expected.out) > 1e-3);  // the hidden keys matter
      });
    }
  }
}

TEST_CASE("to_bf16 rounds to nearest, ties to even, and keeps every NaN a NaN") {
  auto x = random_vector(1000, 80);
  x[3] = 1.f + 0x1p-8f;      // a tie: down to the even 1 (0x3f80)
  x[4] = 1.f + 3 * 0x1p-8f;  // a tie: up to the even 1 + 2^-6 (0x3f82)
  x[5] = NAN;
  x[6] = -INFINITY;
  x[7] = std::bit_cast<float>(0x7f800001u);  // a NaN whose payload is all below the upper half
  x[8] = 1.f + 0x1p-8f + 0x1p-20f;           // just above a tie: up
  for_each_target([&](const TargetKernels& k) {
    for (std::size_t n : {std::size_t{1}, std::size_t{17}, x.size()}) {
      std::vector<std::uint16_t> bits(n);
      k.to_bf16(x.data(), n, bits.data());
      for (std::size_t i = 0; i < n; ++i) {
        if (std::isnan(x[i])) {
          CHECK(((bits[i] & 0x7f80) == 0x7f80 && (bits[i] & 0x7f) != 0));
        } else if (std::isfinite(x[i])) {  // the nearest BF16 value: none closer, on a tie the even one
          const double value = x[i], got = bf16_to_f32(bits[i]);
          for (int step : {-1, 1}) {
            const double other = bf16_to_f32(static_cast<std::uint16_t>(bits[i] + step));
            CHECK((std::abs(got - value) < std::abs(other - value) ||
                   (std::abs(got - value) == std::abs(other - value) && bits[i] % 2 == 0)));
          }
        }
      }
    }
    std::vector<std::uint16_t> bits(9);
    k.to_bf16(x.data(), bits.size(), bits.data());
    CHECK(bits[3] == 0x3f80);
    CHECK(bits[4] == 0x3f82);
    CHECK(bits[6] == 0xff80);
    CHECK(bits[8] == 0x3f81);
  });
}

TEST_CASE("a layer input is refused by a matrix it was not prepared for") {
  const int rows = 40, cols = 128;
  auto w = random_vector(static_cast<std::size_t>(rows) * cols, 81);
  auto x = random_vector(3 * static_cast<std::size_t>(cols), 82);
  ThreadPool pool(1);
  const PackedMatrix f32 = pack(MatrixView{DType::kF32, w.data(), rows, cols}, Packing::kF32);
  const PackedMatrix int8 = pack(MatrixView{DType::kF32, w.data(), rows, cols}, Packing::kInt8);
  std::vector<float> y(3 * static_cast<std::size_t>(rows));
  CHECK_NOTHROW(matmul(pool, prepare_input(pool, x.data(), 3, cols, int8), int8, y.data()));
  CHECK_THROWS_AS(matmul(pool, prepare_input(pool, x.data(), 3, cols, f32), int8, y.data()), qguard::Error);
  CHECK_THROWS_AS(matmul(pool, prepare_input(pool, x.data(), 3, cols, int8), f32, y.data()), qguard::Error);
  CHECK_THROWS_AS(matmul(pool, prepare_input(pool, x.data(), 3, cols - 64, int8), int8, y.data()), qguard::Error);
}
