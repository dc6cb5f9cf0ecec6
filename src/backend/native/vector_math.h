// Scalar maths in forms the compiler vectorises, shared by xft's native kernels.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace xft {

// exp(x) for x <= 0, in a form the compiler vectorises (glibc's expf is a scalar call): x = k ln2 + r with
// |r| <= ln2 / 2, Cephes' degree-6 polynomial for exp(r) (about 1 ulp), 2^k from the exponent bits. Below -87
// the result is clamped at about 1.6e-38 instead of underflowing; such a probability adds nothing to a sum of
// at least 1 (the row maximum's own term).
inline float expNonPositive(float x) {
  x = std::max(x, -87.0f);
  const float k = std::floor(x * 1.44269504088896341f + 0.5f);
  const float r = x - k * 0.693359375f + k * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(k) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// The largest of x[0..n), n >= 1, over 16 running maxima that the compiler keeps in one vector register: a single
// running std::max is a chain of dependent compares that it does not vectorise without -ffinite-math-only (which
// stays off), and it made the head's softmax 3.4x slower here (2048 rows of 2000: 5.7 ms against 1.7 ms on one
// thread, Intel Xeon). The maximum is exact in any order, so nothing else changes. (A NaN need not survive it: the
// exp(x - max) that follows makes a NaN input's row NaN.)
inline float maxOf(const float* x, int64_t n) {
  constexpr int kLanes = 16;
  float lanes[kLanes];
  std::fill(lanes, lanes + kLanes, x[0]);
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    for (int l = 0; l < kLanes; l++) lanes[l] = lanes[l] > x[j + l] ? lanes[l] : x[j + l];
  }
  float m = lanes[0];
  for (int l = 1; l < kLanes; l++) m = m > lanes[l] ? m : lanes[l];
  for (; j < n; j++) m = m > x[j] ? m : x[j];
  return m;
}

}  // namespace xft
