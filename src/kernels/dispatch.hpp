// The table of one target's kernel build. target_table.cc, compiled once per target, fills one table
// each; kernels.hpp's functions forward to the active target's (or the packing target's) table. Tests
// and the bench call a chosen target's table directly.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "kernels/cpu.hpp"
#include "kernels/matrix.hpp"
#include "kernels/thread_pool.hpp"

namespace qguard::kernels {

using PeakClock = std::chrono::steady_clock;

struct TargetKernels {
  Target target;
  std::string_view packed_layout;  // panel heights and int8 encoding, for the pack cache's key
  std::string_view int8_instructions;  // what the int8 products run on

  float (*dot)(const float* a, const float* b, std::size_t n);
  void (*rmsnorm)(const float* x, const float* weight, std::size_t n, float eps, float* out);
  void (*rope)(float* z, const float* cos, const float* sin, std::size_t half);
  float (*softmax_numerators)(float* x, std::size_t n);
  void (*silu_mul)(float* gate, const float* up, std::size_t n);
  void (*to_bf16)(const float* x, std::size_t n, std::uint16_t* out);

  // io::dequantize: GGUF tensor types decoded to f32 (the same values on every target).
  void (*dequantize)(io::GgmlType type, const std::byte* src, std::size_t count, float* dst);

  void (*matmul_rows)(ThreadPool& pool, const float* x, int tokens, const MatrixView& w, float* y);
  void (*matvec_rows)(const float* x, const MatrixView& w, const std::int32_t* rows, int count, float* y);

  std::size_t (*packed_bytes)(Packing packing, int rows, int cols);
  PackedMatrix (*pack)(const MatrixView& w, Packing packing);
  LayerInput (*prepare_input)(ThreadPool& pool, const float* x, int tokens, int cols, Packing packing);
  // y = x · wᵀ for each product, as one job; every w of one packing, x prepared for them.
  void (*matmul_packed)(ThreadPool& pool, const LayerInput& x, std::span<const Product> products);
  // matmul_packed of one product (the tests and kernels_bench call a table directly).
  void matmul_one(ThreadPool& pool, const LayerInput& x, const PackedMatrix& w, float* y) const {
    const Product product{&w, y};
    matmul_packed(pool, x, {&product, 1});
  }

  void (*attention)(ThreadPool& pool, const AttentionShape& shape, const float* q, const void* keys,
                    const void* values, float* out);

  // Peak loops for the bench: operations done (2 per multiply-add) until `deadline`.
  double (*f32_fma_ops)(PeakClock::time_point deadline);
  double (*int8_dot_ops)(PeakClock::time_point deadline);
};

// The table of `target`; Error(kInvalidArgument) when this CPU cannot run it.
const TargetKernels& kernels_for(Target target);
// The table of active_target().
const TargetKernels& active_kernels();

}  // namespace qguard::kernels
