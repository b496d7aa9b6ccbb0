// Attention with BF16 products on AMX tiles (Target::kAmx, shape.bf16: the int8 weights' attention).
//
// The same blocks as attention.cc — one kv head and 16 query rows (token × query head of the
// group), every key the block's last row sees — but both products are tile products of BF16 pairs
// with f32 sums (TDPBF16PS):
//   scores  S[16 rows][16 keys] = Σ over head_dim in 32s: Q[rows][32 dims] · K-pairs[16 dim pairs][16 keys];
//   values  O[16 rows][16 dims] = Σ over keys in 32s: P[rows][32 keys] · V-pairs[16 key pairs][16 dims].
// A tile's second operand holds pairs: row i is, for each of its 16 columns, the two values of
// inputs 2i and 2i + 1. So each kv head's keys are gathered as [dim pair][key][2] and its values
// as [key pair][dim][2], from the BF16 cache, and every BF16 product is exact. Softmax stays in f32 between the two.
#include <algorithm>
#include <cmath>
#include <new>
#include <vector>

#include "kernels/amx_tiles.hpp"
#include "kernels/query_rows.hpp"
#include "kernels/target.hpp"

namespace qguard::kernels::QGUARD_TARGET {
namespace {

constexpr int kRows = amx::kTileRows;  // query rows per block
constexpr int kKeyGroup = 16;  // keys per score tile
constexpr int kPairs = 32;     // BF16 inputs per tile row (16 pairs)
constexpr amx::TileConfig kConfig = amx::full_tiles(8);

// e^x for x <= 0 (-inf gives 0, NaN stays NaN) within 2.7 ulp (checked against std::exp at every
// 16th float in [-inf, 0]), in 12 vector operations with no handling of the positive or large
// inputs softmax never passes (3-4 % of an attention call against xsimd::exp): x = n ln 2 + r with n
// an integer and |r| <= ln 2 / 2 (ln 2 in two parts, so r is exact to f32), e^r by its Taylor series
// to r^6 (the next term is below 1.2e-7 relative), then 2^n applied by vscalefps.
inline __m512 exp_nonpositive(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(-104.f), x);  // e^-104 is 0 in f32; a NaN x is kept (max's 2nd operand)
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145752f), x);  // ln 2's upper 16 bits: n · it is exact
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860677e-6f), r);       // the rest of ln 2
  __m512 p = _mm512_set1_ps(1.f / 720);
  for (float c : {1.f / 120, 1.f / 24, 1.f / 6, 1.f / 2, 1.f, 1.f}) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
  return _mm512_scalef_ps(p, n);
}

// One kv head's keys and values (the BF16 cache) as the tiles' second operands, each 32-bit word a
// BF16 pair, zero from `length` to `padded`:
//   keys_p[(d / 2) · padded + k] = (keys[k, kv_head, d], keys[k, kv_head, d + 1]) for even d;
//   values_p[(k / 2) · head_dim + d] = (values[k, kv_head, d], values[k + 1, kv_head, d]) for even k.
void gather_head(const AttentionShape& s, const std::uint16_t* keys, const std::uint16_t* values, int kv_head,
                 std::size_t padded, std::uint32_t* keys_p, std::uint32_t* values_p) {
  const int hd = s.head_dim, length = s.length;
  const std::size_t stride = static_cast<std::size_t>(s.kv_heads) * hd, offset = static_cast<std::size_t>(kv_head) * hd;
  auto at = [&](const std::uint16_t* base, std::size_t k, int d) { return base + k * stride + offset + d; };

  // Keys: per 16 keys and 32 dims, each key's 32 BF16s are its 16 pairs already; transposed.
  for (std::size_t k0 = 0; k0 < padded; k0 += kKeyGroup) {
    for (int d0 = 0; d0 < hd; d0 += kPairs) {
      __m512i rows[16];
      for (int i = 0; i < 16; ++i) {
        rows[i] = k0 + i < static_cast<std::size_t>(length) ? _mm512_loadu_si512(at(keys, k0 + i, d0))
                                                            : _mm512_setzero_si512();
      }
      transpose16(rows);
      for (int j = 0; j < 16; ++j) _mm512_storeu_si512(keys_p + (d0 / 2 + j) * padded + k0, rows[j]);
    }
  }

  // Values: key k's 16 BF16s of dims d.. in the low halves, key k + 1's in the high ones.
  auto widened = [&](std::size_t k, int d) {
    return k < static_cast<std::size_t>(length)
               ? _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(at(values, k, d))))
               : _mm512_setzero_si512();
  };
  for (std::size_t k = 0; k < padded; k += 2) {
    for (int d = 0; d < hd; d += 16) {
      const __m512i pair = _mm512_or_si512(widened(k, d), _mm512_slli_epi32(widened(k + 1, d), 16));
      _mm512_storeu_si512(values_p + (k / 2) * hd + d, pair);
    }
  }
}

