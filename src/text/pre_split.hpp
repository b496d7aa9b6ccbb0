// Qwen3's pre-tokenizer: splits normalized text into the pieces that BPE then encodes separately.
// The pieces are the matches of this regex (tokenizer.json, Split with behavior Isolated):
//
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// with the semantics of the reference (transformers.js, a JavaScript RegExp with flag u): \s, \p{L}
// and \p{N} as ECMAScript defines them, and the case-insensitive group rewritten to ASCII classes
// ('[sS]', '[rR][eE]', ...), so U+017F LONG S does not make a contraction. The scanner below
// implements that regex by hand: it decides each alternative with at most two characters of
// lookahead plus one pass over a white-space run, so splitting is linear in the text's length.
#pragma once

#include <cstddef>
#include <string_view>

#include "text/unicode.hpp"

namespace qguard::text {

class PieceScanner {
 public:
  // `text` must be valid UTF-8 and outlive the scanner.
  explicit PieceScanner(std::string_view text) : text_(text) {}

  // The next piece, or an empty view once the text is used up. Pieces are never empty, are
  // contiguous, and cover the whole text.
  std::string_view next();

 private:
  std::size_t match_end(std::size_t start) const;
  std::size_t contraction_end(std::size_t after_apostrophe) const;
  std::size_t run_end(std::size_t from, CharClass char_class) const;

  std::string_view text_;
  std::size_t position_ = 0;
};

}  // namespace qguard::text
