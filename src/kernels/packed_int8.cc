// Int8 weights × dynamically quantized int8 activations (one build per target).
//
// The scheme (the same on every target, docs/model.md): weights symmetric per output row, activations
// symmetric per token and per kInt8Block inputs, both in [-127, 127]; the products of a block are
// summed exactly in int32, scaled by the block's activation scale and added up in f32, and the row
// scale is applied last. Targets differ only in how they get the exact int32 sums:
//
// - AVX-512 VNNI: panels of 32 rows; a group of 4 inputs is 128 bytes, rows 0-15 × 4 inputs then rows
//   16-31 × 4 inputs: what one 16-lane vpdpbusd accumulates when every lane sums 4 products. vpdpbusd
//   multiplies unsigned by signed bytes, so it reads the activations offset by +128 (u = a + 128, in
//   [1, 255]; LayerInput::q_unsigned) and the weights as they are: Σ u·q = Σ a·q + 128 Σ q, and the
//   accumulators start at -128 Σ q, stored per row and block after the row scales. No intermediate
//   can overflow. AMX tiles multiply signed by signed (tdpbssd): they need no offset at all.
// - AVX2 (and the portable baseline, in scalar code): panels of 16 rows; a group is 64 bytes, rows
//   0-7 × 4 inputs then rows 8-15. vpmaddubsw multiplies unsigned by signed bytes with 16-bit
//   saturating pair sums, so it gets |a| and w · sign(a): 2 · 127 · 127 < 2^15 never saturates.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "kernels/target.hpp"

#if defined(__AVX512F__)
#include "kernels/amx_tiles.hpp"
#endif

namespace qguard::kernels::QGUARD_TARGET {
namespace {

constexpr int kGroup = 4;  // inputs summed per int32 lane
#if defined(__AVX512F__)
constexpr int kInt8PanelRows = 32;
// 6 tokens × 2 vectors: 12 int32 accumulators and their 12 f32 sums in registers. On a Zen 5 that
// is 1.2× as fast as 12 tokens with the f32 sums in L1 (the same arithmetic in the same order).
constexpr int kTokensPerTile = 6;
#else
constexpr int kInt8PanelRows = 16;
constexpr int kTokensPerTile = 3;  // 3 tokens × 2 vectors: 6 accumulators, no spills on AVX2
#endif
constexpr int kGroupBytes = kInt8PanelRows * kGroup;
// Quantized activations are padded with zero rows to a multiple of this many tokens (an AMX tile's
// rows on AVX-512 builds, for the AMX kernel's last group).
#if defined(__AVX512F__)
constexpr int kQuantizedRows = amx::kTileRows;
#else
constexpr int kQuantizedRows = 1;
#endif
constexpr int kGroupsPerBlock = kInt8Block / kGroup;

std::size_t padded_cols(int cols) { return (static_cast<std::size_t>(cols) + kInt8Block - 1) / kInt8Block * kInt8Block; }
std::size_t padded_rows(int rows) {
  return (static_cast<std::size_t>(rows) + kInt8PanelRows - 1) / kInt8PanelRows * kInt8PanelRows;
}
// Bytes after the row scales: AVX-512's accumulator starts, -128 Σ q per row and block, [panel][block][row].
std::size_t row_offset_bytes([[maybe_unused]] int rows, [[maybe_unused]] int cols) {
#if defined(__AVX512F__)
  return padded_rows(rows) * (padded_cols(cols) / kInt8Block) * sizeof(std::int32_t);
#else
  return 0;
#endif
}

// Rounded int32 lanes narrowed to int8 at `q` (they are within [-127, 127]).
inline void store_int8(xsimd::batch<std::int32_t> rounded, std::int8_t* q) {
#if defined(__AVX512F__)
  _mm512_mask_cvtepi32_storeu_epi8(q, 0xffff, rounded);
#else
  alignas(64) std::int32_t lanes[kLanes];
  rounded.store_aligned(lanes);
  for (std::size_t j = 0; j < kLanes; ++j) q[j] = static_cast<std::int8_t>(lanes[j]);
#endif
}

// q = round-half-even(v · 127 / max |v|) (all 0 for an all-zero span, and for one so small that
// 127 / max |v| overflows: below ~3.7e-37); returns the scale max |v| / 127. A span holding an Inf
// or NaN has no int8 form: its scale is NaN (q 0), so every product using it is NaN, as in f32, and
// never a finite number made from the int32 that NaN converts to.
float quantize_span(const float* v, std::size_t n, std::int8_t* q) {
  FloatBatch peak(0.f);
  auto nan = xsimd::batch_bool<float>(false);  // a NaN is lost by max, so it is tracked apart
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const FloatBatch x = FloatBatch::load_unaligned(v + i);
    peak = xsimd::max(peak, xsimd::abs(x));
    nan = nan || xsimd::isnan(x);
  }
  float amax = max_lane(peak);
  bool poisoned = xsimd::any(nan);
  for (; i < n; ++i) {
    amax = std::max(amax, std::abs(v[i]));
    poisoned = poisoned || std::isnan(v[i]);
  }
  if (poisoned || std::isinf(amax)) {
    std::fill(q, q + n, std::int8_t{0});
    return std::numeric_limits<float>::quiet_NaN();
  }

