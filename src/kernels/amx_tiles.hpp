// AMX tile instructions for the AVX-512 kernel build, used only where cpu.cc found AMX-INT8/BF16 and the
// OS granted the tile state (Target::kAmx). Written as inline assembly: the instructions need no
// compiler flag, and each statement tells the compiler what memory it touches (GCC 12's own
// _tile_stored omits that, so later loads of the stored tile could be moved before it).
#pragma once

#if !defined(__AVX512F__)
#error "amx_tiles.hpp belongs to the AVX-512 kernel build"
#endif

#include <cstddef>
#include <cstdint>

namespace qguard::kernels::QGUARD_TARGET::amx {

constexpr int kTileRows = 16;  // the most rows a tile holds: tokens per group in the kernels

// The tile configuration (LDTILECFG's 64-byte operand): palette 1, then per tile its bytes per row
// and its rows.
struct alignas(64) TileConfig {
  std::uint8_t palette = 1;
  std::uint8_t start_row = 0;
  std::uint8_t reserved[14] = {};
  std::uint16_t bytes_per_row[16] = {};
  std::uint8_t rows[16] = {};
};

// Every tile of `tiles` 16 rows × 64 bytes: the largest shape, and the only one the kernels use.
constexpr TileConfig full_tiles(int tiles) {
  TileConfig config;
  for (int t = 0; t < tiles; ++t) {
    config.bytes_per_row[t] = 64;
    config.rows[t] = 16;
  }
  return config;
}

// Configures this thread's tiles until release(); a thread must configure before any tile use.
inline void configure(const TileConfig& config) { __asm__ volatile("ldtilecfg %0" : : "m"(config)); }
inline void release() { __asm__ volatile("tilerelease" ::: "memory"); }

template <int kTile>
inline void zero() {
  __asm__ volatile("tilezero %%tmm%c0" : : "i"(kTile));
}

// Tile rows from `base`, `stride` bytes apart.
template <int kTile>
inline void load(const void* base, std::size_t stride) {
  __asm__ volatile("tileloadd (%0,%1,1), %%tmm%c2" : : "r"(base), "r"(stride), "i"(kTile) : "memory");
}

template <int kTile>
inline void store(void* base, std::size_t stride) {
  __asm__ volatile("tilestored %%tmm%c2, (%0,%1,1)" : : "r"(base), "r"(stride), "i"(kTile) : "memory");
}

// C[m][n] += Σ_{i<4k} A[m][i] · B[i/4][4n + i%4]: signed bytes, sums exact in int32.
template <int kC, int kA, int kB>
inline void dot_signed() {
  __asm__ volatile("tdpbssd %%tmm%c2, %%tmm%c1, %%tmm%c0" : : "i"(kC), "i"(kA), "i"(kB));
}

// C[m][n] += Σ_{i<2k} A[m][i] · B[i/2][2n + i%2]: BF16 products, f32 sums.
template <int kC, int kA, int kB>
inline void dot_bf16() {
  __asm__ volatile("tdpbf16ps %%tmm%c2, %%tmm%c1, %%tmm%c0" : : "i"(kC), "i"(kA), "i"(kB));
}

}  // namespace qguard::kernels::QGUARD_TARGET::amx
