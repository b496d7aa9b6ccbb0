#include "admission.hpp"

#include <algorithm>

namespace qguard::serve {

Admission::Slot::~Slot() {
  if (owner_) owner_->leave();
}

Admission::Outcome Admission::enter(std::optional<Clock::time_point> deadline, std::optional<Slot>& slot) {
  std::unique_lock lock(mutex_);
  // A request that would start at once does not count against the queue.
  const bool starts_now = waiting_.empty() && running_ < max_running_;
  if (!starts_now && static_cast<int>(waiting_.size()) >= max_queued_) return Outcome::kQueueFull;
  const std::uint64_t ticket = next_ticket_++;
  waiting_.push_back(ticket);
  const auto my_turn = [&] { return waiting_.front() == ticket && running_ < max_running_; };
  if (!deadline) {
    changed_.wait(lock, my_turn);
  } else if (!changed_.wait_until(lock, *deadline, my_turn)) {
    waiting_.erase(std::find(waiting_.begin(), waiting_.end(), ticket));
    changed_.notify_all();  // the one behind may now be first
    return Outcome::kDeadline;
  }
  waiting_.pop_front();
  ++running_;
  slot.emplace(this);
  changed_.notify_all();  // the next in line may fit into another free slot
  return Outcome::kAdmitted;
}

void Admission::leave() {
  {
    std::lock_guard lock(mutex_);
    --running_;
  }
  changed_.notify_all();
}

int Admission::running() const {
  std::lock_guard lock(mutex_);
  return running_;
}

int Admission::queued() const {
  std::lock_guard lock(mutex_);
  return static_cast<int>(waiting_.size());
}

}  // namespace qguard::serve
