// BF16 layer matrices on AMX tiles (Target::kAmx, which shares the AVX-512 build): the f32 path's
// products, with tdpbf16ps doing the multiplications.
//
// Exactness: an f32 activation is split into three BF16 terms, x = hi + mid + lo exactly (each
// term rounds what the terms before it left to 8 significant bits; three cover f32's 24, for every
// |x| between 2^-100 and 3e38), so Σ w·x = Σ w·hi + Σ w·mid + Σ w·lo, and the product of a BF16
// weight and a BF16 term is exact in f32. The tiles add those exact products up in f32, in a
// different order than the FMA kernels do: the same sum of the same products, rounded differently,
// as two BLAS libraries differ (docs/dispatch.md).
//
// Layout ("pair panels"): panels of 32 output rows; input columns in pairs, a pair being 128 bytes,
// rows 0-15 × (k, k+1) then rows 16-31 × (k, k+1): 16 consecutive pairs of a row half are what
// tdpbf16ps reads as its second operand (one tile row per pair, stride 128). The columns are padded
// with zeros to a multiple of 32, the inputs of one tile product.
#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "kernels/target.hpp"

#if defined(__AVX512F__)
#include "kernels/amx_tiles.hpp"

namespace qguard::kernels::QGUARD_TARGET {
namespace {

constexpr int kPairRows = 32;     // rows per panel (two 16-lane halves)
constexpr int kStepInputs = 32;   // inputs of one tile product: 16 pairs
constexpr int kPairValues = 2 * kPairRows;  // BF16 values per pair of columns
constexpr int kAmxTokens = amx::kTileRows;
// A last group of fewer tokens runs on the tiles too when it has at least this many: a tile product
// costs the same for any number of rows, and the FMA kernel takes ~2.8× a tile's time per token
// (kernels_bench), so below this the FMAs finish the few tokens sooner.
constexpr int kFewestAmxTokens = 6;
constexpr int kTokensPerTile = 12;  // FMA register tile: 12 tokens × 2 halves of accumulators
constexpr std::size_t kPrefetchPairs = 8;

std::size_t padded_inputs(int cols) { return round_up(cols, kStepInputs); }
std::size_t pair_panels(int rows) { return round_up(rows, kPairRows) / kPairRows; }

// The k and k+1 values of one half's 16 rows (32 interleaved BF16 at `p`), widened to f32.
inline void load_pair(const std::uint16_t* p, __m512& even, __m512& odd) {
  const __m512i v = _mm512_load_si512(p);
  even = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
  odd = _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32(static_cast<int>(0xffff0000u))));
}

// y for tokens t0 .. t0 + TB on FMAs: one fused multiply-add per input, in input order, as the FMA
// kernels of BF16 panels compute. For inputs of fewer than 16 tokens (one-token steps) and short
// last groups.
template <int TB>
void pair_tile(const std::uint16_t* panel, const float* x, std::size_t cols, std::size_t t0, float* y, std::size_t ldy,
               std::size_t r0, int valid) {
  __m512 acc[TB][2];
  for (auto& a : acc) a[0] = a[1] = _mm512_setzero_ps();
  const float* xs[TB];
  for (int j = 0; j < TB; ++j) xs[j] = x + (t0 + j) * cols;
  const std::size_t pairs = (cols + 1) / 2;
  for (std::size_t g = 0; g < pairs; ++g) {
    const std::uint16_t* pair = panel + g * kPairValues;
    if constexpr (TB == 1) {  // one token streams the weights: fetch ahead of the hardware prefetcher
      __builtin_prefetch(pair + kPrefetchPairs * kPairValues);
      __builtin_prefetch(pair + kPrefetchPairs * kPairValues + kPairRows);
    }
    __m512 w0k, w0k1, w1k, w1k1;
    load_pair(pair, w0k, w0k1);
    load_pair(pair + kPairRows, w1k, w1k1);
    const bool whole = 2 * g + 1 < cols;  // an odd last column has no partner
    for (int j = 0; j < TB; ++j) {
      const __m512 xk = _mm512_set1_ps(xs[j][2 * g]);
      acc[j][0] = _mm512_fmadd_ps(w0k, xk, acc[j][0]);
      acc[j][1] = _mm512_fmadd_ps(w1k, xk, acc[j][1]);
      if (whole) {
        const __m512 xk1 = _mm512_set1_ps(xs[j][2 * g + 1]);
        acc[j][0] = _mm512_fmadd_ps(w0k1, xk1, acc[j][0]);
        acc[j][1] = _mm512_fmadd_ps(w1k1, xk1, acc[j][1]);
      }
    }
  }
  for (int j = 0; j < TB; ++j) {
    alignas(64) float row[kPairRows];
    _mm512_store_ps(row, acc[j][0]);
    _mm512_store_ps(row + 16, acc[j][1]);
    std::copy(row, row + valid, y + (t0 + j) * ldy + r0);
  }
}

