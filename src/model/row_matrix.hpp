// The embedding and the lm_head: row-major [rows, cols] matrices read in place from the checkpoint's
// mapping, never copied. F32 and BF16 rows go to the kernels as they are; rows in any other encoding
// (GGUF blocks, F16, or BF16 when f32 is asked for) are decoded to f32 when a step needs them, with
// the format's own decoding (io::read_values): a lookup decodes its rows, logits_of() its chosen
// rows, and a full product is that of the layer matrices read in place (kernels::Packing::kInPlace:
// panels of rows decoded on the pool). Every product is computed by an f32 kernel on the decoded
// values, so the results are those of a decoded copy (packed as kF32 for a full product), bit for
// bit.
#pragma once

#include <cstddef>
#include <cstdint>

#include "io/checkpoint.hpp"
#include "kernels/matrix.hpp"
#include "kernels/thread_pool.hpp"

namespace qguard::model {

class RowMatrix {
 public:
  RowMatrix() = default;
  // `tensor` ([rows, cols], in a mapping that outlives this) is decoded row by row when `decode`,
  // which must be set for any dtype other than F32 and BF16 and for a block-quantized tensor.
  RowMatrix(const io::TensorView& tensor, bool decode);

  int rows() const { return view_.rows; }
  int cols() const { return view_.cols; }
  std::size_t bytes() const { return tensor_->nbytes; }  // as stored in the file

  // out = row r as f32.
  void copy_row(int r, float* out) const;
  // y[t, r] = Σ_c x[t, c] · w[r, c]; x is [tokens, cols], y is [tokens, rows].
  void matmul(kernels::ThreadPool& pool, const float* x, int tokens, float* y) const;
  // y[j] = Σ_c x[c] · w[rows[j], c] for j < count.
  void matvec_rows(const float* x, const std::int32_t* rows, int count, float* y) const;

 private:
  const io::TensorView* tensor_ = nullptr;
  kernels::MatrixView view_;  // the rows in place (data is null when they are decoded)
};

}  // namespace qguard::model
