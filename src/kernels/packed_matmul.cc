// Products with packed f32 and BF16 layer matrices and with matrices read in place in their file
// encoding (one build per target), and the entry points that route int8 matrices to packed_int8.cc.
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
    // The first tile of a panel streams its weights from memory: fetch ahead of the hardware
    // prefetcher (every tile does; the later ones find the lines in cache). 28 layers' BF16
    // matrices, 64 tokens, Zen 5: 0.935x the time of prefetching for one-token tiles only.
    __builtin_prefetch(panel + (k + kPrefetchColumns) * kPanelRows);
    __builtin_prefetch(panel + (k + kPrefetchColumns) * kPanelRows + kLanes);
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
template <typename Elem>
void panel_tokens(int tokens_in_tile, const Elem* panel, const float* x, std::size_t cols, std::size_t t0, float* y,
                  std::size_t ldy, std::size_t r0, int valid) {
  with_tile_tokens<kTokensPerTile>(tokens_in_tile,
                                   [&]<int TB>() { panel_tile<TB>(panel, x, cols, t0, y, ldy, r0, valid); });
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

// Values of a row decoded at a time by an in-place product: whole blocks of every type, and a
// panel's rows of them stay in L1 or L2 while they are laid out.
constexpr std::size_t kDecodedColumns = 256;

// dst[c * ld_dst + i] = src[i * ld_src + c] for i, c < kLanes: a square of kLanes rows becomes
// kLanes columns of a panel (in registers: transpose16 on AVX-512, 3 rounds of shuffles on AVX2).
void transpose_square(const float* src, std::size_t ld_src, float* dst, std::size_t ld_dst) {
#if defined(__AVX512F__)
  __m512i r[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_castps_si512(_mm512_loadu_ps(src + i * ld_src));
  transpose16(r);
  for (int c = 0; c < 16; ++c) _mm512_storeu_ps(dst + c * ld_dst, _mm512_castsi512_ps(r[c]));
#elif defined(__AVX2__)
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * ld_src);
  for (int k = 0; k < 4; ++k) {
    t[2 * k] = _mm256_unpacklo_ps(r[2 * k], r[2 * k + 1]);
    t[2 * k + 1] = _mm256_unpackhi_ps(r[2 * k], r[2 * k + 1]);
  }
  for (int k = 0; k < 2; ++k) {  // r[4k + j]: rows 4k..4k+3 of columns j, j+4 (one per lane)
    const __m256d a = _mm256_castps_pd(t[4 * k]), b = _mm256_castps_pd(t[4 * k + 1]);
    const __m256d c = _mm256_castps_pd(t[4 * k + 2]), d = _mm256_castps_pd(t[4 * k + 3]);
    r[4 * k] = _mm256_castpd_ps(_mm256_unpacklo_pd(a, c));
    r[4 * k + 1] = _mm256_castpd_ps(_mm256_unpackhi_pd(a, c));
    r[4 * k + 2] = _mm256_castpd_ps(_mm256_unpacklo_pd(b, d));
    r[4 * k + 3] = _mm256_castpd_ps(_mm256_unpackhi_pd(b, d));
  }
  for (int j = 0; j < 4; ++j) {
    _mm256_storeu_ps(dst + j * ld_dst, _mm256_permute2f128_ps(r[j], r[4 + j], 0x20));
    _mm256_storeu_ps(dst + (j + 4) * ld_dst, _mm256_permute2f128_ps(r[j], r[4 + j], 0x31));
  }
#else
  for (std::size_t c = 0; c < kLanes; ++c) {
    for (std::size_t i = 0; i < kLanes; ++i) dst[c * ld_dst + i] = src[i * ld_src + c];
  }
#endif
}

// A thread's scratch for in-place products, kept for its lifetime. (A struct of this target's own:
// a thread_local std::vector would register the shared std::vector destructor, compiled for this
// target, to run at thread exit.)
struct InPlaceScratch {
  std::vector<float> panel, decoded;
};

// kInPlace: each panel's rows are decoded, kDecodedColumns at a time (the rows past the matrix as
// zeros), and laid out as pack_values<float> does, in scratch of its thread's that grows to the
// widest matrix once, then the kF32 kernel runs over every token: the products of the decoded
// matrix packed as kF32.
void matmul_in_place(ThreadPool& pool, const LayerInput& in, std::span<const Product> products) {
  const std::size_t cols = in.cols;
  auto panel_products = [&](int m, int, int, int, std::size_t r0, int valid) {
    const PackedMatrix& w = *products[m].w;
    const std::size_t row_bytes = io::encoded_bytes(w.encoding, cols);
    thread_local InPlaceScratch scratch;
    std::vector<float>&panel = scratch.panel, &decoded = scratch.decoded;
    if (panel.size() < kPanelRows * cols) panel.resize(kPanelRows * cols);
    decoded.resize(kPanelRows * kDecodedColumns);
    std::fill(decoded.begin() + valid * kDecodedColumns, decoded.end(), 0.f);
    for (std::size_t c0 = 0; c0 < cols; c0 += kDecodedColumns) {
      const std::size_t width = std::min(kDecodedColumns, cols - c0);
      const std::byte* first = w.values + r0 * row_bytes + io::encoded_bytes(w.encoding, c0);
      for (int i = 0; i < valid; ++i) {
        QGUARD_TARGET::dequantize(w.encoding, first + i * row_bytes, width, &decoded[i * kDecodedColumns]);
      }
      float* columns = &panel[c0 * kPanelRows];
      std::size_t c = 0;
      for (; c + kLanes <= width; c += kLanes) {
        for (std::size_t i = 0; i < kPanelRows; i += kLanes) {
          transpose_square(&decoded[i * kDecodedColumns + c], kDecodedColumns, columns + c * kPanelRows + i,
                           kPanelRows);
        }
      }
      for (; c < width; ++c) {
        for (int i = 0; i < kPanelRows; ++i) columns[c * kPanelRows + i] = decoded[i * kDecodedColumns + c];
      }
    }
    for (int t0 = 0; t0 < in.tokens; t0 += kTokensPerTile) {
      panel_tokens(std::min(kTokensPerTile, in.tokens - t0), panel.data(), in.x, cols, t0, products[m].y, w.rows, r0,
                   valid);
    }
  };
  for_each_panel_tile(pool, ProductHeights(products), kPanelRows, in.tokens, in.tokens, panel_products);
}

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

void matmul_packed(ThreadPool& pool, const LayerInput& in, std::span<const Product> products) {
  const Packing packing = products.front().w->packing;  // the same for every product (dispatch.cc)
  if (packing == Packing::kInt8) return matmul_int8(pool, in, products);
  if (packing == Packing::kInPlace) return matmul_in_place(pool, in, products);
  const std::size_t cols = in.cols, panel_size = static_cast<std::size_t>(kPanelRows) * cols;
  for_each_panel_tile(pool, ProductHeights(products), kPanelRows, in.tokens, kTokensPerTile,
                      [&](int m, int p, int t0, int tile_tokens, std::size_t r0, int valid) {
                        const PackedMatrix& w = *products[m].w;
                        float* const y = products[m].y;
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