void pair_tokens(int tokens, const std::uint16_t* panel, const float* x, std::size_t cols, std::size_t t0, float* y,
                 std::size_t ldy, std::size_t r0, int valid) {
  with_tile_tokens<kTokensPerTile>(tokens, [&]<int TB>() { pair_tile<TB>(panel, x, cols, t0, y, ldy, r0, valid); });
}

// Tiles 0-3: the f32 sums of 16 tokens × rows 0-15 and 16-31 of a panel, then of the next panel;
// 4-6: the tokens' hi, mid and lo terms of 32 inputs; 7: one row half's weights for those inputs.
constexpr amx::TileConfig kPairConfig = amx::full_tiles(8);
constexpr int kPanelsPerTask = 2;  // each term tile serves both panels' row halves

// Tile kC += the three terms (tiles 4-6) × the weights of one row half at `w`.
template <int kC>
void add_terms(const std::uint16_t* w) {
  amx::load<7>(w, kPairValues * sizeof(std::uint16_t));
  amx::dot_bf16<kC, 4, 7>();
  amx::dot_bf16<kC, 5, 7>();
  amx::dot_bf16<kC, 6, 7>();
}

// `tokens` (at most 16) tokens from t0 × kPanels consecutive panels from `panel` (rows r0 .. r0 +
// valid), over every input; the tile rows past the tokens read the zero rows that pad the terms
// (split_terms) and their sums are dropped. The terms are loaded once for every row half of the
// panels: their loads, not the products, bound a single panel's order from 170 tokens up
// (docs/performance.md). Each sum tile adds hi, mid, then lo per 32 inputs, in input order.
template <int kPanels>
void amx_pair_panels(const std::uint16_t* panel, const LayerInput& x, std::size_t padded, int t0, int tokens,
                     float* y, std::size_t ldy, std::size_t r0, int valid) {
  const std::size_t term_stride = x.bf16_terms.size() / 3, row_bytes = padded * sizeof(std::uint16_t);
  const std::size_t panel_values = kPairRows * padded;
  const std::uint16_t* hi = x.bf16_terms.data() + t0 * padded;
  [&]<int... kC>(std::integer_sequence<int, kC...>) { (amx::zero<kC>(), ...); }(
      std::make_integer_sequence<int, 2 * kPanels>{});
  for (std::size_t k = 0; k < padded; k += kStepInputs) {
    amx::load<4>(hi + k, row_bytes);
    amx::load<5>(hi + term_stride + k, row_bytes);
    amx::load<6>(hi + 2 * term_stride + k, row_bytes);
    const std::uint16_t* w = panel + k / 2 * kPairValues;
    add_terms<0>(w);
    add_terms<1>(w + kPairRows);
    if constexpr (kPanels == 2) {
      add_terms<2>(w + panel_values);
      add_terms<3>(w + panel_values + kPairRows);
    }
  }
  alignas(64) float sums[2 * kPanels][kAmxTokens][16];  // [row half][token][row]
  [&]<int... kC>(std::integer_sequence<int, kC...>) { (amx::store<kC>(sums[kC], 64), ...); }(
      std::make_integer_sequence<int, 2 * kPanels>{});
  for (int j = 0; j < tokens; ++j) {
    float* out = y + (t0 + j) * ldy + r0;
    for (int r = 0; r < valid; ++r) out[r] = sums[r / 16][j][r % 16];
  }
}

// x's rows as three BF16 terms each, [3][tokens rounded up to 16][padded] (zeros past cols and past
// the last token: a short last group's tile rows read them).
void split_terms(ThreadPool& pool, LayerInput& in) {
  const std::size_t cols = in.cols, padded = padded_inputs(in.cols), rows = round_up(in.tokens, kAmxTokens);
  const std::size_t terms = rows * padded;
  in.bf16_terms.resize(3 * terms);  // not zeroed (CacheLines): each row is written whole below
  pool.parallel_for(rows, [&](std::size_t t) {
    std::uint16_t* out[3] = {&in.bf16_terms[t * padded], &in.bf16_terms[terms + t * padded],
                             &in.bf16_terms[2 * terms + t * padded]};
    if (t >= static_cast<std::size_t>(in.tokens)) {
      for (auto* term : out) std::fill(term, term + padded, std::uint16_t{0});
      return;
    }
    const float* x = in.x + t * cols;
    std::size_t c = 0;
    for (; c + 16 <= cols; c += 16) {
      __m512 rest = _mm512_loadu_ps(x + c);
      for (auto* term : out) {
        const __m512 rounded = rounded_to_bf16(rest);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(term + c), upper_halves(rounded));
        rest = _mm512_sub_ps(rest, rounded);
      }
    }
    for (; c < cols; ++c) {
      float rest = x[c];
      for (auto* term : out) {
        term[c] = f32_to_bf16(rest);
        rest -= bf16_to_f32(term[c]);
      }
    }
    for (auto* term : out) std::fill(term + cols, term + padded, std::uint16_t{0});
  });
}

}  // namespace

