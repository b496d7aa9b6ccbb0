#include "hub/cache.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "hub/repo.hpp"
#include "qguard/error.hpp"

namespace qguard::hub {
namespace fs = std::filesystem;
namespace {

std::string folder_name(const std::string& repo_id) {
  std::string name = "models--" + repo_id;
  const std::size_t slash = name.find('/');
  return name.replace(slash, 1, "--");
}

// A name for a temporary sibling of `path` that no other process or thread picks.
fs::path temporary_sibling(const fs::path& path) {
  static std::atomic<unsigned> counter{0};
  return path.string() + fmt::format(".tmp.{}.{}", getpid(), counter++);
}

}  // namespace

void remove_quietly(const fs::path& path) {
  std::error_code ignored;
  fs::remove(path, ignored);
}

[[noreturn]] void throw_write_error(const fs::path& path, int error_number) {
  const std::string remedy = error_number == ENOSPC || error_number == EDQUOT
                                 ? "the disk is full: free space, or set HF_HUB_CACHE to a directory on a larger disk"
                                 : "set HF_HUB_CACHE (or HF_HOME) to a directory this process may write";
  throw Error(ErrorCode::kIoError,
              fmt::format("cannot write '{}': {}; {}", path.string(), std::strerror(error_number), remedy));
}

void make_directories(const fs::path& dir) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) throw_write_error(dir, error.value());
}

void write_file_atomically(const fs::path& path, const std::string& text) {
  make_directories(path.parent_path());
  const fs::path temporary = temporary_sibling(path);
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      const int error_number = errno;
      remove_quietly(temporary);
      throw_write_error(temporary, error_number != 0 ? error_number : EIO);
    }
  }
  std::error_code error;
  fs::rename(temporary, path, error);
  if (error) throw_write_error(path, error.value());
}

RepoCache::RepoCache(const fs::path& cache_root, const std::string& repo_id)
    : folder_(cache_root / folder_name(repo_id)), locks_(cache_root / ".locks" / folder_name(repo_id)) {}

std::optional<std::string> RepoCache::commit_of(const std::string& revision) const {
  if (is_commit_hash(revision)) return revision;
  std::ifstream in(folder_ / "refs" / revision);
  std::string commit;
  if (!(in >> commit) || !is_commit_hash(commit)) return std::nullopt;
  return commit;
}

void RepoCache::write_ref(const std::string& revision, const std::string& commit) const {
  if (revision == commit || commit_of(revision) == commit) return;
  write_file_atomically(folder_ / "refs" / revision, commit);
}

void RepoCache::link(const std::string& commit, const std::string& file, const std::string& etag) const {
  const fs::path pointer = snapshot(commit) / file;
  make_directories(pointer.parent_path());
  // Relative, as huggingface_hub makes them, so the cache may move.
  const fs::path target = fs::path("..") / ".." / "blobs" / etag;
  const fs::path temporary = temporary_sibling(pointer);
  std::error_code error;
  fs::create_symlink(target, temporary, error);
  if (!error) fs::rename(temporary, pointer, error);
  if (error) {
    remove_quietly(temporary);
    throw_write_error(pointer, error.value());
  }
}

void RepoCache::mark_missing(const std::string& commit, const std::string& file) const {
  write_file_atomically(folder_ / ".no_exist" / commit / file, "");
}

bool RepoCache::known_missing(const std::string& commit, const std::string& file) const {
  std::error_code error;
  return fs::exists(folder_ / ".no_exist" / commit / file, error);
}

FileLock::FileLock(const fs::path& path) {
  make_directories(path.parent_path());
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw_write_error(path, errno);
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno != EINTR) {
      const int error_number = errno;
      ::close(fd_);
      throw_write_error(path, error_number);
    }
  }
}

FileLock::~FileLock() {
  ::flock(fd_, LOCK_UN);
  ::close(fd_);
}

}  // namespace qguard::hub
