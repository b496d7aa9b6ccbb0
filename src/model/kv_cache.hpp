// Keys and values of every processed position, per layer, laid out [position][kv_head][head_dim]
// so appending is a resize and a prefix is a contiguous block. Copyable: a cached prompt prefix is
// copied (or cut back to) before each request continues it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "kernels/matrix.hpp"
#include "model/config.hpp"

namespace qguard::model {

class KvCache {
 public:
  // Growing reserves whole blocks of this many positions: capacity stays within one block of the
  // longest length (std::vector's own growth doubles it), and decoding one token at a time
  // reallocates once per block, not once per token.
  static constexpr int kGrowthPositions = 64;

  explicit KvCache(const Config& config)
      : kv_dim_(config.kv_dim()), keys_(config.num_layers), values_(config.num_layers) {}

  int length() const { return length_; }
  int kv_dim() const { return kv_dim_; }
  // Positions the cache holds room for without reallocating.
  int capacity() const { return keys_.empty() ? 0 : static_cast<int>(keys_[0].capacity() / kv_dim_); }

  // Keeps the first `length` positions (cutting back) or makes room up to `length` (growing; the
  // new rows are not zeroed: the forward pass fills them). Capacity is kept when cutting back.
  void resize(int length) {
    const std::size_t size = static_cast<std::size_t>(length) * kv_dim_;
    const int blocks = (length + kGrowthPositions - 1) / kGrowthPositions;
    for (auto* side : {&keys_, &values_}) {
      for (auto& layer : *side) {
        if (size > layer.capacity()) layer.reserve(static_cast<std::size_t>(blocks) * kGrowthPositions * kv_dim_);
        layer.resize(size);
      }
    }
    length_ = length;
  }

  // After Qwen3::forward_branches: keeps the first `length` positions of the branch that starts at
  // position `start`, moved to follow the trunk, which ends at `trunk_end`; the other branches go.
  void keep_branch(int trunk_end, int start, int length) {
    for (auto* side : {&keys_, &values_}) {
      for (auto& layer : *side) {
        std::copy(layer.begin() + static_cast<std::ptrdiff_t>(start) * kv_dim_,
                  layer.begin() + static_cast<std::ptrdiff_t>(start + length) * kv_dim_,
                  layer.begin() + static_cast<std::ptrdiff_t>(trunk_end) * kv_dim_);
      }
    }
    resize(trunk_end + length);
  }

  // Gives back the room beyond max(`positions`, length()): a cache kept between requests does not
  // keep the capacity of the longest one it served.
  void shrink_capacity(int positions) {
    const std::size_t keep = static_cast<std::size_t>(std::max(positions, length_)) * kv_dim_;
    for (auto* side : {&keys_, &values_}) {
      for (auto& layer : *side) {
        if (layer.capacity() <= keep) continue;
        Positions smaller;
        smaller.reserve(keep);
        smaller.assign(layer.begin(), layer.end());
        layer.swap(smaller);
      }
    }
  }

  float* keys(int layer) { return keys_[layer].data(); }
  float* values(int layer) { return values_[layer].data(); }
  const float* keys(int layer) const { return keys_[layer].data(); }
  const float* values(int layer) const { return values_[layer].data(); }

 private:
  // One layer's keys or values (CacheLines: growing leaves the new rows uninitialized, where a
  // std::vector zeroed ~39 MB per 170-token 0.6B request).
  using Positions = kernels::CacheLines<float>;
  int kv_dim_;
  int length_ = 0;
  std::vector<Positions> keys_, values_;
};

}  // namespace qguard::model
