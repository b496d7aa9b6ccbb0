#include "io/mapped_file.hpp"

#include <cerrno>
#include <string_view>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "io/descriptor.hpp"
#include "qguard/error.hpp"

namespace qguard::io {
namespace {

[[noreturn]] void throw_system_error(std::string_view action, const std::filesystem::path& path, int err) {
  throw Error(ErrorCode::kNotFound, fmt::format("cannot {} '{}': {}", action, path.string(),
                                                std::generic_category().message(err)));
}

}  // namespace

MappedFile MappedFile::open(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_system_error("open", path, errno);
  const DescriptorCloser closer{fd};  // a mapping stays valid after its descriptor is closed

  struct stat info {};
  if (::fstat(fd, &info) != 0) throw_system_error("inspect", path, errno);
  if (!S_ISREG(info.st_mode)) {
    throw Error(ErrorCode::kNotFound, fmt::format("cannot map '{}': it is not a regular file", path.string()));
  }

  MappedFile file;
  file.path_ = path;
  // mmap rejects a zero length, and an empty file has nothing to map anyway.
  if (info.st_size == 0) return file;

  const auto size = static_cast<std::size_t>(info.st_size);
  void* address = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (address == MAP_FAILED) throw_system_error("map", path, errno);
  file.data_ = static_cast<const std::byte*>(address);
  file.size_ = size;
  return file;
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      path_(std::move(other.path_)) {}

// Swapping hands our old mapping to `other`, whose destructor unmaps it.
MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  std::swap(data_, other.data_);
  std::swap(size_, other.size_);
  path_.swap(other.path_);
  return *this;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
}

}  // namespace qguard::io
