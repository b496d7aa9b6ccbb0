// The Qwen3 decoder as a guard::TokenSource: appended tokens wait until logits are needed, then
// run as one forward pass that extends the caller's KV cache.
#pragma once

#include "guard/decoding.hpp"
#include "model/qwen3.hpp"

namespace qguard::guard {

class ModelSession final : public TokenSource {
 public:
  ModelSession(const model::Qwen3& decoder, model::KvCache& cache) : decoder_(decoder), cache_(cache) {}

  void append(std::span<const std::int32_t> tokens) override {
    pending_.insert(pending_.end(), tokens.begin(), tokens.end());
  }
  std::vector<float> next_logits(std::span<const std::int32_t> candidates) override {
    run_pending();
    return decoder_.logits_of(last_hidden_.data(), candidates);
  }
  std::vector<float> next_logits_all() override {
    run_pending();
    return decoder_.logits(last_hidden_.data(), 1);
  }

 private:
  void run_pending() {
    if (pending_.empty()) return;
    last_hidden_ = decoder_.forward(pending_, cache_, model::Qwen3::Outputs::kLast);
    pending_.clear();
  }

  const model::Qwen3& decoder_;
  model::KvCache& cache_;
  Tokens pending_;
  std::vector<float> last_hidden_;
};

}  // namespace qguard::guard
