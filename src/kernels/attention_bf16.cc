// Attention with BF16 pair products (shape.bf16: the int8 weights' attention), on AMX tiles
// (Target::kAmx, TDPBF16PS) or in AVX512_BF16 vectors (Target::kAvx512Bf16, VDPBF16PS).
//
// The same blocks as attention.cc — one kv head and 16 query rows (token × query head of the
// group), every key the block's last row sees — but both products multiply BF16 pairs into f32 sums:
//   scores  S[16 rows][keys] = Σ over dim pairs: Q[rows][dim pair] · K-pairs[dim pair][keys];
//   values  O[16 rows][dims] = Σ over key pairs: P[rows][key pair] · V-pairs[key pair][dims].
// Both instructions read their second operand as pairs: for each of its 16 f32 lanes, the two
// values of inputs 2i and 2i + 1. So each kv head's keys are gathered as [dim pair][key][2] and its
// values as [key pair][dim][2], from the BF16 cache, and every BF16 product is exact. Softmax stays
// in f32 between the two. The two targets differ only in how they multiply (TileProducts,
// VectorProducts); their sums are in different orders.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>
#include <vector>

#include "kernels/amx_tiles.hpp"
#include "kernels/query_rows.hpp"
#include "kernels/target.hpp"

namespace qguard::kernels::QGUARD_TARGET {
namespace {

constexpr int kRows = amx::kTileRows;  // query rows per block
constexpr int kKeyGroup = 16;          // keys per score tile
constexpr int kPairs = 32;             // BF16 inputs per tile row (16 pairs)

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

// AMX: both products on tiles. scores() and values() compute every row of the block (rows past the
// last read zeros).
struct TileProducts {
  static constexpr amx::TileConfig kConfig = amx::full_tiles(8);

