// Included only by the kernel sources compiled once per target (CMakeLists.txt: the `targets` list).
// Each such compilation defines QGUARD_TARGET (baseline, avx2 or avx512) and is built with that
// target's instruction-set flags, and everything it defines lives in namespace
// qguard::kernels::QGUARD_TARGET, so the builds never share a symbol: no function compiled for
// AVX-512 can be picked by the linker for a CPU without it (check_target_symbols.py checks).
#pragma once

#if !defined(QGUARD_TARGET)
#error "target.hpp belongs to the per-target kernel builds (QGUARD_TARGET names the target)"
#endif

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>

#include <xsimd/xsimd.hpp>

#include "kernels/convert.hpp"
#include "kernels/dispatch.hpp"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace qguard::kernels::QGUARD_TARGET {

// The widest float vector of the target's instruction set (4 lanes baseline, 8 AVX2, 16 AVX-512).
using FloatBatch = xsimd::batch<float>;
inline constexpr std::size_t kLanes = FloatBatch::size;

// FloatBatch::size consecutive BF16 values widened to f32; `p` need not be aligned.
inline FloatBatch load_bf16(const std::uint16_t* p) {
#if defined(__AVX512F__)
  const __m256i halves = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(halves), 16));
#elif defined(__AVX2__)
  const __m128i halves = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(halves), 16));
#else
  std::uint16_t halves[kLanes];
  std::memcpy(halves, p, sizeof halves);  // `p` may be misaligned
  alignas(64) float wide[kLanes];
  for (std::size_t i = 0; i < kLanes; ++i) wide[i] = bf16_to_f32(halves[i]);
  return FloatBatch::load_aligned(wide);
#endif
}

// v rounded to BF16 (to nearest, ties to even; NaN stays NaN), as f32.
inline FloatBatch rounded_to_bf16(FloatBatch v) {
  using Bits = xsimd::batch<std::uint32_t>;
  const Bits bits = xsimd::bitwise_cast<Bits>(v);
  const Bits rounded = (bits + (Bits(0x7fffu) + ((bits >> 16) & Bits(1u)))) & Bits(0xffff0000u);
  return xsimd::select(xsimd::isnan(v), v, xsimd::bitwise_cast<FloatBatch>(rounded));
}

#if defined(__AVX512F__)
// The upper 16 bits of each lane: the BF16 encodings of floats that are BF16 values (rounded_to_bf16).
inline __m256i upper_halves(__m512 v) {
  return _mm512_cvtepi32_epi16(_mm512_srli_epi32(_mm512_castps_si512(v), 16));
}

// rows[i] becomes column i: a 16 × 16 transpose of 32-bit words, through 32-bit, 64-bit and 128-bit
// interleaves.
inline void transpose16(__m512i rows[16]) {
  __m512i a[16], b[16];
  for (int i = 0; i < 16; i += 2) {
    a[i] = _mm512_unpacklo_epi32(rows[i], rows[i + 1]);
    a[i + 1] = _mm512_unpackhi_epi32(rows[i], rows[i + 1]);
  }
  for (int g = 0; g < 16; g += 4) {  // b[g + m]: in each 128-bit lane L, rows g .. g + 3 of column 4L + m
    b[g] = _mm512_unpacklo_epi64(a[g], a[g + 2]);
    b[g + 1] = _mm512_unpackhi_epi64(a[g], a[g + 2]);
    b[g + 2] = _mm512_unpacklo_epi64(a[g + 1], a[g + 3]);
    b[g + 3] = _mm512_unpackhi_epi64(a[g + 1], a[g + 3]);
  }
  for (int m = 0; m < 4; ++m) {  // column 4L + m gathers lane L of b[m], b[4 + m], b[8 + m], b[12 + m]
    const __m512i x0 = _mm512_shuffle_i32x4(b[m], b[4 + m], 0x44), x1 = _mm512_shuffle_i32x4(b[m], b[4 + m], 0xee);
    const __m512i y0 = _mm512_shuffle_i32x4(b[8 + m], b[12 + m], 0x44),
                  y1 = _mm512_shuffle_i32x4(b[8 + m], b[12 + m], 0xee);
    rows[m] = _mm512_shuffle_i32x4(x0, y0, 0x88);
    rows[4 + m] = _mm512_shuffle_i32x4(x0, y0, 0xdd);
    rows[8 + m] = _mm512_shuffle_i32x4(x1, y1, 0x88);
    rows[12 + m] = _mm512_shuffle_i32x4(x1, y1, 0xdd);
  }
}
#endif

// The largest lane of v (xsimd 8 has no such reduction). Lanes holding NaN may or may not win.
inline float max_lane(FloatBatch v) {
#if defined(__AVX512F__)
  return _mm512_reduce_max_ps(v);
#elif defined(__AVX2__)
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_max_ss(m, _mm_shuffle_ps(m, m, 1)));
#else
  alignas(64) float lanes[kLanes];
  v.store_aligned(lanes);
  return *std::max_element(lanes, lanes + kLanes);