  const float inverse = amax > 0.f && 127.f / amax <= std::numeric_limits<float>::max() ? 127.f / amax : 0.f;
  for (i = 0; i + kLanes <= n; i += kLanes) {
    store_int8(xsimd::nearbyint_as_int(FloatBatch::load_unaligned(v + i) * FloatBatch(inverse)), q + i);
  }
  for (; i < n; ++i) q[i] = static_cast<std::int8_t>(std::nearbyint(v[i] * inverse));
  return amax / 127.f;
}

// The f32 sums of one token over the panel's rows, and how they are stored.
#if defined(__AVX512F__)
// The f32 sums of a token's 32 rows in memory: where the register tiles leave theirs, and where the
// AMX kernel adds up its blocks.
struct alignas(64) RowSums {
  float lane[kInt8PanelRows];  // not zeroed here: the register tiles write theirs whole
};

void store_row(const RowSums& sums, const float* row_scales, float* out) {
  for (int h = 0; h < 2; ++h) {
    _mm512_storeu_ps(out + 16 * h, _mm512_mul_ps(_mm512_load_ps(sums.lane + 16 * h), _mm512_loadu_ps(row_scales + 16 * h)));
  }
}

// acc += Σ_{i<4} u[4·lane + i] · s[4·lane + i] per lane, u unsigned and s signed bytes. GCC 12 wraps
// the intrinsic in register copies that halve the kernel's speed; the instruction is written out.
inline __m512i dpbusd(__m512i acc, __m512i u, __m512i s) {
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u), "v"(s));
  return acc;
}

// The first token tile of a panel streams its weights from memory and fetches them this
// many groups (a block) ahead; later tiles find them in cache and skip it. 28 layers' matrices on
// Zen 5, 2 threads: ~0.96x the time at 64 tokens, within noise at 1, 8 and 170 tokens (every tile
// prefetching: 8 tokens 1.05x). The AVX2 tile is bound by its arithmetic: no change.
constexpr int kPrefetchGroups = kGroupsPerBlock;

// The register tiles read the activations + 128 (vpdpbusd's unsigned operand).
using TileActivation = std::uint8_t;
const TileActivation* tile_activations(const LayerInput& x) { return x.q_unsigned.data(); }

