// Widening 16-bit floats to f32. BF16 is the upper half of an f32; F16 is IEEE binary16.
#pragma once

#include <cstdint>
#include <cstring>

#include <xsimd/xsimd.hpp>

#include "util/dtype.hpp"

namespace qguard::kernels {

inline float bf16_to_f32(std::uint16_t bits) {
  const std::uint32_t wide = std::uint32_t{bits} << 16;
  float out;
  std::memcpy(&out, &wide, sizeof out);
  return out;
}

float f16_to_f32(std::uint16_t bits);

using FloatBatch = xsimd::batch<float>;

// FloatBatch::size consecutive BF16 values widened to f32; `p` need not be aligned.
inline FloatBatch load_bf16(const std::uint16_t* p) {
#if defined(__AVX512F__)
  const __m256i halves = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(halves), 16));
#elif defined(__AVX2__)
  const __m128i halves = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(halves), 16));
#else
  std::uint16_t halves[FloatBatch::size];
  std::memcpy(halves, p, sizeof halves);  // `p` may be misaligned
  alignas(64) float wide[FloatBatch::size];
  for (std::size_t i = 0; i < FloatBatch::size; ++i) wide[i] = bf16_to_f32(halves[i]);
  return FloatBatch::load_aligned(wide);
#endif
}

// Rounds to nearest, ties to even (NaN stays NaN), as PyTorch's float -> bfloat16 does.
std::uint16_t f32_to_bf16(float value);

// dst[i] = element i of `src` (of type `dtype`) as f32; `src` need not be aligned.
void widen(const void* src, DType dtype, std::size_t count, float* dst);

}  // namespace qguard::kernels
