#include "hub/http.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>

#include <fmt/format.h>

#include "qguard/error.hpp"
#include "qguard/version.hpp"

namespace qguard::hub {
namespace {

constexpr int kMaxRedirects = 10;
constexpr long kConnectTimeoutSeconds = 10;
constexpr long kHeadTimeoutSeconds = 30;
// A transfer slower than 1 byte/s for this long is abandoned (and resumed by the caller), never waited on forever.
constexpr long kStallSeconds = 60;

struct CurlDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct ListDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using CurlHandle = std::unique_ptr<CURL, CurlDeleter>;
using HeaderList = std::unique_ptr<curl_slist, ListDeleter>;

// What a transfer's callbacks see.
struct Transfer {
  Response response;
  const HttpClient::BodySink* on_body = nullptr;
  std::exception_ptr failure;  // thrown by on_body, rethrown after curl returns
  const Progress* progress = nullptr;
  std::chrono::steady_clock::time_point last_drawn{};
  std::uint64_t last_done = 0;  // bytes shown by the last line drawn
  bool drawn = false;

  // Ends the progress line, however the transfer ends.
  ~Transfer() {
    if (drawn) std::fputc('\n', stderr);
  }
};

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  std::string line(data, size * count);
  // Each response of a redirect chain starts with its status line: keep only the last one's headers.
  if (line.starts_with("HTTP/")) {
    transfer->response.headers.clear();
    const std::size_t space = line.find(' ');
    transfer->response.status = space == std::string::npos ? 0 : std::strtol(line.c_str() + space + 1, nullptr, 10);
    return line.size();
  }
  const std::size_t colon = line.find(':');
  if (colon == std::string::npos) return line.size();
  std::string name = line.substr(0, colon);
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  std::string value = line.substr(colon + 1);
  const auto is_space = [](unsigned char c) { return std::isspace(c) != 0; };
  value.erase(value.begin(), std::find_if_not(value.begin(), value.end(), is_space));
  value.erase(std::find_if_not(value.rbegin(), value.rend(), is_space).base(), value.end());
  transfer->response.headers[name] = value;
  return line.size();
}

std::size_t on_data(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  try {
    (*transfer->on_body)(transfer->response.status, data, size * count);
  } catch (...) {
    transfer->failure = std::current_exception();
    return 0;  // aborts the transfer
  }
  return size * count;
}

int on_progress(void* user, curl_off_t /*download_total*/, curl_off_t downloaded, curl_off_t, curl_off_t) {
  auto* transfer = static_cast<Transfer*>(user);
  const Progress& p = *transfer->progress;
  const auto now = std::chrono::steady_clock::now();
  const std::uint64_t done = p.offset + static_cast<std::uint64_t>(downloaded);
  const bool finished = done >= p.total;
  if (done == transfer->last_done || (now - transfer->last_drawn < std::chrono::milliseconds(200) && !finished)) {
    return 0;
  }
  transfer->last_drawn = now;
  transfer->last_done = done;
  transfer->drawn = true;
  const double mib = 1024.0 * 1024.0;
  std::fprintf(stderr, "\r%s: %5.1f%% of %.1f MiB", p.label.c_str(), p.total ? 100.0 * done / p.total : 100.0,
               p.total / mib);
  std::fflush(stderr);
  return 0;
}

void initialize_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string user_agent() { return std::string("qguard/") + QGUARD_VERSION_STRING; }

}  // namespace

std::string Response::header(const std::string& lowercase_name) const {
  const auto found = headers.find(lowercase_name);
  return found == headers.end() ? "" : found->second;
}

std::string origin_of(const std::string& url) {
  const std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return "";
  return url.substr(0, url.find('/', scheme_end + 3));
}

std::string percent_encode(const std::string& text) {
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

HttpClient::HttpClient(std::string endpoint, std::string token)
    : origin_(origin_of(endpoint)), token_(std::move(token)) {
  initialize_curl_once();
}

namespace {

// A handle with the settings every request shares; `headers` must outlive the transfer.
CurlHandle new_handle(const std::string& url, Transfer& transfer, HeaderList& headers, const std::string& origin,
                      const std::string& token) {
  CurlHandle curl(curl_easy_init());
  if (!curl) throw Error(ErrorCode::kNetworkError, "libcurl could not start a transfer (out of memory?)");
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, kConnectTimeoutSeconds);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, kStallSeconds);
  curl_easy_setopt(c, CURLOPT_USERAGENT, user_agent().c_str());
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &transfer);
  // Sizes and etags describe the stored bytes: no transparent compression.
  headers.reset(curl_slist_append(headers.release(), "Accept-Encoding: identity"));
  if (!token.empty() && origin_of(url) == origin) {
    headers.reset(curl_slist_append(headers.release(), ("Authorization: Bearer " + token).c_str()));
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  return curl;
}

// Runs the transfer; a transport failure is Error(kNetworkError) naming the URL.
void perform(CURL* curl, Transfer& transfer, const std::string& url) {
  const CURLcode code = curl_easy_perform(curl);
  if (transfer.failure) std::rethrow_exception(transfer.failure);
  if (code != CURLE_OK) {
    throw Error(ErrorCode::kNetworkError,
                fmt::format("cannot download {}: {} (check the network connection; HF_ENDPOINT selects another "
                            "Hub or mirror, and HF_HUB_OFFLINE=1 uses only what is already cached)",
                            url, curl_easy_strerror(code)));
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &transfer.response.status);
  char* effective = nullptr;
  curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &effective);
  transfer.response.url = effective ? effective : url;
}

}  // namespace

Response HttpClient::head(const std::string& url) const {
  std::string current = url;
  for (int redirects = 0;; ++redirects) {
    Transfer transfer;
    HeaderList headers;
    CurlHandle curl = new_handle(current, transfer, headers, origin_, token_);
    curl_easy_setopt(curl.get(), CURLOPT_NOBODY, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, kHeadTimeoutSeconds);
    perform(curl.get(), transfer, current);
    const long status = transfer.response.status;
    const std::string location = transfer.response.header("location");
    if (status < 300 || status > 399 || location.empty()) return transfer.response;
    const std::string next = location.starts_with("/") ? origin_of(current) + location : location;
    if (origin_of(next) != origin_of(current)) return transfer.response;  // to a CDN: the caller's download URL
    if (redirects == kMaxRedirects) {
      throw Error(ErrorCode::kNetworkError, fmt::format("{} redirects more than {} times", url, kMaxRedirects));
    }
    current = next;
  }
}

Response HttpClient::get(const std::string& url, std::uint64_t offset, const BodySink& on_body,
                         const Progress& progress) const {
  Transfer transfer;
  transfer.on_body = &on_body;
  transfer.progress = &progress;
  HeaderList headers;
  CurlHandle curl = new_handle(url, transfer, headers, origin_, token_);
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, static_cast<long>(kMaxRedirects));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);
  if (offset > 0) curl_easy_setopt(c, CURLOPT_RANGE, fmt::format("{}-", offset).c_str());
  if (progress.enabled) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &transfer);
  }
  perform(c, transfer, url);
  return transfer.response;
}

}  // namespace qguard::hub
