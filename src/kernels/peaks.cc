// The arithmetic peaks of a target (one build per target), for `qguard bench`: tight loops of the
// instructions the kernels use, on independent chains, so efficiencies compare like with like.
#include "kernels/target.hpp"

#if defined(__AVX512F__)
#include "kernels/amx_tiles.hpp"
#endif

namespace qguard::kernels::QGUARD_TARGET {
namespace {

constexpr int kBlock = 4096;  // iterations between clock reads
constexpr int kChains = 12;   // independent FMA chains: more than FMA latency × FMA ports on x86
#if defined(__AVX2__) && !defined(__AVX512F__)
// Fewer for 8-bit on AVX2: with the two constants and the temporaries, 8 chains are what stays in
// its 16 registers (10 or 12 spill to the stack and measure lower).
constexpr int kInt8Chains = 8;
#endif

// Keeps a value alive without storing it anywhere (so the loop computing it is not optimized away).
template <class T>
void keep(const T& value) {
  __asm__ volatile("" : : "r"(&value) : "memory");
}

}  // namespace

// acc = acc * a + b; the values converge to b / (1 - a) = 1, never denormal.
double f32_fma_ops(PeakClock::time_point deadline) {
  FloatBatch acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = FloatBatch(1.0f + 0.01f * static_cast<float>(c));
  const FloatBatch a(0.999f), b(0.001f);
  double ops = 0;
  while (PeakClock::now() < deadline) {
    for (int i = 0; i < kBlock; ++i) {
      // Unrolled, the accumulators live in registers (without the pragma, -O2 keeps them in memory).
#pragma GCC unroll 16
      for (int c = 0; c < kChains; ++c) acc[c] = xsimd::fma(acc[c], a, b);
    }
    ops += 2.0 * kBlock * kChains * kLanes;
  }
  FloatBatch sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum += acc[c];
  keep(sum);
  return ops;
}

// Unsigned × signed 8-bit products summed into 32-bit lanes, 2 operations per product; each chain
// feeds its result back as the unsigned operand, so nothing is loop-invariant. 0 where the target
// has no 8-bit dot-product instructions (the scalar baseline).
double int8_dot_ops(PeakClock::time_point deadline) {
#if defined(__AVX512F__)
  // Named accumulators: GCC keeps an array of them in memory around the inline assembly.
  const __m512i weights = _mm512_set1_epi8(3);
  __m512i a0 = _mm512_set1_epi32(1), a1 = _mm512_set1_epi32(2), a2 = _mm512_set1_epi32(3), a3 = _mm512_set1_epi32(4),
          a4 = _mm512_set1_epi32(5), a5 = _mm512_set1_epi32(6), a6 = _mm512_set1_epi32(7), a7 = _mm512_set1_epi32(8),
          a8 = _mm512_set1_epi32(9), a9 = _mm512_set1_epi32(10), a10 = _mm512_set1_epi32(11),
          a11 = _mm512_set1_epi32(12);
  double ops = 0;
  while (PeakClock::now() < deadline) {
    for (int i = 0; i < kBlock; ++i) {
      for (__m512i* a : {&a0, &a1, &a2, &a3, &a4, &a5, &a6, &a7, &a8, &a9, &a10, &a11}) {
        __asm__("vpdpbusd %1, %0, %0" : "+v"(*a) : "v"(weights));
      }
    }
    ops += 2.0 * kBlock * kChains * 64;  // 64 products per instruction
  }
  __m512i sum = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3)),
                                 _mm512_add_epi32(_mm512_add_epi32(a4, a5), _mm512_add_epi32(a6, a7)));
  sum = _mm512_add_epi32(sum, _mm512_add_epi32(_mm512_add_epi32(a8, a9), _mm512_add_epi32(a10, a11)));
  keep(sum);
  return ops;
#elif defined(__AVX2__)
  __m256i acc[kInt8Chains];
  for (int c = 0; c < kInt8Chains; ++c) acc[c] = _mm256_set1_epi32(0x01020304 * (c + 1));
  const __m256i weights = _mm256_set1_epi8(3);
  const __m256i ones = _mm256_set1_epi16(1);
  double ops = 0;
  while (PeakClock::now() < deadline) {
    for (int i = 0; i < kBlock; ++i) {
#pragma GCC unroll 16
      for (int c = 0; c < kInt8Chains; ++c) {
        const __m256i pairs = _mm256_maddubs_epi16(acc[c], weights);         // 32 products
        acc[c] = _mm256_add_epi32(acc[c], _mm256_madd_epi16(pairs, ones));  // into 8 x i32
      }
    }
    ops += 2.0 * kBlock * kInt8Chains * 32;
  }
  __m256i sum = acc[0];
  for (int c = 1; c < kInt8Chains; ++c) sum = _mm256_add_epi32(sum, acc[c]);
  keep(sum);
  return ops;
#else
  (void)deadline;
  return 0;
#endif
}

#if defined(__AVX512F__)
// AMX tdpbssd on four independent sum tiles (one per pair of the two operand tiles of each side):
// the 16 × 16 × 64 products of an instruction, 2 operations each.
double amx_int8_dot_ops(PeakClock::time_point deadline) {
  alignas(64) static const std::int8_t operand[16 * 64] = {3};
  alignas(64) std::int32_t sums[16 * 16];
  amx::configure(amx::full_tiles(8));
  amx::zero<0>();
  amx::zero<1>();
  amx::zero<2>();
  amx::zero<3>();
  amx::load<4>(operand, 64);
  amx::load<5>(operand, 64);
  amx::load<6>(operand, 64);
  amx::load<7>(operand, 64);
  double ops = 0;
  while (PeakClock::now() < deadline) {
    for (int i = 0; i < kBlock / 16; ++i) {
      amx::dot_signed<0, 4, 6>();
      amx::dot_signed<1, 4, 7>();
      amx::dot_signed<2, 5, 6>();
      amx::dot_signed<3, 5, 7>();
    }
    ops += 2.0 * (kBlock / 16) * 4 * 16 * 16 * 64;
  }
  amx::store<0>(sums, 64);
  amx::release();
  keep(sums);
  return ops;
}
#endif

}  // namespace qguard::kernels::QGUARD_TARGET
