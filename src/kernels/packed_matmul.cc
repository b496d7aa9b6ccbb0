// Products with packed f32 and BF16 layer matrices (one build per target), and the entry points that
// route int8 matrices to packed_int8.cc.
//
// Layout: panels of kPanelRows output rows, stored input column by input column (a column of a
// panel is kPanelRows consecutive values), so one kernel step loads two vectors of weights and
// combines them with one broadcast activation per token.
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/target.hpp"

namespace qguard::kernels::QGUARD_TARGET {
namespace {

// Tokens per register tile: 2 weight vectors × kTokensPerTile accumulators, plus the 2 weights and
// a broadcast, fill the register file (16 vector registers up to AVX2, 32 with AVX-512).
#if defined(__AVX512F__)
constexpr int kTokensPerTile = 12;
#else
constexpr int kTokensPerTile = 6;
#endif

constexpr std::size_t kPrefetchColumns = 16;

inline FloatBatch load(const float* p) { return FloatBatch::load_unaligned(p); }
inline FloatBatch load(const std::uint16_t* p) { return load_bf16(p); }

// y[t0 + j, r0 + i] for j < TB, i < kPanelRows (the first `valid` rows are stored).
template <int TB, typename Elem>
void panel_tile(const Elem* panel, const float* x, std::size_t cols, std::size_t t0, float* y, std::size_t ldy,
                std::size_t r0, int valid) {
  FloatBatch acc[TB][2];
  for (auto& a : acc) a[0] = a[1] = FloatBatch(0.f);
  const float* xs[TB];
  for (int j = 0; j < TB; ++j) xs[j] = x + (t0 + j) * cols;
  for (std::size_t k = 0; k < cols; ++k) {
    if constexpr (TB == 1) {  // one token streams the weights: fetch ahead of the hardware prefetcher
      __builtin_prefetch(panel + (k + kPrefetchColumns) * kPanelRows);
      __builtin_prefetch(panel + (k + kPrefetchColumns) * kPanelRows + kLanes);
    }
    const FloatBatch w0 = load(panel + k * kPanelRows);
    const FloatBatch w1 = load(panel + k * kPanelRows + kLanes);
    for (int j = 0; j < TB; ++j) {
      const FloatBatch xb(xs[j][k]);
      acc[j][0] = xsimd::fma(w0, xb, acc[j][0]);
      acc[j][1] = xsimd::fma(w1, xb, acc[j][1]);
    }
  }
  for (int j = 0; j < TB; ++j) {
    float* out = y + (t0 + j) * ldy + r0;
    if (valid == kPanelRows) {
      acc[j][0].store_unaligned(out);
      acc[j][1].store_unaligned(out + kLanes);
    } else {
      alignas(64) float row[kPanelRows];
      acc[j][0].store_aligned(row);
      acc[j][1].store_aligned(row + kLanes);
      std::copy(row, row + valid, out);
    }
  }
}

// panel_tile<tokens_in_tile>, for any tile size up to kTokensPerTile.
template <typename Elem, int TB = kTokensPerTile>
void panel_tokens(int tokens_in_tile, const Elem* panel, const float* x, std::size_t cols, std::size_t t0, float* y,
                  std::size_t ldy, std::size_t r0, int valid) {
  if constexpr (TB > 1) {
    if (tokens_in_tile < TB) return panel_tokens<Elem, TB - 1>(tokens_in_tile, panel, x, cols, t0, y, ldy, r0, valid);
  }
  panel_tile<TB>(panel, x, cols, t0, y, ldy, r0, valid);
}

// Row by row: each source row is read sequentially (from the mapping, where it may be misaligned)
// and scattered into its panel; the padding rows of the last panel are zero.
template <typename Elem>
PanelStorage pack_values(const MatrixView& w, std::size_t panels) {
  const std::size_t cols = w.cols, total_rows = panels * kPanelRows;
  PanelStorage storage = allocate_panels(total_rows * cols * sizeof(Elem));
  Elem* const out = reinterpret_cast<Elem*>(storage.get());
  constexpr DType kDType = sizeof(Elem) == sizeof(float) ? DType::kF32 : DType::kBF16;
  std::vector<float> row(kDType == w.dtype ? 0 : cols);
  for (std::size_t r = 0; r < total_rows; ++r) {
    Elem* dst = out + (r / kPanelRows) * kPanelRows * cols + r % kPanelRows;
    if (r >= static_cast<std::size_t>(w.rows)) {
      for (std::size_t c = 0; c < cols; ++c) dst[c * kPanelRows] = Elem{};
    } else if (kDType == w.dtype) {
      const auto* src = static_cast<const unsigned char*>(w.row(static_cast<std::int64_t>(r)));
      for (std::size_t c = 0; c < cols; ++c) std::memcpy(dst + c * kPanelRows, src + c * sizeof(Elem), sizeof(Elem));
    } else {
      copy_row(w, static_cast<int>(r), row.data());
      for (std::size_t c = 0; c < cols; ++c) {
        if constexpr (kDType == DType::kF32) {
          dst[c * kPanelRows] = row[c];
        } else {
          dst[c * kPanelRows] = f32_to_bf16(row[c]);
        }
      }
    }
  }
  return storage;
}

std::size_t panel_count(int rows) { return (static_cast<std::size_t>(rows) + kPanelRows - 1) / kPanelRows; }

}  // namespace

std::size_t packed_bytes(Packing packing, int rows, int cols) {
  if (packing == Packing::kInt8) return packed_int8_bytes(rows, cols);
  return panel_count(rows) * kPanelRows * cols * (packing == Packing::kF32 ? sizeof(float) : sizeof(std::uint16_t));
}

PackedMatrix pack(const MatrixView& w, Packing packing) {
  if (packing == Packing::kInt8) return pack_int8(w);
  PackedMatrix p;
  p.packing = packing;
  p.target = Target::QGUARD_TARGET_ENUM;
  p.rows = w.rows;
  p.cols = w.cols;
  p.owned = packing == Packing::kF32 ? pack_values<float>(w, panel_count(w.rows))
                                     : pack_values<std::uint16_t>(w, panel_count(w.rows));
  p.values = p.owned.get();
  p.bytes = packed_bytes(packing, w.rows, w.cols);
  return p;
}

LayerInput prepare_input(ThreadPool& pool, const float* x, int tokens, int cols, Packing packing) {
  LayerInput in;
  in.x = x;
  in.tokens = tokens;
  in.cols = cols;
  in.packing = packing;
  in.target = Target::QGUARD_TARGET_ENUM;
  if (packing == Packing::kInt8) quantize_input(pool, in);
  return in;
}

void matmul_packed(ThreadPool& pool, const LayerInput& in, const PackedMatrix& w, float* y) {
  if (w.packing == Packing::kInt8) return matmul_int8(pool, in, w, y);
  const std::size_t cols = w.cols, panel_size = static_cast<std::size_t>(kPanelRows) * cols;
  for_each_panel_tile(pool, w.rows, kPanelRows, in.tokens, kTokensPerTile,
                      [&](int p, int t0, int tile_tokens, std::size_t r0, int valid) {
                        if (w.packing == Packing::kF32) {
                          panel_tokens(tile_tokens, w.as<float>() + p * panel_size, in.x, cols, t0, y, w.rows, r0,
                                       valid);
                        } else {
                          panel_tokens(tile_tokens, w.as<std::uint16_t>() + p * panel_size, in.x, cols, t0, y,
                                       w.rows, r0, valid);
                        }
                      });
}

}  // namespace qguard::kernels::QGUARD_TARGET
