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

}  // namespace xft