// Starts C = Σ_{i < steps} A_i · B_i for kColumns (2 or 4) tiles of 16 columns summed in tiles kC0 ..
// kC0 + kColumns - 1 (independent sums: a chain of products into one tile would wait on each), A_i in
// tile 4 and the B tiles in 5–7: A_i is 32 BF16s per row at a + 32 i (rows a_stride bytes apart);
// B_i's column tile j is 16 BF16 pairs per row at b + i · b_step + 16 j (rows b_stride bytes apart).
// The instructions return before the tiles hold the sums: store_products takes them out.
template <int kC0, int kColumns>
void start_products(int steps, const std::uint16_t* a, std::size_t a_stride, const std::uint32_t* b,
                    std::size_t b_step, std::size_t b_stride) {
  static_assert((kColumns == 4 && kC0 == 0) || (kColumns == 2 && (kC0 == 0 || kC0 == 2)));
  constexpr int kB0 = kC0 == 2 ? 7 : 5, kB1 = kC0 == 2 ? 5 : 6;  // the other pair of sums' B tiles differ
  amx::zero<kC0>();
  amx::zero<kC0 + 1>();
  if constexpr (kColumns == 4) {
    amx::zero<2>();
    amx::zero<3>();
  }
  for (int i = 0; i < steps; ++i, a += kPairs, b += b_step) {
    amx::load<4>(a, a_stride);
    amx::load<kB0>(b, b_stride);
    amx::dot_bf16<kC0, 4, kB0>();
    amx::load<kB1>(b + 16, b_stride);
    amx::dot_bf16<kC0 + 1, 4, kB1>();
    if constexpr (kColumns == 4) {
      amx::load<7>(b + 32, b_stride);
      amx::dot_bf16<2, 4, 7>();
      amx::load<5>(b + 48, b_stride);
      amx::dot_bf16<3, 4, 5>();
    }
  }
}

// C's rows, c_stride bytes apart. A tile store waits for the products that fill it.
template <int kC0, int kColumns>
void store_products(float* c, std::size_t c_stride) {
  amx::store<kC0>(c, c_stride);
  amx::store<kC0 + 1>(c + 16, c_stride);
  if constexpr (kColumns == 4) {
    amx::store<2>(c + 32, c_stride);
    amx::store<3>(c + 48, c_stride);
  }
}

// Each thread's buffers for one block (thread_local: allocated once, at most ~1 MB at 8192 positions).
struct Scratch {
  CacheLines<std::uint16_t> queries;  // [kRows][head_dim] BF16, scaled
  CacheLines<float> scores;           // [kRows][width]
  CacheLines<std::uint16_t> p;        // [kRows][width] BF16 numerators, 0 past each row's last key
  CacheLines<float> sums;             // [kRows][head_dim]
};
thread_local Scratch scratch;

