#include "kernels/block_cache.hpp"

#include <bit>
#include <limits>
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

// What precedes every block: its usable size. give_back needs no size from its caller, so a
// container's deallocation stays one call (the kernel targets' objects inline it,
// check_target_symbols.py); 64 bytes keep the block aligned.
struct alignas(64) Header {
  std::size_t bytes;
};

// Whether blocks of `bytes` are kept when freed: not the small ones, and none so large that one of
// them would take most of the shelf.
bool kept_size(std::size_t bytes) { return bytes >= kSmallestKept && bytes <= kMostKeptBytes / 2; }

// `bytes` (a kept size) rounded up to a multiple of a quarter of its highest power of two; kept
// sizes stay kept (kMostKeptBytes / 2 is a power of two).
std::size_t size_class(std::size_t bytes) {
  const std::size_t step = std::bit_floor(bytes) / 4;
  return (bytes + step - 1) / step * step;
}

struct Shelf {
  // Room for as many idle blocks as the bound allows and one more, reserved up front: giving a block
  // back (from a destructor) never allocates.
  Shelf() { idle.reserve(kMostKeptBytes / kSmallestKept + 1); }
  std::mutex mutex;
  std::vector<Header*> idle;  // oldest first
  std::size_t idle_bytes = 0;
};

// Never destroyed: buffers of static objects may be given back during exit. (Kept blocks are still
// reachable from it then, so leak checkers do not count them.)
Shelf& shelf() {
  static Shelf* const instance = new Shelf;
  return *instance;
}

void free_block(Header* header) { ::operator delete(header, kAlignment); }

}  // namespace

void* take(std::size_t bytes) {
  const bool kept = kept_size(bytes);
  const std::size_t usable = kept ? size_class(bytes) : bytes;
  if (kept) {
    Shelf& s = shelf();
    std::lock_guard lock(s.mutex);
    for (auto block = s.idle.rbegin(); block != s.idle.rend(); ++block) {  // the newest is likeliest cached
      Header* header = *block;
      if (header->bytes != usable) continue;
      s.idle_bytes -= usable;
      s.idle.erase(std::next(block).base());
      QGUARD_UNPOISON(header + 1, usable);
      return header + 1;
    }
  }
  if (usable > std::numeric_limits<std::size_t>::max() - sizeof(Header)) throw std::bad_alloc();
  auto* header = static_cast<Header*>(::operator new(sizeof(Header) + usable, kAlignment));
  header->bytes = usable;
  return header + 1;
}

void give_back(void* block) {
  if (block == nullptr) return;
  Header* header = static_cast<Header*>(block) - 1;
  if (!kept_size(header->bytes)) return free_block(header);
  Shelf& s = shelf();
  std::lock_guard lock(s.mutex);
  QGUARD_POISON(block, header->bytes);
  s.idle.push_back(header);
  s.idle_bytes += header->bytes;
  std::size_t oldest = 0;
  for (; s.idle_bytes > kMostKeptBytes; ++oldest) {
    Header* old = s.idle[oldest];
    s.idle_bytes -= old->bytes;
    QGUARD_UNPOISON(old + 1, old->bytes);
    free_block(old);
  }
  s.idle.erase(s.idle.begin(), s.idle.begin() + static_cast<std::ptrdiff_t>(oldest));
}

std::size_t kept_bytes() {
  Shelf& s = shelf();
  std::lock_guard lock(s.mutex);
  return s.idle_bytes;
}

}  // namespace qguard::kernels::blocks
