// What a qguard::Model holds, and how the library's other rooms reach its decoder.
#pragma once

#include "model/qwen3.hpp"
#include "qguard/model.hpp"

namespace qguard {

struct [[gnu::visibility("hidden")]] Model::State {
  State(const std::string& dir, const Model::Options& options);

  model::Qwen3 decoder;
  ModelInfo info;
};

struct ModelAccess {
  static const model::Qwen3& decoder(const Model& model) { return model.state_->decoder; }
};

}  // namespace qguard
