// Causal grouped-query attention over the key/value cache (one build per target).
//
// The keys of each kv head are first transposed (head_dim rows of positions), so that scores come
// out kLanes keys at a time from plain multiply-adds, without sums across lanes, and its values are
// gathered into consecutive rows (the cache interleaves kv heads, which defeats the hardware
// prefetcher: each value row would sit in another 4 KiB page). Then a task is one
// kv head and a block of kLanes query rows, a query row being one (token, query head) pair of the
// heads that share that kv head, so each key and value read serves every row of the block:
//   scores   s[row][key] = q[row] · k[key] / sqrt(head_dim), kLanes keys per vector;
//   softmax  per row over the keys it sees (causal), the others get 0;
//   values   out[row] = Σ_key p[row][key] · v[key], a few rows and head_dim vectors at a time.
// With shape.bf16 the scaled queries and the numerators p are rounded to BF16 first: the products
// of BF16 values are exact in f32, so these f32 multiply-adds give what BF16 hardware would.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/query_rows.hpp"
#include "kernels/target.hpp"

namespace qguard::kernels::QGUARD_TARGET {
namespace {

constexpr int kRows = static_cast<int>(kLanes);  // query rows per block
// The value pass: kValueRows rows × kChunks vectors of head_dim accumulated in registers per read
// of a value row; more rows per read halve the L2 traffic that bounds this pass.
#if defined(__AVX512F__)
constexpr int kValueRows = 4, kChunks = 4;  // 16 accumulators of 32 registers
#else
constexpr int kValueRows = 2, kChunks = 4;  // 8 accumulators of 16 registers
#endif

// One kv head's keys and values (f32 or BF16), laid out in f32 for attend_block:
//   keys_t[d · padded + k] = keys[k, kv_head, d] (zero for length <= k < padded);
//   values_g[k · head_dim + d] = values[k, kv_head, d].
template <typename T>
void gather_head(const AttentionShape& s, const T* keys, const T* values, int kv_head, std::size_t padded,
                 float* keys_t, float* values_g) {
  const int hd = s.head_dim;
  const std::size_t stride = static_cast<std::size_t>(s.kv_heads) * hd, offset = static_cast<std::size_t>(kv_head) * hd;
  for (int k0 = 0; k0 < s.length; k0 += kRows) {  // a tile of kRows keys: their rows stay in L1
    const int k1 = std::min(s.length, k0 + kRows);
    for (int d = 0; d < hd; ++d) {
      float* dst = keys_t + d * padded;
      for (int k = k0; k < k1; ++k) dst[k] = to_f32(keys[k * stride + offset + d]);
    }
  }
  for (int d = 0; d < hd; ++d) std::fill(keys_t + d * padded + s.length, keys_t + (d + 1) * padded, 0.f);
  for (int k = 0; k < s.length; ++k) {
    const T* row = values + k * stride + offset;
    std::transform(row, row + hd, values_g + k * hd, [](T x) { return to_f32(x); });
  }
}

// dst[r][0 .. C·kLanes) = scale[r] · Σ_k p[r][k] · value[k · stride + 0 .. C·kLanes) for R rows of p
// (row stride p_stride): R × C accumulators in registers.
template <int R, int C, typename T>
void weighted_sum(const float* p, std::size_t p_stride, const T* value, std::size_t stride, int keys,
                  const float* scale, float* const* dst) {
  FloatBatch acc[R][C];
  for (auto& row : acc) {
    for (auto& a : row) a = FloatBatch(0.f);
  }
  for (int k = 0; k < keys; ++k, value += stride) {
    if (k + 16 < keys) {  // 16 rows ahead: in the cache a kv head's rows are 2 KiB apart
      const char* ahead = reinterpret_cast<const char*>(value + 16 * stride);
      for (std::size_t b = 0; b < C * kLanes * sizeof(T); b += 64) __builtin_prefetch(ahead + b);
    }
    FloatBatch pk[R];
    for (int r = 0; r < R; ++r) pk[r] = FloatBatch(p[r * p_stride + k]);
    for (int c = 0; c < C; ++c) {
      const FloatBatch v = load_f32(value + c * kLanes);
      for (int r = 0; r < R; ++r) acc[r][c] = xsimd::fma(pk[r], v, acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) (acc[r][c] * FloatBatch(scale[r])).store_unaligned(dst[r] + c * kLanes);
  }
}

// dst[j][d] = scale[j] · Σ_k p[j · p_stride + k] · value[k · stride + d] for d < head_dim and j < R:
// as many vectors of head_dim per read of a value row as kValueRows × kChunks accumulators allow (a
// decode step's 1 or 2 rows take a whole 128-value row at once, not two halves in two passes), then
// single vectors, the rest of head_dim in scalar code.
template <int R, typename T>
void weighted_rows_of(const float* p, std::size_t p_stride, const T* value, std::size_t stride, int keys, int head_dim,
                      const float* scale, float* const* dst) {
  constexpr int kWide = std::min(kValueRows * kChunks / R, 8);
  float* at[R];
  int d = 0;
  const auto step = [&]<int C>() {
    for (int j = 0; j < R; ++j) at[j] = dst[j] + d;
    weighted_sum<R, C>(p, p_stride, value + d, stride, keys, scale, at);
    d += C * kRows;
  };
  while (d + kWide * kRows <= head_dim) step.template operator()<kWide>();
  while (d + kRows <= head_dim) step.template operator()<1>();
  for (; d < head_dim; ++d) {
    for (int j = 0; j < R; ++j) {
      float sum = 0.f;
      for (int k = 0; k < keys; ++k) sum += p[j * p_stride + k] * to_f32(value[k * stride + d]);
      dst[j][d] = sum * scale[j];
    }
  }
}

// weighted_rows_of for r rows, r being kValueRows, 2 or 1.
template <typename T>
void weighted_rows(int r, const float* p, std::size_t p_stride, const T* value, std::size_t stride, int keys,
                   int head_dim, const float* scale, float* const* dst) {
  if (r == kValueRows) {
    weighted_rows_of<kValueRows>(p, p_stride, value, stride, keys, head_dim, scale, dst);
  } else if (r == 2) {
    weighted_rows_of<2>(p, p_stride, value, stride, keys, head_dim, scale, dst);
  } else {
    weighted_rows_of<1>(p, p_stride, value, stride, keys, head_dim, scale, dst);
  }
}

// dst[d] = src[d] · scale for d < head_dim, rounded to BF16 when `bf16`.
void scale_query(const float* src, int head_dim, float scale, bool bf16, float* dst) {
  for (int d = 0; d < head_dim; ++d) dst[d] = src[d] * scale;
  if (bf16) round_to_bf16(dst, head_dim);
}

// Rows of scores (row i at scores + i · width) become softmax numerators over the keys each row sees
// (rounded to BF16 with s.bf16), 0 past them; inverse[i] = 1 / their sum, applied with the values.
void softmax_rows(const AttentionShape& s, const QueryRows& block, float* scores, std::size_t width, float* inverse) {
  for (int i = 0; i < block.rows; ++i) {
    float* row = scores + i * width;
    const int visible = block.visible(i);
    block.hide(i, row);
    inverse[i] = 1.f / softmax_numerators(row, visible);
    if (s.bf16) round_to_bf16(row, visible);
    std::fill(row + visible, row + width, 0.f);
  }
}

// Each thread's buffers (thread_local, so they are allocated once and grow to the longest cache
// seen: a few rows of scores, at most ~0.5 MB at 8192 positions).
struct Scratch {
  std::vector<float> query;    // one query row (attend_rows: all its rows), scaled by 1/sqrt(head_dim)
  std::vector<float> queries;  // [head_dim, kRows]: the block's rows so scaled, transposed
  std::vector<float> scores;   // [kRows, keys rounded up to kLanes]
};
thread_local Scratch scratch;

void attend_block(const AttentionShape& s, int kv_head, int first_row, const float* q, const float* keys_t,
                  std::size_t padded, const float* values_g, float* out) {
  const QueryRows block(s, kv_head, first_row, kRows);
  const int hd = s.head_dim, rows = block.rows;
  scratch.queries.assign(static_cast<std::size_t>(kRows) * hd, 0.f);
  scratch.query.resize(hd);
  for (int i = 0; i < rows; ++i) {
    scale_query(q + block.offset(i), hd, block.scale, s.bf16, scratch.query.data());
    for (int d = 0; d < hd; ++d) scratch.queries[d * kRows + i] = scratch.query[d];
  }
  const int keys_seen = block.visible(rows - 1);
  const std::size_t width = round_up(keys_seen, kRows);
  scratch.scores.resize(kRows * width);

  // Scores, kLanes keys × every row of the block at a time.
  const float* queries = scratch.queries.data();
  for (std::size_t k0 = 0; k0 < width; k0 += kLanes) {
    FloatBatch acc[kRows];
    for (auto& a : acc) a = FloatBatch(0.f);
    const float* kt = keys_t + k0;
    const float* qt = queries;
    for (int d = 0; d < hd; ++d, kt += padded, qt += kRows) {
      const FloatBatch keys_d = FloatBatch::load_unaligned(kt);
      for (int i = 0; i < kRows; ++i) acc[i] = xsimd::fma(FloatBatch(qt[i]), keys_d, acc[i]);
    }
    for (int i = 0; i < kRows; ++i) acc[i].store_unaligned(&scratch.scores[i * width + k0]);
  }

  alignas(64) float inverse[kRows];
  softmax_rows(s, block, scratch.scores.data(), width, inverse);

  // out[row] = Σ_k p[row][k] · V[k] · inverse[row], kValueRows rows at a time.
  for (int i = 0; i < rows;) {
    const int r = rows - i >= kValueRows ? kValueRows : 1;
    float* dst[kValueRows];
    for (int j = 0; j < r; ++j) dst[j] = out + block.offset(i + j);
    weighted_rows(r, &scratch.scores[i * width], width, values_g, hd, keys_seen, hd, inverse + i, dst);
    i += r;
  }
}

// The few query rows of one kv head that a decode step has, straight from the cache: the rows are
// too few to pay for gathering the head's keys and values; each key and each value is read once for
// all of them.
template <typename T>
void attend_rows(const AttentionShape& s, int kv_head, const float* q, const T* keys, const T* values, float* out) {
  const QueryRows all(s, kv_head, 0, kRows);
  const int hd = s.head_dim, rows = all.rows;
  const std::size_t kv_stride = static_cast<std::size_t>(s.kv_heads) * hd, offset = static_cast<std::size_t>(kv_head) * hd;
  const std::size_t length = s.length;
  scratch.query.resize(static_cast<std::size_t>(rows) * hd);
  for (int i = 0; i < rows; ++i) scale_query(q + all.offset(i), hd, all.scale, s.bf16, &scratch.query[i * hd]);
  scratch.scores.resize(rows * length);
  // kLanes keys at a time, each row's kLanes dot products summed across lanes together (lane_sums),
  // not one horizontal sum each; the last few keys, or a head_dim dot_lanes does not cover, one by one.
  std::size_t k = 0;
  if (hd % (2 * kLanes) == 0) {
    for (; k + kLanes <= length; k += kLanes) {
      // The next keys' rows, each in another part of the page (the cache interleaves kv heads).
      for (std::size_t j = kLanes; j < 2 * kLanes && k + j < length; ++j) {
        const char* row = reinterpret_cast<const char*>(keys + (k + j) * kv_stride + offset);
        for (std::size_t b = 0; b < hd * sizeof(T); b += 64) __builtin_prefetch(row + b);
      }
      for (int i = 0; i < rows; ++i) {
        FloatBatch lanes[kLanes];
        for (std::size_t j = 0; j < kLanes; ++j) {
          lanes[j] = dot_lanes(&scratch.query[i * hd], keys + (k + j) * kv_stride + offset, hd);
        }
        lane_sums(lanes).store_unaligned(&scratch.scores[i * length + k]);
      }
    }
  }
  for (; k < length; ++k) {
    const T* key = keys + k * kv_stride + offset;
    for (int i = 0; i < rows; ++i) scratch.scores[i * length + k] = dot_product(&scratch.query[i * hd], key, hd);
  }
  alignas(64) float inverse[kRows];
  softmax_rows(s, all, scratch.scores.data(), length, inverse);
  for (int i = 0; i < rows;) {
    const int r = rows - i >= kValueRows ? kValueRows : rows - i >= 2 ? 2 : 1;
    float* dst[kValueRows];
    for (int j = 0; j < r; ++j) dst[j] = out + all.offset(i + j);
    weighted_rows(r, &scratch.scores[i * length], length, values + offset, kv_stride, all.visible(i + r - 1), hd,
                  inverse + i, dst);
    i += r;
  }
}

template <typename T>
void attention_of(ThreadPool& pool, const AttentionShape& s, const float* q, const T* keys, const T* values,
                  float* out) {
  const int group = s.heads / s.kv_heads;
  if (s.tokens * group <= kRows / 2) {  // a decode step (or two)
    pool.parallel_for(s.kv_heads, [&](std::size_t g) { attend_rows(s, static_cast<int>(g), q, keys, values, out); });
    return;
  }
  const int blocks = (s.tokens * group + kRows - 1) / kRows;
  const std::size_t padded = round_up(s.length, kRows), per_head = padded * s.head_dim;
  // Every kv head's keys_t, then every kv head's values_g: a copy of the whole cache, so it is
  // this call's (a thread_local copy would stay as large as the longest cache, on every server
  // thread that ever ran a prompt).
  CacheLines<float> gathered(2 * per_head * s.kv_heads);  // not zeroed: gather_head writes what is read
  float* const keys_t = gathered.data();
  float* const values_g = keys_t + per_head * s.kv_heads;
  pool.parallel_for(s.kv_heads, [&](std::size_t g) {
    gather_head(s, keys, values, static_cast<int>(g), padded, keys_t + g * per_head, values_g + g * per_head);
  });
  pool.parallel_for(static_cast<std::size_t>(s.kv_heads) * blocks, [&](std::size_t task) {
    const int kv_head = static_cast<int>(task) / blocks, block = static_cast<int>(task) % blocks;
    attend_block(s, kv_head, block * kRows, q, keys_t + kv_head * per_head, padded, values_g + kv_head * per_head,
                 out);
  });
}

}  // namespace

void attention(ThreadPool& pool, const AttentionShape& s, const float* q, const void* keys, const void* values,
               float* out) {
  if (s.bf16) {
    attention_of(pool, s, q, static_cast<const std::uint16_t*>(keys), static_cast<const std::uint16_t*>(values), out);
  } else {
    attention_of(pool, s, q, static_cast<const float*>(keys), static_cast<const float*>(values), out);
  }
}

}  // namespace qguard::kernels::QGUARD_TARGET
