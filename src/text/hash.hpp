// A fast, well-mixing hash for short byte strings such as token texts: eight bytes at a time,
// each step splitmix64's multiply/xor-shift mixer. Header-only so it inlines into the hot paths
// (hashing ~450k token texts while loading, and every piece while encoding).
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace qguard::text {

inline std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ULL;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBULL;
  x ^= x >> 31;
  return x;
}

inline std::uint64_t hash_bytes(std::string_view bytes) {
  std::uint64_t hash = 0x9E3779B97F4A7C15ULL ^ bytes.size();
  std::size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    std::uint64_t word;
    std::memcpy(&word, bytes.data() + i, 8);
    hash = mix64(hash ^ word);
  }
  if (i < bytes.size()) {
    std::uint64_t word = 0;
    std::memcpy(&word, bytes.data() + i, bytes.size() - i);
    hash = mix64(hash ^ word);
  }
  return hash;
}

}  // namespace qguard::text
