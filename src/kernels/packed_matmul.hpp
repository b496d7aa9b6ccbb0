// Layer weight matrices re-laid out once, at load, for the matrix-product micro-kernels: panels of
// output rows, each panel stored input column by input column, so one kernel step loads the panel's
// weights for a few input columns contiguously and combines them with one broadcast activation per
// token. This is the layout of register-blocked GEMM (BLIS style); it keeps the loop bound by
// arithmetic throughput rather than by loads, for any number of tokens.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/convert.hpp"
#include "kernels/matmul.hpp"
#include "kernels/thread_pool.hpp"

namespace qguard::kernels {

// How a packed matrix holds its values.
//   kF32, kBF16: the weights themselves (BF16 widened in registers; the product is computed in f32).
//   kInt8: w[r, c] ≈ scale[r] · q[r, c] with q in [-127, 127] (symmetric, per output row); the
//          activations are quantized on the fly per token and per kInt8Block inputs, and products
//          are summed exactly in int32 within a block (see packed_int8.cc).
enum class Packing { kF32, kBF16, kInt8 };

// Two SIMD vectors of rows per float panel: 16 on AVX2, 32 on AVX-512.
inline constexpr int kPanelRows = 2 * static_cast<int>(FloatBatch::size);
// Int8 panels: two 8-lane int32 vectors of rows, each lane summing 4 consecutive inputs.
inline constexpr int kInt8PanelRows = 16;
inline constexpr int kInt8Block = 64;  // inputs sharing one activation scale

// Packed storage lives in its own huge-page-aligned allocation (see allocate_panels()).
struct FreeDeleter {
  void operator()(void* p) const;
};
using PanelStorage = std::unique_ptr<std::byte[], FreeDeleter>;

// Uninitialised storage of at least `bytes` (the packers write every byte), aligned to and rounded
// up to 2 MiB and advised for transparent huge pages.
PanelStorage allocate_panels(std::size_t bytes);

struct PackedMatrix {
  Packing packing = Packing::kF32;
  int rows = 0;  // out_features (the last panel is padded with zero rows)
  int cols = 0;  // in_features (kInt8 pads them to a multiple of kInt8Block with zeros)
  // `bytes` of packed values (kInt8: the panels, then one f32 scale per padded row), held in
  // `owned`, or borrowed from storage that outlives the matrix (a mapped pack-cache file).
  const std::byte* values = nullptr;
  std::size_t bytes = 0;
  PanelStorage owned;

  template <typename T>
  const T* as() const { return reinterpret_cast<const T*>(values); }
};

// The size of a packed rows × cols matrix.
std::size_t packed_bytes(Packing packing, int rows, int cols);

// Packs `w` (F32 or BF16) as `packing`; BF16 → kBF16 copies bits exactly, F32 → kBF16 rounds to
// nearest even.
PackedMatrix pack(const MatrixView& w, Packing packing);

// A matrix over `values`, packed earlier by pack() into packed_bytes(packing, rows, cols) bytes, 64-byte
// aligned, that outlive the result.
PackedMatrix borrow_packed(Packing packing, int rows, int cols, const std::byte* values);

// y[t, r] = Σ_c x[t, c] · w[r, c] for t < tokens; x is [tokens, w.cols], y is [tokens, w.rows].
void matmul(ThreadPool& pool, const float* x, int tokens, const PackedMatrix& w, float* y);

// The work split of both packed products: calls tile(p, t0, tile_tokens, r0, valid) for panel p (rows
// r0 .. r0 + valid) and tokens t0 .. t0 + tile_tokens, over every panel of `panel_rows` rows and every
// tile of up to `tokens_per_tile` tokens. A task is a few panels (their weights stay in L2 while
// every token passes over them), enough tasks per thread to balance.
template <typename Tile>
void for_each_panel_tile(ThreadPool& pool, int rows, int panel_rows, int tokens, int tokens_per_tile, const Tile& tile) {
  const int panels = (rows + panel_rows - 1) / panel_rows;
  const int per_task = std::clamp(panels / (4 * pool.size()), 1, 4);
  const int tasks = (panels + per_task - 1) / per_task;
  pool.parallel_for(tasks, [&](std::size_t task) {
    const int p0 = static_cast<int>(task) * per_task, p1 = std::min(panels, p0 + per_task);
    for (int t0 = 0; t0 < tokens; t0 += tokens_per_tile) {
      const int tile_tokens = std::min(tokens_per_tile, tokens - t0);
      for (int p = p0; p < p1; ++p) {
        const int r0 = p * panel_rows;
        tile(p, t0, tile_tokens, static_cast<std::size_t>(r0), std::min(panel_rows, rows - r0));
      }
    }
  });
}

// The int8 path, in packed_int8.cc.
std::size_t packed_int8_bytes(int rows, int cols);
PackedMatrix pack_int8(const MatrixView& w);
void matmul_int8(ThreadPool& pool, const float* x, int tokens, const PackedMatrix& w, float* y);

}  // namespace qguard::kernels