  // Starts C = Σ_{i < steps} A_i · B_i for kColumns (2 or 4) tiles of 16 columns summed in tiles kC0
  // .. kC0 + kColumns - 1 (independent sums: a chain of products into one tile would wait on each),
  // A_i in tile 4 and the B tiles in 5–7: A_i is 32 BF16s per row at a + 32 i (rows a_stride bytes
  // apart); B_i's column tile j is 16 BF16 pairs per row at b + i · b_step + 16 j (rows b_stride
  // bytes apart). The instructions return before the tiles hold the sums: store_products takes them out.
  template <int kC0, int kColumns>
  static void start_products(int steps, const std::uint16_t* a, std::size_t a_stride, const std::uint32_t* b,
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
  static void store_products(float* c, std::size_t c_stride) {
    amx::store<kC0>(c, c_stride);
    amx::store<kC0 + 1>(c + 16, c_stride);
    if constexpr (kColumns == 4) {
      amx::store<2>(c + 32, c_stride);
      amx::store<3>(c + 48, c_stride);
    }
  }

  // scores[i][k] = queries[i] · key k, for k < width: 32 keys at a time, in tiles 0–1 and 2–3 by
  // turns (a pair's sums are stored only after the next 32 keys' products have started on the other
  // pair; stored at once, they would wait).
  static void scores(const QueryRows&, const std::uint16_t* queries, int hd, const std::uint32_t* keys_p,
                     std::size_t padded, std::size_t width, float* scores) {
    const std::size_t query_bytes = hd * sizeof(std::uint16_t), key_row_bytes = padded * sizeof(std::uint32_t);
    const std::size_t key_step = (kPairs / 2) * padded, score_bytes = width * sizeof(float);
    const int dim_steps = hd / kPairs, key_tiles = static_cast<int>(width / kPairs);
    for (int n = 0; n <= key_tiles; ++n) {
      const std::size_t k0 = static_cast<std::size_t>(n) * kPairs;
      if (n < key_tiles) {
        if (n % 2 == 0) {
          start_products<0, 2>(dim_steps, queries, query_bytes, keys_p + k0, key_step, key_row_bytes);
        } else {
          start_products<2, 2>(dim_steps, queries, query_bytes, keys_p + k0, key_step, key_row_bytes);
        }
      }
      if (n == 0) continue;
      float* done = scores + k0 - kPairs;
      if ((n - 1) % 2 == 0) {
        store_products<0, 2>(done, score_bytes);
      } else {
        store_products<2, 2>(done, score_bytes);
      }
    }
  }

  // sums[i][d] = Σ_k p[i][k] · values[k][d] for k < width: 64 dims at a time (a head_dim's last 32 alone).
  static void values(const QueryRows&, const std::uint16_t* p, std::size_t width, const std::uint32_t* values_p, int hd,
                     float* sums) {
    const std::size_t p_bytes = width * sizeof(std::uint16_t), value_row_bytes = hd * sizeof(std::uint32_t);
    const std::size_t value_step = (kPairs / 2) * hd, sum_bytes = hd * sizeof(float);
    const int key_steps = static_cast<int>(width / kPairs);
    for (int d0 = 0; d0 < hd; d0 += 2 * kPairs) {
      if (hd - d0 >= 2 * kPairs) {
        start_products<0, 4>(key_steps, p, p_bytes, values_p + d0, value_step, value_row_bytes);
        store_products<0, 4>(sums + d0, sum_bytes);
      } else {
        start_products<0, 2>(key_steps, p, p_bytes, values_p + d0, value_step, value_row_bytes);
        store_products<0, 2>(sums + d0, sum_bytes);
      }
    }
  }

  struct Session {  // a thread's tiles, configured for one task
    Session() { amx::configure(kConfig); }
    ~Session() { amx::release(); }
  };
};

// AVX512_BF16: acc += for each f32 lane, the products of a's and b's BF16 pairs in that lane. Written
// out, like vpdpbusd in packed_int8.cc (the avx512 build's flags do not include AVX512_BF16).
inline __m512 dpbf16(__m512 acc, __m512i a, __m512i b) {
  __asm__("vdpbf16ps %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
  return acc;
}

// The pair at `p` (two BF16s) in every lane.
inline __m512i broadcast_pair(const std::uint16_t* p) {
  std::uint32_t pair;
  std::memcpy(&pair, p, sizeof pair);
  return _mm512_set1_epi32(static_cast<int>(pair));
}

// AVX512_BF16 vectors: register tiles of sums, each BF16 pair read serving a row of them.
struct VectorProducts {
  static constexpr int kScoreRows = 8, kScoreKeys = 32;  // 8 rows × 2 vectors of keys: 16 sums
  static constexpr int kValueRows = 4;                   // 4 rows × 4 vectors of dims: 16 sums

  // scores[i][k] for the block's rows and k < width (a multiple of kScoreKeys).
  static void scores(const QueryRows& block, const std::uint16_t* queries, int hd, const std::uint32_t* keys_p,
                     std::size_t padded, std::size_t width, float* scores) {
    for (int r0 = 0; r0 < block.rows; r0 += kScoreRows) {
      for (std::size_t k0 = 0; k0 < width; k0 += kScoreKeys) {
        __m512 acc[kScoreRows][2];
        for (auto& row : acc) row[0] = row[1] = _mm512_setzero_ps();
        const std::uint32_t* keys = keys_p + k0;
        for (int d = 0; d < hd; d += 2, keys += padded) {
          const __m512i k_lo = _mm512_loadu_si512(keys), k_hi = _mm512_loadu_si512(keys + 16);
          for (int i = 0; i < kScoreRows; ++i) {
            const __m512i q = broadcast_pair(queries + (r0 + i) * hd + d);
            acc[i][0] = dpbf16(acc[i][0], q, k_lo);
            acc[i][1] = dpbf16(acc[i][1], q, k_hi);
          }
        }
        for (int i = 0; i < kScoreRows; ++i) {
          _mm512_storeu_ps(scores + (r0 + i) * width + k0, acc[i][0]);
          _mm512_storeu_ps(scores + (r0 + i) * width + k0 + 16, acc[i][1]);
        }
      }
    }
  }

  // sums[i][d] for the block's rows, over the keys the last of each kValueRows rows sees (p is 0
  // past each row's own); kColumns vectors of dims at a time.
  template <int kColumns>
  static void value_tile(const std::uint16_t* p, std::size_t width, int keys, const std::uint32_t* values_p, int hd,
                         float* sums) {
    __m512 acc[kValueRows][kColumns];
    for (auto& row : acc) {
      for (auto& a : row) a = _mm512_setzero_ps();
    }
    for (int k = 0; k < keys; k += 2, values_p += hd) {
      __m512i v[kColumns];
      for (int c = 0; c < kColumns; ++c) v[c] = _mm512_loadu_si512(values_p + 16 * c);
      for (int i = 0; i < kValueRows; ++i) {
        const __m512i pk = broadcast_pair(p + i * width + k);
        for (int c = 0; c < kColumns; ++c) acc[i][c] = dpbf16(acc[i][c], pk, v[c]);
      }
    }
    for (int i = 0; i < kValueRows; ++i) {
      for (int c = 0; c < kColumns; ++c) _mm512_storeu_ps(sums + i * hd + 16 * c, acc[i][c]);
    }
  }

  static void values(const QueryRows& block, const std::uint16_t* p, std::size_t width, const std::uint32_t* values_p,
                     int hd, float* sums) {
    for (int r0 = 0; r0 < block.rows; r0 += kValueRows) {
      const int last = std::min(r0 + kValueRows, block.rows) - 1;
      const int keys = static_cast<int>(round_up(block.visible(last), 2));  // <= width
      for (int d0 = 0; d0 < hd; d0 += 2 * kPairs) {
        float* dst = sums + r0 * hd + d0;
        if (hd - d0 >= 2 * kPairs) {
          value_tile<4>(p + r0 * width, width, keys, values_p + d0, hd, dst);
        } else {
          value_tile<2>(p + r0 * width, width, keys, values_p + d0, hd, dst);
        }
      }
    }
  }

  struct Session {};
};

// Each thread's buffers for one block (thread_local: allocated once, at most ~1 MB at 8192 positions).
struct Scratch {
  CacheLines<std::uint16_t> queries;  // [kRows][head_dim] BF16, scaled
  CacheLines<float> scores;           // [kRows][width]
  CacheLines<std::uint16_t> p;        // [kRows][width] BF16 numerators, 0 past each row's last key
  CacheLines<float> sums;             // [kRows][head_dim]
};
thread_local Scratch scratch;

template <typename Products>
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

  Products::scores(block, scratch.queries.data(), hd, keys_p, padded, width, scratch.scores.data());

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

  Products::values(block, scratch.p.data(), width, values_p, hd, scratch.sums.data());
  for (int i = 0; i < rows; ++i) {
    float* dst = out + block.offset(i);
    const __m512 factor = _mm512_set1_ps(inverse[i]);
    for (int d = 0; d < hd; d += 16) {
      _mm512_storeu_ps(dst + d, _mm512_mul_ps(_mm512_loadu_ps(&scratch.sums[i * hd + d]), factor));
    }
  }
}

// Tiles pay for blocks of rows (not a decode step's few) with whole 32-input tile rows of head_dim;
// so do the vectors' register tiles. Everything else is attention()'s.
template <typename Products>
void attention_pairs(ThreadPool& pool, const AttentionShape& s, const float* q, const void* keys, const void* values,
                     float* out) {
  const int group = s.heads / s.kv_heads;
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
    [[maybe_unused]] const typename Products::Session session;  // AMX: the thread's tiles, for this task
    attend_block<Products>(s, kv_head, block * kRows, q, keys_p + kv_head * per_head / 2, padded,
                           values_p + kv_head * per_head / 2, out);
  });
}

}  // namespace

void attention_amx(ThreadPool& pool, const AttentionShape& s, const float* q, const void* keys, const void* values,
                   float* out) {
  attention_pairs<TileProducts>(pool, s, q, keys, values, out);
}

void attention_avx512_bf16(ThreadPool& pool, const AttentionShape& s, const float* q, const void* keys,
                           const void* values, float* out) {
  attention_pairs<VectorProducts>(pool, s, q, keys, values, out);
}

}  // namespace qguard::kernels::QGUARD_TARGET
