// The bounded queue in front of the shared Classifier: at most `running` moderations at once and at
// most `queued` requests waiting, first come first served. A request that finds the queue full is
// turned away at once (429) instead of waiting without bound.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>

namespace qguard::serve {

class Admission {
 public:
  using Clock = std::chrono::steady_clock;

  Admission(int running, int queued) : max_running_(running), max_queued_(queued) {}

  enum class Outcome { kAdmitted, kQueueFull, kDeadline };

  // Holds a running slot while alive.
  class Slot {
   public:
    explicit Slot(Admission* owner) : owner_(owner) {}
    Slot(Slot&& other) noexcept : owner_(other.owner_) { other.owner_ = nullptr; }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot();

   private:
    Admission* owner_;
  };

  // Waits for a running slot, until `deadline` if there is one. kAdmitted fills `slot`.
  Outcome enter(std::optional<Clock::time_point> deadline, std::optional<Slot>& slot);

  int running() const;
  int queued() const;

 private:
  void leave();

  const int max_running_;
  const int max_queued_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  int running_ = 0;
  std::deque<std::uint64_t> waiting_;  // tickets, oldest first
  std::uint64_t next_ticket_ = 0;
};

}  // namespace qguard::serve
