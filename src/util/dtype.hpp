// Tensor element types qguard reads from checkpoints.
#pragma once

#include <cstddef>
#include <string_view>

namespace qguard {

enum class DType { kF32, kF16, kBF16 };

constexpr std::size_t dtype_size(DType t) { return t == DType::kF32 ? 4 : 2; }
constexpr std::string_view dtype_name(DType t) {
  return t == DType::kF32 ? "F32" : t == DType::kF16 ? "F16" : "BF16";
}

}  // namespace qguard
