// The two requests the Hub protocol needs, over libcurl: HEAD for a file's metadata and a ranged
// GET for its contents. Transport failures (refused, timed out, cut) are Error(kNetworkError);
// HTTP statuses are returned for the caller to interpret.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace qguard::hub {

struct Response {
  long status = 0;
  std::map<std::string, std::string> headers;  // of the last response, names in lowercase
  std::string url;                             // the URL that answered (after redirects)

  // A header's value, or "" when absent.
  std::string header(const std::string& lowercase_name) const;
};

// A download's progress line on stderr, drawn only when `enabled` (stderr is a terminal).
struct Progress {
  bool enabled = false;
  std::string label;         // the file's name
  std::uint64_t total = 0;   // its full size
  std::uint64_t offset = 0;  // bytes already on disk before this request
};

class HttpClient {
 public:
  // `token` is sent as a bearer token, but only to `endpoint`'s origin (never to a CDN).
  HttpClient(std::string endpoint, std::string token);

  // HEAD, following redirects that stay on the endpoint's origin (a renamed repository) but not one
  // to another origin (the CDN holding an LFS file): that response is returned, its Location header
  // the download URL.
  Response head(const std::string& url) const;

  // GET from byte `offset` on (a Range request when offset > 0), following redirects. `on_body`
  // receives the final response's status and each piece of its body; an exception it throws ends
  // the transfer and propagates.
  using BodySink = std::function<void(long status, const char* data, std::size_t size)>;
  Response get(const std::string& url, std::uint64_t offset, const BodySink& on_body, const Progress& progress) const;

 private:
  std::string origin_;
  std::string token_;
};

// The "scheme://host[:port]" part of an absolute URL ("" if `url` has none).
std::string origin_of(const std::string& url);
// `text` with every byte outside RFC 3986's unreserved set percent-encoded (as "/" in a revision).
std::string percent_encode(const std::string& text);

}  // namespace qguard::hub
