// Everything `qguard serve` is configured with (flags in cmd_serve.cc, meanings in docs/server.md).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "qguard/classifier.hpp"
#include "qguard/verdict.hpp"

namespace qguard::serve {

struct ServeOptions {
  std::string model_dir;
  std::string host = "127.0.0.1";
  int port = 8000;
  std::vector<std::string> served_model_names;  // empty: the model directory as given
  std::string api_key;                          // empty: no key required
  Classifier::Options classifier;
  int max_num_seqs = 1;   // moderations running at once; each uses classifier.threads
  int max_queue = 32;     // requests waiting for a slot; beyond that, 429
  std::size_t max_body_bytes = 8u << 20;
  std::size_t max_moderation_inputs = 64;
  double request_timeout_seconds = 0;  // longest wait for a slot; 0 = no deadline
  Policy policy = Policy::kStrict;

  // The names requests may use in "model"; the first is what responses report.
  std::vector<std::string> names() const {
    return served_model_names.empty() ? std::vector<std::string>{model_dir} : served_model_names;
  }
};

}  // namespace qguard::serve
