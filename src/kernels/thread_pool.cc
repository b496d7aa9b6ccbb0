#include "kernels/thread_pool.hpp"

#include <algorithm>
#include <chrono>

#include <immintrin.h>

namespace qguard::kernels {

struct ThreadPool::Job {
  Item item;
  const void* context;
  std::size_t count;
  std::atomic<std::size_t> next{0};
  std::size_t finished = 0;  // guarded by done_mutex
  int helpers = 0;           // workers inside run_items; guarded by done_mutex
  std::mutex done_mutex;
  std::condition_variable done;
};

namespace {

// A worker that finds no job, and a caller whose items are done but whose job is not, first poll
// for this long before they sleep: a forward pass posts a job every few tens of microseconds, and
// waking a sleeping thread (a futex wake, on a VM a virtual CPU leaving its idle halt) took about
// as long (docs/performance.md).
constexpr auto kSpin = std::chrono::microseconds(100);

// Polls `ready` until it returns true or kSpin has passed (the caller then checks again, locked).
template <typename Ready>
void spin_until(const Ready& ready) {
  const auto deadline = std::chrono::steady_clock::now() + kSpin;
  while (!ready() && std::chrono::steady_clock::now() < deadline) {
    for (int i = 0; i < 64; ++i) _mm_pause();
  }
}

}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::run_items(Job& job) {
  std::size_t ran = 0;
  for (std::size_t i; (i = job.next.fetch_add(1)) < job.count; ++ran) job.item(job.context, i);
  std::lock_guard lock(job.done_mutex);
  job.finished += ran;
  if (job.finished == job.count) job.done.notify_all();
}

void ThreadPool::worker_loop() {
  std::unique_lock lock(mutex_);
  while (true) {
    if (!stopping_ && queue_.empty()) {
      const std::uint64_t seen = posted_.load();
      lock.unlock();
      spin_until([&] { return posted_.load() != seen; });
      lock.lock();
    }
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    Job* job = queue_.front();
    // A job whose items are all claimed leaves the queue; its owner waits for the stragglers.
    if (job->next.load() >= job->count) {
      queue_.pop_front();
      continue;
    }
    {
      // Registered while mutex_ is held, so the owner (which dequeues under mutex_ before
      // waiting) cannot destroy the job while this worker still touches it.
      std::lock_guard job_lock(job->done_mutex);
      ++job->helpers;
    }
    lock.unlock();
    run_items(*job);
    {
      std::lock_guard job_lock(job->done_mutex);
      --job->helpers;
      job->done.notify_all();
    }
    lock.lock();
  }
}

void ThreadPool::run(std::size_t n, Item item, const void* context) {
  if (n == 0) return;
  if (workers_.empty() || n == 1) {
    for (std::size_t i = 0; i < n; ++i) item(context, i);
    return;
  }
  Job job;
  job.item = item;
  job.context = context;
  job.count = n;
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(&job);
    posted_.fetch_add(1);
  }
  wake_.notify_all();
  run_items(job);
  {
    std::lock_guard lock(mutex_);
    queue_.erase(std::remove(queue_.begin(), queue_.end(), &job), queue_.end());
  }
  auto done = [&] { return job.finished == job.count && job.helpers == 0; };  // under done_mutex
  spin_until([&] {
    std::lock_guard lock(job.done_mutex);
    return done();
  });
  std::unique_lock lock(job.done_mutex);
  job.done.wait(lock, done);
}

}  // namespace qguard::kernels
