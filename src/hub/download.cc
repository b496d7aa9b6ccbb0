#include "hub/download.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "qguard/error.hpp"

namespace qguard::hub {
namespace fs = std::filesystem;
namespace {

constexpr int kDownloadAttempts = 3;  // a cut transfer is resumed this many times before giving up

// Etags name files in blobs/: only what the Hub's (git SHA-1 or SHA-256 hex) can be, never a path.
bool is_safe_etag(const std::string& etag) {
  return !etag.empty() && etag.size() <= 128 &&
         std::all_of(etag.begin(), etag.end(), [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; });
}

std::optional<std::uint64_t> parse_size(const std::string& text) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// A Hub refusal as a typed error whose message says what to do.
[[noreturn]] void throw_hub_error(const Response& response, const Settings& settings, const RepoRef& repo,
                                  const std::string& revision, const std::string& file) {
  const std::string code = response.header("x-error-code");
  const std::string page = fmt::format("{}/{}", settings.endpoint, repo.id);
  const std::string token_advice =
      settings.token.empty()
          ? "no token is set: set HF_TOKEN (or log in with `hf auth login`, which writes $HF_HOME/token) to a token "
            "of an account with access"
          : fmt::format(
                "the token in use (HF_TOKEN or $HF_HOME/token) has no access to it: use one of an account "
                "that has accepted the model's conditions at {}",
                page);
  if (code == "GatedRepo") {
    throw Error(ErrorCode::kAccessDenied, fmt::format("'{}' is gated: accept its conditions at {} while logged in; {}",
                                                      repo.id, page, token_advice));
  }
  if (code == "RepoNotFound") {
    throw Error(
        ErrorCode::kNotFound,
        fmt::format("'{}' is neither a local directory nor a model repository on {}{}", repo.id, settings.endpoint,
                    response.status == 401 ? " (if it is private or gated: " + token_advice + ")" : ""));
  }
  if (code == "RevisionNotFound") {
    throw Error(ErrorCode::kNotFound, fmt::format("'{}' has no revision '{}' (a branch, tag or commit hash) on {}",
                                                  repo.id, revision, settings.endpoint));
  }
  if (response.status == 401 || response.status == 403) {
    throw Error(ErrorCode::kAccessDenied, fmt::format("{} refused access to '{}' (HTTP {}): {}", settings.endpoint,
                                                      repo.id, response.status, token_advice));
  }
  if (response.status == 404) {
    throw Error(ErrorCode::kNotFound,
                fmt::format("'{}' at revision '{}' has no file '{}' on {} (HTTP 404{}): is it a Qwen3Guard-Gen model?",
                            repo.id, revision, file, settings.endpoint, code.empty() ? "" : ", " + code));
  }
  const std::string detail = response.header("x-error-message");
  throw Error(ErrorCode::kNetworkError,
              fmt::format("{} answered HTTP {} for '{}' of '{}'{}; try again later", settings.endpoint, response.status,
                          file, repo.id, detail.empty() ? "" : ": " + detail));
}

}  // namespace

BlobWriter::BlobWriter(const fs::path& path, bool hash) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) throw_write_error(path, errno);
  const off_t end = ::lseek(fd_, 0, SEEK_END);
  size_ = end > 0 ? static_cast<std::uint64_t>(end) : 0;
  if (!hash) return;
  hash_ = EVP_MD_CTX_new();
  if (hash_ == nullptr) throw Error(ErrorCode::kIoError, "OpenSSL could not allocate a SHA-256 context");
  reset_hash();
  // A resumed download: its hash covers the bytes of earlier tries too.
  std::vector<char> buffer(1 << 20);
  for (std::uint64_t done = 0; done < size_;) {
    const ssize_t got = ::pread(fd_, buffer.data(), std::min<std::uint64_t>(buffer.size(), size_ - done), done);
    if (got <= 0) {
      restart();  // unreadable: start over rather than trust it
      return;
    }
    EVP_DigestUpdate(hash_, buffer.data(), static_cast<std::size_t>(got));
    done += static_cast<std::uint64_t>(got);
  }
}

BlobWriter::~BlobWriter() {
  if (hash_ != nullptr) EVP_MD_CTX_free(hash_);
  ::close(fd_);
}

void BlobWriter::reset_hash() {
  if (hash_ != nullptr && EVP_DigestInit_ex(hash_, EVP_sha256(), nullptr) != 1) {
    throw Error(ErrorCode::kIoError, "OpenSSL could not start a SHA-256 digest");
  }
}

void BlobWriter::append(const char* data, std::size_t size) {
  if (hash_ != nullptr) EVP_DigestUpdate(hash_, data, size);
  while (size > 0) {
    const ssize_t written = ::write(fd_, data, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      throw_write_error(path_, errno);
    }
    data += written;
    size -= static_cast<std::size_t>(written);
    size_ += static_cast<std::uint64_t>(written);
  }
}

