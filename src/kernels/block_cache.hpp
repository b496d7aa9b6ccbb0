// Memory for the forward pass's buffers (CacheLines, matrix.hpp), 64-byte aligned. Every pass
// allocates the same large buffers (work rows, quantized inputs, attention scratch, a fresh KV cache
// for Model::logits) and frees them at its end; glibc hands much of that back to the kernel in
// between, and the next pass pays for it again in page faults: ~13,000 of them per 170-token
// Model::logits call on a KVM guest, ~10 µs each, ~40 % of the call (docs/performance.md). So
// freed large blocks are kept, up to a bound, for the next request of their size class (sizes
// rounded up by at most a quarter, so passes of similar lengths share them).
#pragma once

#include <cstddef>

namespace qguard::kernels::blocks {

// Blocks below this many bytes go straight to the allocator (glibc keeps those itself), as do
// blocks above half of kMostKeptBytes.
constexpr std::size_t kSmallestKept = 64 << 10;
// Idle blocks kept at most, in bytes, over all size classes; the oldest go first.
constexpr std::size_t kMostKeptBytes = std::size_t{128} << 20;

// `bytes` of memory aligned to 64 bytes: a kept block of its size class if there is one.
void* take(std::size_t bytes);
// Frees or keeps a block take() returned (nullptr: nothing).
void give_back(void* block);

// Bytes held by idle blocks now (for tests).
std::size_t kept_bytes();

}  // namespace qguard::kernels::blocks
