// `qguard serve`'s HTTP side: httplib's thread pool takes connections; /v1/* requests are checked
// (body size, API key, readiness) and handed to the Endpoints; every request gets an access-log line
// and is counted in the Metrics. The server listens before the model is loaded: /health says 503
// until load() has finished.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include <httplib.h>

#include "admission.hpp"
#include "metrics.hpp"
#include "qguard/classifier.hpp"
#include "serve_options.hpp"

namespace qguard::serve {

class Server {
 public:
  explicit Server(ServeOptions options);

  // Binds host:port (port 0: any free port); throws Error(kInvalidArgument) if that fails.
  void bind();
  // Loads the Classifier (call from a thread of its own while listen() runs). Throws qguard::Error.
  void load();
  // Serves until stop(); returns once the requests already accepted are answered.
  void listen();
  // Stops accepting; safe from any thread, also before listen() has started.
  void stop();

 private:
  void add_routes();
  void log_request(const httplib::Request& request, const httplib::Response& response);

  ServeOptions options_;
  httplib::Server http_;
  Admission admission_;
  Metrics metrics_;
  std::unique_ptr<const Classifier> classifier_;
  std::atomic<bool> loaded_{false};
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> listen_done_{false};
  std::int64_t started_;  // unix time, the models' "created"
};

}  // namespace qguard::serve
