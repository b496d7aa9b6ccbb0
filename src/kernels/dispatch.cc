#include "kernels/dispatch.hpp"
#include "kernels/kernels.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "qguard/error.hpp"

namespace qguard::kernels {

// One table per target build (target_table.cc).
namespace baseline { extern const TargetKernels kTable; }
namespace avx2 { extern const TargetKernels kTable; }
namespace avx512 { extern const TargetKernels kTable, kBf16Table, kAmxTable; }

const TargetKernels& kernels_for(Target target) {
  if (target > detected_target()) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("this CPU cannot run the {} kernels (it runs up to {})", to_string(target),
                            to_string(detected_target())));
  }
  switch (target) {
    case Target::kAmx: return avx512::kAmxTable;
    case Target::kAvx512Bf16: return avx512::kBf16Table;
    case Target::kAvx512: return avx512::kTable;
    case Target::kAvx2: return avx2::kTable;
    case Target::kBaseline: break;
  }
  return baseline::kTable;
}

const TargetKernels& active_kernels() {
  static const TargetKernels& table = kernels_for(active_target());
  return table;
}

void rmsnorm(const float* x, const float* weight, std::size_t n, float eps, float* out) {
  active_kernels().rmsnorm(x, weight, n, eps, out);
}
void rope(float* z, const float* cos, const float* sin, std::size_t half) { active_kernels().rope(z, cos, sin, half); }
void silu_mul(float* gate, const float* up, std::size_t n) { active_kernels().silu_mul(gate, up, n); }
void to_bf16(const float* x, std::size_t n, std::uint16_t* out) { active_kernels().to_bf16(x, n, out); }

void matmul(ThreadPool& pool, const float* x, int tokens, const MatrixView& w, float* y) {
  active_kernels().matmul_rows(pool, x, tokens, w, y);
}
void matvec_rows(const float* x, const MatrixView& w, const std::int32_t* rows, int count, float* y) {
  active_kernels().matvec_rows(x, w, rows, count, y);
}

// Packed matrices and inputs are stamped with the active table's target, so that products are routed
// back to it (the avx512bf16 and amx tables share the avx512 build's packing, which stamps avx512).
PackedMatrix pack(const MatrixView& w, Packing packing) {
  PackedMatrix p = active_kernels().pack(w, packing);
  p.target = active_target();
  return p;
}
std::size_t packed_bytes(Packing packing, int rows, int cols) {
  return active_kernels().packed_bytes(packing, rows, cols);
}
std::string_view packed_layout() { return active_kernels().packed_layout; }

namespace {

PackedMatrix borrowed(Packing packing, int rows, int cols, const std::byte* values, std::size_t bytes) {
  PackedMatrix p;
  p.packing = packing;
  p.target = active_target();
  p.rows = rows;
  p.cols = cols;
  p.values = values;
  p.bytes = bytes;
  return p;
}

}  // namespace

PackedMatrix borrow_packed(Packing packing, int rows, int cols, const std::byte* values) {
  return borrowed(packing, rows, cols, values, packed_bytes(packing, rows, cols));
}

PackedMatrix in_place(io::GgmlType encoding, int rows, int cols, const std::byte* values, std::size_t bytes) {
  PackedMatrix p = borrowed(Packing::kInPlace, rows, cols, values, bytes);
  p.encoding = encoding;
  return p;
}

LayerInput prepare_input(ThreadPool& pool, const float* x, int tokens, int cols, const PackedMatrix& like) {
  LayerInput in = kernels_for(like.target).prepare_input(pool, x, tokens, cols, like.packing);
  in.target = like.target;
  return in;
}

void matmul(ThreadPool& pool, const LayerInput& x, std::span<const Product> products) {
  if (products.empty() || products.size() > kMaxProducts) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("internal: {} products of one input", products.size()));
  }
  for (const Product& p : products) {
    // An input prepared for another kind of matrix would be read past its (empty) int8 buffers.
    const PackedMatrix& w = *p.w;
    if (x.target != w.target || (x.packing == Packing::kInt8) != (w.packing == Packing::kInt8) || x.cols != w.cols) {
      throw Error(ErrorCode::kInvalidArgument, "internal: a layer input prepared for another kind of matrix");
    }
  }
  // One job when the matrices share a packing (a GGUF file may mix in-place and packed ones).
  const auto& k = kernels_for(x.target);
  const Packing packing = products.front().w->packing;
  if (std::all_of(products.begin(), products.end(), [&](const Product& p) { return p.w->packing == packing; })) {
    k.matmul_packed(pool, x, products);
  } else {
    for (const Product& p : products) k.matmul_packed(pool, x, {&p, 1});
  }
}

void matmul(ThreadPool& pool, const LayerInput& x, const PackedMatrix& w, float* y) {
  const Product product{&w, y};
  matmul(pool, x, {&product, 1});
}

void matmul(ThreadPool& pool, const float* x, int tokens, const PackedMatrix& w, float* y) {
  matmul(pool, prepare_input(pool, x, tokens, w.cols, w), w, y);
}

void attention(ThreadPool& pool, const AttentionShape& shape, const float* q, const void* keys, const void* values,
               float* out) {
  active_kernels().attention(pool, shape, q, keys, values, out);
}

}  // namespace qguard::kernels