template <int TB>
void tile(const std::uint8_t* panel, const std::int32_t* row_offsets, const TileActivation* const* xq,
          const float* const* xs, std::size_t blocks, RowSums* sums, bool streams) {
  __m512 f32_sums[TB][2];
  for (auto& token : f32_sums) token[0] = token[1] = _mm512_setzero_ps();
  for (std::size_t b = 0; b < blocks; ++b) {
    __m512i acc[TB][2];
    const __m512i start0 = _mm512_load_si512(row_offsets + b * kInt8PanelRows);
    const __m512i start1 = _mm512_load_si512(row_offsets + b * kInt8PanelRows + 16);
    for (int j = 0; j < TB; ++j) {
      acc[j][0] = start0;
      acc[j][1] = start1;
    }
    const std::uint8_t* group = panel + b * kGroupsPerBlock * kGroupBytes;
    const std::size_t c0 = b * kInt8Block;
    for (int g = 0; g < kGroupsPerBlock; ++g, group += kGroupBytes) {
      if (streams) {
        __builtin_prefetch(group + kPrefetchGroups * kGroupBytes);
        __builtin_prefetch(group + kPrefetchGroups * kGroupBytes + 64);
      }
      const __m512i w0 = _mm512_load_si512(group);
      const __m512i w1 = _mm512_load_si512(group + 64);
      for (int j = 0; j < TB; ++j) {
        std::int32_t four;
        std::memcpy(&four, xq[j] + c0 + g * kGroup, sizeof four);
        const __m512i a = _mm512_set1_epi32(four);
        acc[j][0] = dpbusd(acc[j][0], a, w0);
        acc[j][1] = dpbusd(acc[j][1], a, w1);
      }
    }
    for (int j = 0; j < TB; ++j) {
      const __m512 scale = _mm512_set1_ps(xs[j][b]);
      for (int h = 0; h < 2; ++h) {
        f32_sums[j][h] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[j][h]), scale, f32_sums[j][h]);
      }
    }
  }
  for (int j = 0; j < TB; ++j) {
    for (int h = 0; h < 2; ++h) _mm512_store_ps(sums[j].lane + 16 * h, f32_sums[j][h]);
  }
}
#elif defined(__AVX2__)
struct RowSums {
  __m256 half[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
};

void store_row(const RowSums& sums, const float* row_scales, float* out) {
  for (int h = 0; h < 2; ++h) _mm256_storeu_ps(out + 8 * h, _mm256_mul_ps(sums.half[h], _mm256_loadu_ps(row_scales + 8 * h)));
}

// acc[lane] += Σ_{i<4} a[i] · w[4 · lane + i], with `a` the same 4 bytes in every lane.
inline __m256i dot4(__m256i acc, __m256i a, __m256i w) {
  const __m256i pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(a), _mm256_sign_epi8(w, a));
  return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

using TileActivation = std::int8_t;
const TileActivation* tile_activations(const LayerInput& x) { return x.q.data(); }

template <int TB>
void tile(const std::uint8_t* panel, const std::int32_t* /*row_offsets*/, const TileActivation* const* xq,
          const float* const* xs, std::size_t blocks, RowSums* sums, bool /*streams*/) {
  for (std::size_t b = 0; b < blocks; ++b) {
    __m256i acc[TB][2];
    for (auto& a : acc) a[0] = a[1] = _mm256_setzero_si256();
    const std::uint8_t* group = panel + b * kGroupsPerBlock * kGroupBytes;
    const std::size_t c0 = b * kInt8Block;
    for (int g = 0; g < kGroupsPerBlock; ++g, group += kGroupBytes) {
      const __m256i w0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(group));
      const __m256i w1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(group + 32));
      for (int j = 0; j < TB; ++j) {
        std::int32_t four;
        std::memcpy(&four, xq[j] + c0 + g * kGroup, sizeof four);
        const __m256i a = _mm256_set1_epi32(four);
        acc[j][0] = dot4(acc[j][0], a, w0);
        acc[j][1] = dot4(acc[j][1], a, w1);
      }
    }
    for (int j = 0; j < TB; ++j) {
      const __m256 scale = _mm256_set1_ps(xs[j][b]);
      for (int h = 0; h < 2; ++h) sums[j].half[h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[j][h]), scale, sums[j].half[h]);
    }
  }
}
#else
// Portable: the same arithmetic in scalar code.
struct RowSums {
  float lane[kInt8PanelRows] = {};
};

void store_row(const RowSums& sums, const float* row_scales, float* out) {
  for (int r = 0; r < kInt8PanelRows; ++r) out[r] = sums.lane[r] * row_scales[r];
}

using TileActivation = std::int8_t;
const TileActivation* tile_activations(const LayerInput& x) { return x.q.data(); }

template <int TB>
void tile(const std::uint8_t* panel, const std::int32_t* /*row_offsets*/, const TileActivation* const* xq,
          const float* const* xs, std::size_t blocks, RowSums* sums, bool /*streams*/) {
  for (std::size_t b = 0; b < blocks; ++b) {
    for (int j = 0; j < TB; ++j) {
      std::int32_t acc[kInt8PanelRows] = {};
      for (int g = 0; g < kGroupsPerBlock; ++g) {
        const auto* group = reinterpret_cast<const std::int8_t*>(panel) + (b * kGroupsPerBlock + g) * kGroupBytes;
        const std::int8_t* a = xq[j] + b * kInt8Block + g * kGroup;
        for (int r = 0; r < kInt8PanelRows; ++r)
          for (int i = 0; i < kGroup; ++i) acc[r] += std::int32_t{a[i]} * group[r * kGroup + i];
      }
      for (int r = 0; r < kInt8PanelRows; ++r) sums[j].lane[r] = std::fma(static_cast<float>(acc[r]), xs[j][b], sums[j].lane[r]);
    }
  }
}
#endif

