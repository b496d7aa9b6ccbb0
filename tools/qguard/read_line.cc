#include "read_line.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace qguard::cli {

bool read_line(std::FILE* in, std::size_t limit, std::string& line, bool& too_long) {
  line.clear();
  too_long = false;
  int c = EOF;
  bool any = false;
  while ((c = getc_unlocked(in)) != EOF && c != '\n') {
    any = true;
    if (line.size() < limit) {
      line.push_back(static_cast<char>(c));
    } else {
      too_long = true;
    }
  }
  if (std::ferror(in)) throw std::runtime_error(fmt::format("cannot read stdin: {}", std::strerror(errno)));
  return any || c == '\n';
}

}  // namespace qguard::cli
