#include "kernels/matrix.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <new>

#include "kernels/convert.hpp"

namespace qguard::kernels {

void FreeDeleter::operator()(void* p) const { std::free(p); }

PanelStorage allocate_panels(std::size_t bytes) {
  // Aligned to 2 MiB and marked for transparent huge pages: a 0.6B model's 880 MB of packed weights
  // then cost ~440 page faults instead of ~215,000 at load, and fewer TLB misses when streamed.
  constexpr std::size_t kHugePage = 2 << 20;
  bytes = std::max<std::size_t>(1, (bytes + kHugePage - 1) / kHugePage) * kHugePage;
  void* memory = std::aligned_alloc(kHugePage, bytes);
  if (memory == nullptr) throw std::bad_alloc();
  ::madvise(memory, bytes, MADV_HUGEPAGE);  // advice only: without huge pages it still works
  return PanelStorage(static_cast<std::byte*>(memory));
}

void copy_row(const MatrixView& w, int r, float* out) { widen(w.row(r), w.dtype, w.cols, out); }

const char* packing_name(Packing packing) {
  switch (packing) {
    case Packing::kF32: return "f32";
    case Packing::kBF16: return "bf16";
    case Packing::kInt8: return "int8";
    case Packing::kInPlace: return "in place";
  }
  return "?";
}

}  // namespace qguard::kernels