// Rows r0 .. r0 + valid of `tokens` outputs (one `ldy` apart from `y`): the sums times the row scales.
void store_rows(const RowSums* sums, int tokens, const float* row_scales, float* y, std::size_t ldy, std::size_t r0,
                int valid) {
  for (int j = 0; j < tokens; ++j) {
    float* out = y + j * ldy + r0;
    if (valid == kInt8PanelRows) {
      store_row(sums[j], row_scales + r0, out);
    } else {
      float row[kInt8PanelRows];
      store_row(sums[j], row_scales + r0, row);
      std::copy(row, row + valid, out);
    }
  }
}

// One panel of a packed int8 matrix: its weights and its rows' accumulator starts (AVX-512).
struct Int8Panel {
  const std::uint8_t* values;
  const std::int32_t* row_offsets;
};

template <int TB>
void panel_tile(const Int8Panel& panel, const LayerInput& x, std::size_t padded, std::size_t blocks, int t0,
                const float* row_scales, float* y, std::size_t ldy, std::size_t r0, int valid) {
  const TileActivation* xq[TB];
  const float* xs[TB];
  for (int j = 0; j < TB; ++j) {
    xq[j] = tile_activations(x) + (t0 + j) * padded;
    xs[j] = x.scales.data() + (t0 + j) * blocks;
  }
  RowSums sums[TB];  // zeroed by their default member initializers, or (AVX-512) written whole by tile()
  tile<TB>(panel.values, panel.row_offsets, xq, xs, blocks, sums, t0 == 0);
  store_rows(sums, TB, row_scales, y + t0 * ldy, ldy, r0, valid);
}

// panel_tile<tokens_in_tile>, for any tile size up to kTokensPerTile.
void panel_tokens(int tokens_in_tile, const Int8Panel& panel, const LayerInput& x, std::size_t padded,
                  std::size_t blocks, int t0, const float* row_scales, float* y, std::size_t ldy, std::size_t r0,
                  int valid) {
  with_tile_tokens<kTokensPerTile>(tokens_in_tile, [&]<int TB>() {
    panel_tile<TB>(panel, x, padded, blocks, t0, row_scales, y, ldy, r0, valid);
  });
}

// The scales follow the panels in the packed block, and the accumulator starts follow the scales.
const float* int8_scales(const PackedMatrix& w) {
  return reinterpret_cast<const float*>(w.values + padded_rows(w.rows) * padded_cols(w.cols));
}
Int8Panel int8_panel(const PackedMatrix& w, int p) {
  const std::size_t blocks = padded_cols(w.cols) / kInt8Block;
  const auto* row_offsets = reinterpret_cast<const std::int32_t*>(int8_scales(w) + padded_rows(w.rows));
  return {w.as<std::uint8_t>() + p * kInt8PanelRows * padded_cols(w.cols), row_offsets + p * blocks * kInt8PanelRows};
}

#if defined(__AVX512F__)
// AMX (Target::kAmx). The VNNI panels are already what AMX's second operand reads: a tile row is one
// group of 4 inputs for 16 output rows (64 bytes), rows 16-31 sit 64 bytes further and the next
// group 128 bytes on. 16 tokens × one block of 64 inputs are the first operand, one token per tile
// row. tdpbssd multiplies the signed activations by the signed weights: the exact int32 sums the VNNI
// tile gets, and the f32 steps follow in the same order, so the two builds agree bit for bit.
// Any number of tokens from t0 through the register tiles, kTokensPerTile at a time.
void panel_all_tokens(int tokens, const Int8Panel& panel, const LayerInput& x, std::size_t padded,
                      std::size_t blocks, int t0, const float* row_scales, float* y, std::size_t ldy, std::size_t r0,
                      int valid) {
  for (int end = t0 + tokens; t0 < end; t0 += kTokensPerTile) {
    panel_tokens(std::min(kTokensPerTile, end - t0), panel, x, padded, blocks, t0, row_scales, y, ldy, r0, valid);
  }
}

