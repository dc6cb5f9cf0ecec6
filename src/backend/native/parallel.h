// Splitting work over threads, shared by xft's native kernels.
#pragma once

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

namespace xft {

// Runs body(begin, end) on up to `threads` threads over 0..n, each thread taking one contiguous range (the
// calling thread the first): which thread does which item depends only on n and the thread count.
template <typename Body>
void forRanges(int64_t n, int64_t threads, Body body) {
  const int workers = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, n)));
  auto run = [&](int w) { body(w * n / workers, (w + 1) * n / workers); };
  std::vector<std::thread> pool;
  for (int w = 1; w < workers; w++) pool.emplace_back(run, w);
  run(0);
  for (auto& t : pool) t.join();
}

}  // namespace xft
