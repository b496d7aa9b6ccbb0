// The tensor types of GGUF files qguard reads, and their decoding to f32. The block layouts are
// those of the GGUF format description (ggml's docs/gguf.md and the block structs it points to);
// every value is decoded with the f32 operations that description defines, so the results are
// exact and the same on every CPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace qguard::io {

// ggml_type numbers as they appear in a GGUF tensor info.
enum class GgmlType : std::uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ8_0 = 8,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kBF16 = 30,
};

struct GgmlTypeTraits {
  std::string_view name;     // "Q4_K"
  std::size_t block_values;  // values per block (1 for the float types)
  std::size_t block_bytes;   // bytes per block
  bool quantized;            // a block format, not a plain float
};

// nullopt for a type number qguard does not read. Also names the common ones it does not read,
// for error messages: see ggml_type_name.
std::optional<GgmlTypeTraits> ggml_type_traits(std::uint32_t type);

// "Q4_1", "IQ2_XS", ... for any ggml_type number known to the format; "type N" otherwise.
std::string_view ggml_type_name(std::uint32_t type);

// The bytes of `count` values encoded as `type` (`count` a multiple of its block_values).
std::size_t encoded_bytes(GgmlType type, std::size_t count);

// dst[i] = value i of `count` values encoded as `type` at `src` (`count` a multiple of the type's
// block_values; `src` need not be aligned). Decoded by the active kernel target's build
// (kernels/gguf_decode.cc): the same values on every target.
void dequantize(GgmlType type, const std::byte* src, std::size_t count, float* dst);

}  // namespace qguard::io
