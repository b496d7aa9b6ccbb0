// The Unicode facts the tokenizer needs: UTF-8 validation and decoding, NFC, the character classes
// of the pre-split regex (as JavaScript's Unicode regexes define them), and lossy UTF-8 repair for
// decoding. Unicode data comes from utf8proc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace qguard::text {

// Byte offset of the first byte that does not start a well-formed UTF-8 sequence (overlong forms,
// surrogates, values past U+10FFFF and truncated sequences are all ill-formed), or npos.
std::size_t find_invalid_utf8(std::string_view bytes);

// The classes the pre-split regex distinguishes. kNewline is \r or \n; kSpace is any other code
// point matched by JavaScript's \s (White_Space-ish set of ECMAScript: Zs, TAB, VT, FF, U+FEFF,
// U+2028, U+2029; notably U+0085 is NOT included); kLetter is \p{L}; kNumber is \p{N}.
enum class CharClass : std::uint8_t { kLetter, kNumber, kNewline, kSpace, kOther };

struct DecodedChar {
  char32_t code_point;
  CharClass char_class;
  std::uint8_t length;  // bytes, 1..4
};

// Decodes the code point starting at `offset` of valid UTF-8 text (offset < text.size()).
DecodedChar decode_char(std::string_view valid_utf8, std::size_t offset);

// Appends NFC(text) to `out`. `text` must be valid UTF-8.
void append_nfc(std::string_view valid_utf8, std::string& out);

// Appends `bytes` with every ill-formed sequence replaced by U+FFFD, one per maximal ill-formed
// subpart (the WHATWG "replacement" decoding that TextDecoder and from_utf8_lossy both use).
void append_utf8_lossy(std::string_view bytes, std::string& out);

}  // namespace qguard::text
