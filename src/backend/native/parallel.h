// Splitting work over threads, shared by xft's native kernels.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

namespace xft {

// Threads kept for the life of the process, woken for each parallel call. Starting and joining a thread per call
// costs about 50 us here (AMD EPYC, 2 vCPU), and a training step makes one such call per op: over a hundred on
// config D (the AdamW step alone one per weight matrix and pass), several milliseconds a step.
class ThreadPool {
 public:
  // The process's pool. Never destroyed: its threads wait on it until the process ends.
  static ThreadPool& shared() {
    static ThreadPool* pool = new ThreadPool();
    return *pool;
  }

  // Runs job(w) for w in 0..workers-1, job(0) on the calling thread, and returns when every one has returned.
  // Calls from several threads take turns.
  void run(int workers, const std::function<void(int)>& job) {
    std::lock_guard<std::mutex> turn(turn_);
    std::unique_lock<std::mutex> lock(mutex_);
    for (; started_ < workers - 1; started_++) {
      const int index = started_ + 1;
      std::thread([this, index] { serve(index); }).detach();
    }
    job_ = &job;
    workers_ = workers;
    pending_ = workers - 1;
    generation_++;
    lock.unlock();
    wake_.notify_all();
    job(0);
    lock.lock();
    done_.wait(lock, [this] { return pending_ == 0; });
    job_ = nullptr;
  }

 private:
  void serve(int index) {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return generation_ != seen; });
      seen = generation_;
      if (index >= workers_) continue;
      const std::function<void(int)>* job = job_;
      lock.unlock();
      (*job)(index);
      lock.lock();
      if (--pending_ == 0) done_.notify_one();
    }
  }

  std::mutex turn_;   // one parallel call at a time
  std::mutex mutex_;  // guards what follows
  std::condition_variable wake_, done_;
  int started_ = 0;  // threads serving, with indices 1..started_
  const std::function<void(int)>* job_ = nullptr;
  int workers_ = 0, pending_ = 0;
  uint64_t generation_ = 0;
};

// Runs body(begin, end) on up to `threads` threads over 0..n, each thread taking one contiguous range (the
// calling thread the first): which thread does which item depends only on n and the thread count. Every range,
// also the only one, runs through one compiled copy of the body (not inlined): under -ffast-math a second copy,
// inlined elsewhere, may sum in another order (the LayerNorm's mean did, by an ulp, with one thread against two).
template <typename Body>
void forRanges(int64_t n, int64_t threads, Body body) {
  const int workers = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, n)));
  const std::function<void(int)> job = [&](int w) __attribute__((noinline)) {
    body(w * n / workers, (w + 1) * n / workers);
  };
  if (workers == 1) return job(0);
  ThreadPool::shared().run(workers, job);
}

}  // namespace xft
