// The shelf of freed large blocks behind CacheLines: what it keeps, what it hands out, its bound.
#include <cstdint>
#include <new>
#include <vector>

#include <doctest/doctest.h>

#include "kernels/block_cache.hpp"
#include "kernels/matrix.hpp"

using namespace qguard::kernels;

namespace {

constexpr std::size_t kMiB = 1 << 20;

bool aligned(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 64 == 0; }

}  // namespace

TEST_CASE("a freed large block answers the next request of its size class") {
  void* first = blocks::take(kMiB);
  CHECK(aligned(first));
  blocks::give_back(first);
  CHECK(blocks::kept_bytes() >= kMiB);
  // A class a step up does not fit in it ...
  void* larger = blocks::take(kMiB + 1);
  CHECK(larger != first);
  // ... 1 MiB - 4 KiB rounds up to its class (quarters of 512 KiB): the same block.
  void* second = blocks::take(kMiB - 4096);
  CHECK(second == first);
  blocks::give_back(second);
  blocks::give_back(larger);
}

TEST_CASE("small blocks and blocks above half the bound are never kept") {
  const std::size_t before = blocks::kept_bytes();
  void* small = blocks::take(blocks::kSmallestKept - 1);
  CHECK(aligned(small));
  blocks::give_back(small);
  CHECK(blocks::kept_bytes() == before);
  const std::size_t huge_bytes = blocks::kMostKeptBytes / 2 + 1;
  void* huge = blocks::take(huge_bytes);
  CHECK(aligned(huge));
  blocks::give_back(huge);
  CHECK(blocks::kept_bytes() == before);
}

TEST_CASE("the shelf never holds more than its bound, and gives up its oldest blocks first") {
  const std::size_t block_bytes = blocks::kMostKeptBytes / 4;  // a size class of its own
  std::vector<void*> taken;
  for (int i = 0; i < 6; ++i) taken.push_back(blocks::take(block_bytes));
  for (void* block : taken) blocks::give_back(block);
  CHECK(blocks::kept_bytes() <= blocks::kMostKeptBytes);
  CHECK(blocks::kept_bytes() >= 4 * block_bytes);
  // The newest four stay: the next four requests get them back, newest first.
  for (int i = 5; i >= 2; --i) CHECK(blocks::take(block_bytes) == taken[i]);
  for (int i = 2; i < 6; ++i) blocks::give_back(taken[i]);
}

TEST_CASE("CacheLines buffers reuse the memory of the pass before") {
  const float* before = nullptr;
  {
    CacheLines<float> buffer(300000);
    buffer[0] = 1;
    before = buffer.data();
  }
  CacheLines<float> again(300000);
  CHECK(again.data() == before);
  CHECK(aligned(again.data()));
}

TEST_CASE("a request no allocation can hold throws std::bad_alloc") {
  CHECK_THROWS_AS(blocks::take(SIZE_MAX), std::bad_alloc);
  CHECK_THROWS_AS(blocks::take(SIZE_MAX - 32), std::bad_alloc);
}
