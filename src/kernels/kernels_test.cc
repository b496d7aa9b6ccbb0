// Each kernel against a plain scalar transcription of its formula.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <random>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "kernels/convert.hpp"
#include "kernels/matmul.hpp"
#include "kernels/ops.hpp"
#include "kernels/packed_matmul.hpp"
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

}  // namespace

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

TEST_CASE("dot, rmsnorm, rope, softmax and silu_mul match their formulas") {
  const std::size_t n = 203;  // not a multiple of any SIMD width
  auto a = random_vector(n, 1), b = random_vector(n, 2), w = random_vector(n, 3);

  double d = 0;
  for (std::size_t i = 0; i < n; ++i) d += double(a[i]) * b[i];
  CHECK(dot(a.data(), b.data(), n) == doctest::Approx(d).epsilon(1e-5));

  double ms = 0;
  for (float x : a) ms += double(x) * x;
  const double inv = 1.0 / std::sqrt(ms / n + 1e-6);
  std::vector<float> normed(n);
  rmsnorm(a.data(), w.data(), n, 1e-6f, normed.data());
  for (std::size_t i = 0; i < n; ++i) CHECK(normed[i] == doctest::Approx(a[i] * inv * w[i]).epsilon(1e-5));

  const std::size_t half = 8;
  auto z = random_vector(2 * half, 4), cs = random_vector(half, 5), sn = random_vector(half, 6);
  auto rotated = z;
  rope(rotated.data(), cs.data(), sn.data(), half);
  for (std::size_t i = 0; i < half; ++i) {
    CHECK(rotated[i] == doctest::Approx(z[i] * cs[i] - z[i + half] * sn[i]));
    CHECK(rotated[i + half] == doctest::Approx(z[i + half] * cs[i] + z[i] * sn[i]));
  }

  auto p = a;
  softmax(p.data(), n);
  double total = 0;
  for (float x : a) total += std::exp(double(x));
  for (std::size_t i = 0; i < n; ++i) CHECK(p[i] == doctest::Approx(std::exp(double(a[i])) / total).epsilon(1e-5));

  auto g = a;
  silu_mul(g.data(), b.data(), n);
  for (std::size_t i = 0; i < n; ++i) CHECK(g[i] == doctest::Approx(a[i] / (1 + std::exp(-double(a[i]))) * b[i]).epsilon(1e-5));
}

TEST_CASE("matmul matches the naive product for F32 and BF16 weights, any thread count") {
  const int rows = 77, cols = 45;
  auto w = random_vector(static_cast<std::size_t>(rows) * cols, 7);
  std::vector<std::uint16_t> w_bf16(w.size());
  std::transform(w.begin(), w.end(), w_bf16.begin(), f32_to_bf16);
  std::vector<float> w_rounded(w.size());
  widen(w_bf16.data(), DType::kBF16, w.size(), w_rounded.data());

  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int tokens : {1, 5, 33}) {
      CAPTURE(threads);
      CAPTURE(tokens);
      auto x = random_vector(static_cast<std::size_t>(tokens) * cols, 8 + tokens);
      std::vector<float> y(static_cast<std::size_t>(tokens) * rows);
      matmul(pool, x.data(), tokens, MatrixView{DType::kF32, w.data(), rows, cols}, y.data());
      CHECK(max_abs_diff(y, naive_matmul(x, tokens, w, rows, cols)) < 1e-4);
      matmul(pool, x.data(), tokens, MatrixView{DType::kBF16, w_bf16.data(), rows, cols}, y.data());
      CHECK(max_abs_diff(y, naive_matmul(x, tokens, w_rounded, rows, cols)) < 1e-4);
    }
  }

  auto x = random_vector(cols, 99);
  const std::vector<std::int32_t> chosen{76, 0, 13};
  std::vector<float> y(chosen.size());
  matvec_rows(x.data(), MatrixView{DType::kBF16, w_bf16.data(), rows, cols}, chosen.data(), 3, y.data());
  const auto full = naive_matmul(x, 1, w_rounded, rows, cols);
  for (int j = 0; j < 3; ++j) CHECK(y[j] == doctest::Approx(full[chosen[j]]).epsilon(1e-5));
}

