// The query rows that attention computes together (attention.cc, attention_bf16.cc): the rows of one
// kv head, row i being token (first + i) / group and query head kv_head · group + (first + i) % group
// for the heads of its group, so each key and value of the kv head serves every row.
#pragma once

#if !defined(QGUARD_TARGET)
#error "query_rows.hpp belongs to the per-target kernel builds"
#endif

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "kernels/matrix.hpp"

namespace qguard::kernels::QGUARD_TARGET {

struct QueryRows {
  // Up to `most` rows from row `first` of kv head `kv_head`.
  QueryRows(const AttentionShape& s, int kv_head, int first, int most)
      : group(s.heads / s.kv_heads),
        kv_head(kv_head),
        first(first),
        rows(std::min(most, s.tokens * group - first)),
        cached(s.length - s.tokens),
        head_dim(s.head_dim),
        stride(static_cast<std::size_t>(s.heads) * s.head_dim),
        scale(1.f / std::sqrt(static_cast<float>(s.head_dim))),
        hidden_keys(s.hidden) {}

  int token(int i) const { return (first + i) / group; }
  int head(int i) const { return kv_head * group + (first + i) % group; }
  // The keys row i sees (causal): the cached positions and its own token's, up to itself.
  int visible(int i) const { return cached + token(i) + 1; }
  // Row i's scores (from key 0) of the keys it does not see within visible(i) set to -inf, which
  // softmax turns into 0.
  void hide(int i, float* scores) const {
    if (hidden_keys) std::fill(scores + hidden_keys[token(i)].begin, scores + hidden_keys[token(i)].end, -INFINITY);
  }
  // Where row i's query is in q, and its output in out ([tokens, heads, head_dim] both).
  std::size_t offset(int i) const { return token(i) * stride + static_cast<std::size_t>(head(i)) * head_dim; }

  int group, kv_head, first, rows, cached, head_dim;
  std::size_t stride;
  float scale;  // 1 / sqrt(head_dim), in f32
  const HiddenKeys* hidden_keys;
};

}  // namespace qguard::kernels::QGUARD_TARGET
