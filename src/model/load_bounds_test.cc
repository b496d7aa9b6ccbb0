// What Model::load allocates, counted by this test program itself: every operator new (live bytes,
// at their peak) and every std::aligned_alloc (the packed panels, 2 MiB-aligned and rounded up to
// 2 MiB each for huge pages: kernels/matrix.cc). Never more than twice the checkpoint's bytes (f32
// copies of bf16 weights) plus 2 MiB per layer matrix plus kFixedBytes, whatever the weight format:
// sizes come from tensors checked against the file, never from config.json alone
// (docs/robustness.md). Its own executable: it replaces the global operator new and aligned_alloc.
#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <new>

#include <doctest/doctest.h>

#include "qguard/model.hpp"

namespace {

std::atomic<std::size_t> live_bytes{0}, peak_bytes{0}, aligned_bytes{0};

void* counted_allocation(std::size_t size) {
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  const std::size_t live = live_bytes += malloc_usable_size(p);
  for (std::size_t peak = peak_bytes; live > peak && !peak_bytes.compare_exchange_weak(peak, live);) {
  }
  return p;
}

void counted_release(void* p) {
  if (p == nullptr) return;
  live_bytes -= malloc_usable_size(p);
  std::free(p);
}

}  // namespace

void* operator new(std::size_t size) { return counted_allocation(size); }
void* operator new[](std::size_t size) { return counted_allocation(size); }
// The nothrow forms too (simdjson uses them), so every pointer these deletes see came from here.
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return counted_allocation(size);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept { return operator new(size, tag); }
void operator delete(void* p, const std::nothrow_t&) noexcept { counted_release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { counted_release(p); }
void operator delete(void* p) noexcept { counted_release(p); }
void operator delete[](void* p) noexcept { counted_release(p); }
void operator delete(void* p, std::size_t) noexcept { counted_release(p); }
void operator delete[](void* p, std::size_t) noexcept { counted_release(p); }

// Counted when allocated only (panels live as long as the model), so the sum bounds their peak.
extern "C" void* aligned_alloc(std::size_t alignment, std::size_t size) {
  void* p = nullptr;
  if (posix_memalign(&p, alignment, size) != 0) return nullptr;
  aligned_bytes += size;
  return p;
}

TEST_CASE("Model::load allocates at most twice the checkpoint's bytes, 2 MiB per layer matrix and a fixed amount") {
  // Thread stacks are not heap; this covers the config, headers, names, norms, packed matrices and
  // the thread pool's bookkeeping.
  constexpr std::size_t kFixedBytes = std::size_t{1} << 20, kPanelRounding = std::size_t{2} << 20;
  using qguard::WeightFormat;
  for (const char* name :
       {"tied_bf16", "tied_lmhead_f32", "untied_gqa3_f32", "untied_gqa3_bf16_sharded", "guard_tiny"}) {
    for (WeightFormat format : {WeightFormat::kAuto, WeightFormat::kF32, WeightFormat::kBF16, WeightFormat::kInt8}) {
      CAPTURE(name);
      CAPTURE(static_cast<int>(format));
      const std::string dir = (std::filesystem::path(QGUARD_BINARY_DIR) / "testdata" / name).string();
      const std::size_t before = live_bytes, aligned_before = aligned_bytes;
      peak_bytes = before;
      const auto model = qguard::Model::load(dir, {.threads = 2, .weights = format});
      const std::size_t allocated = peak_bytes - before + aligned_bytes - aligned_before;
      const std::size_t checkpoint_bytes = model->info().bytes_mapped;
      const std::size_t layer_matrices = 7 * static_cast<std::size_t>(model->info().num_layers);
      CHECK_MESSAGE(allocated <= 2 * checkpoint_bytes + kPanelRounding * layer_matrices + kFixedBytes,
                    allocated << " bytes allocated for a checkpoint of " << checkpoint_bytes);
      CHECK(aligned_bytes - aligned_before >= layer_matrices * kPanelRounding);  // the panels were counted
    }
  }
}
