// Widening 16-bit floats to f32. BF16 is the upper half of an f32; F16 is IEEE binary16.
#pragma once

#include <cstdint>
#include <cstring>

#include "util/dtype.hpp"

namespace qguard::kernels {

inline float bf16_to_f32(std::uint16_t bits) {
  const std::uint32_t wide = std::uint32_t{bits} << 16;
  float out;
  std::memcpy(&out, &wide, sizeof out);
  return out;
}

float f16_to_f32(std::uint16_t bits);

// Rounds to nearest, ties to even (NaN stays NaN), as PyTorch's float -> bfloat16 does.
std::uint16_t f32_to_bf16(float value);

// dst[i] = element i of `src` (of type `dtype`) as f32; `src` need not be aligned.
void widen(const void* src, DType dtype, std::size_t count, float* dst);

}  // namespace qguard::kernels
