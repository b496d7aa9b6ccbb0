// The matrices the kernels read: weight matrices used in place (row-major, as the checkpoint stores
// them) and layer matrices packed once, at load, into the layout of one kernel target.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "io/gguf_blocks.hpp"
#include "kernels/block_cache.hpp"
#include "kernels/cpu.hpp"
#include "util/dtype.hpp"

namespace qguard::kernels {

// A row-major [out_features, in_features] matrix (y = x · Wᵀ) in the checkpoint's dtype.
struct MatrixView {
  DType dtype = DType::kF32;  // kF32 or kBF16 (F16 checkpoints are widened at load)
  const void* data = nullptr;
  int rows = 0;  // out_features
  int cols = 0;  // in_features

  const void* row(std::int64_t r) const {
    return static_cast<const char*>(data) + r * cols * static_cast<std::int64_t>(dtype_size(dtype));
  }
};

// out = row `r` of w as f32.
void copy_row(const MatrixView& w, int r, float* out);

// How a packed matrix holds its values.
//   kF32, kBF16: the weights themselves (BF16 widened in registers; the product is computed in f32).
//   kInt8: w[r, c] ≈ scale[r] · q[r, c] with q in [-127, 127] (symmetric, per output row); the
//          activations are quantized per token and per kInt8Block inputs, and products are summed
//          exactly in int32 within a block (docs/model.md, "The int8 scheme").
//   kInPlace: not packed: the rows as the file stores them (row-major, in a GGUF encoding: blocks
//          such as Q4_K, or F16 / BF16 / F32), read in place from the mapping. Each product decodes
//          the rows of one panel at a time into a per-thread f32 panel and runs the kF32 kernel on
//          it, so its results are those of the decoded matrix packed as kF32, bit for bit.
enum class Packing { kF32, kBF16, kInt8, kInPlace };
// "f32", "bf16", "int8", "in place" (part of the pack cache's key, so stable).
const char* packing_name(Packing packing);

inline constexpr int kInt8Block = 64;  // inputs sharing one activation scale

// Packed storage lives in its own huge-page-aligned allocation (see allocate_panels()).
struct FreeDeleter {
  void operator()(void* p) const;
};
using PanelStorage = std::unique_ptr<std::byte[], FreeDeleter>;

// Uninitialised storage of at least `bytes` (the packers write every byte), aligned to and rounded
// up to 2 MiB and advised for transparent huge pages.
PanelStorage allocate_panels(std::size_t bytes);

// A layer matrix re-laid out for the matrix-product micro-kernels of one target: panels of output
// rows, each stored a few input columns at a time, so one kernel step loads a panel's weights
// contiguously and combines them with one broadcast activation per token (register-blocked GEMM,
// BLIS style). Panel heights and the int8 encoding differ between targets (target.hpp), so a packed
// matrix is only ever multiplied by the target that packed it.
struct PackedMatrix {
  Packing packing = Packing::kF32;
  Target target = Target::kBaseline;
  int rows = 0;  // out_features (the last panel is padded with zero rows)
  int cols = 0;  // in_features (kInt8 pads them to a multiple of kInt8Block with zeros)
  // `bytes` of packed values (kInt8: the panels, then one f32 scale per padded row), held in
  // `owned`, or borrowed from storage that outlives the matrix (a mapped pack-cache file; kInPlace:
  // the checkpoint's mapping, rows of `encoding`).
  const std::byte* values = nullptr;
  io::GgmlType encoding = io::GgmlType::kF32;  // kInPlace only
  std::size_t bytes = 0;
  PanelStorage owned;

  template <typename T>
  const T* as() const { return reinterpret_cast<const T*>(values); }
};

// A vector whose data starts on a 64-byte boundary: AMX tile rows (64 bytes) are then one cache line
// each, not two. Growing it leaves the new elements uninitialized (resize(n) does not zero them:
// its users write every element before reading it, and zeroing megabytes per call showed in
// profiles); resize(n, value) and assign(n, value) still set them. Large blocks are recycled
// between passes (block_cache.hpp).
template <typename T>
struct CacheLineAllocator {
  using value_type = T;
  CacheLineAllocator() = default;
  template <typename U>
  CacheLineAllocator(const CacheLineAllocator<U>&) {}
  T* allocate(std::size_t n) { return static_cast<T*>(blocks::take(n * sizeof(T))); }
  void deallocate(T* p, std::size_t) { blocks::give_back(p); }
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;  // default-initialized: no zeroing
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
  bool operator==(const CacheLineAllocator&) const = default;
};
template <typename T>
using CacheLines = std::vector<T, CacheLineAllocator<T>>;

// A layer input ([tokens, cols] f32) in the form products with one kind of packed matrix read: for
// int8 matrices its activations quantized once, shared by every product with the same input
// (q, k and v; gate and up).
struct LayerInput {
  const float* x = nullptr;
  int tokens = 0, cols = 0;
  Packing packing = Packing::kF32;
  Target target = Target::kBaseline;
  CacheLines<std::int8_t> q;               // int8: [tokens, padded cols], then zero rows to 16 tokens (AVX-512)
  CacheLines<float> scales;                // int8: [tokens, blocks]
  CacheLines<std::uint8_t> q_unsigned;     // int8 on AVX-512: [tokens, padded cols], q + 128 (VNNI's unsigned operand)
  CacheLines<std::uint16_t> bf16_terms;    // BF16 on AMX tiles: x as three BF16 terms, [3][tokens][cols padded]
};

// One of the products of a shared LayerInput: y = x · wᵀ, [tokens, w.rows].
struct Product {
  const PackedMatrix* w = nullptr;
  float* y = nullptr;
};
inline constexpr std::size_t kMaxProducts = 4;  // products of one input in one call

// Cached positions [begin, end) that a query token does not see although they precede it: the
// tokens of speculated branches (model/qwen3.hpp) follow a shared trunk one after another, and each
// branch sees the trunk and itself, not the branches before it.
struct HiddenKeys {
  int begin = 0, end = 0;
};

struct AttentionShape {
  int heads = 0, kv_heads = 0, head_dim = 0;
  int tokens = 0;  // queries, at positions length - tokens .. length - 1
  int length = 0;  // cached positions, the queries' own included
  // The int8 weights' attention (docs/model.md, "The int8 scheme"): the cached keys and values are
  // BF16 (std::uint16_t), the scaled queries and the softmax numerators are rounded to BF16 before
  // their products, whose sums stay f32. Otherwise every operand is the f32 it was given.
  bool bf16 = false;
  const HiddenKeys* hidden = nullptr;  // per query token, or none: causal attention alone
};

}  // namespace qguard::kernels