void BlobWriter::restart() {
  if (::ftruncate(fd_, 0) != 0) throw_write_error(path_, errno);
  size_ = 0;
  reset_hash();
}

std::string BlobWriter::sha256_hex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(hash_, digest, &length);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

Downloader::Downloader(const Settings& settings, const RepoRef& repo)
    : settings_(settings), repo_(repo), cache_(settings.cache, repo.id), http_(settings.endpoint, settings.token) {}

std::optional<FileMetadata> Downloader::metadata(const std::string& revision, const std::string& file,
                                                 bool optional) const {
  const std::string url =
      fmt::format("{}/{}/resolve/{}/{}", settings_.endpoint, repo_.id, percent_encode(revision), file);
  const Response response = http_.head(url);
  const bool redirected = response.status >= 300 && response.status <= 399;
  if (!redirected && response.status != 200) {
    const std::string code = response.header("x-error-code");
    if (optional && response.status == 404 && (code.empty() || code == "EntryNotFound")) return std::nullopt;
    throw_hub_error(response, settings_, repo_, revision, file);
  }
  FileMetadata m;
  m.commit = response.header("x-repo-commit");
  m.etag = normalize_etag(response.header("x-linked-etag"));
  if (m.etag.empty()) m.etag = normalize_etag(response.header("etag"));
  std::optional<std::uint64_t> size = parse_size(response.header("x-linked-size"));
  if (!size) size = parse_size(response.header("content-length"));
  if (!is_commit_hash(m.commit) || !is_safe_etag(m.etag) || !size) {
    throw Error(ErrorCode::kNetworkError,
                fmt::format("{} did not answer as the Hugging Face Hub does (a commit hash in X-Repo-Commit, an "
                            "ETag, a size): a proxy or captive portal may be in the way, or HF_ENDPOINT names "
                            "something else",
                            url));
  }
  m.size = *size;
  const std::string location = response.header("location");
  m.url = redirected ? (location.starts_with("/") ? origin_of(response.url) + location : location) : response.url;
  return m;
}

void Downloader::fetch(const std::string& file, const FileMetadata& metadata) const {
  std::error_code error;
  if (!fs::exists(cache_.blob(metadata.etag), error)) download_blob(file, metadata);
  cache_.link(metadata.commit, file, metadata.etag);
}

void Downloader::download_blob(const std::string& file, const FileMetadata& m) const {
  const FileLock lock(cache_.lock_file(m.etag));
  const fs::path blob = cache_.blob(m.etag);
  std::error_code error;
  if (fs::exists(blob, error)) return;  // another process finished it while we waited
  make_directories(blob.parent_path());
  const fs::path part = cache_.incomplete(m.etag);
  const bool lfs = is_sha256(m.etag);
  for (int attempt = 1;; ++attempt) {
    BlobWriter writer(part, lfs);
    if (writer.size() > m.size) writer.restart();
    const std::uint64_t offset = writer.size();
    const Progress progress{settings_.progress && ::isatty(STDERR_FILENO) == 1, file, m.size, offset};
    try {
      bool range_ignored = false;
      const auto on_body = [&](long status, const char* data, std::size_t size) {
        if (status != 200 && status != 206) return;  // an error page, not the file
        if (status == 200 && offset > 0 && !range_ignored) {
          writer.restart();
          range_ignored = true;
        }
        if (writer.size() + size > m.size) {
          throw Error(ErrorCode::kCorruptFile, fmt::format("{} sends more than the {} bytes the Hub announced for "
                                                           "'{}': refused",
                                                           m.url, m.size, file));
        }
        writer.append(data, size);
      };
      if (offset < m.size) {
        const Response response = http_.get(m.url, offset, on_body, progress);
        if (response.status == 416) writer.restart();  // our partial file is not a prefix any more
        if (response.status != 200 && response.status != 206 && response.status != 416) {
          throw_hub_error(response, settings_, repo_, m.commit, file);
        }
      }
      if (writer.size() != m.size) {
        throw Error(ErrorCode::kNetworkError,
                    fmt::format("the download of '{}' ended after {} of {} bytes", file, writer.size(), m.size));
      }
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kNetworkError) throw;
      if (attempt == kDownloadAttempts) {
        throw Error(ErrorCode::kNetworkError,
                    fmt::format("{} (the {} bytes received are kept in {}; running again resumes there)", e.what(),
                                writer.size(), part.string()));
      }
      std::this_thread::sleep_for(std::chrono::seconds(attempt));
      continue;
    }
    if (lfs && writer.sha256_hex() != m.etag) {
      remove_quietly(part);
      throw Error(ErrorCode::kCorruptFile,
                  fmt::format("'{}' from {} does not match its SHA-256 {} and was discarded (nothing was cached); "
                              "run again, and if it repeats, something between here and the Hub alters downloads",
                              file, m.url, m.etag));
    }
    fs::rename(part, blob, error);
    if (error) throw_write_error(blob, error.value());
    return;
  }
}

}  // namespace qguard::hub
