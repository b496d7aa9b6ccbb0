#include "kernels/thread_pool.hpp"

#include <algorithm>
#include <chrono>

#include <immintrin.h>

namespace qguard::kernels {

struct ThreadPool::Job {
  // The items in one contiguous share per thread of the pool, the caller's first: a thread claims
  // its own share's items through that share's counter, then what is left of the others'. One
  // counter for all items moved its cache line between the threads at every claim, ~0.3 µs
  // between the two virtual CPUs of a Zen 5 guest: more than a token's norm (docs/performance.md).
  struct alignas(64) Share {
    std::atomic<std::size_t> next;
    std::size_t end;
  };

  Job(Item item, const void* context, std::size_t count, int threads)
      : item(item), context(context), count(count), shares(threads) {
    for (std::size_t s = 0; s < shares.size(); ++s) {
      shares[s].next.store(count * s / shares.size(), std::memory_order_relaxed);
      shares[s].end = count * (s + 1) / shares.size();
    }
  }

  bool all_claimed() const {
    return std::all_of(shares.begin(), shares.end(), [](const Share& s) { return s.next.load() >= s.end; });
  }

  Item item;
  const void* context;
  std::size_t count;
  std::vector<Share> shares;
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
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::run_items(Job& job, std::size_t own_share) {
  std::size_t ran = 0;
  for (std::size_t k = 0; k < job.shares.size(); ++k) {
    Job::Share& share = job.shares[(own_share + k) % job.shares.size()];
    for (std::size_t i; (i = share.next.fetch_add(1)) < share.end; ++ran) job.item(job.context, i);
  }
  std::lock_guard lock(job.done_mutex);
  job.finished += ran;
  if (job.finished == job.count) job.done.notify_all();
}

void ThreadPool::worker_loop(std::size_t own_share) {
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
    if (job->all_claimed()) {
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
    run_items(*job, own_share);
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
  Job job(item, context, n, size());
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(&job);
    posted_.fetch_add(1);
  }
  wake_.notify_all();
  run_items(job, 0);
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
