// Keys and values of every processed position, per layer, laid out [position][kv_head][head_dim]
// so appending is a resize and a prefix is a contiguous block. Copyable: a cached prompt prefix is
// copied (or cut back to) before each request continues it. f32, or BF16 for int8 weights, whose
// attention rounds keys and values to BF16 anyway (docs/model.md, "The int8 scheme"): the same
// values in half the memory.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "kernels/matrix.hpp"
#include "model/config.hpp"

namespace qguard::model {

class KvCache {
 public:
  // Capacity comes in whole blocks of this many positions. Growing past it reserves the blocks the
  // new length needs, and at least half again the old capacity: decoding one token at a time then
  // reallocates (copying every position so far, into fresh pages) a logarithmic number of times,
  // not once per block, while a first pass into an empty cache reserves only the blocks it needs
  // (std::vector's own growth would double it).
  static constexpr int kGrowthPositions = 64;

  explicit KvCache(const Config& config, bool bf16 = false) : kv_dim_(config.kv_dim()), bf16_(bf16) {
    const std::size_t layers = 2 * static_cast<std::size_t>(config.num_layers);
    if (bf16) {
      bf16_layers_.resize(layers);
    } else {
      f32_layers_.resize(layers);
    }
  }

  int length() const { return length_; }
  int kv_dim() const { return kv_dim_; }
  bool bf16() const { return bf16_; }
  // Positions the cache holds room for without reallocating.
  int capacity() const {
    const std::size_t values = bf16_ ? (bf16_layers_.empty() ? 0 : bf16_layers_[0].capacity())
                                     : (f32_layers_.empty() ? 0 : f32_layers_[0].capacity());
    return static_cast<int>(values / kv_dim_);
  }

  // Keeps the first `length` positions (cutting back) or makes room up to `length` (growing; the
  // new rows are not zeroed: the forward pass fills them). Capacity is kept when cutting back.
  void resize(int length) {
    if (length > capacity()) reserve(std::max(length, capacity() + capacity() / 2));
    const std::size_t size = static_cast<std::size_t>(length) * kv_dim_;
    for_each_layer([&](auto& layer) { layer.resize(size); });
    length_ = length;
  }

  // Makes room for `positions` positions (rounded up to whole blocks) without changing the length.
  void reserve(int positions) {
    const std::size_t blocks = (static_cast<std::size_t>(positions) + kGrowthPositions - 1) / kGrowthPositions;
    for_each_layer([&](auto& layer) { layer.reserve(blocks * kGrowthPositions * kv_dim_); });
  }

  // After Qwen3::forward_branches: keeps the first `length` positions of the branch that starts at
  // position `start`, moved to follow the trunk, which ends at `trunk_end`; the other branches go.
  void keep_branch(int trunk_end, int start, int length) {
    for_each_layer([&](auto& layer) {
      std::copy(layer.begin() + static_cast<std::ptrdiff_t>(start) * kv_dim_,
                layer.begin() + static_cast<std::ptrdiff_t>(start + length) * kv_dim_,
                layer.begin() + static_cast<std::ptrdiff_t>(trunk_end) * kv_dim_);
    });
    resize(trunk_end + length);
  }

  // Gives back the room beyond max(`positions`, length()): a cache kept between requests does not
  // keep the capacity of the longest one it served.
  void shrink_capacity(int positions) {
    const std::size_t keep = static_cast<std::size_t>(std::max(positions, length_)) * kv_dim_;
    for_each_layer([&](auto& layer) {
      if (layer.capacity() <= keep) return;
      std::remove_reference_t<decltype(layer)> smaller;
      smaller.reserve(keep);
      smaller.assign(layer.begin(), layer.end());
      layer.swap(smaller);
    });
  }

  // A layer's keys or values from position 0: f32 (bf16() false) ...
  float* keys(int layer) { return f32_layers_[2 * layer].data(); }
  float* values(int layer) { return f32_layers_[2 * layer + 1].data(); }
  // ... or BF16 (bf16() true).
  std::uint16_t* keys_bf16(int layer) { return bf16_layers_[2 * layer].data(); }
  std::uint16_t* values_bf16(int layer) { return bf16_layers_[2 * layer + 1].data(); }
  // Either, for kernels::attention.
  const void* keys_data(int layer) const {
    return bf16_ ? static_cast<const void*>(bf16_layers_[2 * layer].data()) : f32_layers_[2 * layer].data();
  }
  const void* values_data(int layer) const {
    return bf16_ ? static_cast<const void*>(bf16_layers_[2 * layer + 1].data()) : f32_layers_[2 * layer + 1].data();
  }

 private:
  // body(rows) for each layer's keys and each layer's values, in the cache's encoding.
  template <typename Body>
  void for_each_layer(const Body& body) {
    if (bf16_) {
      for (auto& layer : bf16_layers_) body(layer);
    } else {
      for (auto& layer : f32_layers_) body(layer);
    }
  }

  // One layer's keys or values (CacheLines: growing leaves the new rows uninitialized, where a
  // std::vector zeroed ~39 MB per 170-token 0.6B request); [2 · layer] keys, [2 · layer + 1] values.
  int kv_dim_;
  bool bf16_;
  int length_ = 0;
  std::vector<kernels::CacheLines<float>> f32_layers_;
  std::vector<kernels::CacheLines<std::uint16_t>> bf16_layers_;
};

}  // namespace qguard::model
