// float32 matrix products for the model's small shapes, shared by xft's native kernels.
//
// Why: TensorFlow's MatMul reaches 150-280 GFLOP/s on a linear layer of config A ([2048, 64] x [64, 64..256], Intel
// Xeon, 2 threads) against 430 at 1024^3, and inside a training step, with its inputs out of cache and its threads
// asleep, 80-160. PyTorch's products on the same shapes cost 4.0 ms a step against TensorFlow's 6.6. A product with
// an inner or outer dimension of at most a few hundred is short enough that the fixed costs (oneDNN's per-call set-up,
// waking TensorFlow's threads) are a large part of it; this one has none: the register tile below, one pass of
// packing where the right factor is not row-major, and xft's own thread pool. It reaches 345-415 GFLOP/s on the
// models' untransposed shapes, alone (205-230 built for AVX2); with A transposed (x^T dy, a weight's gradient) 240-340,
// where the model keeps TensorFlow's MatMul (backend/native.ts).
//
// C [M, N] = A [M, K] B [K, N] (+ bias [N]), where A and B are strided views (either may be a transpose) and C is
// row-major. Each element of C is one thread's sum over k in order 0..K-1, so the numbers do not depend on the
// thread count.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "parallel.h"

namespace xft {

// A strided view of a matrix: element (i, j) is data[i * rowStride + j * colStride].
struct MatrixView {
  const float* data;
  int64_t rowStride, colStride;
  const float* at(int64_t i, int64_t j) const { return data + i * rowStride + j * colStride; }
};

namespace gemm_detail {

#if defined(__AVX512F__)
constexpr int kLanes = 16;
constexpr int kTileRows = 12;  // 24 accumulators, 2 vectors of B and a broadcast: 27 of 32 registers
#else
constexpr int kLanes = 8;
constexpr int kTileRows = 6;  // AVX2 (16 registers): 12 accumulators, 2 of B, a broadcast
#endif
constexpr int kPanel = 2 * kLanes;  // columns of B (and C) per register tile
// Loaded and stored through memcpy, from any address. (Declared with aligned(4) instead, it made GCC keep AVX2's
// accumulators in memory: 26 against 215 GFLOP/s.)
typedef float Vec __attribute__((vector_size(kLanes * sizeof(float))));

inline Vec load(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, Vec v) { std::memcpy(p, &v, sizeof v); }

// The sum over k of A[r, k] B[k, 0..kPanel) for r in 0..R, with B's rows `bStride` apart and A's element (r, k) at
// a[r * aRow + k * aCol], added to C (rows `cStride` apart) where `accumulate`, else stored there, + bias where given.
template <int R>
__attribute__((always_inline)) inline void tile(const float* a, int64_t aRow, int64_t aCol, const float* b, int64_t bStride,
                                                int64_t k, const float* bias, bool accumulate, float* c, int64_t cStride) {
  Vec acc[R][2];
#pragma GCC unroll 16
  for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = Vec{};
  for (int64_t kk = 0; kk < k; kk++) {
    const Vec b0 = load(b), b1 = load(b + kLanes);
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
      const float ar = a[r * aRow];
      acc[r][0] += ar * b0;
      acc[r][1] += ar * b1;
    }
    a += aCol;
    b += bStride;
  }
  if (accumulate) {
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
      store(c + r * cStride, load(c + r * cStride) + acc[r][0]);
      store(c + r * cStride + kLanes, load(c + r * cStride + kLanes) + acc[r][1]);
    }
    return;
  }
  const Vec bias0 = bias ? load(bias) : Vec{}, bias1 = bias ? load(bias + kLanes) : Vec{};
#pragma GCC unroll 16
  for (int r = 0; r < R; r++) {
    store(c + r * cStride, acc[r][0] + bias0);
    store(c + r * cStride + kLanes, acc[r][1] + bias1);
  }
}

// tile<R> for R = rows (1..kTileRows): the last tile of a column has fewer rows than the others.
template <int R = kTileRows>
inline void tileOfRows(int rows, const float* a, int64_t aRow, int64_t aCol, const float* b, int64_t bStride, int64_t k,
                       const float* bias, bool accumulate, float* c, int64_t cStride) {
  if constexpr (R > 1) {
    if (rows < R) return tileOfRows<R - 1>(rows, a, aRow, aCol, b, bStride, k, bias, accumulate, c, cStride);
  }
  tile<R>(a, aRow, aCol, b, bStride, k, bias, accumulate, c, cStride);
}

}  // namespace gemm_detail

// Below this many multiply-adds a second thread costs more than it saves (waking a pool thread inside a step:
// 30-80 us).
constexpr int64_t kMinMultiplyAddsPerThread = int64_t(1) << 22;

