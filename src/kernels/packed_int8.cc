// Int8 weights × dynamically quantized int8 activations.
//
// Layout: panels of kInt8PanelRows rows; within a panel, inputs go in groups of 4, and a group is
// 64 bytes: rows 0-7 × 4 inputs, then rows 8-15 × 4 inputs. That is what one 8-lane int32 vector
// accumulates when every lane sums 4 products (AVX2 vpmaddubsw + vpmaddwd, or VNNI vpdpbusd).
//
// Both operands are symmetric in [-127, 127]; the u8 × s8 instructions get |a| and w · sign(a),
// so no intermediate sum can saturate (2 · 127 · 127 < 2^15) and every block sum is exact in int32.
// A block of kInt8Block inputs shares one activation scale, so one large activation only coarsens
// its own block; the int32 block sums are scaled and added up in f32.
#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "kernels/packed_matmul.hpp"

namespace qguard::kernels {
namespace {

constexpr int kGroup = 4;                          // inputs summed per int32 lane
constexpr int kGroupBytes = kInt8PanelRows * kGroup;  // 64
constexpr int kTokensPerTile = 3;  // 3 tokens × 2 vectors: 6 accumulators, no spills on AVX2

std::size_t padded_cols(int cols) { return (static_cast<std::size_t>(cols) + kInt8Block - 1) / kInt8Block * kInt8Block; }

// q = round-half-even(v · 127 / max |v|); returns the scale max |v| / 127 (0 for an all-zero span).
float quantize_span(const float* v, std::size_t n, std::int8_t* q) {
  constexpr std::size_t kLanes = FloatBatch::size;
  FloatBatch peak(0.f);
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) peak = xsimd::max(peak, xsimd::abs(FloatBatch::load_unaligned(v + i)));
  alignas(64) float lanes[kLanes];
  peak.store_aligned(lanes);
  float amax = *std::max_element(lanes, lanes + kLanes);
  for (; i < n; ++i) amax = std::max(amax, std::abs(v[i]));

