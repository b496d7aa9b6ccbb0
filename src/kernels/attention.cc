// Causal grouped-query attention over the key/value cache (one build per target).
//
// A task is one kv head and a block of kLanes query rows, a query row being one (token, query head)
// pair of the heads that share that kv head, so each key and value row read from the cache serves
// kLanes queries at once:
//   scores   for each key k: one vector of the block's kLanes scores (kLanes dot products summed
//            across lanes at once); stored key-major, scores[k][row];
//   softmax  per row, vectorised across the block's rows (a key a row can't see scores -inf);
//   values   out[row] = Σ_k p[k][row] · V[k], head_dim / kLanes vectors at a time.
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/target.hpp"

namespace qguard::kernels::QGUARD_TARGET {
namespace {

constexpr int kRows = static_cast<int>(kLanes);  // query rows per block
constexpr int kMaxChunks = 8;                    // head_dim up to 8 · kLanes held in registers at once

// Lane i of the result = the sum of v[i]'s lanes, for kRows vectors. xsimd 8.1's haddp returns the
// AVX-512 lanes permuted (2-3 swapped with 4-5 in each half: a bug), so that target sums its own way.
#if defined(__AVX512F__)
FloatBatch sum_across(const FloatBatch* v) {
  __m512 pairs[8], quads[4], halves[2];
  for (int i = 0; i < 8; ++i) {  // per 128-bit block: v[2i] and v[2i+1], two partial sums each
    pairs[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
  }
  for (int i = 0; i < 4; ++i) {  // per 128-bit block: one partial sum of each of v[4i .. 4i+3]
    quads[i] = _mm512_add_ps(_mm512_shuffle_ps(pairs[2 * i], pairs[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(pairs[2 * i], pairs[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  }
  for (int i = 0; i < 2; ++i) {  // blocks: quads[2i] (blocks 0+1, 2+3), quads[2i+1] (0+1, 2+3)
    halves[i] = _mm512_add_ps(_mm512_shuffle_f32x4(quads[2 * i], quads[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                              _mm512_shuffle_f32x4(quads[2 * i], quads[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  }
  return _mm512_add_ps(_mm512_shuffle_f32x4(halves[0], halves[1], _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_f32x4(halves[0], halves[1], _MM_SHUFFLE(3, 1, 3, 1)));
}
#else
FloatBatch sum_across(const FloatBatch* v) { return xsimd::haddp(v); }
#endif

// dst[0 .. C·kLanes) = scale · Σ_k p[k · kRows] · value[k · stride + 0 .. C·kLanes): C accumulators in
// registers (a compile-time count, so they stay there).
template <int C>
void weighted_sum(const float* p, const float* value, std::size_t stride, int keys, float scale, float* dst) {
  FloatBatch acc[C];
  for (auto& a : acc) a = FloatBatch(0.f);
  for (int k = 0; k < keys; ++k, value += stride) {
    const FloatBatch pk(p[k * kRows]);
    for (int c = 0; c < C; ++c) acc[c] = xsimd::fma(pk, FloatBatch::load_unaligned(value + c * kRows), acc[c]);
  }
  for (int c = 0; c < C; ++c) (acc[c] * FloatBatch(scale)).store_unaligned(dst + c * kRows);
}

struct Scratch {
  std::vector<float> queries;  // [kRows, head_dim], pre-scaled by 1/sqrt(head_dim); zero past the end
  std::vector<float> scores;   // [keys, kRows]
};

void attend_block(const AttentionShape& s, int kv_head, int first_row, const float* q, const float* keys,
                  const float* values, float* out, Scratch& scratch) {
  const int group = s.heads / s.kv_heads, hd = s.head_dim;
  const std::size_t q_stride = static_cast<std::size_t>(s.heads) * hd, kv_stride = static_cast<std::size_t>(s.kv_heads) * hd;
  const int rows = std::min(kRows, s.tokens * group - first_row), p0 = s.length - s.tokens;
  const float scale = 1.f / std::sqrt(static_cast<float>(hd));

  // Row i of the block is token (first_row + i) / group, query head kv_head · group + (first_row + i) % group.
  auto token_of = [&](int i) { return (first_row + i) / group; };
  auto head_of = [&](int i) { return kv_head * group + (first_row + i) % group; };
  scratch.queries.assign(static_cast<std::size_t>(kRows) * hd, 0.f);
  alignas(64) float last_key[kRows];  // the last key each row sees (causal)
  for (int i = 0; i < kRows; ++i) {
    last_key[i] = -1.f;
    if (i >= rows) continue;
    const float* src = q + token_of(i) * q_stride + static_cast<std::size_t>(head_of(i)) * hd;
    for (int d = 0; d < hd; ++d) scratch.queries[i * hd + d] = src[d] * scale;
    last_key[i] = static_cast<float>(p0 + token_of(i));
  }
  const int keys_seen = p0 + token_of(rows - 1) + 1;
  scratch.scores.resize(static_cast<std::size_t>(keys_seen) * kRows);
  const FloatBatch limit = FloatBatch::load_aligned(last_key);
  const FloatBatch minus_infinity(-std::numeric_limits<float>::infinity());

  // Scores, and each row's maximum.
  FloatBatch peak = minus_infinity;
  const int chunks = hd / kRows;
  for (int k = 0; k < keys_seen; ++k) {
    const float* key = keys + k * kv_stride + static_cast<std::size_t>(kv_head) * hd;
    FloatBatch acc[kRows];
    for (auto& a : acc) a = FloatBatch(0.f);
    for (int c = 0; c < chunks; ++c) {
      const FloatBatch kc = FloatBatch::load_unaligned(key + c * kRows);
      for (int i = 0; i < kRows; ++i) {
        acc[i] = xsimd::fma(FloatBatch::load_unaligned(&scratch.queries[i * hd + c * kRows]), kc, acc[i]);
      }
    }
    FloatBatch row = sum_across(acc);
    for (int d = chunks * kRows; d < hd; ++d) {  // a head_dim that is not a multiple of kLanes
      alignas(64) float tail[kRows];
      for (int i = 0; i < kRows; ++i) tail[i] = scratch.queries[i * hd + d] * key[d];
      row += FloatBatch::load_aligned(tail);
    }
    row = xsimd::select(FloatBatch(static_cast<float>(k)) > limit, minus_infinity, row);
    peak = xsimd::max(peak, row);
    row.store_unaligned(&scratch.scores[static_cast<std::size_t>(k) * kRows]);
  }

  // Softmax numerators and their sums (rows past the block's end hold -inf everywhere: made 0).
  peak = xsimd::select(peak == minus_infinity, FloatBatch(0.f), peak);
  FloatBatch total(0.f);
  for (int k = 0; k < keys_seen; ++k) {
    float* p = &scratch.scores[static_cast<std::size_t>(k) * kRows];
    const FloatBatch e = xsimd::exp(FloatBatch::load_unaligned(p) - peak);
    total += e;
    e.store_unaligned(p);
  }
  alignas(64) float inverse[kRows];
  (FloatBatch(1.f) / xsimd::select(total == FloatBatch(0.f), FloatBatch(1.f), total)).store_aligned(inverse);

  // out[row] = Σ_k p[k][row] · V[k] / total[row], up to kMaxChunks vectors of head_dim at a time.
  for (int i = 0; i < rows; ++i) {
    float* dst = out + token_of(i) * q_stride + static_cast<std::size_t>(head_of(i)) * hd;
    const float* p = scratch.scores.data() + i;
    const float* value = values + static_cast<std::size_t>(kv_head) * hd;
    int d = 0;
    for (; d + kMaxChunks * kRows <= hd; d += kMaxChunks * kRows) {
      weighted_sum<kMaxChunks>(p, value + d, kv_stride, keys_seen, inverse[i], dst + d);
    }
    for (; d + kRows <= hd; d += kRows) weighted_sum<1>(p, value + d, kv_stride, keys_seen, inverse[i], dst + d);
    for (; d < hd; ++d) {  // a head_dim that is not a multiple of kLanes
      float sum = 0.f;
      for (int k = 0; k < keys_seen; ++k) sum += p[k * kRows] * value[k * kv_stride + d];
      dst[d] = sum * inverse[i];
    }
  }
}

}  // namespace

void attention(ThreadPool& pool, const AttentionShape& s, const float* q, const float* keys, const float* values,
               float* out) {
  const int group = s.heads / s.kv_heads;
  const int blocks = (s.tokens * group + kRows - 1) / kRows;
  pool.parallel_for(static_cast<std::size_t>(s.kv_heads) * blocks, [&](std::size_t task) {
    thread_local Scratch scratch;
    const int kv_head = static_cast<int>(task) / blocks, block = static_cast<int>(task) % blocks;
    attend_block(s, kv_head, block * kRows, q, keys, values, out, scratch);
  });
}

}  // namespace qguard::kernels::QGUARD_TARGET
