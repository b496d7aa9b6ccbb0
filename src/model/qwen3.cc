#include "model/qwen3.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "kernels/kernels.hpp"
#include "qguard/error.hpp"

namespace qguard::model {
namespace {

// Below this many tokens the row-wise steps run on the calling thread: waking the pool would cost
// more than it saves.
constexpr int kParallelTokens = 8;

// body(t) for every token t < T, spread over the pool when there are enough of them.
template <typename Body>
void for_each_token(kernels::ThreadPool& pool, int T, const Body& body) {
  if (T >= kParallelTokens) {
    pool.parallel_for(static_cast<std::size_t>(T), [&](std::size_t t) { body(static_cast<int>(t)); });
  } else {
    for (int t = 0; t < T; ++t) body(t);
  }
}

void check_token_ids(std::span<const std::int32_t> ids, int vocab_size) {
  for (std::int32_t id : ids) {
    if (id < 0 || id >= vocab_size) {
      throw Error(ErrorCode::kInvalidArgument, fmt::format("token id {} is outside the vocabulary [0, {})", id, vocab_size));
    }
  }
}

}  // namespace

Qwen3::Qwen3(const std::filesystem::path& path, int threads, WeightFormat format, const std::string& pack_cache_dir)
    : Qwen3(open_model_files(path), threads, format, pack_cache_dir) {}

Qwen3::Qwen3(ModelFiles files, int threads, WeightFormat format, const std::string& pack_cache_dir)
    : config_(std::move(files.config)),
      checkpoint_(std::move(files.checkpoint)),
      file_format_(std::move(files.format)),
      pool_(threads),
      weights_(bind_weights(checkpoint_, config_, format, pack_cache_dir, pool_)) {
  const int half = config_.head_dim / 2;
  for (int i = 0; i < half; ++i) inv_freq_.push_back(std::pow(config_.rope_theta, -2.0 * i / config_.head_dim));
  // Every layer is held alike (one WeightFormat), so the first one tells.
  bf16_cache_ = !weights_.layers.empty() && weights_.layers[0].q_proj.packing == kernels::Packing::kInt8;
}

void Qwen3::check_positions(int positions) const {
  if (positions > config_.max_position_embeddings) {
    throw Error(ErrorCode::kInputTooLong, fmt::format("{} positions exceed the model's maximum of {}", positions,
                                                      config_.max_position_embeddings));
  }
}

std::vector<float> Qwen3::forward(std::span<const std::int32_t> ids, KvCache& cache, Outputs outputs) const {
  const int first_output = outputs == Outputs::kLast ? std::max(static_cast<int>(ids.size()) - 1, 0) : 0;
  return run(ids, cache, first_output, {}, {});
}

std::vector<float> Qwen3::forward_branches(std::span<const std::int32_t> trunk,
                                           const std::vector<std::vector<std::int32_t>>& branches,
                                           KvCache& cache) const {
  const int trunk_length = static_cast<int>(trunk.size()), p0 = cache.length();
  std::vector<std::int32_t> ids(trunk.begin(), trunk.end());
  std::vector<int> position(trunk_length);
  for (int t = 0; t < trunk_length; ++t) position[t] = t;
  std::vector<kernels::HiddenKeys> hidden(trunk_length);
  for (const auto& branch : branches) {
    const int start = p0 + static_cast<int>(ids.size());  // the earlier branches: [trunk end, start)
    for (std::size_t j = 0; j < branch.size(); ++j) {
      ids.push_back(branch[j]);
      position.push_back(trunk_length + static_cast<int>(j));
      hidden.push_back({p0 + trunk_length, start});
    }
  }
  return run(ids, cache, std::max(trunk_length - 1, 0), position, hidden);
}

std::vector<float> Qwen3::run(std::span<const std::int32_t> ids, KvCache& cache, int first_output,
                              std::span<const int> position, std::span<const kernels::HiddenKeys> hidden) const {
  const Config& c = config_;
  const int T = static_cast<int>(ids.size());
  const int H = c.hidden_size, hd = c.head_dim, half = hd / 2;
  const int p0 = cache.length();
  check_token_ids(ids, c.vocab_size);
  if (cache.bf16() != bf16_cache_) {
    throw Error(ErrorCode::kInvalidArgument, "this KV cache was made for another weight format (Qwen3::new_cache)");
  }
  if (T == 0) return {};
  check_positions(p0 + T);
  const float eps = static_cast<float>(c.rms_norm_eps);

  // RoPE angles for this call's positions, computed in double before rounding to f32.
  std::vector<float> cos(static_cast<std::size_t>(T) * half), sin(cos.size());
  for (int t = 0; t < T; ++t) {
    for (int i = 0; i < half; ++i) {
      const double angle = (p0 + (position.empty() ? t : position[t])) * inv_freq_[i];
      cos[t * half + i] = static_cast<float>(std::cos(angle));
      sin[t * half + i] = static_cast<float>(std::sin(angle));
    }
  }

  // Work buffers, not zeroed (CacheLines): every step writes the rows the next one reads.
  std::vector<float> x(static_cast<std::size_t>(T) * H);
  kernels::CacheLines<float> h(x.size());
  kernels::CacheLines<float> q(static_cast<std::size_t>(T) * c.q_dim()), attn(q.size());
  kernels::CacheLines<float> gate(static_cast<std::size_t>(T) * c.intermediate_size), up(gate.size());
  // A BF16 cache's new keys and values, in f32 until they are normed, rotated and rounded into it.
  const std::size_t kv_values = cache.bf16() ? static_cast<std::size_t>(T) * c.kv_dim() : 0;
  kernels::CacheLines<float> new_keys(kv_values), new_values(kv_values);
  for (int t = 0; t < T; ++t) weights_.embed_tokens.copy_row(ids[t], &x[t * H]);

  cache.resize(p0 + T);
  for (int l = 0; l < c.num_layers; ++l) {
    const LayerWeights& w = weights_.layers[l];
    // Rows `first` .. T - 1 go on past this layer's keys and values: all of them, except in the last
    // layer when only the states from first_output are wanted (later positions need the others' keys
    // and values, never their outputs). q, attn, gate and up hold those rows from index 0.
    const int first = l == c.num_layers - 1 ? first_output : 0, rows = T - first;
    float* const xr = &x[static_cast<std::size_t>(first) * H];
    for_each_token(pool_, T, [&](int t) { kernels::rmsnorm(&x[t * H], w.input_norm.data(), H, eps, &h[t * H]); });

    // q, k and v of the normed input (quantized once for int8 weights); k and v go to the cache (to
    // new_keys and new_values first for a BF16 one).
    const std::size_t at = static_cast<std::size_t>(p0) * c.kv_dim();
    float* k = cache.bf16() ? new_keys.data() : cache.keys(l) + at;
    float* v = cache.bf16() ? new_values.data() : cache.values(l) + at;
    const kernels::LayerInput attention_input = kernels::prepare_input(pool_, h.data(), T, H, w.q_proj);
    const kernels::Product qkv[] = {{&w.q_proj, q.data()}, {&w.k_proj, k}, {&w.v_proj, v}};
    if (first == 0) {
      kernels::matmul(pool_, attention_input, qkv);
    } else {
      kernels::matmul(pool_, &h[static_cast<std::size_t>(first) * H], rows, w.q_proj, q.data());
      kernels::matmul(pool_, attention_input, std::span(qkv).subspan(1));
    }
    // With int8 weights attention's products are BF16 (docs/model.md, "The int8 scheme"): the cache
    // keeps keys and values as BF16.
    for_each_token(pool_, T, [&](int t) {
      if (t >= first) {
        for (int j = 0; j < c.num_heads; ++j) {
          float* qj = &q[(static_cast<std::size_t>(t - first) * c.num_heads + j) * hd];
          kernels::rmsnorm(qj, w.q_norm.data(), hd, eps, qj);
          kernels::rope(qj, &cos[t * half], &sin[t * half], half);
        }
      }
      float* kt = k + static_cast<std::size_t>(t) * c.kv_dim();
      for (int j = 0; j < c.num_kv_heads; ++j) {
        float* kj = kt + static_cast<std::size_t>(j) * hd;
        kernels::rmsnorm(kj, w.k_norm.data(), hd, eps, kj);
        kernels::rope(kj, &cos[t * half], &sin[t * half], half);
      }
      if (cache.bf16()) {
        const std::size_t row = static_cast<std::size_t>(t) * c.kv_dim();
        kernels::to_bf16(kt, c.kv_dim(), cache.keys_bf16(l) + at + row);
        kernels::to_bf16(v + row, c.kv_dim(), cache.values_bf16(l) + at + row);
      }
    });

    // Causal grouped-query attention over the cached positions and these, then the output projection.
    const kernels::AttentionShape shape{c.num_heads,     c.num_kv_heads, hd, rows, cache.length(), cache.bf16(),
                                        hidden.empty() ? nullptr : hidden.data() + first};
    kernels::attention(pool_, shape, q.data(), cache.keys_data(l), cache.values_data(l), attn.data());
    kernels::matmul(pool_, attn.data(), rows, w.o_proj, h.data());
    for_each_token(pool_, rows, [&](int t) {
      float* xt = xr + static_cast<std::size_t>(t) * H;
      for (int i = 0; i < H; ++i) xt[i] += h[t * H + i];
      kernels::rmsnorm(xt, w.post_attention_norm.data(), H, eps, &h[t * H]);
    });
    const kernels::LayerInput mlp_input = kernels::prepare_input(pool_, h.data(), rows, H, w.gate_proj);
    const kernels::Product gate_up[] = {{&w.gate_proj, gate.data()}, {&w.up_proj, up.data()}};
    kernels::matmul(pool_, mlp_input, gate_up);
    const std::size_t I = c.intermediate_size;
    for_each_token(pool_, rows, [&](int t) { kernels::silu_mul(&gate[t * I], &up[t * I], I); });
    kernels::matmul(pool_, gate.data(), rows, w.down_proj, h.data());
    for_each_token(pool_, rows, [&](int t) {
      for (int i = 0; i < H; ++i) xr[t * H + i] += h[t * H + i];
    });
  }
  x.erase(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(first_output) * H);
  const int out_rows = static_cast<int>(x.size()) / H;
  for_each_token(pool_, out_rows,
                 [&](int t) { kernels::rmsnorm(&x[t * H], weights_.final_norm.data(), H, eps, &x[t * H]); });
  return x;
}

std::vector<float> Qwen3::logits(const float* hidden, int rows) const {
  std::vector<float> out(static_cast<std::size_t>(rows) * config_.vocab_size);
  weights_.lm_head.matmul(pool_, hidden, rows, out.data());
  return out;
}

std::vector<float> Qwen3::logits_of(const float* hidden, std::span<const std::int32_t> tokens) const {
  check_token_ids(tokens, config_.vocab_size);
  std::vector<float> out(tokens.size());
  weights_.lm_head.matvec_rows(hidden, tokens.data(), static_cast<int>(tokens.size()), out.data());
  return out;
}

}  // namespace qguard::model
