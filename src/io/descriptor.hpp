// A file descriptor closed on every exit path of the scope that opened it.
#pragma once

#include <unistd.h>

namespace qguard::io {

struct DescriptorCloser {
  int fd;
  ~DescriptorCloser() { ::close(fd); }
};

}  // namespace qguard::io
