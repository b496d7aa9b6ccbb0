#include "text/unicode.hpp"

#include <string>

#include <doctest/doctest.h>

using namespace qguard::text;

namespace {
std::string nfc(std::string_view text) {
  std::string out;
  append_nfc(text, out);
  return out;
}
std::string lossy(std::string_view bytes) {
  std::string out;
  append_utf8_lossy(bytes, out);
  return out;
}
constexpr std::size_t kValid = std::string_view::npos;
}  // namespace

TEST_CASE("find_invalid_utf8 accepts well-formed UTF-8 and names the first bad byte") {
  CHECK(find_invalid_utf8("") == kValid);
  CHECK(find_invalid_utf8("plain ASCII text that is longer than eight bytes") == kValid);
  CHECK(find_invalid_utf8("caf\xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF") == kValid);  // é 中 😀 U+10FFFF
  CHECK(find_invalid_utf8("\x80") == 0);                                    // lone continuation byte
  CHECK(find_invalid_utf8("ab\xC0\x80") == 2);                              // overlong NUL
  CHECK(find_invalid_utf8("abc\xE0\x80\x80") == 3);                         // overlong 3-byte form
  CHECK(find_invalid_utf8("ab\xED\xA0\x80") == 2);                          // surrogate U+D800
  CHECK(find_invalid_utf8("\xF4\x90\x80\x80") == 0);                        // U+110000
  CHECK(find_invalid_utf8("\xF5\x80\x80\x80") == 0);                        // lead byte never valid
  CHECK(find_invalid_utf8("0123456789abcdef\xE2\x82") == 16);               // truncated at the end
  CHECK(find_invalid_utf8("0123456789abcdefghij\xFF rest") == 20);          // after the ASCII fast path
  CHECK(find_invalid_utf8("\xC3\xA9\xC3") == 2);
}

TEST_CASE("append_utf8_lossy replaces each maximal ill-formed subpart with one U+FFFD") {
  const std::string fffd = "\xEF\xBF\xBD";
  CHECK(lossy("ok \xC3\xA9") == "ok \xC3\xA9");
  CHECK(lossy("a\xE2\x82" "b") == "a" + fffd + "b");           // E2 82 is one truncated sequence
  CHECK(lossy("\xF0\x80\x80") == fffd + fffd + fffd);          // F0 80: 80 is not a valid second byte
  CHECK(lossy("\xC0\xAF") == fffd + fffd);                     // C0 can never start a sequence
  CHECK(lossy("\xED\xA0\x80x") == fffd + fffd + fffd + "x");   // surrogates are three errors
  CHECK(lossy("\xF0\x9F\x98") == fffd);                        // truncated 4-byte sequence at the end
}

TEST_CASE("append_nfc composes, reorders and leaves ASCII alone") {
  CHECK(nfc("plain ascii\r\n") == "plain ascii\r\n");
  CHECK(nfc("e\xCC\x81") == "\xC3\xA9");                         // e + U+0301 -> é
  CHECK(nfc("A\xCC\x8A") == "\xC3\x85");                         // A + ring -> Å
  CHECK(nfc("\xE2\x84\xAB") == "\xC3\x85");                      // ANGSTROM SIGN -> Å (singleton)
  CHECK(nfc("\xE1\x84\x80\xE1\x85\xA1") == "\xEA\xB0\x80");      // Hangul L + V -> 가
  // q + dot below (ccc 220) + dot above (ccc 230) stays; the reverse order is reordered.
  CHECK(nfc("q\xCC\x87\xCC\xA3") == "q\xCC\xA3\xCC\x87");
  CHECK(nfc("Cafe\xCC\x81 na\xC3\xAFve") == "Caf\xC3\xA9 na\xC3\xAFve");
  CHECK(nfc("\xCC\x81" "abc") == "\xCC\x81" "abc");              // a leading combining mark has no base
}

TEST_CASE("decode_char classifies like ECMAScript's \\s, \\p{L} and \\p{N}") {
  const auto class_of = [](std::string_view c) { return decode_char(c, 0).char_class; };
  CHECK(class_of("a") == CharClass::kLetter);
  CHECK(class_of("\xE4\xB8\xAD") == CharClass::kLetter);          // 中 Lo
  CHECK(class_of("\xCA\xB0") == CharClass::kLetter);              // ʰ Lm
  CHECK(class_of("7") == CharClass::kNumber);
  CHECK(class_of("\xD9\xA3") == CharClass::kNumber);              // Arabic-Indic three, Nd
  CHECK(class_of("\xE2\x85\xA3") == CharClass::kNumber);          // Ⅳ, Nl
  CHECK(class_of("\xC2\xBD") == CharClass::kNumber);              // ½, No
  CHECK(class_of("\n") == CharClass::kNewline);
  CHECK(class_of("\r") == CharClass::kNewline);
  CHECK(class_of("\v") == CharClass::kSpace);
  CHECK(class_of("\xC2\xA0") == CharClass::kSpace);               // NBSP
  CHECK(class_of("\xE3\x80\x80") == CharClass::kSpace);           // ideographic space
  CHECK(class_of("\xEF\xBB\xBF") == CharClass::kSpace);           // U+FEFF is \s in JavaScript
  CHECK(class_of("\xE2\x80\xA8") == CharClass::kSpace);           // LINE SEPARATOR
  CHECK(class_of("\xC2\x85") == CharClass::kOther);               // U+0085 is not \s in JavaScript
  CHECK(class_of("\xE2\x80\x8B") == CharClass::kOther);           // ZERO WIDTH SPACE is Cf
  CHECK(class_of("\xCC\x81") == CharClass::kOther);               // combining acute, Mn
  CHECK(class_of("\xF0\x9F\x98\x80") == CharClass::kOther);       // 😀
  const DecodedChar emoji = decode_char("x\xF0\x9F\x98\x80", 1);
  CHECK(emoji.code_point == 0x1F600);
  CHECK(emoji.length == 4);
}
