#include "kernels/matmul.hpp"

#include <algorithm>
#include <vector>

#include <Eigen/Core>

#include "kernels/convert.hpp"
#include "kernels/ops.hpp"

namespace qguard::kernels {
namespace {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMajor, Eigen::Unaligned, Eigen::OuterStride<>>;
using Map = Eigen::Map<RowMajor, Eigen::Unaligned, Eigen::OuterStride<>>;

// Rows per task: whole multiples of 16 so each GEMM keeps full register tiles, and a BF16 tile
// widened to f32 stays near L2 size.
int rows_per_task(const MatrixView& w, int threads) {
  const int by_cache = std::max(16, (256 * 1024) / std::max(1, w.cols) / 16 * 16);
  const int by_balance = std::max(16, (w.rows / (4 * threads) + 15) / 16 * 16);
  return std::min(by_cache, by_balance);
}

// Few tokens: each weight row is read once from memory and multiplied with every token, so the
// product runs at memory speed and BF16 rows are widened in registers, never stored.
constexpr int kStreamingTokens = 8;

template <typename Load>
void stream_rows(const float* x, int tokens, int cols, int r0, int n, int ldy, float* y, Load load_row_batch) {
  constexpr std::size_t lanes = FloatBatch::size;
  const std::size_t full = cols / lanes * lanes;
  for (int r = r0; r < r0 + n; ++r) {
    FloatBatch acc[kStreamingTokens];
    for (int t = 0; t < tokens; ++t) acc[t] = FloatBatch(0.f);
    for (std::size_t c = 0; c < full; c += lanes) {
      const FloatBatch w = load_row_batch(r, c);
      for (int t = 0; t < tokens; ++t) acc[t] = xsimd::fma(w, FloatBatch::load_unaligned(x + t * cols + c), acc[t]);
    }
    for (int t = 0; t < tokens; ++t) y[t * ldy + r] = xsimd::hadd(acc[t]);
  }
}

}  // namespace

void copy_row(const MatrixView& w, int r, float* out) { widen(w.row(r), w.dtype, w.cols, out); }

void matmul(ThreadPool& pool, const float* x, int tokens, const MatrixView& w, float* y) {
  if (tokens <= kStreamingTokens) {
    const int block = 64;
    const int tasks = (w.rows + block - 1) / block;
    pool.parallel_for(tasks, [&](std::size_t task) {
      const int r0 = static_cast<int>(task) * block;
      const int n = std::min(block, w.rows - r0);
      if (w.dtype == DType::kF32) {
        const auto* base = static_cast<const float*>(w.data);
        stream_rows(x, tokens, w.cols, r0, n, w.rows, y, [&](int r, std::size_t c) {
          return FloatBatch::load_unaligned(base + static_cast<std::size_t>(r) * w.cols + c);
        });
      } else {
        const auto* base = static_cast<const std::uint16_t*>(w.data);
        stream_rows(x, tokens, w.cols, r0, n, w.rows, y, [&](int r, std::size_t c) {
          return load_bf16(base + static_cast<std::size_t>(r) * w.cols + c);
        });
      }
      // Columns past the last full batch.
      const int tail = w.cols % static_cast<int>(FloatBatch::size);
      if (tail == 0) return;
      std::vector<float> row(w.cols);
      for (int r = r0; r < r0 + n; ++r) {
        copy_row(w, r, row.data());
        for (int t = 0; t < tokens; ++t) {
          for (int c = w.cols - tail; c < w.cols; ++c) y[t * w.rows + r] += x[t * w.cols + c] * row[c];
        }
      }
    });
    return;
  }
  const int block = rows_per_task(w, pool.size());
  const int tasks = (w.rows + block - 1) / block;
  const ConstMap xs(x, tokens, w.cols, Eigen::OuterStride<>(w.cols));
  pool.parallel_for(tasks, [&](std::size_t task) {
    const int r0 = static_cast<int>(task) * block;
    const int n = std::min(block, w.rows - r0);
    Map ys(y + r0, tokens, n, Eigen::OuterStride<>(w.rows));
    if (w.dtype == DType::kF32) {
      const ConstMap ws(static_cast<const float*>(w.row(r0)), n, w.cols, Eigen::OuterStride<>(w.cols));
      ys.noalias() = xs * ws.transpose();
      return;
    }
    thread_local std::vector<float> tile;
    tile.resize(static_cast<std::size_t>(n) * w.cols);
    widen(w.row(r0), w.dtype, tile.size(), tile.data());
    const ConstMap ws(tile.data(), n, w.cols, Eigen::OuterStride<>(w.cols));
    ys.noalias() = xs * ws.transpose();
  });
}

void matvec_rows(const float* x, const MatrixView& w, const std::int32_t* rows, int count, float* y) {
  std::vector<float> row(w.cols);
  for (int j = 0; j < count; ++j) {
    copy_row(w, rows[j], row.data());
    y[j] = dot(x, row.data(), w.cols);
  }
}

}  // namespace qguard::kernels
