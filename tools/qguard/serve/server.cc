#include "server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <set>
#include <thread>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "api_error.hpp"
#include "endpoints.hpp"
#include "responses.hpp"

namespace qguard::serve {
namespace {

using Clock = std::chrono::steady_clock;

// When the request being handled on this thread arrived (set before routing, read by the logger).
thread_local std::optional<Clock::time_point> request_start;

void send_error(httplib::Response& response, const ApiError& error) {
  response.status = error.status;
  if (error.status == 429) response.set_header("Retry-After", "1");
  response.set_content(error_body(error), "application/json");
}

// Compares in time independent of where the strings differ.
bool same_secret(std::string_view given, std::string_view expected) {
  unsigned difference = given.size() != expected.size();
  for (std::size_t i = 0; i < expected.size(); ++i) {
    difference |= static_cast<unsigned char>(expected[i]) ^ static_cast<unsigned char>(i < given.size() ? given[i] : 0);
  }
  return difference == 0;
}

void check_api_key(const httplib::Request& request, const std::string& key) {
  if (key.empty()) return;
  const std::string header = request.get_header_value("Authorization");
  const std::string_view prefix = "Bearer ";
  if (header.empty()) {
    throw ApiError(401, "invalid_request_error", "invalid_api_key",
                   "Missing API key: send the header `Authorization: Bearer <key>`");
  }
  if (header.rfind(prefix, 0) != 0 || !same_secret(std::string_view(header).substr(prefix.size()), key)) {
    throw ApiError(401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided");
  }
}

// The body, read only up to `limit` bytes whatever the client announces (chunked or compressed bodies
// included).
std::string read_body(const httplib::Response& response, const httplib::ContentReader& reader, std::size_t limit) {
  std::string body;
  bool too_large = false;
  const bool complete = reader([&](const char* data, std::size_t length) {
    too_large = body.size() + length > limit;
    if (!too_large) body.append(data, length);
    return !too_large;
  });
  if (too_large || response.status == 413) {
    throw ApiError(413, "invalid_request_error", "request_too_large",
                   fmt::format("The request body exceeds {} bytes (--max-body-bytes)", limit));
  }
  if (!complete) throw ApiError::invalid("The request body could not be read");
  return body;
}

int port_of(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(address).sin_port);
  if (address.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(address).sin6_port);
  return -1;
}

// Debian's cpp-httplib listens with a backlog of 5: a burst of new connections overflows it, the
// kernel drops their SYNs and clients retry only after a second. Listening again on the same socket
// raises the backlog (Linux updates it in place); httplib does not expose the socket, so it is found
// among this process's descriptors as the listening one on our port.
void widen_listen_backlog(int port) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    const int fd = std::atoi(entry.path().filename().c_str());
    int listening = 0;
    socklen_t length = sizeof listening;
    sockaddr_storage address{};
    socklen_t address_length = sizeof address;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0 && listening &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&address), &address_length) == 0 && port_of(address) == port) {
      ::listen(fd, SOMAXCONN);
    }
  }
}

const std::set<std::string>& known_endpoints() {
  static const std::set<std::string> endpoints{"/v1/chat/completions", "/v1/moderations", "/v1/models", "/health",
                                               "/metrics"};
  return endpoints;
}

}  // namespace

Server::Server(ServeOptions options)
    : options_(std::move(options)), admission_(options_.max_num_seqs, options_.max_queue), started_(std::time(nullptr)) {
  // A connection thread for every request that may run or wait, and spare ones to answer the rest
  // (429, health, metrics) at once.
  const auto threads = static_cast<std::size_t>(options_.max_num_seqs + options_.max_queue + 16);
  http_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http_.set_payload_max_length(options_.max_body_bytes);
  // Headers and body go out in separate writes; without this, Nagle + delayed ACK add ~40 ms.
  http_.set_tcp_nodelay(true);
  http_.set_pre_routing_handler([](const httplib::Request&, httplib::Response&) {
    request_start = Clock::now();
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http_.set_logger([this](const httplib::Request& request, const httplib::Response& response) {
    log_request(request, response);
  });
  // Statuses httplib sets itself (unknown route, unreadable request) get an OpenAI error body too.
  using HandlerResponse = httplib::Server::HandlerResponse;
  http_.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& response) {
    if (!response.body.empty()) return HandlerResponse::Unhandled;
    const int status = response.status;
    send_error(response, status == 404 ? ApiError(404, "invalid_request_error", "not_found", "No such route")
                                       : ApiError(status, "invalid_request_error", "",
                                                  fmt::format("The request failed with HTTP status {}", status)));
    return HandlerResponse::Handled;
  }));
  http_.set_exception_handler([](const httplib::Request&, httplib::Response& response, std::exception_ptr error) {
    std::string what = "unknown";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(response, ApiError(500, "server_error", "internal_error", "Internal error: " + what));
  });
  add_routes();
}

