#include "io/gguf_blocks.hpp"

#include <array>

#include "kernels/dispatch.hpp"

namespace qguard::io {
namespace {

constexpr std::size_t kSuperBlock = 256;  // values per block of the K-quants

}  // namespace

std::optional<GgmlTypeTraits> ggml_type_traits(std::uint32_t type) {
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::kF32: return GgmlTypeTraits{"F32", 1, 4, false};
    case GgmlType::kF16: return GgmlTypeTraits{"F16", 1, 2, false};
    case GgmlType::kBF16: return GgmlTypeTraits{"BF16", 1, 2, false};
    case GgmlType::kQ4_0: return GgmlTypeTraits{"Q4_0", 32, 18, true};
    case GgmlType::kQ8_0: return GgmlTypeTraits{"Q8_0", 32, 34, true};
    case GgmlType::kQ4_K: return GgmlTypeTraits{"Q4_K", kSuperBlock, 144, true};
    case GgmlType::kQ5_K: return GgmlTypeTraits{"Q5_K", kSuperBlock, 176, true};
    case GgmlType::kQ6_K: return GgmlTypeTraits{"Q6_K", kSuperBlock, 210, true};
  }
  return std::nullopt;
}

std::string_view ggml_type_name(std::uint32_t type) {
  static constexpr std::array<std::string_view, 40> kNames = {
      "F32",    "F16",   "Q4_0",  "Q4_1",   "",      "",      "Q5_0",    "Q5_1",   "Q8_0",    "Q8_1",
      "Q2_K",   "Q3_K",  "Q4_K",  "Q5_K",   "Q6_K",  "Q8_K",  "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S",
      "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "I8",    "I16",   "I32",     "I64",    "F64",     "IQ1_M",
      "BF16",   "",      "",      "",       "TQ1_0", "TQ2_0", "",        "",       "",        "MXFP4"};
  return type < kNames.size() && !kNames[type].empty() ? kNames[type] : "an unknown type";
}

std::size_t encoded_bytes(GgmlType type, std::size_t count) {
  const GgmlTypeTraits traits = *ggml_type_traits(static_cast<std::uint32_t>(type));
  return count / traits.block_values * traits.block_bytes;
}

void dequantize(GgmlType type, const std::byte* src, std::size_t count, float* dst) {
  kernels::active_kernels().dequantize(type, src, count, dst);
}

}  // namespace qguard::io
