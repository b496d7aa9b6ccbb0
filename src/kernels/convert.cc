#include "kernels/convert.hpp"

#include <cmath>

namespace qguard::kernels {

float f16_to_f32(std::uint16_t bits) {
  // Bit moves, not ldexp: the embedding's F16 rows are widened at every use (model/row_matrix.hpp).
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000) << 16;
  const std::uint32_t exponent = (bits >> 10) & 0x1f, mantissa = bits & 0x3ff;
  if (exponent == 0) {  // zero or subnormal: mantissa · 2^-24, exact in f32
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return sign ? -magnitude : magnitude;
  }
  // Infinity and NaN keep an all-ones exponent; normals are rebiased from 15 to 127.
  const std::uint32_t f32_exponent = exponent == 31 ? 255 : exponent + 112;
  const std::uint32_t out = sign | (f32_exponent << 23) | (mantissa << 13);
  float value;
  std::memcpy(&value, &out, sizeof value);
  return value;
}

std::uint16_t f32_to_bf16(float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  if (std::isnan(value)) return static_cast<std::uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fff + ((bits >> 16) & 1);
  return static_cast<std::uint16_t>(bits >> 16);
}

void widen(const void* src, DType dtype, std::size_t count, float* dst) {
  const auto* bytes = static_cast<const unsigned char*>(src);
  if (dtype == DType::kF32) {
    std::memcpy(dst, bytes, count * sizeof(float));
    return;
  }
  for (std::size_t i = 0; i < count; ++i) {
    std::uint16_t bits;
    std::memcpy(&bits, bytes + 2 * i, 2);
    dst[i] = dtype == DType::kBF16 ? bf16_to_f32(bits) : f16_to_f32(bits);
  }
}

}  // namespace qguard::kernels