// A right factor B [k, n] made ready for products, once for any number of them: its panels of kPanel columns are
// read in place where they are row-major slices of B; the others (all of a transposed B, and a last partial panel,
// padded with zeros) are packed, each as k rows of kPanel values.
class RightFactor {
 public:
  RightFactor(int64_t k, int64_t n, MatrixView b)
      : k_(k), n_(n), b_(b), panels_((n + kPanel - 1) / kPanel), fullPanels_(b.colStride == 1 ? n / kPanel : 0) {
    packed_.assign((panels_ - fullPanels_) * k * kPanel, 0.0f);
    for (int64_t p = fullPanels_; p < panels_; p++) {
      float* dst = packed_.data() + (p - fullPanels_) * k * kPanel;
      const int64_t j0 = p * kPanel, width = std::min<int64_t>(kPanel, n - j0);
      for (int64_t kk = 0; kk < k; kk++) {
        for (int64_t j = 0; j < width; j++) dst[kk * kPanel + j] = *b.at(kk, j0 + j);
      }
    }
  }
  static constexpr int kPanel = gemm_detail::kPanel;
  int64_t k() const { return k_; }
  int64_t n() const { return n_; }
  int64_t panels() const { return panels_; }
  // Columns of the last panel (kPanel where n is a multiple of it).
  int64_t lastWidth() const { return n_ - (panels_ - 1) * kPanel; }
  // Rows k0.. of panel p, and how far apart they are.
  const float* panel(int64_t p, int64_t k0, int64_t* stride) const {
    if (p < fullPanels_) {
      *stride = b_.rowStride;
      return b_.at(k0, p * kPanel);
    }
    *stride = kPanel;
    return packed_.data() + ((p - fullPanels_) * k_ + k0) * kPanel;
  }

 private:
  int64_t k_, n_;
  MatrixView b_;
  int64_t panels_, fullPanels_;
  std::vector<float> packed_;
};

// C [m, n] (row-major, rows `cStride` apart) = A [m, k] B [k, n] (+ bias [n] where not null), or C += A B where
// `accumulate`, on up to `threads` threads.
inline void multiply(int64_t m, MatrixView a, const RightFactor& b, const float* bias, bool accumulate, float* c,
                     int64_t cStride, int threads) {
  using namespace gemm_detail;
  const int64_t n = b.n(), k = b.k(), panels = b.panels(), lastWidth = b.lastWidth();
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum: the bias, or zeros
    for (int64_t i = 0; i < m && !accumulate; i++) {
      for (int64_t j = 0; j < n; j++) c[i * cStride + j] = bias ? bias[j] : 0.0f;
    }
    return;
  }
  float lastBias[kPanel] = {};
  if (bias) std::copy(bias + (panels - 1) * kPanel, bias + n, lastBias);

  // The sum over k runs in blocks of kDepth, and columns in blocks whose panels of B (kDepth rows each) fit in half
  // of a 2 MiB L2 cache; each tile of rows runs over a block's panels in turn, so that its slice of A is read from L1
  // and B's from L2. A tile's first block of k stores into C (with the bias), the others add to it.
  constexpr int64_t kDepth = 256;
  const int64_t depth = std::min(k, kDepth);
  const int64_t panelsPerBlock = std::max<int64_t>(1, (int64_t(1) << 20) / (depth * kPanel * int64_t(sizeof(float))));
  const int64_t rowTiles = (m + kTileRows - 1) / kTileRows;
  auto run = [&](int64_t t0, int64_t t1, int64_t p0, int64_t p1) {
    float edge[kTileRows * kPanel];
    for (int64_t k0 = 0; k0 < k; k0 += depth) {
      const int64_t kn = std::min(depth, k - k0);
      const bool added = accumulate || k0 > 0;
      // One register tile: rows of tile t, columns of panel p.
      auto tileAt = [&](int64_t t, int64_t p) {
        const int64_t i0 = t * kTileRows, j0 = p * kPanel;
        const int rows = static_cast<int>(std::min<int64_t>(kTileRows, m - i0));
        const float* ai = a.at(i0, k0);
        int64_t bStride;
        const float* bp = b.panel(p, k0, &bStride);
        float* cij = c + i0 * cStride + j0;
        if (p < panels - 1 || lastWidth == kPanel) {
          return tileOfRows(rows, ai, a.rowStride, a.colStride, bp, bStride, kn, bias ? bias + j0 : nullptr, added, cij, cStride);
        }
        // A partial panel: through a full tile of its own, of which the first lastWidth columns are C's.
        for (int r = 0; r < rows && added; r++) std::copy(cij + r * cStride, cij + r * cStride + lastWidth, edge + r * kPanel);
        tileOfRows(rows, ai, a.rowStride, a.colStride, bp, bStride, kn, bias ? lastBias : nullptr, added, edge, kPanel);
        for (int r = 0; r < rows; r++) std::copy(edge + r * kPanel, edge + r * kPanel + lastWidth, cij + r * cStride);
      };
      for (int64_t pb = p0; pb < p1; pb += panelsPerBlock) {
        for (int64_t t = t0; t < t1; t++) {
          for (int64_t p = pb; p < std::min(p1, pb + panelsPerBlock); p++) tileAt(t, p);
        }
      }
    }
  };
  const int64_t wanted = std::max<int64_t>(1, m * n * k / kMinMultiplyAddsPerThread);
  const int64_t workers = std::min<int64_t>(threads, wanted);
  // Threads share out the tiles of rows where there are enough of them, else the panels.
  if (rowTiles >= 4 * workers || rowTiles >= panels) {
    forRanges(rowTiles, workers, [&](int64_t t0, int64_t t1) { run(t0, t1, 0, panels); });
  } else {
    forRanges(panels, workers, [&](int64_t p0, int64_t p1) { run(0, rowTiles, p0, p1); });
  }
}

// C [m, n] (row-major, rows `cStride` apart) = A [m, k] B [k, n] (+ bias [n] where not null), on up to `threads`
// threads.
inline void gemm(int64_t m, int64_t n, int64_t k, MatrixView a, MatrixView b, const float* bias, float* c, int64_t cStride,
                 int threads) {
  multiply(m, a, RightFactor(k, n, b), bias, false, c, cStride, threads);
}

}  // namespace xft
