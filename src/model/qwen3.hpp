// The Qwen3 decoder: a loaded checkpoint and the forward pass of docs/spec/qwen3_forward.md.
// Immutable after load and safe to use from many threads at once; each caller owns its KvCache.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

#include "io/checkpoint.hpp"
#include "kernels/thread_pool.hpp"
#include "model/config.hpp"
#include "model/kv_cache.hpp"
#include "model/model_files.hpp"
#include "model/weights.hpp"

namespace qguard::model {

class Qwen3 {
 public:
  // Reads `path`: config.json and the safetensors files of a directory, or a GGUF file
  // (open_model_files). `threads` sizes the model's own pool
  // (0 = one per core); `pack_cache_dir` as in bind_weights. Throws qguard::Error on any problem
  // with the directory's contents.
  Qwen3(const std::filesystem::path& path, int threads, WeightFormat format, const std::string& pack_cache_dir = {});

  const Config& config() const { return config_; }
  const Weights& weights() const { return weights_; }
  const io::Checkpoint& checkpoint() const { return checkpoint_; }
  const std::string& file_format() const { return file_format_; }  // ModelFiles::format
  // A cache for this model's passes: BF16 for int8 weights (their attention reads BF16), else f32.
  KvCache new_cache() const { return KvCache(config_, bf16_cache_); }

  // Which final hidden states forward returns: every position's, or only the last one's (which spares
  // the last layer's queries, attention and MLP for the other positions).
  enum class Outputs { kAll, kLast };

  // Runs `ids` at positions cache.length(), cache.length()+1, ... and appends their keys and
  // values to `cache`. Returns the final-normed hidden states, [ids.size(), hidden_size] row-major
  // (kAll) or [1, hidden_size] (kLast). Throws Error(kInvalidArgument) for an id outside the
  // vocabulary or a cache new_cache() did not make for these weights (f32 against BF16),
  // Error(kInputTooLong) past max_position_embeddings.
  std::vector<float> forward(std::span<const std::int32_t> ids, KvCache& cache, Outputs outputs = Outputs::kAll) const;

  // Speculation on a choice the next step makes: `trunk`, then each of `branches` (alternative
  // continuations of it), in one pass. The trunk runs at positions cache.length(), +1, ...; every
  // branch from the trunk's end, seeing the trunk and itself but not the other branches, so each
  // branch token's state is the one a pass over trunk + that branch would give. Appends the keys and
  // values of the trunk and then of every branch, in order (KvCache::keep_branch keeps one branch).
  // Returns the final-normed hidden states of the trunk's last token (none for an empty trunk) and
  // then of every branch token. Throws as forward does.
  std::vector<float> forward_branches(std::span<const std::int32_t> trunk,
                                      const std::vector<std::vector<std::int32_t>>& branches, KvCache& cache) const;

  // Throws Error(kInputTooLong) if a cache of `positions` positions would pass max_position_embeddings.
  void check_positions(int positions) const;

  // logits = hidden · lm_headᵀ for `rows` hidden states: [rows, vocab_size].
  std::vector<float> logits(const float* hidden, int rows) const;
  // The logits of only `tokens` for one hidden state.
  std::vector<float> logits_of(const float* hidden, std::span<const std::int32_t> tokens) const;

 private:
  Qwen3(ModelFiles files, int threads, WeightFormat format, const std::string& pack_cache_dir);

  // One pass over `ids`: token t at position cache.length() + position[t] (t itself if `position` is
  // empty), not seeing hidden[t] (none if `hidden` is empty); returns the hidden states of tokens
  // first_output .. ids.size() - 1.
  std::vector<float> run(std::span<const std::int32_t> ids, KvCache& cache, int first_output,
                         std::span<const int> position, std::span<const kernels::HiddenKeys> hidden) const;

  Config config_;
  io::Checkpoint checkpoint_;
  std::string file_format_;
  mutable kernels::ThreadPool pool_;  // before weights_: packing the weights runs on it
  Weights weights_;
  std::vector<double> inv_freq_;  // RoPE frequencies θ^(-2i/hd)
  bool bf16_cache_ = false;       // new_cache's encoding
};

}  // namespace qguard::model
