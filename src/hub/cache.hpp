// One repository's folder in huggingface_hub's cache, laid out exactly as huggingface_hub lays it:
//
//   <cache>/models--ORG--NAME/blobs/<etag>                  file contents, named by their etag
//                            /snapshots/<commit>/<file>     -> ../../blobs/<etag> (relative symlink)
//                            /refs/<revision>               the commit a branch or tag pointed to
//                            /.no_exist/<commit>/<file>     empty: the Hub said this file does not exist
//   <cache>/.locks/models--ORG--NAME/<etag>.lock            held while that blob is being downloaded
//
// A blob appears only complete and verified (renamed from <etag>.incomplete); every write failure is
// Error(kIoError) naming the path.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace qguard::hub {

class RepoCache {
 public:
  RepoCache(const std::filesystem::path& cache_root, const std::string& repo_id);

  const std::filesystem::path& folder() const { return folder_; }
  std::filesystem::path blob(const std::string& etag) const { return folder_ / "blobs" / etag; }
  std::filesystem::path incomplete(const std::string& etag) const { return blob(etag).string() + ".incomplete"; }
  std::filesystem::path lock_file(const std::string& etag) const { return locks_ / (etag + ".lock"); }
  std::filesystem::path snapshot(const std::string& commit) const { return folder_ / "snapshots" / commit; }

  // The commit `revision` names: itself when it is a commit hash, else what refs/<revision> records.
  std::optional<std::string> commit_of(const std::string& revision) const;
  void write_ref(const std::string& revision, const std::string& commit) const;  // no-op for a commit hash

  // Makes snapshots/<commit>/<file> point at blobs/<etag>.
  void link(const std::string& commit, const std::string& file, const std::string& etag) const;
  void mark_missing(const std::string& commit, const std::string& file) const;
  bool known_missing(const std::string& commit, const std::string& file) const;

 private:
  std::filesystem::path folder_;
  std::filesystem::path locks_;
};

// Creates `dir` and its parents; Error(kIoError) if that fails.
void make_directories(const std::filesystem::path& dir);
// Replaces `path` with `text` atomically (a temporary file renamed over it).
void write_file_atomically(const std::filesystem::path& path, const std::string& text);
// Removes `path` if it exists; a failure only leaves it behind.
void remove_quietly(const std::filesystem::path& path);
// Error(kIoError) for a failed write to `path`, with the remedy for a full disk.
[[noreturn]] void throw_write_error(const std::filesystem::path& path, int error_number);

// An exclusive flock() on a lock file, as huggingface_hub's filelock takes, so a qguard process and
// a Python process downloading the same blob wait for each other.
class FileLock {
 public:
  explicit FileLock(const std::filesystem::path& path);
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  int fd_ = -1;
};

}  // namespace qguard::hub
