#include "admission.hpp"

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

using qguard::serve::Admission;

namespace {

Admission::Outcome enter(Admission& admission, std::optional<Admission::Slot>& slot,
                         std::optional<Admission::Clock::time_point> deadline = std::nullopt) {
  return admission.enter(deadline, slot);
}

// Blocks until `count` requests wait (a condition, not a duration).
void wait_queued(const Admission& admission, int count) {
  while (admission.queued() != count) std::this_thread::yield();
}

}  // namespace

TEST_CASE("a full queue turns requests away at once, and a freed slot lets the next one in") {
  Admission admission(1, 0);
  std::optional<Admission::Slot> first, second;
  CHECK(enter(admission, first) == Admission::Outcome::kAdmitted);
  CHECK(admission.running() == 1);
  CHECK(enter(admission, second) == Admission::Outcome::kQueueFull);
  CHECK(!second);
  first.reset();
  CHECK(admission.running() == 0);
  CHECK(enter(admission, second) == Admission::Outcome::kAdmitted);
}

TEST_CASE("waiting requests start first come, first served; one more than the queue holds is refused") {
  Admission admission(1, 3);
  std::optional<Admission::Slot> holder;
  REQUIRE(enter(admission, holder) == Admission::Outcome::kAdmitted);
  std::mutex mutex;
  std::vector<int> order;
  std::vector<std::thread> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.emplace_back([&, i] {
      std::optional<Admission::Slot> slot;
      CHECK(enter(admission, slot) == Admission::Outcome::kAdmitted);
      std::lock_guard lock(mutex);
      order.push_back(i);
    });
    wait_queued(admission, i + 1);
  }
  std::optional<Admission::Slot> refused;
  CHECK(enter(admission, refused) == Admission::Outcome::kQueueFull);
  holder.reset();
  for (std::thread& t : waiters) t.join();
  CHECK(order == std::vector<int>{0, 1, 2});
  CHECK(admission.running() == 0);
  CHECK(admission.queued() == 0);
}

TEST_CASE("a request whose deadline passes in the queue leaves it") {
  Admission admission(1, 1);
  std::optional<Admission::Slot> holder, late;
  REQUIRE(enter(admission, holder) == Admission::Outcome::kAdmitted);
  CHECK(enter(admission, late, Admission::Clock::now()) == Admission::Outcome::kDeadline);
  CHECK(!late);
  CHECK(admission.queued() == 0);
  holder.reset();
  CHECK(enter(admission, late, Admission::Clock::now() + std::chrono::hours(1)) == Admission::Outcome::kAdmitted);
}

TEST_CASE("several slots run at once") {
  Admission admission(2, 0);
  std::optional<Admission::Slot> a, b, c;
  CHECK(enter(admission, a) == Admission::Outcome::kAdmitted);
  CHECK(enter(admission, b) == Admission::Outcome::kAdmitted);
  CHECK(enter(admission, c) == Admission::Outcome::kQueueFull);
}