std::size_t packed_bytes_amx(Packing packing, int rows, int cols) {
  if (packing != Packing::kBF16) return packed_bytes(packing, rows, cols);
  return pair_panels(rows) * kPairRows * padded_inputs(cols) * sizeof(std::uint16_t);
}

PackedMatrix pack_amx(const MatrixView& w, Packing packing) {
  if (packing != Packing::kBF16) return pack(w, packing);
  PackedMatrix p;
  p.packing = packing;
  p.target = Target::kAmx;
  p.rows = w.rows;
  p.cols = w.cols;
  p.bytes = packed_bytes_amx(packing, w.rows, w.cols);
  p.owned = allocate_panels(p.bytes);
  p.values = p.owned.get();
  auto* out = reinterpret_cast<std::uint16_t*>(p.owned.get());
  std::memset(out, 0, p.bytes);
  const std::size_t padded = padded_inputs(w.cols);
  std::vector<std::uint16_t> row(w.cols);
  std::vector<float> wide(w.dtype == DType::kBF16 ? 0 : w.cols);
  for (int r = 0; r < w.rows; ++r) {
    if (w.dtype == DType::kBF16) {
      std::memcpy(row.data(), w.row(r), row.size() * sizeof(std::uint16_t));  // the bits as they are
    } else {
      copy_row(w, r, wide.data());
      std::transform(wide.begin(), wide.end(), row.begin(), f32_to_bf16);
    }
    std::uint16_t* panel = out + static_cast<std::size_t>(r / kPairRows) * kPairRows * padded;
    const int half = r % kPairRows / 16, lane = r % 16;
    for (int c = 0; c < w.cols; ++c) panel[c / 2 * kPairValues + half * kPairRows + 2 * lane + c % 2] = row[c];
  }
  return p;
}

LayerInput prepare_input_amx(ThreadPool& pool, const float* x, int tokens, int cols, Packing packing) {
  LayerInput in = prepare_input(pool, x, tokens, cols, packing);
  if (packing == Packing::kBF16 && tokens >= kAmxTokens) split_terms(pool, in);
  return in;
}

void matmul_packed_amx(ThreadPool& pool, const LayerInput& in, std::span<const Product> products) {
  const Packing packing = products.front().w->packing;  // the same for every product (dispatch.cc)
  if (packing == Packing::kInt8) return matmul_int8_amx(pool, in, products);
  if (packing != Packing::kBF16) return matmul_packed(pool, in, products);
  const std::size_t padded = padded_inputs(in.cols);
  for_each_panel_tile(pool, ProductHeights(products), kPanelsPerTask * kPairRows, in.tokens, in.tokens,
                      [&](int m, int task, int t0, int tile_tokens, std::size_t r0, int valid) {
                        const PackedMatrix& w = *products[m].w;
                        float* const y = products[m].y;
                        const std::uint16_t* first = w.as<std::uint16_t>() + task * kPanelsPerTask * kPairRows * padded;
                        const bool two = valid > kPairRows;  // the matrix's last panel may be alone
                        // Groups of 16 tokens on AMX, and a last group of fewer unless it is too
                        // small to pay; the rest on FMAs.
                        const int last = tile_tokens % kAmxTokens;
                        const int on_amx = in.bf16_terms.empty()           ? 0
                                           : last >= kFewestAmxTokens ? tile_tokens
                                                                      : tile_tokens - last;
                        if (on_amx > 0) {
                          amx::configure(kPairConfig);
                          for (int t = t0; t < t0 + on_amx; t += kAmxTokens) {
                            const int tokens = std::min(kAmxTokens, t0 + on_amx - t);
                            if (two) {
                              amx_pair_panels<2>(first, in, padded, t, tokens, y, w.rows, r0, valid);
                            } else {
                              amx_pair_panels<1>(first, in, padded, t, tokens, y, w.rows, r0, valid);
                            }
                          }
                          amx::release();
                        }
                        for (int t = t0 + on_amx; t < t0 + tile_tokens; t += kTokensPerTile) {
                          const int tokens = std::min(kTokensPerTile, t0 + tile_tokens - t);
                          pair_tokens(tokens, first, in.x, w.cols, t, y, w.rows, r0, std::min(valid, kPairRows));
                          if (two) {
                            pair_tokens(tokens, first + kPairRows * padded, in.x, w.cols, t, y, w.rows,
                                        r0 + kPairRows, valid - kPairRows);
                          }
                        }
                      });
}

}  // namespace qguard::kernels::QGUARD_TARGET
#endif