TEST_CASE("one pool serves concurrent parallel_for callers, each item exactly once") {
  ThreadPool pool(3);
  std::vector<std::thread> callers;
  std::atomic<int> failures{0};
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&] {
      for (int round = 0; round < 50; ++round) {
        std::vector<std::atomic<int>> hits(97);
        pool.parallel_for(hits.size(), [&](std::size_t i) { hits[i].fetch_add(1); });
        for (auto& h : hits) failures += h.load() != 1;
      }
    });
  }
  for (auto& t : callers) t.join();
  CHECK(failures.load() == 0);
  CHECK(pool.size() == 3);
}

TEST_CASE("packed matmul matches the naive product for every token-tile size and a padded last panel") {
  const int rows = 2 * kPanelRows + 5, cols = 37;
  auto w = random_vector(static_cast<std::size_t>(rows) * cols, 21);
  std::vector<std::uint16_t> w_bf16(w.size());
  std::transform(w.begin(), w.end(), w_bf16.begin(), f32_to_bf16);
  std::vector<float> w_rounded(w.size());
  widen(w_bf16.data(), DType::kBF16, w.size(), w_rounded.data());

  const PackedMatrix f32 = pack(MatrixView{DType::kF32, w.data(), rows, cols}, Packing::kF32);
  const PackedMatrix bf16 = pack(MatrixView{DType::kBF16, w_bf16.data(), rows, cols}, Packing::kBF16);
  const PackedMatrix narrowed = pack(MatrixView{DType::kF32, w.data(), rows, cols}, Packing::kBF16);
  CHECK(f32.bytes == 3u * kPanelRows * cols * 4);
  for (int threads : {1, 3}) {
    ThreadPool pool(threads);
    for (int tokens = 1; tokens <= 13; ++tokens) {
      CAPTURE(threads);
      CAPTURE(tokens);
      auto x = random_vector(static_cast<std::size_t>(tokens) * cols, 40 + tokens);
      std::vector<float> y(static_cast<std::size_t>(tokens) * rows, NAN);
      matmul(pool, x.data(), tokens, f32, y.data());
      CHECK(max_abs_diff(y, naive_matmul(x, tokens, w, rows, cols)) < 1e-4);
      matmul(pool, x.data(), tokens, bf16, y.data());
      CHECK(max_abs_diff(y, naive_matmul(x, tokens, w_rounded, rows, cols)) < 1e-4);
      matmul(pool, x.data(), tokens, narrowed, y.data());
      CHECK(max_abs_diff(y, naive_matmul(x, tokens, w_rounded, rows, cols)) < 1e-4);
    }
  }
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
  const int rows = 2 * kInt8PanelRows + 5, cols = 2 * kInt8Block + 22;  // padded last panel and block
  auto w = random_vector(static_cast<std::size_t>(rows) * cols, 31);
  std::fill(w.begin() + 3 * cols, w.begin() + 4 * cols, 0.f);  // an all-zero row: scale 0
  const PackedMatrix packed = pack(MatrixView{DType::kF32, w.data(), rows, cols}, Packing::kInt8);
  CHECK(packed.packing == Packing::kInt8);

  for (int threads : {1, 3}) {
    ThreadPool pool(threads);
    for (int tokens = 1; tokens <= 9; ++tokens) {
      CAPTURE(threads);
      CAPTURE(tokens);
      auto x = random_vector(static_cast<std::size_t>(tokens) * cols, 50 + tokens);
      x[0] = 40.f;  // an outlier coarsens only its own block
      if (tokens > 2) std::fill(x.begin() + cols, x.begin() + 2 * cols, 0.f);  // an all-zero token
      std::vector<float> y(static_cast<std::size_t>(tokens) * rows, NAN);
      matmul(pool, x.data(), tokens, packed, y.data());
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
}