void attend_block(const AttentionShape& s, int kv_head, int first_row, const float* q, const std::uint32_t* keys_p,
                  std::size_t padded, const std::uint32_t* values_p, float* out) {
  const QueryRows block(s, kv_head, first_row, kRows);
  const int hd = s.head_dim, rows = block.rows;
  scratch.queries.assign(static_cast<std::size_t>(kRows) * hd, 0);
  for (int i = 0; i < rows; ++i) {
    const float* src = q + block.offset(i);
    for (int d = 0; d < hd; d += 16) {
      const __m512 scaled = _mm512_mul_ps(_mm512_loadu_ps(src + d), _mm512_set1_ps(block.scale));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(&scratch.queries[i * hd + d]),
                          upper_halves(rounded_to_bf16(scaled)));
    }
  }
  const int keys_seen = block.visible(rows - 1);
  const std::size_t width = round_up(keys_seen, kPairs);  // <= padded
  scratch.scores.resize(kRows * width);
  scratch.p.resize(kRows * width);
  scratch.sums.resize(static_cast<std::size_t>(kRows) * hd);

  // Scores, 32 keys at a time, in tiles 0–1 and 2–3 by turns: a pair's sums are stored only after
  // the next 32 keys' products have started on the other pair (stored at once, they would wait).
  const std::size_t query_bytes = hd * sizeof(std::uint16_t), key_row_bytes = padded * sizeof(std::uint32_t);
  const std::size_t key_step = (kPairs / 2) * padded, score_bytes = width * sizeof(float);
  const int dim_steps = hd / kPairs, key_tiles = static_cast<int>(width / kPairs);
  for (int n = 0; n <= key_tiles; ++n) {
    const std::size_t k0 = static_cast<std::size_t>(n) * kPairs;
    if (n < key_tiles) {
      if (n % 2 == 0) {
        start_products<0, 2>(dim_steps, scratch.queries.data(), query_bytes, keys_p + k0, key_step, key_row_bytes);
      } else {
        start_products<2, 2>(dim_steps, scratch.queries.data(), query_bytes, keys_p + k0, key_step, key_row_bytes);
      }
    }
    if (n == 0) continue;
    float* done = &scratch.scores[k0 - kPairs];
    if ((n - 1) % 2 == 0) {
      store_products<0, 2>(done, score_bytes);
    } else {
      store_products<2, 2>(done, score_bytes);
    }
  }

  // Softmax numerators of the keys each row sees, in one pass after the row's maximum: exp(s - max)
  // summed in f32 and stored as BF16 (0 past the row's last key); 1 / Σ is applied to the sums.
  alignas(64) float inverse[kRows] = {};
  for (int i = 0; i < kRows; ++i) {
    const float* row = &scratch.scores[i * width];
    std::uint16_t* p = &scratch.p[i * width];
    const int visible = i < rows ? block.visible(i) : 0;
    if (visible == 0) {  // a row past the block's last (its tile row reads zeros)
      std::fill(p, p + width, std::uint16_t{0});
      continue;
    }
    block.hide(i, &scratch.scores[i * width]);
    auto seen = [visible](int k) -> __mmask16 {
      return visible - k >= 16 ? 0xffff : visible > k ? (1u << (visible - k)) - 1 : 0;
    };
    __m512 peak = _mm512_set1_ps(-INFINITY);
    for (int k = 0; k < visible; k += 16) peak = _mm512_mask_max_ps(peak, seen(k), peak, _mm512_loadu_ps(row + k));
    const __m512 max = _mm512_set1_ps(max_lane(peak));
    __m512 sum = _mm512_setzero_ps();
    for (int k = 0; k < static_cast<int>(width); k += 16) {
      const __m512 e = _mm512_maskz_mov_ps(seen(k), exp_nonpositive(_mm512_sub_ps(_mm512_loadu_ps(row + k), max)));
      sum = _mm512_add_ps(sum, e);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(p + k), upper_halves(rounded_to_bf16(e)));
    }
    inverse[i] = 1.f / xsimd::hadd(FloatBatch(sum));
  }

  // Sums of the values, 64 dims at a time (a head_dim's last 32 alone).
  const std::size_t p_bytes = width * sizeof(std::uint16_t), value_row_bytes = hd * sizeof(std::uint32_t);
  const std::size_t value_step = (kPairs / 2) * hd, sum_bytes = hd * sizeof(float);
  const int key_steps = static_cast<int>(width / kPairs);
  for (int d0 = 0; d0 < hd; d0 += 2 * kPairs) {
    if (hd - d0 >= 2 * kPairs) {
      start_products<0, 4>(key_steps, scratch.p.data(), p_bytes, values_p + d0, value_step, value_row_bytes);
      store_products<0, 4>(&scratch.sums[d0], sum_bytes);
    } else {
      start_products<0, 2>(key_steps, scratch.p.data(), p_bytes, values_p + d0, value_step, value_row_bytes);
      store_products<0, 2>(&scratch.sums[d0], sum_bytes);
    }
  }
  for (int i = 0; i < rows; ++i) {
    float* dst = out + block.offset(i);
    const __m512 factor = _mm512_set1_ps(inverse[i]);
    for (int d = 0; d < hd; d += 16) {
      _mm512_storeu_ps(dst + d, _mm512_mul_ps(_mm512_loadu_ps(&scratch.sums[i * hd + d]), factor));
    }
  }
}

}  // namespace

void attention_amx(ThreadPool& pool, const AttentionShape& s, const float* q, const void* keys, const void* values,
                   float* out) {
  const int group = s.heads / s.kv_heads;
  // Tiles pay for blocks of rows (not a decode step's few) with whole 32-input tile rows of head_dim.
  if (!s.bf16 || s.tokens * group <= kRows / 2 || s.head_dim % kPairs != 0) {
    attention(pool, s, q, keys, values, out);
    return;
  }
  const int blocks = (s.tokens * group + kRows - 1) / kRows;
  const std::size_t padded = round_up(s.length, kPairs), per_head = padded * s.head_dim;  // BF16s per head
  // Every kv head's keys_p, then every kv head's values_p (two BF16s a word): a copy of the whole
  // cache, so it is this call's (kept per thread, it would stay as large as the longest cache on
  // every thread that ever ran a prompt).
  CacheLines<std::uint32_t> gathered(per_head * s.kv_heads);
  std::uint32_t* const keys_p = gathered.data();
  std::uint32_t* const values_p = keys_p + per_head / 2 * s.kv_heads;
  pool.parallel_for(s.kv_heads, [&](std::size_t g) {
    gather_head(s, static_cast<const std::uint16_t*>(keys), static_cast<const std::uint16_t*>(values),
                static_cast<int>(g), padded, keys_p + g * per_head / 2, values_p + g * per_head / 2);
  });
  pool.parallel_for(static_cast<std::size_t>(s.kv_heads) * blocks, [&](std::size_t task) {
    const int kv_head = static_cast<int>(task) / blocks, block = static_cast<int>(task) % blocks;
    amx::configure(kConfig);
    attend_block(s, kv_head, block * kRows, q, keys_p + kv_head * per_head / 2, padded,
                 values_p + kv_head * per_head / 2, out);
    amx::release();
  });
}

}  // namespace qguard::kernels::QGUARD_TARGET
