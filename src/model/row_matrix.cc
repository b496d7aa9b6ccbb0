#include "model/row_matrix.hpp"

#include <algorithm>
#include <vector>

#include "kernels/kernels.hpp"

namespace qguard::model {
namespace {

// Rows decoded at a time by a full product: 1 MiB of f32 for 1024 columns, so a block stays in
// L2 while every token is multiplied by it.
constexpr int kBlockRows = 256;

}  // namespace

RowMatrix::RowMatrix(const io::TensorView& tensor, bool decode)
    : tensor_(&tensor),
      view_{tensor.dtype, decode ? nullptr : tensor.data, static_cast<int>(tensor.shape[0]),
            static_cast<int>(tensor.shape[1])} {}

void RowMatrix::copy_row(int r, float* out) const {
  if (view_.data) {
    kernels::copy_row(view_, r, out);
  } else {
    io::read_values(*tensor_, static_cast<std::size_t>(r) * view_.cols, view_.cols, out);
  }
}

void RowMatrix::matmul(kernels::ThreadPool& pool, const float* x, int tokens, float* y) const {
  if (view_.data) {
    kernels::matmul(pool, x, tokens, view_, y);
    return;
  }
  const std::size_t cols = view_.cols, rows = view_.rows;
  // Each block is one task: decoded, then multiplied on the task's own thread (a pool of one runs
  // on its caller), its [tokens, block] products scattered into y.
  kernels::ThreadPool on_caller(1);
  pool.parallel_for((rows + kBlockRows - 1) / kBlockRows, [&](std::size_t block) {
    const std::size_t r0 = block * kBlockRows, height = std::min<std::size_t>(kBlockRows, rows - r0);
    std::vector<float> values(height * cols), products(static_cast<std::size_t>(tokens) * height);
    io::read_values(*tensor_, r0 * cols, height * cols, values.data());
    const kernels::MatrixView decoded{DType::kF32, values.data(), static_cast<int>(height), view_.cols};
    kernels::matmul(on_caller, x, tokens, decoded, products.data());
    for (std::size_t t = 0; t < static_cast<std::size_t>(tokens); ++t) {
      std::copy_n(&products[t * height], height, &y[t * rows + r0]);
    }
  });
}

void RowMatrix::matvec_rows(const float* x, const std::int32_t* rows, int count, float* y) const {
  if (view_.data) {
    kernels::matvec_rows(x, view_, rows, count, y);
    return;
  }
  std::vector<float> row(view_.cols);
  const kernels::MatrixView decoded{DType::kF32, row.data(), 1, view_.cols};
  constexpr std::int32_t kOnlyRow = 0;
  for (int j = 0; j < count; ++j) {
    copy_row(rows[j], row.data());
    kernels::matvec_rows(x, decoded, &kOnlyRow, 1, &y[j]);
  }
}

}  // namespace qguard::model
