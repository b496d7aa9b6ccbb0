// Line-at-a-time stdin for the commands that answer JSON lines (classify, tokenize, detokenize):
// memory stays bounded whatever the input holds.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>

namespace qguard::cli {

// Reads the next line of `in` without its '\n' into `line`, keeping at most `limit` bytes: a longer
// line is consumed to its end, never held whole, and `too_long` is set. Returns false at the end of
// the input; throws std::runtime_error when reading fails.
bool read_line(std::FILE* in, std::size_t limit, std::string& line, bool& too_long);

}  // namespace qguard::cli
