// One file of one repository, the way huggingface_hub's hf_hub_download fetches it: a HEAD on
// {endpoint}/{repo}/resolve/{revision}/{file} for its commit, etag and size, then the blob (from the
// CDN the HEAD redirected to, for an LFS file), written to blobs/<etag>.incomplete under a lock,
// resumed with a Range request when a previous try was cut, checked (size; sha256 for an LFS file,
// whose etag is its sha256), and only then renamed into place and linked from the snapshot.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "hub/cache.hpp"
#include "hub/http.hpp"
#include "hub/repo.hpp"
#include "hub/settings.hpp"

typedef struct evp_md_ctx_st EVP_MD_CTX;  // OpenSSL's, as <openssl/types.h> declares it

namespace qguard::hub {

struct FileMetadata {
  std::string commit;      // X-Repo-Commit
  std::string etag;        // X-Linked-Etag, else ETag, normalized
  std::uint64_t size = 0;  // X-Linked-Size, else Content-Length
  std::string url;         // where the contents are: the redirect's Location, else the resolve URL
};

class Downloader {
 public:
  Downloader(const Settings& settings, const RepoRef& repo);

  // The metadata of `file` at `revision`; nothing when the Hub says the repository has no such file
  // and `optional`. Throws Error: kAccessDenied (401/403), kNotFound (404: repository, revision or
  // file), kNetworkError (unreachable, 5xx, not a Hub).
  std::optional<FileMetadata> metadata(const std::string& revision, const std::string& file, bool optional) const;

  // Puts `file`'s blob into the cache (unless there) and links it from snapshots/<commit>/.
  void fetch(const std::string& file, const FileMetadata& metadata) const;

  const RepoCache& cache() const { return cache_; }

 private:
  void download_blob(const std::string& file, const FileMetadata& metadata) const;

  const Settings& settings_;
  const RepoRef& repo_;
  RepoCache cache_;
  HttpClient http_;
};

// Appends a download to its .incomplete file, hashing what it writes (SHA-256, for LFS files).
// A failed write is Error(kIoError), a full disk said so.
class BlobWriter {
 public:
  // Opens `path` for appending; with `hash`, the bytes already there are hashed first.
  BlobWriter(const std::filesystem::path& path, bool hash);
  BlobWriter(const BlobWriter&) = delete;
  BlobWriter& operator=(const BlobWriter&) = delete;
  ~BlobWriter();

  void append(const char* data, std::size_t size);
  void restart();  // back to empty (the server ignored a Range request)
  std::uint64_t size() const { return size_; }
  std::string sha256_hex();  // of everything written; ends hashing

 private:
  void reset_hash();
  std::filesystem::path path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  EVP_MD_CTX* hash_ = nullptr;  // when hashing
};

}  // namespace qguard::hub
