// Expected pieces are worked out by hand from the regex in pre_split.hpp (JavaScript semantics).
#include "text/pre_split.hpp"

#include <string>
#include <vector>

#include <doctest/doctest.h>

namespace {
std::vector<std::string> split(std::string_view text) {
  std::vector<std::string> pieces;
  qguard::text::PieceScanner scanner(text);
  for (auto piece = scanner.next(); !piece.empty(); piece = scanner.next()) pieces.emplace_back(piece);
  return pieces;
}
using Pieces = std::vector<std::string>;
}  // namespace

TEST_CASE("words take one leading non-letter, numbers split into single digits") {
  CHECK(split("Hello world") == Pieces{"Hello", " world"});
  CHECK(split("abc123def") == Pieces{"abc", "1", "2", "3", "def"});
  CHECK(split("$price") == Pieces{"$price"});
  CHECK(split("\xC2\xA0word") == Pieces{"\xC2\xA0word"});              // NBSP joins the word
  CHECK(split("\n\nword") == Pieces{"\n\n", "word"});                  // newlines never join a word
  CHECK(split("x\xD9\xA3\xD9\xA4") == Pieces{"x", "\xD9\xA3", "\xD9\xA4"});
}

TEST_CASE("contractions match in ASCII case only, and before the word alternative") {
  CHECK(split("I'm") == Pieces{"I", "'m"});
  CHECK(split("THEY'LL") == Pieces{"THEY", "'LL"});
  CHECK(split("we'Re") == Pieces{"we", "'Re"});
  CHECK(split("'sx") == Pieces{"'s", "x"});
  CHECK(split("'hello") == Pieces{"'hello"});
  CHECK(split("'r") == Pieces{"'r"});
  CHECK(split("'\xC5\xBFx") == Pieces{"'\xC5\xBFx"});                   // U+017F LONG S is not 's'
  CHECK(split("it\xE2\x80\x99s") == Pieces{"it", "\xE2\x80\x99s"});      // a typographic apostrophe is punctuation
}

TEST_CASE("punctuation runs take one leading space and trailing newlines") {
  CHECK(split("a !!\r\n\nb") == Pieces{"a", " !!\r\n\n", "b"});
  CHECK(split("x\t!") == Pieces{"x", "\t", "!"});                       // only U+0020 may lead punctuation
  CHECK(split("...") == Pieces{"..."});
  CHECK(split("\xC2\x85\xC2\x85" "a") == Pieces{"\xC2\x85\xC2\x85", "a"});  // U+0085 is punctuation here
}

TEST_CASE("white space: through the last newline, else all but the last character") {
  CHECK(split("a  \n\n b") == Pieces{"a", "  \n\n", " b"});
  CHECK(split("a \n x \n") == Pieces{"a", " \n", " x", " \n"});
  CHECK(split("  hello") == Pieces{" ", " hello"});
  CHECK(split("x \t ") == Pieces{"x", " \t "});                         // at the end the whole run
  CHECK(split("x   7") == Pieces{"x", "  ", " ", "7"});
  CHECK(split(" ") == Pieces{" "});
  CHECK(split("a\r\rb") == Pieces{"a", "\r\r", "b"});
  CHECK(split("\xEF\xBB\xBF\xEF\xBB\xBF" "a") == Pieces{"\xEF\xBB\xBF", "\xEF\xBB\xBF" "a"});  // U+FEFF is \s
  CHECK(split("a\xE3\x80\x80\xE3\x80\x80!") == Pieces{"a", "\xE3\x80\x80", "\xE3\x80\x80", "!"});
}

TEST_CASE("pieces cover the text exactly, also on long runs") {
  const std::string spaces(100000, ' ');
  CHECK(split(spaces + "x") == Pieces{std::string(99999, ' '), " x"});
  const std::string text = "word " + std::string(5000, '\n') + std::string(300, 'z');
  std::string joined;
  for (const auto& piece : split(text)) joined += piece;
  CHECK(joined == text);
  CHECK(split("").empty());
}
