// What the forward pass calls. Each function runs the build of the active target (cpu.hpp), or for a
// packed matrix the target that packed it; the per-target builds are compiled from the same sources
// (target.hpp) and tested against scalar code on every target the CPU runs (kernels_test.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/cpu.hpp"
#include "kernels/matrix.hpp"
#include "kernels/thread_pool.hpp"

namespace qguard::kernels {

// ---- Row-wise operations on contiguous f32 arrays

// out = x / sqrt(mean(x²) + eps) * weight, over n elements; out may alias x.
void rmsnorm(const float* x, const float* weight, std::size_t n, float eps, float* out);
// "Rotate half" RoPE on one head vector of size 2*half, in place, with that position's cos/sin.
void rope(float* z, const float* cos, const float* sin, std::size_t half);
// gate[i] = silu(gate[i]) * up[i].
void silu_mul(float* gate, const float* up, std::size_t n);
// out[i] = f32_to_bf16(x[i]): rounded to the nearest BF16 value, ties to even, NaN kept.
void to_bf16(const float* x, std::size_t n, std::uint16_t* out);

// ---- Products with row-major matrices (the embedding-sized lm_head, read in place)

// y[t, r] = Σ_c x[t, c] · w[r, c] for t < tokens; x is [tokens, w.cols], y is [tokens, w.rows].
void matmul(ThreadPool& pool, const float* x, int tokens, const MatrixView& w, float* y);
// y[j] = Σ_c x[c] · w[rows[j], c]: a projection onto a chosen subset of output rows.
void matvec_rows(const float* x, const MatrixView& w, const std::int32_t* rows, int count, float* y);

// ---- Products with packed layer matrices (LayerInput: matrix.hpp)

// Packs `w` (F32 or BF16) as `packing` for the active target; BF16 → kBF16 copies bits exactly,
// F32 → kBF16 rounds to nearest even.
PackedMatrix pack(const MatrixView& w, Packing packing);
// The size of a rows × cols matrix packed by the active target.
std::size_t packed_bytes(Packing packing, int rows, int cols);
// A kInPlace matrix over `rows` rows of `cols` values stored as `encoding` at `values` (whole
// blocks per row; in a mapping that outlives the result), for products on the active target.
PackedMatrix in_place(io::GgmlType encoding, int rows, int cols, const std::byte* values, std::size_t bytes);
// A matrix over `values`, packed earlier by pack() for the active target into packed_bytes(...)
// bytes, 64-byte aligned, that outlive the result.
PackedMatrix borrow_packed(Packing packing, int rows, int cols, const std::byte* values);
// What identifies the active target's packed layouts (part of the pack cache's key).
std::string_view packed_layout();

// `x` must outlive the result. Prepared for products with matrices packed like `like`.
LayerInput prepare_input(ThreadPool& pool, const float* x, int tokens, int cols, const PackedMatrix& like);

// y[t, r] = Σ_c x[t, c] · w[r, c]; y is [tokens, w.rows]. Error(kInvalidArgument) when `x` was
// prepared for a matrix of another target, int8-ness or width.
void matmul(ThreadPool& pool, const LayerInput& x, const PackedMatrix& w, float* y);
// The same for up to kMaxProducts matrices of one input (q, k and v; gate and up), as one job on
// the pool when they share a packing: the threads meet once, not after each product.
void matmul(ThreadPool& pool, const LayerInput& x, std::span<const Product> products);
// prepare_input + matmul, for a single product.
void matmul(ThreadPool& pool, const float* x, int tokens, const PackedMatrix& w, float* y);

// ---- Attention (AttentionShape: matrix.hpp)

// out[t, j] = softmax(q[t, j] · K_gᵀ / sqrt(head_dim), causal) · V_g for every query token t and
// query head j, whose kv head is g = j / (heads / kv_heads). q and out are [tokens, heads, head_dim]
// f32; keys and values [length, kv_heads, head_dim], f32, or BF16 (std::uint16_t) with shape.bf16.
void attention(ThreadPool& pool, const AttentionShape& shape, const float* q, const void* keys, const void* values,
               float* out);

}  // namespace qguard::kernels
