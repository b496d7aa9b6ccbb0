#include "kernels/block_cache.hpp"

#include <bit>
#include <mutex>
#include <new>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define QGUARD_POISON(block, bytes) ASAN_POISON_MEMORY_REGION(block, bytes)
#define QGUARD_UNPOISON(block, bytes) ASAN_UNPOISON_MEMORY_REGION(block, bytes)
#else
#define QGUARD_POISON(block, bytes) ((void)(block), (void)(bytes))
#define QGUARD_UNPOISON(block, bytes) ((void)(block), (void)(bytes))
#endif

namespace qguard::kernels::blocks {
namespace {

constexpr std::align_val_t kAlignment{64};

// Whether blocks of `bytes` are kept when freed: not the small ones, and none so large that one of
// them would take most of the shelf.
bool kept_size(std::size_t bytes) { return bytes >= kSmallestKept && bytes <= kMostKeptBytes / 2; }

// `bytes` (a kept size) rounded up to a multiple of a quarter of its highest power of two.
std::size_t size_class(std::size_t bytes) {
  const std::size_t step = std::bit_floor(bytes) / 4;
  return (bytes + step - 1) / step * step;
}

struct Shelf {
  struct Block {
    void* memory;
    std::size_t bytes;  // its size class
  };
  std::mutex mutex;
  std::vector<Block> idle;  // oldest first
  std::size_t idle_bytes = 0;
};

// Never destroyed: buffers of static objects may be given back during exit. (Kept blocks are still
// reachable from it then, so leak checkers do not count them.)
Shelf& shelf() {
  static Shelf* const instance = new Shelf;
  return *instance;
}

}  // namespace

void* take(std::size_t bytes) {
  if (!kept_size(bytes)) return ::operator new(bytes, kAlignment);
  const std::size_t rounded = size_class(bytes);
  Shelf& s = shelf();
  {
    std::lock_guard lock(s.mutex);
    for (auto block = s.idle.rbegin(); block != s.idle.rend(); ++block) {  // the newest is likeliest cached
      if (block->bytes != rounded) continue;
      void* memory = block->memory;
      s.idle_bytes -= rounded;
      s.idle.erase(std::next(block).base());
      QGUARD_UNPOISON(memory, rounded);
      return memory;
    }
  }
  return ::operator new(rounded, kAlignment);
}

void give_back(void* block, std::size_t bytes) {
  if (block == nullptr) return;
  if (!kept_size(bytes)) return ::operator delete(block, kAlignment);
  const std::size_t rounded = size_class(bytes);
  std::vector<Shelf::Block> evicted;
  Shelf& s = shelf();
  {
    std::lock_guard lock(s.mutex);
    QGUARD_POISON(block, rounded);
    s.idle.push_back({block, rounded});
    s.idle_bytes += rounded;
    std::size_t oldest = 0;
    for (; s.idle_bytes > kMostKeptBytes; ++oldest) {
      s.idle_bytes -= s.idle[oldest].bytes;
      evicted.push_back(s.idle[oldest]);
    }
    s.idle.erase(s.idle.begin(), s.idle.begin() + static_cast<std::ptrdiff_t>(oldest));
  }
  for (const Shelf::Block& old : evicted) {
    QGUARD_UNPOISON(old.memory, old.bytes);
    ::operator delete(old.memory, kAlignment);
  }
}

std::size_t kept_bytes() {
  Shelf& s = shelf();
  std::lock_guard lock(s.mutex);
  return s.idle_bytes;
}

}  // namespace qguard::kernels::blocks