constexpr int kAmxTokens = amx::kTileRows;
// Tiles 0-1 and 2-3: int32 sums of 16 tokens × rows 0-15 and 16-31, for even and odd steps; 4 and
// 5: the tokens' activations for even and odd steps; 6-7: a block's weights of rows 0-15, 16-31.
constexpr amx::TileConfig kAmxConfig = amx::full_tiles(8);

using ExactSums = std::int32_t[2][kAmxTokens][16];  // [row half][token][row]

// One block's int32 sums of 16 tokens × 32 rows, started on tiles kC (rows 0-15) and kC + 1
// (16-31) with the activations on kA and the block's weights on 6 and 7; the instructions return
// before the tiles hold the sums.
template <int kC, int kA>
void start_products(const std::int8_t* a, std::size_t padded) {
  amx::load<kA>(a, padded);
  amx::zero<kC>();
  amx::zero<kC + 1>();
  amx::dot_signed<kC, kA, 6>();
  amx::dot_signed<kC + 1, kA, 7>();
}

template <int kC>
void store_products(ExactSums& out) {
  amx::store<kC>(out[0], 64);
  amx::store<kC + 1>(out[1], 64);
}

// `tokens` tokens from t0 (at most kAmxGroups groups of 16; a last group of fewer reads the zero
// rows that pad the activations, and its extra sums are dropped) × the panel's rows. Each block's
// weights are loaded once for all the groups, whose f32 sums stay in L1. Software-pipelined: a tile
// store waits for the products that fill it, so step s's sums (a block and a group) are stored
// only after step s + 1's products are started on the other tiles, and the vector units then scale
// and add them up.
constexpr int kAmxGroups = 8;  // 128 tokens: 16 KiB of f32 sums
// A last group of fewer than 16 tokens runs on the tiles when full groups come before it (the
// weights are then on the tiles already) and it has at least this many tokens; otherwise the VNNI
// register tiles are as fast or faster (kernels_bench, interleaved: 6 tokens after 64 take 0.91×
// the time on tiles, 1-2 tokens 1.02×, and 6-15 tokens alone 1.0-1.6×).
constexpr int kFewestAmxTokens = 6;
constexpr std::size_t kBlockBytes = kGroupsPerBlock * kGroupBytes, kBlockLines = kBlockBytes / 64;

// One step's sums (16 tokens of a group × 32 rows, in `exact`) scaled by the tokens' activation
// scales for the step's block (`scale[j · scale_stride]` for token j) and added to their f32 sums;
// the first block writes the sums.
template <bool kFirst>
inline void add_scaled_step(const ExactSums& exact, const float* scale, std::size_t scale_stride, RowSums* sums,
                            int count) {
  auto token = [&](int j) {
    const __m512 s = _mm512_set1_ps(scale[j * scale_stride]);
    for (int h = 0; h < 2; ++h) {
      const __m512 product = _mm512_cvtepi32_ps(_mm512_load_si512(exact[h][j]));
      float* lane = sums[j].lane + 16 * h;
      _mm512_store_ps(lane, kFirst ? _mm512_mul_ps(product, s) : _mm512_fmadd_ps(product, s, _mm512_load_ps(lane)));
    }
  };
  if (count == kAmxTokens) {
#pragma GCC unroll 16
    for (int j = 0; j < kAmxTokens; ++j) token(j);
  } else {
    for (int j = 0; j < count; ++j) token(j);
  }
}

