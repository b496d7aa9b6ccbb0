// Products with weight matrices used in place, row-major as [out_features, in_features]
// (y = x · Wᵀ), in the dtype the checkpoint has (F32 or BF16, widened in registers). This serves the
// embedding-sized matrices that are also read row by row (the lm_head, tied to the embedding in
// 0.6B and 4B); layer matrices are packed at load (packed_matmul.cc).
#include <algorithm>
#include <cstddef>

#include "kernels/target.hpp"

namespace qguard::kernels::QGUARD_TARGET {
namespace {

// Row access for each weight dtype: a batch of values, or one value, of row r from column c.
// kTileRows is the tile height that measured fastest for the dtype (docs/performance.md).
struct F32Rows {
  static constexpr int kTileRows = 3;
  const float* base;
  std::size_t rows, cols;
  const void* address(std::size_t r, std::size_t c) const { return base + r * cols + c; }
  FloatBatch batch(std::size_t r, std::size_t c) const { return FloatBatch::load_unaligned(base + r * cols + c); }
  float scalar(std::size_t r, std::size_t c) const { return base[r * cols + c]; }
};

struct BF16Rows {
  static constexpr int kTileRows = 4;
  const std::uint16_t* base;
  std::size_t rows, cols;
  const void* address(std::size_t r, std::size_t c) const { return base + r * cols + c; }
  FloatBatch batch(std::size_t r, std::size_t c) const { return load_bf16(base + r * cols + c); }
  float scalar(std::size_t r, std::size_t c) const {
    std::uint16_t bits;
    std::memcpy(&bits, base + r * cols + c, sizeof bits);
    return bf16_to_f32(bits);
  }
};

// The register tile: out[j * ldy + i] = x[t + j] · w[r + i] for i < R, j < TB. Each weight batch is
// loaded (and widened) once and used for TB tokens, each token batch is used for R rows. On AVX2
// (16 vector registers) 3 × 3 holds everything in registers and is fastest for f32 rows; for BF16
// rows 4 × 3, whose token loads fold into the FMAs, wins because it widens fewer weights per FMA.
// With one token the loop only streams weights: it prefetches the rows two tiles ahead, whose short
// (one row each) streams the hardware prefetcher picks up too late (lm_head 11 -> 14.5 GB/s on
// Zen 3). One or two tokens take kStreamRows rows per tile, eight streams at once: on Zen 5 the
// lm_head for one token went from 35 to 41 GB/s with them (docs/performance.md).
constexpr int kStreamRows = 8;

template <int R, int TB, typename Rows>
void tile(const Rows& w, const float* x, std::size_t cols, std::size_t r, std::size_t t, float* out, std::size_t ldy) {
  FloatBatch acc[R][TB];
  for (auto& row : acc) {
    for (auto& a : row) a = FloatBatch(0.f);
  }
  const std::size_t full = cols / kLanes * kLanes;
  for (std::size_t c = 0; c < full; c += kLanes) {
    FloatBatch xs[TB];
    for (int j = 0; j < TB; ++j) xs[j] = FloatBatch::load_unaligned(x + (t + j) * cols + c);
    for (int i = 0; i < R; ++i) {
      if constexpr (TB == 1) {
        if (r + 2 * R + i < w.rows) __builtin_prefetch(w.address(r + 2 * R + i, c));
      }
      const FloatBatch wi = w.batch(r + i, c);
      for (int j = 0; j < TB; ++j) acc[i][j] = xsimd::fma(wi, xs[j], acc[i][j]);
    }
  }
  for (int i = 0; i < R; ++i) {
    for (int j = 0; j < TB; ++j) {
      float sum = xsimd::hadd(acc[i][j]);
      for (std::size_t c = full; c < cols; ++c) sum += x[(t + j) * cols + c] * w.scalar(r + i, c);
      out[j * ldy + i] = sum;
    }
  }
}

// Rows [r0, r1) for every token. Tokens go in blocks whose activations stay in L2 while the block's
// weight rows stream past them once.
template <typename Rows>
void rows_times_tokens(const Rows& w, const float* x, int tokens, std::size_t r0, std::size_t r1, float* y,
                       std::size_t ldy) {
  const std::size_t cols = w.cols;
  const std::size_t block = std::max<std::size_t>(3, (192 * 1024 / (cols * sizeof(float))) / 3 * 3);
  for (std::size_t t0 = 0; t0 < static_cast<std::size_t>(tokens); t0 += block) {
    const std::size_t t1 = std::min<std::size_t>(tokens, t0 + block);
    std::size_t r = r0;
    constexpr int R = Rows::kTileRows;
    if (t1 - t0 < 3) {
      for (; r + kStreamRows <= r1; r += kStreamRows) {
        for (std::size_t t = t0; t < t1; ++t) tile<kStreamRows, 1>(w, x, cols, r, t, y + t * ldy + r, ldy);
      }
    }
    for (; r + R <= r1; r += R) {
      std::size_t t = t0;
      for (; t + 3 <= t1; t += 3) tile<R, 3>(w, x, cols, r, t, y + t * ldy + r, ldy);
      for (; t < t1; ++t) tile<R, 1>(w, x, cols, r, t, y + t * ldy + r, ldy);
    }
    for (; r < r1; ++r) {
      for (std::size_t t = t0; t < t1; ++t) tile<1, 1>(w, x, cols, r, t, y + t * ldy + r, ldy);
    }
  }
}

}  // namespace

void matmul_rows(ThreadPool& pool, const float* x, int tokens, const MatrixView& w, float* y) {
  constexpr int kRowsPerPanel = 96;  // whole tiles of 3, 4 or 8 rows
  const std::size_t height = w.rows, cols = w.cols;
  const int heights[] = {w.rows};
  for_each_panel_tile(pool, heights, kRowsPerPanel, tokens, tokens, [&](int, int, int, int, std::size_t r0, int rows) {
    const std::size_t r1 = r0 + rows;
    if (w.dtype == DType::kF32) {
      rows_times_tokens(F32Rows{static_cast<const float*>(w.data), height, cols}, x, tokens, r0, r1, y, height);
    } else {
      rows_times_tokens(BF16Rows{static_cast<const std::uint16_t*>(w.data), height, cols}, x, tokens, r0, r1, y,
                        height);
    }
  });
}

void matvec_rows(const float* x, const MatrixView& w, const std::int32_t* rows, int count, float* y) {
  const std::size_t height = w.rows, cols = w.cols;
  for (int j = 0; j < count; ++j) {
    if (w.dtype == DType::kF32) {
      tile<1, 1>(F32Rows{static_cast<const float*>(w.data), height, cols}, x, cols, rows[j], 0, y + j, 0);
    } else {
      tile<1, 1>(BF16Rows{static_cast<const std::uint16_t*>(w.data), height, cols}, x, cols, rows[j], 0, y + j, 0);
    }
  }
}

}  // namespace qguard::kernels::QGUARD_TARGET
