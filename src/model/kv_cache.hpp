// Keys and values of every processed position, per layer, laid out [position][kv_head][head_dim]
// so appending is a resize and a prefix is a contiguous block. Copyable: a cached prompt prefix is
// copied (or cut back to) before each request continues it.
#pragma once

#include <cstddef>
#include <vector>

#include "model/config.hpp"

namespace qguard::model {

class KvCache {
 public:
  explicit KvCache(const Config& config)
      : kv_dim_(config.kv_dim()), keys_(config.num_layers), values_(config.num_layers) {}

  int length() const { return length_; }
  int kv_dim() const { return kv_dim_; }

  // Keeps the first `length` positions (cutting back) or makes room up to `length` (growing; the
  // forward pass fills the new rows). Capacity is kept when cutting back.
  void resize(int length) {
    for (auto* side : {&keys_, &values_}) {
      for (auto& layer : *side) layer.resize(static_cast<std::size_t>(length) * kv_dim_);
    }
    length_ = length;
  }

  float* keys(int layer) { return keys_[layer].data(); }
  float* values(int layer) { return values_[layer].data(); }
  const float* keys(int layer) const { return keys_[layer].data(); }
  const float* values(int layer) const { return values_[layer].data(); }

 private:
  int kv_dim_;
  int length_ = 0;
  std::vector<std::vector<float>> keys_, values_;
};

}  // namespace qguard::model
