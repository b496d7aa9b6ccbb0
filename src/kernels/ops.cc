// Row-wise kernels of the Qwen3 forward pass, on contiguous f32 arrays (one build per target).
#include <algorithm>
#include <cmath>

#include "kernels/target.hpp"

namespace qguard::kernels::QGUARD_TARGET {
namespace {
using Batch = FloatBatch;
}  // namespace

float dot(const float* a, const float* b, std::size_t n) { return dot_product(a, b, n); }

void rmsnorm(const float* x, const float* weight, std::size_t n, float eps, float* out) {
  const float scale = 1.f / std::sqrt(dot(x, x, n) / static_cast<float>(n) + eps);
  for (std::size_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

void rope(float* z, const float* cos, const float* sin, std::size_t half) {
  float* z1 = z;
  float* z2 = z + half;
  for (std::size_t i = 0; i < half; ++i) {
    const float a = z1[i], b = z2[i];
    z1[i] = a * cos[i] - b * sin[i];
    z2[i] = b * cos[i] + a * sin[i];
  }
}

float softmax_numerators(float* x, std::size_t n) {
  // The last lanes go through the same vector exp as the others, padded with -inf (numerator 0): a
  // scalar exp per leftover lane cost more than a whole vector (attention rows are any length).
  const std::size_t whole = n / kLanes * kLanes;
  alignas(64) float tail[kLanes];
  std::fill(std::copy(x + whole, x + n, tail), tail + kLanes, -INFINITY);
  Batch peak = Batch::load_aligned(tail);
  for (std::size_t i = 0; i < whole; i += kLanes) peak = xsimd::max(peak, Batch::load_unaligned(x + i));
  const Batch max(max_lane(peak));

  Batch sums(0.f);
  for (std::size_t i = 0; i < whole; i += kLanes) {
    const Batch e = xsimd::exp(Batch::load_unaligned(x + i) - max);
    sums += e;
    e.store_unaligned(x + i);
  }
  const Batch e = xsimd::exp(Batch::load_aligned(tail) - max);
  e.store_aligned(tail);
  std::copy(tail, tail + (n - whole), x + whole);
  return xsimd::hadd(sums + e);
}

void silu_mul(float* gate, const float* up, std::size_t n) {
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const Batch g = Batch::load_unaligned(gate + i);
    (g / (Batch(1.f) + xsimd::exp(-g)) * Batch::load_unaligned(up + i)).store_unaligned(gate + i);
  }
  for (; i < n; ++i) gate[i] = gate[i] / (1.f + std::exp(-gate[i])) * up[i];
}

void to_bf16(const float* x, std::size_t n, std::uint16_t* out) {
  std::size_t i = 0;
#if defined(__AVX512F__)
  for (; i + kLanes <= n; i += kLanes) {
    const __m512 v = _mm512_loadu_ps(x + i);
    __m256i bits = upper_halves(rounded_to_bf16(v));
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    bits = _mm256_mask_mov_epi16(bits, nan, _mm256_or_si256(bits, _mm256_set1_epi16(0x40)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), bits);
  }
#elif defined(__AVX2__)
  for (; i + kLanes <= n; i += kLanes) {
    const __m256 v = _mm256_loadu_ps(x + i);
    __m256i upper = _mm256_srli_epi32(_mm256_castps_si256(rounded_to_bf16(v)), 16);
    const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    upper = _mm256_or_si256(upper, _mm256_and_si256(nan, _mm256_set1_epi32(0x40)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm_packus_epi32(_mm256_castsi256_si128(upper), _mm256_extracti128_si256(upper, 1)));
  }
#endif
  for (; i < n; ++i) out[i] = f32_to_bf16(x[i]);
}

void round_to_bf16(float* x, std::size_t n) {
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) rounded_to_bf16(Batch::load_unaligned(x + i)).store_unaligned(x + i);
  for (; i < n; ++i) x[i] = bf16_to_f32(f32_to_bf16(x[i]));
}

}  // namespace qguard::kernels::QGUARD_TARGET
