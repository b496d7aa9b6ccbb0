// GPT-2's ByteLevel alphabet: a reversible map from the 256 byte values to printable code points,
// in which byte-level BPE vocabularies are written (a space byte is 'Ġ' U+0120, a newline 'Ċ').
// Bytes that are printable Latin-1 ('!'..'~', '¡'..'¬', '®'..'ÿ') map to themselves; the other 68
// map, in increasing byte order, to U+0100, U+0101, ...
#pragma once

#include <array>
#include <cstdint>

namespace qguard::text {

inline constexpr char32_t kByteLevelAlphabetEnd = 0x100 + 68;  // every image is below this

constexpr bool is_printable_latin1(unsigned byte) {
  return (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) || (byte >= 0xAE && byte <= 0xFF);
}

constexpr std::array<char32_t, 256> make_byte_to_code_point() {
  std::array<char32_t, 256> table{};
  char32_t next_unprintable = 0x100;
  for (unsigned byte = 0; byte < 256; ++byte) {
    table[byte] = is_printable_latin1(byte) ? char32_t{byte} : next_unprintable++;
  }
  return table;
}
inline constexpr std::array<char32_t, 256> kByteToCodePoint = make_byte_to_code_point();

// The inverse map: -1 for code points outside the alphabet.
constexpr std::array<std::int16_t, kByteLevelAlphabetEnd> make_code_point_to_byte() {
  std::array<std::int16_t, kByteLevelAlphabetEnd> table{};
  for (auto& entry : table) entry = -1;
  for (unsigned byte = 0; byte < 256; ++byte) table[kByteToCodePoint[byte]] = static_cast<std::int16_t>(byte);
  return table;
}
inline constexpr std::array<std::int16_t, kByteLevelAlphabetEnd> kCodePointToByte = make_code_point_to_byte();

}  // namespace qguard::text