#endif
}

// kLanes consecutive values of f32 or BF16 (the KV cache's two encodings) as f32.
inline FloatBatch load_f32(const float* p) { return FloatBatch::load_unaligned(p); }
inline FloatBatch load_f32(const std::uint16_t* p) { return load_bf16(p); }
inline float to_f32(float x) { return x; }
inline float to_f32(std::uint16_t x) { return bf16_to_f32(x); }

// The lanes a dot product of a and b sums over its first n - n % (2 · kLanes) elements (two
// interleaved accumulators), before their horizontal sum: dot_product() adds them up and the rest
// in scalar code; attention reduces kLanes of them at once.
template <typename T>
FloatBatch dot_lanes(const float* a, const T* b, std::size_t n) {
  FloatBatch acc0(0.f), acc1(0.f);
  for (std::size_t i = 0; i + 2 * kLanes <= n; i += 2 * kLanes) {
    acc0 = xsimd::fma(FloatBatch::load_unaligned(a + i), load_f32(b + i), acc0);
    acc1 = xsimd::fma(FloatBatch::load_unaligned(a + i + kLanes), load_f32(b + i + kLanes), acc1);
  }
  return acc0 + acc1;
}

// Σ a[i] · b[i] for i < n.
template <typename T>
float dot_product(const float* a, const T* b, std::size_t n) {
  float sum = xsimd::hadd(dot_lanes(a, b, n));
  for (std::size_t i = n - n % (2 * kLanes); i < n; ++i) sum += a[i] * to_f32(b[i]);
  return sum;
}

// Lane i of the result is the sum of rows[i]'s lanes, for kLanes rows. (xsimd 8.1's haddp returns the
// AVX-512 sums in a shuffled lane order, so that build has its own.)
inline FloatBatch lane_sums(const FloatBatch* rows) {
#if defined(__AVX512F__)
  // Halve the partial sums per row three times, pairing rows' 256-bit and then 128-bit halves, ...
  __m512 w[8], x[4];
  for (int j = 0; j < 8; ++j) {  // w[j]: rows 2j, 2j + 1, 8 partial sums each
    const __m512 a = rows[2 * j], b = rows[2 * j + 1];
    w[j] = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xee));
  }
  for (int j = 0; j < 4; ++j) {  // x[j]: 128-bit lane l holds 4 partial sums of row 4j + l
    x[j] = _mm512_add_ps(_mm512_shuffle_f32x4(w[2 * j], w[2 * j + 1], 0x88),
                         _mm512_shuffle_f32x4(w[2 * j], w[2 * j + 1], 0xdd));
  }
  // ... then within 128-bit lanes: lane l, element p of z is the sum of row 4p + l ...
  const __m512 y0 = _mm512_add_ps(_mm512_unpacklo_ps(x[0], x[1]), _mm512_unpackhi_ps(x[0], x[1]));
  const __m512 y1 = _mm512_add_ps(_mm512_unpacklo_ps(x[2], x[3]), _mm512_unpackhi_ps(x[2], x[3]));
  const __m512 z = _mm512_add_ps(_mm512_shuffle_ps(y0, y1, 0x44), _mm512_shuffle_ps(y0, y1, 0xee));
  // ... and row i = 4p + l comes from element 4l + p.
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_permutexvar_ps(order, z);
#else
  return xsimd::haddp(rows);
#endif
}

// n rounded up to a multiple of `multiple`.
inline std::size_t round_up(int n, int multiple) {
  return (static_cast<std::size_t>(n) + multiple - 1) / multiple * multiple;
}

// body.template operator()<n>() for a run-time n in [1, kMost]: a tile's token count turned into the
// compile-time size its register tile is built for.
template <int kMost, typename Body>
void with_tile_tokens(int n, const Body& body) {
  if constexpr (kMost > 1) {
    if (n < kMost) return with_tile_tokens<kMost - 1>(n, body);
  }
  body.template operator()<kMost>();
}

// Two float vectors of rows per float panel: 8 baseline, 16 AVX2, 32 AVX-512.
inline constexpr int kPanelRows = 2 * static_cast<int>(kLanes);

