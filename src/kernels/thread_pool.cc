#include "kernels/thread_pool.hpp"

#include <algorithm>

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
  }
  wake_.notify_all();
  run_items(job);
  {
    std::lock_guard lock(mutex_);
    queue_.erase(std::remove(queue_.begin(), queue_.end(), &job), queue_.end());
  }
  std::unique_lock lock(job.done_mutex);
  job.done.wait(lock, [&] { return job.finished == job.count && job.helpers == 0; });
}

}  // namespace qguard::kernels
