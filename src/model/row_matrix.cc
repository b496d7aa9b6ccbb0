#include "model/row_matrix.hpp"

#include <vector>

#include "kernels/kernels.hpp"

namespace qguard::model {

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
  } else {
    const io::TensorView& t = *tensor_;
    kernels::matmul(pool, x, tokens, kernels::in_place(t.encoding(), view_.rows, view_.cols, t.data, t.nbytes), y);
  }
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