  const float inverse = amax > 0.f ? 127.f / amax : 0.f;
  for (i = 0; i + kLanes <= n; i += kLanes) {
    alignas(64) std::int32_t rounded[kLanes];
    xsimd::nearbyint_as_int(FloatBatch::load_unaligned(v + i) * FloatBatch(inverse)).store_aligned(rounded);
    for (std::size_t j = 0; j < kLanes; ++j) q[i + j] = static_cast<std::int8_t>(rounded[j]);
  }
  for (; i < n; ++i) q[i] = static_cast<std::int8_t>(std::nearbyint(v[i] * inverse));
  return amax / 127.f;
}

// Activations of `tokens` rows: q is [tokens, padded] (zero past cols), scales [tokens, blocks].
struct QuantizedRows {
  std::vector<std::int8_t> q;
  std::vector<float> scales;
};

QuantizedRows quantize_rows(ThreadPool& pool, const float* x, int tokens, int cols) {
  const std::size_t padded = padded_cols(cols), blocks = padded / kInt8Block;
  QuantizedRows out{std::vector<std::int8_t>(tokens * padded), std::vector<float>(tokens * blocks)};
  auto quantize_token = [&](std::size_t t) {
    for (std::size_t b = 0; b < blocks; ++b) {
      const std::size_t c0 = b * kInt8Block, n = std::min<std::size_t>(kInt8Block, cols - c0);  // c0 < cols
      out.scales[t * blocks + b] = quantize_span(x + t * cols + c0, n, &out.q[t * padded + c0]);
    }
  };
  // Spread over the pool only when there is enough work to pay for waking it.
  if (tokens >= 8) {
    pool.parallel_for(tokens, quantize_token);
  } else {
    for (int t = 0; t < tokens; ++t) quantize_token(t);
  }
  return out;
}

#if defined(__AVX2__)
using Acc = __m256i;

inline Acc zero_acc() { return _mm256_setzero_si256(); }

// acc[lane] += Σ_{i<4} a[i] · w[4 · lane + i], with `a` the same 4 bytes in every lane.
inline Acc dot4(Acc acc, __m256i a, __m256i w) {
  const __m256i magnitude = _mm256_abs_epi8(a), signed_w = _mm256_sign_epi8(w, a);
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpbusd_epi32(acc, magnitude, signed_w);
#else
  const __m256i pairs = _mm256_maddubs_epi16(magnitude, signed_w);
  return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
#endif
}

// The tile's f32 sums for rows r0..r0+15 of token j: two 8-row halves.
struct RowSums {
  __m256 half[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
};

template <int TB>
void tile(const std::int8_t* panel, const std::int8_t* const* xq, const float* const* xs, std::size_t blocks,
          RowSums* sums) {
  constexpr int kGroupsPerBlock = kInt8Block / kGroup;
  for (std::size_t b = 0; b < blocks; ++b) {
    Acc acc[TB][2];
    for (auto& a : acc) a[0] = a[1] = zero_acc();
    const std::int8_t* group = panel + b * kGroupsPerBlock * kGroupBytes;
    for (int g = 0; g < kGroupsPerBlock; ++g, group += kGroupBytes) {
      const __m256i w0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(group));
      const __m256i w1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(group + 32));
      const std::size_t c = (b * kGroupsPerBlock + g) * kGroup;
      for (int j = 0; j < TB; ++j) {
        std::int32_t four;
        std::memcpy(&four, xq[j] + c, sizeof four);
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

void store_row(const RowSums& sums, const float* row_scales, float* out) {
  for (int h = 0; h < 2; ++h) {
    _mm256_storeu_ps(out + 8 * h, _mm256_mul_ps(sums.half[h], _mm256_loadu_ps(row_scales + 8 * h)));
  }
}
#else
// Portable fallback with the same arithmetic: exact int32 block sums, f32 scaling.
struct RowSums {
  float lane[kInt8PanelRows] = {};
};

template <int TB>
void tile(const std::int8_t* panel, const std::int8_t* const* xq, const float* const* xs, std::size_t blocks,
          RowSums* sums) {
  constexpr int kGroupsPerBlock = kInt8Block / kGroup;
  for (std::size_t b = 0; b < blocks; ++b) {
    for (int j = 0; j < TB; ++j) {
      std::int32_t acc[kInt8PanelRows] = {};
      for (int g = 0; g < kGroupsPerBlock; ++g) {
        const std::int8_t* group = panel + (b * kGroupsPerBlock + g) * kGroupBytes;
        const std::int8_t* a = xq[j] + (b * kGroupsPerBlock + g) * kGroup;
        for (int r = 0; r < kInt8PanelRows; ++r)
          for (int i = 0; i < kGroup; ++i) acc[r] += std::int32_t{a[i]} * group[r * kGroup + i];
      }
      for (int r = 0; r < kInt8PanelRows; ++r) sums[j].lane[r] = std::fma(static_cast<float>(acc[r]), xs[j][b], sums[j].lane[r]);
    }
  }
}

void store_row(const RowSums& sums, const float* row_scales, float* out) {
  for (int r = 0; r < kInt8PanelRows; ++r) out[r] = sums.lane[r] * row_scales[r];
}
#endif

template <int TB>
void panel_tile(const std::int8_t* panel, const QuantizedRows& x, std::size_t padded, std::size_t blocks, int t0,
                const float* row_scales, float* y, std::size_t ldy, std::size_t r0, int valid) {
  const std::int8_t* xq[TB];
  const float* xs[TB];
  for (int j = 0; j < TB; ++j) {
    xq[j] = x.q.data() + (t0 + j) * padded;
    xs[j] = x.scales.data() + (t0 + j) * blocks;
  }
  RowSums sums[TB];
  tile<TB>(panel, xq, xs, blocks, sums);
  for (int j = 0; j < TB; ++j) {
    float* out = y + (t0 + j) * ldy + r0;
    if (valid == kInt8PanelRows) {
      store_row(sums[j], row_scales + r0, out);
    } else {
      float row[kInt8PanelRows];
      store_row(sums[j], row_scales + r0, row);
      std::copy(row, row + valid, out);
    }
  }
}

std::size_t padded_rows(int rows) {
  return (static_cast<std::size_t>(rows) + kInt8PanelRows - 1) / kInt8PanelRows * kInt8PanelRows;
}

// The scales follow the panels in the packed block.
const float* int8_scales(const PackedMatrix& w) {
  return reinterpret_cast<const float*>(w.values + padded_rows(w.rows) * padded_cols(w.cols));
}

}  // namespace

std::size_t packed_int8_bytes(int rows, int cols) {
  return padded_rows(rows) * (padded_cols(cols) + sizeof(float));
}

PackedMatrix pack_int8(const MatrixView& w) {
  PackedMatrix p;
  p.packing = Packing::kInt8;
  p.rows = w.rows;
  p.cols = w.cols;
  p.bytes = packed_int8_bytes(w.rows, w.cols);
  p.owned = allocate_panels(p.bytes);
  p.values = p.owned.get();
  const std::size_t padded = padded_cols(w.cols), panel_bytes = kInt8PanelRows * padded;
  auto* scales = reinterpret_cast<float*>(p.owned.get() + padded_rows(w.rows) * padded);
  std::vector<float> row(w.cols);
  std::vector<std::int8_t> q(padded);
  for (std::size_t r = 0; r < padded_rows(w.rows); ++r) {
    std::fill(q.begin(), q.end(), std::int8_t{0});
    scales[r] = 0.f;
    if (r < static_cast<std::size_t>(w.rows)) {
      copy_row(w, static_cast<int>(r), row.data());
      scales[r] = quantize_span(row.data(), row.size(), q.data());
    }
    std::int8_t* panel = reinterpret_cast<std::int8_t*>(p.owned.get()) + (r / kInt8PanelRows) * panel_bytes;
    const std::size_t lane = r % kInt8PanelRows;
    for (std::size_t g = 0; g < padded / kGroup; ++g) {
      std::memcpy(panel + g * kGroupBytes + lane * kGroup, &q[g * kGroup], kGroup);
    }
  }
  return p;
}

void matmul_int8(ThreadPool& pool, const float* x, int tokens, const PackedMatrix& w, float* y) {
  const QuantizedRows xq = quantize_rows(pool, x, tokens, w.cols);
  const std::size_t padded = padded_cols(w.cols), blocks = padded / kInt8Block;
  const auto* values = w.as<std::int8_t>();
  const float* scales = int8_scales(w);
  for_each_panel_tile(pool, w.rows, kInt8PanelRows, tokens, kTokensPerTile,
                      [&](int p, int t0, int tile_tokens, std::size_t r0, int valid) {
                        const std::int8_t* panel = values + p * kInt8PanelRows * padded;
                        switch (tile_tokens) {
                          case 3: return panel_tile<3>(panel, xq, padded, blocks, t0, scales, y, w.rows, r0, valid);
                          case 2: return panel_tile<2>(panel, xq, padded, blocks, t0, scales, y, w.rows, r0, valid);
                          default: return panel_tile<1>(panel, xq, padded, blocks, t0, scales, y, w.rows, r0, valid);
                        }
                      });
}

}  // namespace qguard::kernels
