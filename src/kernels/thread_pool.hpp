// A persistent pool of worker threads owned by whoever creates it (no global state). Several
// callers may run parallel_for on one pool at once: each call is a job that the pool's workers and
// the calling thread share, so a pool of size 1 runs everything on the caller.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace qguard::kernels {

class ThreadPool {
 public:
  // `threads` counts the calling thread: a pool of n starts n - 1 workers. 0 means one per core.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls body(i) for every i in [0, n), spread over the pool; returns when all are done. The items
  // are cut into size() contiguous shares: the caller runs share 0 first, the i-th worker share i,
  // and each then helps with what is left of the others'.
  // Exceptions must not escape `body`. (A template over the body rather than a std::function: the
  // per-target kernel builds then instantiate nothing outside their own namespace, see
  // kernels/target.hpp.)
  template <typename Body>
  void parallel_for(std::size_t n, const Body& body) {
    run(n, [](const void* context, std::size_t i) { (*static_cast<const Body*>(context))(i); }, &body);
  }

 private:
  using Item = void (*)(const void* context, std::size_t i);
  struct Job;
  void run(std::size_t n, Item item, const void* context);
  void worker_loop(std::size_t own_share);
  static void run_items(Job& job, std::size_t own_share);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job*> queue_;
  std::atomic<std::uint64_t> posted_{0};  // jobs ever queued: what an idle worker polls
  bool stopping_ = false;
};

}  // namespace qguard::kernels