// The work split of the matrix products (the packed ones, and the row-major one in 96-row panels):
// calls tile(m, p, t0, tile_tokens, r0, valid) for panel p of matrix m (its rows r0 .. r0 + valid)
// and tokens t0 .. t0 + tile_tokens, over every panel of `panel_rows` rows of every matrix of
// heights[m] rows and every tile of up to `tokens_per_tile` tokens, as one job on the pool: the
// matrices' panels in turn, so products sharing an input (q, k and v; gate and up) wait for the
// pool once. A task is one panel: its weights stay in L1 or L2 while every token passes over them.
// The pool hands each thread a contiguous share of the panels (ThreadPool::parallel_for), so a
// thread streams consecutive panels and claims them without contention.
template <typename Tile>
void for_each_panel_tile(ThreadPool& pool, std::span<const int> heights, int panel_rows, int tokens,
                         int tokens_per_tile, const Tile& tile) {
  auto panels_of = [panel_rows](int rows) { return (rows + panel_rows - 1) / panel_rows; };
  int panels = 0;
  for (int rows : heights) panels += panels_of(rows);
  pool.parallel_for(panels, [&](std::size_t task) {
    int m = 0, p = static_cast<int>(task);  // panel `task` is matrix m's panel p
    while (p >= panels_of(heights[m])) p -= panels_of(heights[m++]);
    const int r0 = p * panel_rows;
    for (int t0 = 0; t0 < tokens; t0 += tokens_per_tile) {
      tile(m, p, t0, std::min(tokens_per_tile, tokens - t0), static_cast<std::size_t>(r0),
           std::min(panel_rows, heights[m] - r0));
    }
  });
}

// The heights of the products' matrices, for for_each_panel_tile (dispatch.cc checks their count).
// kMaxProducts is read as a value, never bound to a reference (std::min): a reference would make the
// shared namespace's constant a symbol of this target's objects (check_target_symbols.py).
struct ProductHeights {
  explicit ProductHeights(std::span<const Product> products)
      : count(products.size() < kMaxProducts ? products.size() : kMaxProducts) {
    for (std::size_t i = 0; i < count; ++i) rows[i] = products[i].w->rows;
  }
  operator std::span<const int>() const { return {rows, count}; }
  int rows[kMaxProducts] = {};
  std::size_t count;
};

// ops.cc
float dot(const float* a, const float* b, std::size_t n);
void rmsnorm(const float* x, const float* weight, std::size_t n, float eps, float* out);
void rope(float* z, const float* cos, const float* sin, std::size_t half);
// In place: x = exp(x - max); returns the sum (n > 0). Softmax is x / that sum.
float softmax_numerators(float* x, std::size_t n);
void silu_mul(float* gate, const float* up, std::size_t n);
void round_to_bf16(float* x, std::size_t n);
void to_bf16(const float* x, std::size_t n, std::uint16_t* out);

// gguf_decode.cc
void dequantize(io::GgmlType type, const std::byte* src, std::size_t count, float* dst);

// matmul.cc
void matmul_rows(ThreadPool& pool, const float* x, int tokens, const MatrixView& w, float* y);
void matvec_rows(const float* x, const MatrixView& w, const std::int32_t* rows, int count, float* y);

// packed_matmul.cc (f32 and BF16 panels) and packed_int8.cc
std::size_t packed_bytes(Packing packing, int rows, int cols);
PackedMatrix pack(const MatrixView& w, Packing packing);
LayerInput prepare_input(ThreadPool& pool, const float* x, int tokens, int cols, Packing packing);
void matmul_packed(ThreadPool& pool, const LayerInput& x, std::span<const Product> products);
std::size_t packed_int8_bytes(int rows, int cols);
PackedMatrix pack_int8(const MatrixView& w);
void quantize_input(ThreadPool& pool, LayerInput& x);
void matmul_int8(ThreadPool& pool, const LayerInput& x, std::span<const Product> products);
#if defined(__AVX512F__)
// The AVX-512 build serves Target::kAmx too: the same kernels, but products of 16 tokens or more on
// AMX tiles: int8 ones (packed_int8.cc) and BF16 ones, whose matrices it packs its own way
// (packed_bf16_amx.cc).
void matmul_int8_amx(ThreadPool& pool, const LayerInput& x, std::span<const Product> products);
std::size_t packed_bytes_amx(Packing packing, int rows, int cols);
PackedMatrix pack_amx(const MatrixView& w, Packing packing);
LayerInput prepare_input_amx(ThreadPool& pool, const float* x, int tokens, int cols, Packing packing);
void matmul_packed_amx(ThreadPool& pool, const LayerInput& x, std::span<const Product> products);
double amx_int8_dot_ops(PeakClock::time_point deadline);
#endif

// attention.cc
void attention(ThreadPool& pool, const AttentionShape& shape, const float* q, const void* keys, const void* values,
               float* out);
#if defined(__AVX512F__)
// attention_bf16.cc: BF16 pair products for shape.bf16 (blocks of rows; the rest as attention()),
// on AMX tiles (Target::kAmx) or with AVX512_BF16's vdpbf16ps (Target::kAvx512Bf16).
void attention_amx(ThreadPool& pool, const AttentionShape& shape, const float* q, const void* keys,
                   const void* values, float* out);
void attention_avx512_bf16(ThreadPool& pool, const AttentionShape& shape, const float* q, const void* keys,
                           const void* values, float* out);
#endif

// peaks.cc
double f32_fma_ops(PeakClock::time_point deadline);
double int8_dot_ops(PeakClock::time_point deadline);

}  // namespace qguard::kernels::QGUARD_TARGET