void amx_panel(const Int8Panel& panel, const LayerInput& x, std::size_t padded, std::size_t blocks, int t0,
               int tokens, const float* row_scales, float* y, std::size_t ldy, std::size_t r0, int valid) {
  alignas(64) ExactSums exact;
  RowSums sums[kAmxGroups * kAmxTokens];  // the first block writes them (16 KiB not zeroed per call)
  const std::int8_t* a = x.q.data() + t0 * padded;
  const float* scales = x.scales.data() + t0 * blocks;
  const int groups = (tokens + kAmxTokens - 1) / kAmxTokens;
  // Step g of a block prefetches lines first_line[g] .. first_line[g + 1] - 1 of the next block.
  int first_line[kAmxGroups + 1];
  for (int g = 0; g <= groups; ++g) first_line[g] = g * static_cast<int>(kBlockLines) / groups;
  // The step before: its block, group, and the pair of sum tiles holding its products.
  std::size_t last_b = 0;
  int last_g = -1;
  bool last_odd = true;
  auto finish_last = [&] {
    if (last_odd) {
      store_products<2>(exact);
    } else {
      store_products<0>(exact);
    }
    const int count = std::min(kAmxTokens, tokens - last_g * kAmxTokens);
    const float* scale = scales + static_cast<std::size_t>(last_g) * kAmxTokens * blocks + last_b;
    RowSums* group_sums = sums + last_g * kAmxTokens;
    if (last_b == 0) {
      add_scaled_step<true>(exact, scale, blocks, group_sums, count);
    } else {
      add_scaled_step<false>(exact, scale, blocks, group_sums, count);
    }
  };
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::uint8_t* w = panel.values + b * kBlockBytes;
    amx::load<6>(w, kGroupBytes);
    amx::load<7>(w + 64, kGroupBytes);
    for (int g = 0; g < groups; ++g) {
      // Each step fetches its share of the next block's weights, so that their tile loads hit L1
      // (interleaved, per layer: 0.90x the time at 64, 170 and 369 tokens).
      if (b + 1 < blocks) {
        const std::uint8_t* next = w + kBlockBytes;
        for (int line = first_line[g]; line < first_line[g + 1]; ++line) __builtin_prefetch(next + 64 * line);
      }
      const std::int8_t* group = a + static_cast<std::size_t>(g) * kAmxTokens * padded + b * kInt8Block;
      const bool odd = !last_odd;
      if (odd) {
        start_products<2, 5>(group, padded);
      } else {
        start_products<0, 4>(group, padded);
      }
      if (last_g >= 0) finish_last();
      last_b = b;
      last_g = g;
      last_odd = odd;
    }
  }
  finish_last();
  store_rows(sums, tokens, row_scales, y + t0 * ldy, ldy, r0, valid);
}
#endif

}  // namespace

std::size_t packed_int8_bytes(int rows, int cols) {
  return padded_rows(rows) * (padded_cols(cols) + sizeof(float)) + row_offset_bytes(rows, cols);
}

PackedMatrix pack_int8(const MatrixView& w) {
  PackedMatrix p;
  p.packing = Packing::kInt8;
  p.target = Target::QGUARD_TARGET_ENUM;
  p.rows = w.rows;
  p.cols = w.cols;
  p.bytes = packed_int8_bytes(w.rows, w.cols);
  p.owned = allocate_panels(p.bytes);
  p.values = p.owned.get();
  const std::size_t padded = padded_cols(w.cols), panel_bytes = kInt8PanelRows * padded;
  auto* scales = reinterpret_cast<float*>(p.owned.get() + padded_rows(w.rows) * padded);
#if defined(__AVX512F__)
  const std::size_t blocks = padded / kInt8Block;
  auto* row_offsets = reinterpret_cast<std::int32_t*>(scales + padded_rows(w.rows));
#endif
  std::vector<float> row(w.cols);
  std::vector<std::int8_t> q(padded);
  for (std::size_t r = 0; r < padded_rows(w.rows); ++r) {
    std::fill(q.begin(), q.end(), std::int8_t{0});
    scales[r] = 0.f;
    if (r < static_cast<std::size_t>(w.rows)) {
      copy_row(w, static_cast<int>(r), row.data());
      scales[r] = quantize_span(row.data(), row.size(), q.data());
    }
    auto* panel = reinterpret_cast<std::uint8_t*>(p.owned.get()) + (r / kInt8PanelRows) * panel_bytes;
    const std::size_t lane = r % kInt8PanelRows;
    for (std::size_t g = 0; g < padded / kGroup; ++g) {
      for (int i = 0; i < kGroup; ++i) {
        panel[g * kGroupBytes + lane * kGroup + i] = static_cast<std::uint8_t>(q[g * kGroup + i]);
      }
    }
#if defined(__AVX512F__)
    for (std::size_t b = 0; b < blocks; ++b) {
      const std::int32_t sum = std::accumulate(&q[b * kInt8Block], &q[b * kInt8Block] + kInt8Block, std::int32_t{0});
      row_offsets[((r / kInt8PanelRows) * blocks + b) * kInt8PanelRows + lane] = -128 * sum;
    }
#endif
  }
  return p;
}

