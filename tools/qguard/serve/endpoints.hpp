// The work behind POST /v1/chat/completions and /v1/moderations: parse, check the model name, wait
// for a slot in the Admission, moderate, answer. HTTP details (body limits, keys, logs) are server.cc's.
// Failures are ApiError.
#pragma once

#include <string>
#include <string_view>

#include "admission.hpp"
#include "metrics.hpp"
#include "qguard/classifier.hpp"
#include "serve_options.hpp"

namespace qguard::serve {

struct Endpoints {
  const ServeOptions& options;
  const Classifier& classifier;
  Admission& admission;
  Metrics& metrics;

  struct Reply {
    std::string body;
    std::string content_type;
  };

  Reply chat_completions(std::string_view body) const;
  Reply moderations(std::string_view body) const;
};

}  // namespace qguard::serve
