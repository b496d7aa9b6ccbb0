// The Qwen3 decoder as a guard::TokenSource: appended tokens wait until logits are needed, then
// run as one forward pass that extends the caller's KV cache. A speculation (TokenSource::speculate)
// rides on that pass as branches (Qwen3::forward_branches); the tokens appended next pick the branch
// whose keys and values stay, and its states answer the next logits without another pass.
#pragma once

#include <algorithm>
#include <utility>

#include "guard/decoding.hpp"
#include "model/qwen3.hpp"

namespace qguard::guard {

class ModelSession final : public TokenSource {
 public:
  ModelSession(const model::Qwen3& decoder, model::KvCache& cache) : decoder_(decoder), cache_(cache) {}

  void append(std::span<const std::int32_t> tokens) override {
    if (branches_.empty()) {
      pending_.insert(pending_.end(), tokens.begin(), tokens.end());
      return;
    }
    confirmed_.insert(confirmed_.end(), tokens.begin(), tokens.end());
    for (const Tokens& branch : branches_) {
      if (starts_with(branch, confirmed_)) return;  // settled when logits are asked for
    }
    for (std::size_t b = 0; b < branches_.size(); ++b) {
      if (starts_with(confirmed_, branches_[b])) {  // a whole branch, then more
        pending_.assign(confirmed_.begin() + static_cast<std::ptrdiff_t>(branches_[b].size()), confirmed_.end());
        keep_branch(b, branches_[b].size());
        return;
      }
    }
    cache_.resize(trunk_end_);  // off every branch: from the trunk's end as if none had run
    pending_ = std::move(confirmed_);
    drop_branches();
  }
  std::vector<float> next_logits(std::span<const std::int32_t> candidates) override {
    settle();
    return decoder_.logits_of(state(), candidates);
  }
  std::vector<float> next_logits_all() override {
    settle();
    return decoder_.logits(state(), 1);
  }
  // Applies to the next logits only: answered without a pass, they drop it.
  void speculate(std::vector<Tokens> branches) override { speculation_ = std::move(branches); }

 private:
  static bool starts_with(const Tokens& tokens, const Tokens& prefix) {
    return prefix.size() <= tokens.size() && std::equal(prefix.begin(), prefix.end(), tokens.begin());
  }

  // Makes state() the last token's: runs the pending tokens (with the speculation's branches, if
  // any), or takes the branch the confirmed tokens lie on.
  void settle() {
    std::vector<Tokens> speculation = std::exchange(speculation_, {});
    if (!branches_.empty()) {
      if (confirmed_.empty()) return;  // the trunk's last state answers
      for (std::size_t b = 0; b < branches_.size(); ++b) {
        if (starts_with(branches_[b], confirmed_)) {
          keep_branch(b, confirmed_.size());
          return;
        }
      }
    }
    if (pending_.empty()) return;
    if (speculation.empty()) {
      states_ = decoder_.forward(pending_, cache_, model::Qwen3::Outputs::kLast);
      state_row_ = 0;
    } else {
      states_ = decoder_.forward_branches(pending_, speculation, cache_);
      state_row_ = 0;
      branches_ = std::move(speculation);
      std::size_t branch_tokens = 0;
      for (const Tokens& branch : branches_) branch_tokens += branch.size();
      trunk_end_ = cache_.length() - static_cast<int>(branch_tokens);
    }
    pending_.clear();
  }

  // Keeps the first `length` tokens of branch b (length >= 1) in the cache, its last one's state as
  // the current one, and drops the other branches.
  void keep_branch(std::size_t b, std::size_t length) {
    std::size_t offset = 0;
    for (std::size_t i = 0; i < b; ++i) offset += branches_[i].size();
    cache_.keep_branch(trunk_end_, trunk_end_ + static_cast<int>(offset), static_cast<int>(length));
    state_row_ = 1 + offset + length - 1;  // row 0: the trunk's last token
    drop_branches();
  }

  void drop_branches() {
    branches_.clear();
    confirmed_.clear();
  }

  const float* state() const { return states_.data() + state_row_ * decoder_.config().hidden_size; }

  const model::Qwen3& decoder_;
  model::KvCache& cache_;
  Tokens pending_;
  std::vector<Tokens> speculation_;  // for the next logits' pass
  // After a pass with branches: they, the tokens appended since (a prefix of one of them, until
  // settled), and where the trunk ended in the cache.
  std::vector<Tokens> branches_;
  Tokens confirmed_;
  int trunk_end_ = 0;
  std::vector<float> states_;  // the final states the last pass returned
  std::size_t state_row_ = 0;  // the current one among them
};

}  // namespace qguard::guard
