// The decoding of GGUF tensor types to f32 (io/gguf_blocks.hpp), one build per target: the block
// layouts of the GGUF format description (ggml's docs/gguf.md and the block structs it points to),
// every value computed with the f32 operations that description defines. Each value is a product of
// a 16-bit scale and small integers, exact in f32 (a Q4_K / Q5_K value then subtracts an exact
// offset: one rounding, fused or not), so every build decodes every value identically; the wider
// builds only vectorize the loops.
#include <cstring>

#include "kernels/target.hpp"

namespace qguard::kernels::QGUARD_TARGET {
namespace {

std::uint16_t u16_at(const std::byte* p) {
  std::uint16_t value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

float f16_at(const std::byte* p) { return kernels::f16_to_f32(u16_at(p)); }

std::uint8_t byte_at(const std::byte* p, std::size_t i) { return std::to_integer<std::uint8_t>(p[i]); }

// Q4_0, 18 bytes per 32 values: f16 scale d, then 16 bytes whose low nibbles are values 0..15 and
// high nibbles values 16..31, each x = d · (nibble − 8).
void q4_0(const std::byte* block, float* __restrict y) {
  const float d = f16_at(block);
  const std::byte* qs = block + 2;
  for (int j = 0; j < 16; ++j) y[j] = static_cast<float>((byte_at(qs, j) & 0xF) - 8) * d;
  for (int j = 0; j < 16; ++j) y[j + 16] = static_cast<float>((byte_at(qs, j) >> 4) - 8) * d;
}

// Q8_0, 34 bytes per 32 values: f16 scale d, then 32 int8 q, x = d · q.
void q8_0(const std::byte* block, float* __restrict y) {
  const float d = f16_at(block);
  for (int j = 0; j < 32; ++j) y[j] = d * static_cast<float>(static_cast<std::int8_t>(byte_at(block + 2, j)));
}

// The 6-bit scale and min of sub-block j (0..7) of Q4_K / Q5_K, packed in 12 bytes: sub-blocks
// 0..3 in the low 6 bits of bytes j and j+4; sub-blocks 4..7 in the nibbles of byte j+4 with their
// top 2 bits in the top bits of bytes j−4 and j.
struct ScaleMin {
  int scale, min;
};
ScaleMin k_scale_min(const std::byte* scales, int j) {
  if (j < 4) return {byte_at(scales, j) & 63, byte_at(scales, j + 4) & 63};
  const int scale = (byte_at(scales, j + 4) & 0xF) | ((byte_at(scales, j - 4) >> 6) << 4);
  const int min = (byte_at(scales, j + 4) >> 4) | ((byte_at(scales, j) >> 6) << 4);
  return {scale, min};
}

// Q4_K (144 bytes) and Q5_K (176 bytes) per 256 values: f16 d and dmin, 12 bytes of scales, [Q5_K:
// 32 bytes of high bits], 128 bytes of nibbles. Values come in 4 runs of 64: the low nibbles of 32
// bytes are the first 32 values (sub-block 2i), their high nibbles the next 32 (sub-block 2i+1).
// Q5_K adds bit 2i (resp. 2i+1) of high-bit byte l as 16 to value l of the run's first (second)
// half. x = (d · scale) · q − dmin · min.
template <bool kFifthBit>
void k_quant_4_5(const std::byte* block, float* __restrict y) {
  const float d = f16_at(block), dmin = f16_at(block + 2);
  const std::byte* scales = block + 4;
  const std::byte* high = block + 16;
  const std::byte* nibbles = block + (kFifthBit ? 48 : 16);
  for (int run = 0; run < 4; ++run) {
    const std::byte* q = nibbles + 32 * run;
    for (int half = 0; half < 2; ++half) {
      const auto [scale, min] = k_scale_min(scales, 2 * run + half);
      const float step = d * static_cast<float>(scale), offset = dmin * static_cast<float>(min);
      const int bit = 2 * run + half;
      for (int l = 0; l < 32; ++l) {
        int value = half == 0 ? (byte_at(q, l) & 0xF) : (byte_at(q, l) >> 4);
        if (kFifthBit && ((byte_at(high, l) >> bit) & 1)) value += 16;
        *y++ = step * static_cast<float>(value) - offset;
      }
    }
  }
}

// Q6_K, 210 bytes per 256 values: 128 bytes of low nibbles (ql), 64 bytes of 2-bit highs (qh),
// 16 int8 scales (one per 16 values), f16 d. Two halves of 128 values, each reading 64 bytes of ql
// and 32 of qh: value l + 32k (k = 0..3, l = 0..31) has low nibble from ql[l + 32·(k mod 2)] (low
// nibble for k < 2, high for k ≥ 2) and high bits (qh[l] >> 2k) & 3; x = (d · scale) · (q − 32).
void q6_k(const std::byte* block, float* __restrict y) {
  const std::byte* ql = block;
  const std::byte* qh = block + 128;
  const std::byte* scales = block + 192;
  const float d = f16_at(block + 208);
  for (int half = 0; half < 2; ++half) {
    // The 128 values' 6-bit q first (byte operations, 32 lanes wide), then scaled 16 at a time
    // (written with batches: left to itself, the compiler vectorizes across the 16-value groups).
    std::int8_t q[128];
    for (int l = 0; l < 32; ++l) {
      const int low = byte_at(ql, l), next_low = byte_at(ql, l + 32), high = byte_at(qh, l);
      q[l] = static_cast<std::int8_t>(((low & 0xF) | ((high & 3) << 4)) - 32);
      q[l + 32] = static_cast<std::int8_t>(((next_low & 0xF) | (((high >> 2) & 3) << 4)) - 32);
      q[l + 64] = static_cast<std::int8_t>(((low >> 4) | (((high >> 4) & 3) << 4)) - 32);
      q[l + 96] = static_cast<std::int8_t>(((next_low >> 4) | (((high >> 6) & 3) << 4)) - 32);
    }
    alignas(64) float values[128];
    for (int l = 0; l < 128; ++l) values[l] = static_cast<float>(q[l]);
    for (std::size_t group = 0; group < 8; ++group) {
      const FloatBatch step(d * static_cast<float>(static_cast<std::int8_t>(byte_at(scales, group))));
      for (std::size_t l = 16 * group; l < 16 * group + 16; l += kLanes) {
        (step * FloatBatch::load_aligned(values + l)).store_unaligned(y + l);
      }
    }
    y += 128;
    ql += 64;
    qh += 32;
    scales += 8;
  }
}

}  // namespace

void dequantize(io::GgmlType type, const std::byte* src, std::size_t count, float* dst) {
  using io::GgmlType;
  switch (type) {
    case GgmlType::kF32: widen(src, DType::kF32, count, dst); return;
    case GgmlType::kF16: widen(src, DType::kF16, count, dst); return;
    case GgmlType::kBF16: widen(src, DType::kBF16, count, dst); return;
    default: break;
  }
  const std::size_t block_values = io::ggml_type_traits(static_cast<std::uint32_t>(type))->block_values;
  const std::size_t block_bytes = io::encoded_bytes(type, block_values);
  for (std::size_t block = 0; block < count / block_values; ++block) {
    const std::byte* in = src + block * block_bytes;
    float* out = dst + block * block_values;
    switch (type) {
      case GgmlType::kQ4_0: q4_0(in, out); break;
      case GgmlType::kQ8_0: q8_0(in, out); break;
      case GgmlType::kQ4_K: k_quant_4_5<false>(in, out); break;
      case GgmlType::kQ5_K: k_quant_4_5<true>(in, out); break;
      case GgmlType::kQ6_K: q6_k(in, out); break;
      default: break;
    }
  }
}

}  // namespace qguard::kernels::QGUARD_TARGET
