// Layer weight matrices re-laid out once, at load, for the matrix-product micro-kernel: panels of
// kPanelRows output rows, each panel stored column by column, so one kernel step loads the panel's
// values of one input column contiguously and multiplies them with one broadcast activation per
// token. This is the layout of register-blocked GEMM (BLIS style); it keeps the loop bound by FMA
// throughput rather than by loads, for any number of tokens.
#pragma once

#include <cstdint>
#include <memory>

#include "kernels/convert.hpp"
#include "kernels/matmul.hpp"
#include "kernels/thread_pool.hpp"

namespace qguard::kernels {

// Two SIMD vectors of rows per panel: 16 on AVX2, 32 on AVX-512.
inline constexpr int kPanelRows = 2 * static_cast<int>(FloatBatch::size);

// Packed storage lives in its own huge-page-aligned allocation (see pack()).
struct FreeDeleter {
  void operator()(void* p) const;
};

struct PackedMatrix {
  DType dtype = DType::kF32;  // of the packed values: kF32 or kBF16
  int rows = 0;               // out_features (the last panel is padded with zero rows)
  int cols = 0;               // in_features
  std::unique_ptr<float[], FreeDeleter> f32;          // packed values when dtype is kF32
  std::unique_ptr<std::uint16_t[], FreeDeleter> bf16;  // packed values when dtype is kBF16

  std::size_t panels() const { return (static_cast<std::size_t>(rows) + kPanelRows - 1) / kPanelRows; }
  std::size_t bytes() const { return panels() * kPanelRows * cols * dtype_size(dtype); }
};

// Packs `w` holding values as `dtype` (kF32 or kBF16; BF16 → BF16 copies bits exactly).
PackedMatrix pack(const MatrixView& w, DType dtype);

// y[t, r] = Σ_c x[t, c] · w[r, c] for t < tokens; x is [tokens, w.cols], y is [tokens, w.rows].
void matmul(ThreadPool& pool, const float* x, int tokens, const PackedMatrix& w, float* y);

}  // namespace qguard::kernels