void quantize_input(ThreadPool& pool, LayerInput& in) {
  const std::size_t cols = in.cols, padded = padded_cols(in.cols), blocks = padded / kInt8Block;
  // Not zeroed (CacheLines): each token writes its row, the padding past `cols` included; the rows
  // that pad the tokens to a whole AMX tile are zeros.
  const std::size_t rows = round_up(in.tokens, kQuantizedRows);
  in.q.resize(rows * padded);
  std::fill(in.q.data() + in.tokens * padded, in.q.data() + rows * padded, std::int8_t{0});
  in.scales.resize(in.tokens * blocks);
#if defined(__AVX512F__)
  in.q_unsigned.resize(in.tokens * padded);
#endif
  auto quantize_token = [&](std::size_t t) {
    std::int8_t* q = &in.q[t * padded];
    std::fill(q + cols, q + padded, std::int8_t{0});
    for (std::size_t b = 0; b < blocks; ++b) {
      const std::size_t c0 = b * kInt8Block, n = std::min<std::size_t>(kInt8Block, cols - c0);  // c0 < cols
      in.scales[t * blocks + b] = quantize_span(in.x + t * cols + c0, n, q + c0);
    }
#if defined(__AVX512F__)
    std::transform(q, q + padded, &in.q_unsigned[t * padded],
                   [](std::int8_t v) { return static_cast<std::uint8_t>(v ^ 0x80); });  // v + 128
#endif
  };
  // Spread over the pool only when there is enough work to pay for waking it.
  if (in.tokens >= 8) {
    pool.parallel_for(in.tokens, quantize_token);
  } else {
    for (int t = 0; t < in.tokens; ++t) quantize_token(t);
  }
}

void matmul_int8(ThreadPool& pool, const LayerInput& x, std::span<const Product> products) {
  const std::size_t padded = padded_cols(x.cols), blocks = padded / kInt8Block;
  for_each_panel_tile(pool, ProductHeights(products), kInt8PanelRows, x.tokens, kTokensPerTile,
                      [&](int m, int p, int t0, int tile_tokens, std::size_t r0, int valid) {
                        const PackedMatrix& w = *products[m].w;
                        panel_tokens(tile_tokens, int8_panel(w, p), x, padded, blocks, t0, int8_scales(w),
                                     products[m].y, w.rows, r0, valid);
                      });
}

#if defined(__AVX512F__)
void matmul_int8_amx(ThreadPool& pool, const LayerInput& x, std::span<const Product> products) {
  const std::size_t padded = padded_cols(x.cols), blocks = padded / kInt8Block;
  for_each_panel_tile(pool, ProductHeights(products), kInt8PanelRows, x.tokens, x.tokens,
                      [&](int m, int p, int t0, int tile_tokens, std::size_t r0, int valid) {
                        const PackedMatrix& w = *products[m].w;
                        float* const y = products[m].y;
                        const float* const scales = int8_scales(w);
                        const Int8Panel panel = int8_panel(w, p);
                        // Groups of 16 tokens on AMX, and a last group of fewer when it pays;
                        // the rest on the VNNI register tiles.
                        const int last = tile_tokens % kAmxTokens;
                        const bool last_on_amx = tile_tokens > kAmxTokens && last >= kFewestAmxTokens;
                        const int on_amx = last_on_amx ? tile_tokens : tile_tokens - last;
                        if (on_amx > 0) {
                          amx::configure(kAmxConfig);
                          for (int t = t0; t < t0 + on_amx; t += kAmxGroups * kAmxTokens) {
                            amx_panel(panel, x, padded, blocks, t, std::min(kAmxGroups * kAmxTokens, t0 + on_amx - t),
                                      scales, y, w.rows, r0, valid);
                          }
                          amx::release();
                        }
                        panel_all_tokens(tile_tokens - on_amx, panel, x, padded, blocks, t0 + on_amx, scales, y,
                                         w.rows, r0, valid);
                      });
}
#endif

}  // namespace qguard::kernels::QGUARD_TARGET
