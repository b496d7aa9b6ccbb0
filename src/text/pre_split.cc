#include "text/pre_split.hpp"

namespace qguard::text {
namespace {

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool is_white_space(CharClass c) { return c == CharClass::kSpace || c == CharClass::kNewline; }

}  // namespace

std::string_view PieceScanner::next() {
  if (position_ >= text_.size()) return {};
  const std::size_t start = position_;
  position_ = match_end(start);
  return text_.substr(start, position_ - start);
}

// Length after the apostrophe of a contraction: s, t, m, d, re, ve, ll in any ASCII case; 0 if none.
std::size_t PieceScanner::contraction_end(std::size_t after) const {
  const auto lower_at = [&](std::size_t i) { return i < text_.size() ? ascii_lower(text_[i]) : '\0'; };
  const char first = lower_at(after);
  if (first == 's' || first == 't' || first == 'm' || first == 'd') return after + 1;
  const char second = lower_at(after + 1);
  if ((first == 'r' && second == 'e') || (first == 'v' && second == 'e') || (first == 'l' && second == 'l')) {
    return after + 2;
  }
  return 0;
}

// End of the run of characters of class `char_class` starting at `from`.
std::size_t PieceScanner::run_end(std::size_t from, CharClass char_class) const {
  while (from < text_.size()) {
    const DecodedChar c = decode_char(text_, from);
    if (c.char_class != char_class) break;
    from += c.length;
  }
  return from;
}

std::size_t PieceScanner::match_end(std::size_t start) const {
  const std::size_t size = text_.size();
  const DecodedChar first = decode_char(text_, start);
  const std::size_t after = start + first.length;
  const CharClass next = after < size ? decode_char(text_, after).char_class : CharClass::kOther;
  const bool has_next = after < size;

  // (?i:'s|'t|'re|'ve|'m|'ll|'d)
  if (first.code_point == '\'') {
    if (const std::size_t end = contraction_end(after)) return end;
  }
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (first.char_class == CharClass::kLetter) return run_end(after, CharClass::kLetter);
  if (first.char_class != CharClass::kNewline && first.char_class != CharClass::kNumber && has_next &&
      next == CharClass::kLetter) {
    return run_end(after, CharClass::kLetter);
  }
  // \p{N}
  if (first.char_class == CharClass::kNumber) return after;
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  if (first.char_class == CharClass::kOther || (first.code_point == ' ' && has_next && next == CharClass::kOther)) {
    const std::size_t other_begin = first.char_class == CharClass::kOther ? start : after;
    return run_end(run_end(other_begin, CharClass::kOther), CharClass::kNewline);
  }
  // Only white space is left. Walk its run once, noting where its last newline ends and where its
  // last character starts.
  std::size_t end = start;
  std::size_t last_char = start;
  std::size_t after_last_newline = 0;
  while (end < size) {
    const DecodedChar c = decode_char(text_, end);
    if (!is_white_space(c.char_class)) break;
    last_char = end;
    end += c.length;
    if (c.char_class == CharClass::kNewline) after_last_newline = end;
  }
  // \s*[\r\n]+ : backtracking stops at the run's last newline.
  if (after_last_newline != 0) return after_last_newline;
  // \s+(?!\S) : the whole run at the end of the text, else the run less its last character ...
  if (end == size) return end;
  if (last_char > start) return last_char;
  // \s+ : ... unless that would leave nothing.
  return end;
}

}  // namespace qguard::text
