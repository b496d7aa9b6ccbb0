#include "model/qwen3.hpp"

#include <cmath>

#include <Eigen/Core>
#include <fmt/format.h>

#include "kernels/ops.hpp"
#include "kernels/packed_matmul.hpp"
#include "qguard/error.hpp"

namespace qguard::model {
namespace {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMajor, Eigen::Unaligned, Eigen::OuterStride<>>;
using Map = Eigen::Map<RowMajor, Eigen::Unaligned, Eigen::OuterStride<>>;

void check_token_ids(std::span<const std::int32_t> ids, int vocab_size) {
  for (std::int32_t id : ids) {
    if (id < 0 || id >= vocab_size) {
      throw Error(ErrorCode::kInvalidArgument, fmt::format("token id {} is outside the vocabulary [0, {})", id, vocab_size));
    }
  }
}

}  // namespace

Qwen3::Qwen3(const std::filesystem::path& dir, int threads, WeightFormat format, const std::string& pack_cache_dir)
    : config_(load_config(dir)),
      checkpoint_(io::Checkpoint::open(dir)),
      pool_(threads),
      weights_(bind_weights(checkpoint_, config_, format, pack_cache_dir, pool_)) {
  const int half = config_.head_dim / 2;
  for (int i = 0; i < half; ++i) inv_freq_.push_back(std::pow(config_.rope_theta, -2.0 * i / config_.head_dim));
}

std::vector<float> Qwen3::forward(std::span<const std::int32_t> ids, KvCache& cache) const {
  const Config& c = config_;
  const int T = static_cast<int>(ids.size());
  const int H = c.hidden_size, hd = c.head_dim, half = hd / 2;
  const int p0 = cache.length();
  check_token_ids(ids, c.vocab_size);
  if (p0 + T > c.max_position_embeddings) {
    throw Error(ErrorCode::kInputTooLong, fmt::format("{} positions exceed the model's maximum of {}", p0 + T,
                                                      c.max_position_embeddings));
  }
  const float eps = static_cast<float>(c.rms_norm_eps);

  // RoPE angles for this call's positions, computed in double before rounding to f32.
  std::vector<float> cos(static_cast<std::size_t>(T) * half), sin(cos.size());
  for (int t = 0; t < T; ++t) {
    for (int i = 0; i < half; ++i) {
      const double angle = (p0 + t) * inv_freq_[i];
      cos[t * half + i] = static_cast<float>(std::cos(angle));
      sin[t * half + i] = static_cast<float>(std::sin(angle));
    }
  }

  std::vector<float> x(static_cast<std::size_t>(T) * H), h(x.size());
  std::vector<float> q(static_cast<std::size_t>(T) * c.q_dim()), attn(q.size());
  std::vector<float> gate(static_cast<std::size_t>(T) * c.intermediate_size), up(gate.size());
  for (int t = 0; t < T; ++t) kernels::copy_row(weights_.embed_tokens, ids[t], &x[t * H]);

  cache.resize(p0 + T);
  for (int l = 0; l < c.num_layers; ++l) {
    const LayerWeights& w = weights_.layers[l];
    for (int t = 0; t < T; ++t) kernels::rmsnorm(&x[t * H], w.input_norm.data(), H, eps, &h[t * H]);

    float* k = cache.keys(l) + static_cast<std::size_t>(p0) * c.kv_dim();
    float* v = cache.values(l) + static_cast<std::size_t>(p0) * c.kv_dim();
    kernels::matmul(pool_, h.data(), T, w.q_proj, q.data());
    kernels::matmul(pool_, h.data(), T, w.k_proj, k);
    kernels::matmul(pool_, h.data(), T, w.v_proj, v);
    for (int t = 0; t < T; ++t) {
      for (int j = 0; j < c.num_heads; ++j) {
        float* qj = &q[(static_cast<std::size_t>(t) * c.num_heads + j) * hd];
        kernels::rmsnorm(qj, w.q_norm.data(), hd, eps, qj);
        kernels::rope(qj, &cos[t * half], &sin[t * half], half);
      }
      for (int j = 0; j < c.num_kv_heads; ++j) {
        float* kj = k + (static_cast<std::size_t>(t) * c.num_kv_heads + j) * hd;
        kernels::rmsnorm(kj, w.k_norm.data(), hd, eps, kj);
        kernels::rope(kj, &cos[t * half], &sin[t * half], half);
      }
    }

    attention(l, q.data(), T, cache, attn.data());
    kernels::matmul(pool_, attn.data(), T, w.o_proj, h.data());
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += h[i];

    for (int t = 0; t < T; ++t) kernels::rmsnorm(&x[t * H], w.post_attention_norm.data(), H, eps, &h[t * H]);
    kernels::matmul(pool_, h.data(), T, w.gate_proj, gate.data());
    kernels::matmul(pool_, h.data(), T, w.up_proj, up.data());
    kernels::silu_mul(gate.data(), up.data(), gate.size());
    kernels::matmul(pool_, gate.data(), T, w.down_proj, h.data());
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += h[i];
  }
  for (int t = 0; t < T; ++t) kernels::rmsnorm(&x[t * H], weights_.final_norm.data(), H, eps, &x[t * H]);
  return x;
}

// a_j = softmax(q_j · k_jᵀ / sqrt(hd) + causal mask) · v_j for every query head j, where query t
// sits at position p0 + t and sees keys 0 ..= p0 + t; head j reads kv head j / (nh / nkv).
void Qwen3::attention(int layer, const float* q, int T, const KvCache& cache, float* out) const {
  const Config& c = config_;
  const int hd = c.head_dim, len = cache.length(), p0 = len - T;
  const int group = c.num_heads / c.num_kv_heads;
  const float scale = 1.f / std::sqrt(static_cast<float>(hd));
  // One task per kv head: its query heads run back to back, so its keys and values come from
  // memory once and from cache for the rest of the group.
  pool_.parallel_for(c.num_kv_heads, [&](std::size_t kv_head) {
    const int kv = static_cast<int>(kv_head);
    const ConstMap kj(cache.keys(layer) + kv * hd, len, hd, Eigen::OuterStride<>(c.kv_dim()));
    const ConstMap vj(cache.values(layer) + kv * hd, len, hd, Eigen::OuterStride<>(c.kv_dim()));
    thread_local RowMajor scores;
    for (int j = kv * group; j < (kv + 1) * group; ++j) {
      const ConstMap qj(q + j * hd, T, hd, Eigen::OuterStride<>(c.q_dim()));
      Map aj(out + j * hd, T, hd, Eigen::OuterStride<>(c.q_dim()));
      scores.noalias() = (qj * kj.transpose()) * scale;
      for (int t = 0; t < T; ++t) {
        const int visible = p0 + t + 1;
        kernels::softmax(&scores(t, 0), visible);
        scores.row(t).tail(len - visible).setZero();
      }
      aj.noalias() = scores * vj;
    }
  });
}

std::vector<float> Qwen3::logits(const float* hidden, int rows) const {
  std::vector<float> out(static_cast<std::size_t>(rows) * config_.vocab_size);
  kernels::matmul(pool_, hidden, rows, weights_.lm_head, out.data());
  return out;
}

std::vector<float> Qwen3::logits_of(const float* hidden, std::span<const std::int32_t> tokens) const {
  check_token_ids(tokens, config_.vocab_size);
  std::vector<float> out(tokens.size());
  kernels::matvec_rows(hidden, weights_.lm_head, tokens.data(), static_cast<int>(tokens.size()), out.data());
  return out;
}

}  // namespace qguard::model
