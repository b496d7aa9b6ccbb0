// What a qguard::Model holds: the decoder, visible to the library's other rooms.
#pragma once

#include "model/qwen3.hpp"
#include "qguard/model.hpp"

namespace qguard {

struct Model::Impl {
  Impl(const std::string& dir, const Model::Options& options);

  model::Qwen3 decoder;
  ModelInfo info;
};

}  // namespace qguard
