#include "text/unicode.hpp"

#include <array>
#include <cstring>
#include <vector>

#include <fmt/format.h>
#include <utf8proc.h>

#include "qguard/error.hpp"

namespace qguard::text {
namespace {

// One step of UTF-8 decoding at `offset`: a well-formed sequence's length, or the length of the
// maximal ill-formed subpart there (Unicode 15, section 3.9, table 3-7 gives the byte ranges).
struct Utf8Step {
  bool well_formed;
  std::uint8_t length;
};

Utf8Step utf8_step(const unsigned char* bytes, std::size_t size) {
  const unsigned char lead = bytes[0];
  if (lead < 0x80) return {true, 1};
  unsigned char second_min = 0x80, second_max = 0xBF;
  std::uint8_t length;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) second_min = 0xA0;  // no overlong forms
    if (lead == 0xED) second_max = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) second_min = 0x90;  // no overlong forms
    if (lead == 0xF4) second_max = 0x8F;  // nothing past U+10FFFF
  } else {
    return {false, 1};  // a continuation byte or a lead byte that can never start a sequence
  }
  for (std::uint8_t i = 1; i < length; ++i) {
    const unsigned char low = i == 1 ? second_min : 0x80;
    const unsigned char high = i == 1 ? second_max : 0xBF;
    if (i >= size || bytes[i] < low || bytes[i] > high) return {false, i};
  }
  return {true, length};
}

constexpr std::array<CharClass, 128> make_ascii_classes() {
  std::array<CharClass, 128> classes{};
  for (int c = 0; c < 128; ++c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      classes[c] = CharClass::kLetter;
    } else if (c >= '0' && c <= '9') {
      classes[c] = CharClass::kNumber;
    } else if (c == '\r' || c == '\n') {
      classes[c] = CharClass::kNewline;
    } else if (c == ' ' || c == '\t' || c == '\v' || c == '\f') {
      classes[c] = CharClass::kSpace;
    } else {
      classes[c] = CharClass::kOther;
    }
  }
  return classes;
}
constexpr std::array<CharClass, 128> kAsciiClasses = make_ascii_classes();

CharClass classify_non_ascii(char32_t c) {
  // ECMAScript's \s beyond ASCII: every Zs code point, U+FEFF (ZWNBSP), and the line terminators
  // U+2028 / U+2029. U+0085 (NEL) is a control character there, not white space.
  if (c == 0xFEFF || c == 0x2028 || c == 0x2029) return CharClass::kSpace;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: return CharClass::kLetter;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO: return CharClass::kNumber;
    case UTF8PROC_CATEGORY_ZS: return CharClass::kSpace;
    default: return CharClass::kOther;
  }
}

// NFC of one stretch of text through utf8proc (decompose + canonical order, then compose).
void append_nfc_with_utf8proc(std::string_view text, std::string& out) {
  thread_local std::vector<utf8proc_int32_t> code_points;
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  const auto options = static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
  utf8proc_ssize_t count = 0;
  for (;;) {
    count = utf8proc_decompose_custom(bytes, static_cast<utf8proc_ssize_t>(text.size()), code_points.data(),
                                      static_cast<utf8proc_ssize_t>(code_points.size()), options, nullptr, nullptr);
    if (count < 0 || static_cast<std::size_t>(count) <= code_points.size()) break;
    code_points.resize(static_cast<std::size_t>(count));
  }
  if (count >= 0) count = utf8proc_normalize_utf32(code_points.data(), count, options);
  // utf8proc only fails on ill-formed UTF-8, which callers rule out first; report it all the same.
  if (count < 0) {
    throw Error(ErrorCode::kInvalidUtf8, fmt::format("NFC normalization failed: {}", utf8proc_errmsg(count)));
  }
  for (utf8proc_ssize_t i = 0; i < count; ++i) {
    utf8proc_uint8_t encoded[4];
    const auto length = utf8proc_encode_char(code_points[static_cast<std::size_t>(i)], encoded);
    out.append(reinterpret_cast<const char*>(encoded), static_cast<std::size_t>(length));
  }
}

}  // namespace

std::size_t find_invalid_utf8(std::string_view text) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t size = text.size();
  std::size_t i = 0;
  while (i < size) {
    // Skip ASCII eight bytes at a time: most text is mostly ASCII.
    if (i + 8 <= size) {
      std::uint64_t word;
      std::memcpy(&word, bytes + i, 8);
      if ((word & 0x8080808080808080ULL) == 0) {
        i += 8;
        continue;
      }
    }
    const Utf8Step step = utf8_step(bytes + i, size - i);
    if (!step.well_formed) return i;
    i += step.length;
  }
  return std::string_view::npos;
}

DecodedChar decode_char(std::string_view text, std::size_t offset) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data()) + offset;
  const unsigned char lead = bytes[0];
  if (lead < 0x80) return {lead, kAsciiClasses[lead], 1};
  char32_t c;
  std::uint8_t length;
  if (lead < 0xE0) {
    c = lead & 0x1Fu;
    length = 2;
  } else if (lead < 0xF0) {
    c = lead & 0x0Fu;
    length = 3;
  } else {
    c = lead & 0x07u;
    length = 4;
  }
  for (std::uint8_t i = 1; i < length; ++i) c = (c << 6) | (bytes[i] & 0x3Fu);
  return {c, classify_non_ascii(c), length};
}

void append_nfc(std::string_view text, std::string& out) {
  // ASCII characters are NFC-stable starters that never compose with what precedes them, so NFC
  // distributes over a split just before any ASCII character. Only the stretches holding
  // non-ASCII text (with the ASCII character before them, which may take a combining mark) need
  // utf8proc; the rest is copied.
  const std::size_t size = text.size();
  std::size_t i = 0;
  while (i < size) {
    std::size_t non_ascii = i;
    while (non_ascii < size && static_cast<unsigned char>(text[non_ascii]) < 0x80) ++non_ascii;
    if (non_ascii == size) {
      out.append(text.substr(i));
      return;
    }
    const std::size_t stretch_begin = non_ascii > i ? non_ascii - 1 : non_ascii;
    out.append(text.substr(i, stretch_begin - i));
    std::size_t stretch_end = non_ascii;
    while (stretch_end < size && static_cast<unsigned char>(text[stretch_end]) >= 0x80) ++stretch_end;
    append_nfc_with_utf8proc(text.substr(stretch_begin, stretch_end - stretch_begin), out);
    i = stretch_end;
  }
}

void append_utf8_lossy(std::string_view text, std::string& out) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t i = 0;
  while (i < text.size()) {
    const Utf8Step step = utf8_step(bytes + i, text.size() - i);
    if (step.well_formed) {
      out.append(text.substr(i, step.length));
    } else {
      out.append(kReplacement);
    }
    i += step.length;
  }
}

}  // namespace qguard::text
