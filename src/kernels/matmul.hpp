// Products with weight matrices used in place, row-major as [out_features, in_features]
// (y = x · Wᵀ), in the dtype the checkpoint has (F32 or BF16, widened in registers). This serves the
// embedding-sized matrices that are also read row by row (the lm_head, tied to the embedding in
// 0.6B and 4B); layer matrices are packed at load and use kernels/packed_matmul.hpp.
#pragma once

#include <cstdint>

#include "kernels/thread_pool.hpp"
#include "util/dtype.hpp"

namespace qguard::kernels {

struct MatrixView {
  DType dtype = DType::kF32;  // kF32 or kBF16 (F16 checkpoints are widened at load)
  const void* data = nullptr;
  int rows = 0;  // out_features
  int cols = 0;  // in_features

  const void* row(std::int64_t r) const {
    return static_cast<const char*>(data) + r * cols * static_cast<std::int64_t>(dtype_size(dtype));
  }
};

// y[t, r] = Σ_c x[t, c] · w[r, c] for t < tokens; x is [tokens, w.cols], y is [tokens, w.rows].
void matmul(ThreadPool& pool, const float* x, int tokens, const MatrixView& w, float* y);

// y[j] = Σ_c x[c] · w[rows[j], c]: a projection onto a chosen subset of output rows.
void matvec_rows(const float* x, const MatrixView& w, const std::int32_t* rows, int count, float* y);

// out = row `r` of w as f32.
void copy_row(const MatrixView& w, int r, float* out);

}  // namespace qguard::kernels