void Server::add_routes() {
  using httplib::ContentReader, httplib::Request, httplib::Response;
  // POST /v1/*: body (bounded), key, readiness, then the endpoint; every failure an OpenAI error body.
  auto post = [this](const char* path, Endpoints::Reply (Endpoints::*endpoint)(std::string_view) const) {
    http_.Post(path, [this, endpoint](const Request& request, Response& response, const ContentReader& reader) {
      try {
        const std::string body = read_body(response, reader, options_.max_body_bytes);
        check_api_key(request, options_.api_key);
        if (!loaded_.load(std::memory_order_acquire)) {
          throw ApiError(503, "server_error", "model_loading", "The model is still loading; see GET /health");
        }
        const Endpoints endpoints{options_, *classifier_, admission_, metrics_};
        Endpoints::Reply reply = (endpoints.*endpoint)(body);
        response.set_content(std::move(reply.body), reply.content_type.c_str());
      } catch (const ApiError& error) {
        send_error(response, error);
      }
    });
  };
  post("/v1/chat/completions", &Endpoints::chat_completions);
  post("/v1/moderations", &Endpoints::moderations);

  http_.Get("/v1/models", [this](const Request& request, Response& response) {
    try {
      check_api_key(request, options_.api_key);
      response.set_content(model_list(options_.names(), started_), "application/json");
    } catch (const ApiError& error) {
      send_error(response, error);
    }
  });
  http_.Get("/health", [this](const Request&, Response& response) {
    const bool loaded = loaded_.load(std::memory_order_acquire);
    response.status = loaded ? 200 : 503;
    response.set_content(loaded ? "{\"status\": \"ok\"}" : "{\"status\": \"loading\"}", "application/json");
  });
  http_.Get("/metrics", [this](const Request&, Response& response) {
    response.set_content(metrics_.render(admission_.running(), admission_.queued(), loaded_.load()),
                         "text/plain; version=0.0.4");
  });
}

void Server::log_request(const httplib::Request& request, const httplib::Response& response) {
  const double seconds =
      request_start ? std::chrono::duration<double>(Clock::now() - *request_start).count() : 0.0;
  request_start.reset();
  const std::string endpoint = known_endpoints().count(request.path) ? request.path : "other";
  metrics_.observe_request(endpoint, response.status, seconds);
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  // A request httplib could not parse has no method or address.
  fmt::print(stderr, "{:%Y-%m-%dT%H:%M:%SZ} {} \"{} {}\" {} {:.1f} ms\n", utc,
             request.remote_addr.empty() ? "-" : request.remote_addr, request.method.empty() ? "-" : request.method,
             endpoint == "other" ? "(other)" : request.path, response.status, seconds * 1000);
}

void Server::bind() {
  // Port 0 picks a free port (tests); the log line below names it.
  const bool bound = options_.port == 0 ? (options_.port = http_.bind_to_any_port(options_.host)) > 0
                                        : http_.bind_to_port(options_.host, options_.port);
  if (!bound) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("cannot listen on {}:{}", options_.host, options_.port));
  }
  widen_listen_backlog(options_.port);
}

void Server::load() {
  fmt::print(stderr, "qguard serve: loading {}\n", options_.model_dir);
  const auto start = Clock::now();
  classifier_ = std::make_unique<const Classifier>(Classifier::load(options_.model_dir, options_.classifier));
  loaded_.store(true, std::memory_order_release);
  const ModelInfo& info = classifier_->model().info();
  fmt::print(stderr, "qguard serve: loaded in {:.2f} s ({} layers, {} parameters, {} weights, pack cache: {}); ready\n",
             std::chrono::duration<double>(Clock::now() - start).count(), info.num_layers, info.parameters,
             info.weight_format, info.pack_cache);
}

void Server::listen() {
  fmt::print(stderr, "qguard serve: listening on http://{}:{}\n", options_.host, options_.port);
  if (!stop_requested_) http_.listen_after_bind();
  listen_done_ = true;
}

void Server::stop() {
  stop_requested_ = true;
  // httplib's stop() only acts once listening has begun.
  while (!http_.is_running() && !listen_done_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  http_.stop();
}

}  // namespace qguard::serve
