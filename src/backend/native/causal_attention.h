// Causal multi-head self-attention, forward and backward, as one kernel each: the computation, shared by the
// Node-API addon (causal_attention.cc, for every backend) and xft's TensorFlow ops (tf_ops.cc).
//
// Why: tfjs runs attention as batched matmuls over [B, H, T, T] products with a 32-wide inner or outer
// dimension (TensorFlow reaches 20-35 GFLOP/s on them here, against 120+ on the model's 2-D matmuls) and
// six more passes over [B, H, T, T] tensors; at T 256 that is nearly half of a training step. This kernel
// works one query row at a time, so the scores of a row stay in L1, skips the masked half, and never
// stores the probabilities: the backward pass recomputes them from q, k and the row's log-sum-exp
// (as FlashAttention does). Its tiles use the widest vectors the CPU has: AVX-512 doubled its speed over
// AVX2's 8-float tiles on a 2-vCPU AMD EPYC (Zen 5), 32 -> 16 ms a layer, forward and backward, at config D
// (B 16, T 256, 8 heads of 32), and with it the training step from 62% to 66-72% of the machine's GEMM rate.
//
// Layout: qkv is the fused projection [B*T, 3*H*hd], row b*T+t = [q heads | k heads | v heads]; the
// output is [B*T, H*hd] with head h in columns h*hd..(h+1)*hd, which is what the output projection
// takes. Every (batch row, head) pair is computed by one thread, in a fixed order, so the numbers do not
// depend on the thread count.
#pragma once
#include "parallel.h"
#include "vector_math.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace xft {
namespace attention {

struct Dims {
  int64_t batch, len, heads, headDim;
  int threads;  // threads to compute with (the backend's count)
  int64_t width() const { return heads * headDim; }        // d, the model width
  int64_t qkvStride() const { return 3 * width(); }         // floats per row of qkv
  int64_t pairs() const { return batch * heads; }
  float scale() const { return 1.0f / std::sqrt(static_cast<float>(headDim)); }  // of the scores q . k
};

constexpr int64_t roundUp(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// The register tiles, for L floats per vector: GCC's vector extension, which -march=native turns into AVX
// (L 8) or AVX-512 (L 16) registers. They are written out with it because the compiler does not vectorise
// these small loop nests by itself. Each tile is kRows query rows by two vectors of key columns: each key
// row loaded once serves kRows query rows, as many as the registers hold (16 of them under AVX2, 32 under
// AVX-512). The numbers do not depend on the tile: every sum runs over its terms in the same order.
template <int L>
struct Lanes {
  typedef float Vec __attribute__((vector_size(4 * L)));
  static constexpr int kLanes = L;
  static constexpr int kCols = 2 * L;          // key columns per register tile of the score products
  static constexpr int kRows = L == 16 ? 8 : 4;  // query rows per block
  static Vec load(const float* p) {
    Vec v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static void store(float* p, Vec v) { std::memcpy(p, &v, sizeof v); }
};
constexpr int kMaxRows = 8;   // the largest kRows, which the scratch buffers are sized for
constexpr int kMaxCols = 32;  // the largest kCols, which the padded length is a multiple of

// The head dimension is a template parameter for the common sizes, so that the loops over it have
// constant trip counts; HD = 0 reads it at run time (any multiple of the vector's L).
template <int HD>
struct Head {
  int64_t n;
  explicit Head(int64_t runtime) : n(HD ? HD : runtime) {}
  int64_t size() const { return HD ? HD : n; }
  // Vectors of L floats per register tile over the head dimension: two where they divide it, else one.
  template <int L>
  static constexpr int vectors() { return HD % (2 * L) == 0 && HD > 0 ? 2 : 1; }
};

// s[r][j] = sum_c a[r][c] mt[c][j] for r < kRows, j < n (n a multiple of kCols); mt is [hd][ld].
template <int L, int HD>
void rowsTimesColumns(const float* const* a, const float* mt, int64_t ld, int64_t n, Head<HD> h, float* s) {
  using T = Lanes<L>;
  for (int64_t j0 = 0; j0 < n; j0 += T::kCols) {
    typename T::Vec acc[T::kRows][2] = {};
    for (int64_t c = 0; c < h.size(); c++) {
      const typename T::Vec m0 = T::load(mt + c * ld + j0), m1 = T::load(mt + c * ld + j0 + L);
      for (int r = 0; r < T::kRows; r++) {
        const float ar = a[r][c];
        acc[r][0] += ar * m0;
        acc[r][1] += ar * m1;
      }
    }
    for (int r = 0; r < T::kRows; r++) {
      T::store(s + r * ld + j0, acc[r][0]);
      T::store(s + r * ld + j0 + L, acc[r][1]);
    }
  }
}

// out[r] = sum_{j<n} w[r][j] m_j for r < kRows, with m_j = m + j * stride (rows of q, k or v in qkv).
template <int L, int HD>
void rowsTimesMatrix(const float* w, int64_t ld, const float* m, int64_t stride, int64_t n, Head<HD> h, float* const* out) {
  using T = Lanes<L>;
  constexpr int V = Head<HD>::template vectors<L>();
  for (int64_t c0 = 0; c0 < h.size(); c0 += L * V) {
    typename T::Vec acc[T::kRows][V] = {};
    for (int64_t j = 0; j < n; j++) {
      typename T::Vec mj[V];
      for (int u = 0; u < V; u++) mj[u] = T::load(m + j * stride + c0 + L * u);
      for (int r = 0; r < T::kRows; r++) {
        const float wr = w[r * ld + j];
        for (int u = 0; u < V; u++) acc[r][u] += wr * mj[u];
      }
    }
    for (int r = 0; r < T::kRows; r++)
      if (out[r])
        for (int u = 0; u < V; u++) T::store(out[r] + c0 + L * u, acc[r][u]);
  }
}

// m_j += sum_r w[r][j] x[r] for j < n: the keys' and values' gradients, one block of query rows at a time.
template <int L, int HD>
void accumulateOuter(float* m, int64_t stride, int64_t n, const float* w, int64_t ld, const float* const* x, Head<HD> h) {
  using T = Lanes<L>;
  constexpr int V = Head<HD>::template vectors<L>();
  for (int64_t c0 = 0; c0 < h.size(); c0 += L * V) {
    typename T::Vec xr[T::kRows][V];
    for (int r = 0; r < T::kRows; r++)
      for (int u = 0; u < V; u++) xr[r][u] = T::load(x[r] + c0 + L * u);
    for (int64_t j = 0; j < n; j++) {
      float* mj = m + j * stride + c0;
      typename T::Vec acc[V];
      for (int u = 0; u < V; u++) acc[u] = T::load(mj + L * u);
      for (int r = 0; r < T::kRows; r++) {
        const float wr = w[r * ld + j];
        for (int u = 0; u < V; u++) acc[u] += wr * xr[r][u];
      }
      for (int u = 0; u < V; u++) T::store(mj + L * u, acc[u]);
    }
  }
}

// Per-thread working memory for one (batch row, head) pair.
struct Scratch {
  int64_t ld;                    // padded length: a multiple of kMaxCols
  std::vector<float> kt, vt;     // keys and values transposed, [hd][ld], zero-padded
  std::vector<float> probs;      // one block of scores, turned into probabilities in place, [kRows][ld]
  std::vector<float> dScores;    // the backward pass's dS of that block, [kRows][ld]
  std::vector<float> zero;       // the rows past the end of the sequence
  Scratch(const Dims& d) : ld(roundUp(d.len, kMaxCols)), kt(d.headDim * ld), vt(d.headDim * ld),
                           probs(kMaxRows * ld), dScores(kMaxRows * ld), zero(d.headDim) {}
};

inline void transposeRows(const float* x, int64_t stride, int64_t len, int64_t hd, int64_t ld, float* xt) {
  for (int64_t j = 0; j < len; j++)
    for (int64_t c = 0; c < hd; c++) xt[c * ld + j] = x[j * stride + c];
}

// Runs body(pair, scratch) for every pair on d.threads threads; pairs are dealt out in fixed blocks.
template <typename Body>
void forEachPair(const Dims& d, Body body) {
  forRanges(d.pairs(), d.threads, [&](int64_t begin, int64_t end) {
    Scratch scratch(d);
    for (int64_t p = begin; p < end; p++) body(p, scratch);
  });
}

// Where one (batch row, head) pair lives in qkv (and dqkv, which has the same layout) and in [B*T, d] arrays.
struct PairView {
  int64_t rowOffset;  // offset of (b, t = 0, head) in a [B*T, 3d] array
  int64_t outOffset;  // offset of (b, t = 0, head) in a [B*T, d] array
  int64_t width;      // d: from q to k, and from k to v, within a row
  PairView(const Dims& d, int64_t pair)
      : rowOffset((pair / d.heads) * d.len * d.qkvStride() + (pair % d.heads) * d.headDim),
        outOffset((pair / d.heads) * d.len * d.width() + (pair % d.heads) * d.headDim), width(d.width()) {}
  template <typename F>
  F* q(F* qkv) const { return qkv + rowOffset; }
  template <typename F>
  F* k(F* qkv) const { return qkv + rowOffset + width; }
  template <typename F>
  F* v(F* qkv) const { return qkv + rowOffset + 2 * width; }
};

// Runs body(pair, view, scratch) for every pair, as forEachPair, with the pair's keys already in scratch.kt.
template <typename Body>
void forEachPairWithKeys(const Dims& d, const float* qkv, Body body) {
  forEachPair(d, [&](int64_t pair, Scratch& w) {
    const PairView at(d, pair);
    transposeRows(at.k(qkv), d.qkvStride(), d.len, d.headDim, w.ld, w.kt.data());
    body(pair, at, w);
  });
}

// Probabilities of a block of query rows i0.. in place of their scores: exp(scale * s - lse), zero past
// the diagonal (and on rows past the end). With lse == nullptr the rows are normalised here and their
// log-sum-exp is written to lseOut.
inline void blockProbabilities(float* s, int64_t ld, int rows, int64_t i0, int64_t len, int64_t n, float scale, const float* lse,
                               float* lseOut) {
  for (int r = 0; r < rows; r++) {
    float* row = s + r * ld;
    const int64_t i = i0 + r;
    const int64_t valid = i < len ? i + 1 : 0;
    if (valid > 0) {
      // (scale > 0, and rounding is monotonic: the largest scaled score is the largest score, scaled.)
      const float m = lse ? lse[r] : xft::maxOf(row, valid) * scale;
      for (int64_t j = 0; j < valid; j++) row[j] = xft::expNonPositive(row[j] * scale - m);
      if (!lse) {
        float sum = 0;
        for (int64_t j = 0; j < valid; j++) sum += row[j];
        const float inv = 1.0f / sum;
        for (int64_t j = 0; j < valid; j++) row[j] *= inv;
        lseOut[r] = m + std::log(sum);
      }
    }
    std::fill(row + valid, row + n, 0.0f);
  }
}

template <int L, int HD>
void forwardPairs(const Dims& d, const float* qkv, float* out, float* lse, Head<HD> h) {
  constexpr int kRows = Lanes<L>::kRows;
  const int64_t stride = d.qkvStride();
  const float scale = d.scale();
  forEachPairWithKeys(d, qkv, [&](int64_t pair, const PairView& at, Scratch& w) {
    const float *q = at.q(qkv), *v = at.v(qkv);
    for (int64_t i0 = 0; i0 < d.len; i0 += kRows) {
      const float* rows[kRows];
      float* outRows[kRows];
      float rowLse[kRows];
      for (int r = 0; r < kRows; r++) {
        const bool inside = i0 + r < d.len;
        rows[r] = inside ? q + (i0 + r) * stride : w.zero.data();
        outRows[r] = inside ? out + at.outOffset + (i0 + r) * d.width() : nullptr;
      }
      const int64_t keys = std::min(i0 + kRows, d.len);  // keys 0..keys-1 are visible to some row of the block
      const int64_t n = roundUp(keys, Lanes<L>::kCols);
      rowsTimesColumns<L>(rows, w.kt.data(), w.ld, n, h, w.probs.data());
      blockProbabilities(w.probs.data(), w.ld, kRows, i0, d.len, n, scale, nullptr, rowLse);
      rowsTimesMatrix<L>(w.probs.data(), w.ld, v, stride, keys, h, outRows);
      for (int r = 0; r < kRows && i0 + r < d.len; r++) lse[pair * d.len + i0 + r] = rowLse[r];
    }
  });
}

// With P the probabilities, dO the output's gradient and D_i = dO_i . O_i:
// dV_j = sum_i P_ij dO_i, dS_ij = P_ij (dO_i . v_j - D_i), dq_i = scale sum_j dS_ij k_j, dk_j = scale sum_i dS_ij q_i.
// The scale is folded into dS.
template <int L, int HD>
void backwardPairs(const Dims& d, const float* qkv, const float* out, const float* lse, const float* dOut, float* dqkv, Head<HD> h) {
  constexpr int kRows = Lanes<L>::kRows;
  const int64_t stride = d.qkvStride();
  const float scale = d.scale();
  forEachPairWithKeys(d, qkv, [&](int64_t pair, const PairView& at, Scratch& w) {
    const float *q = at.q(qkv), *k = at.k(qkv), *v = at.v(qkv);
    float *dq = at.q(dqkv), *dk = at.k(dqkv), *dv = at.v(dqkv);
    transposeRows(v, stride, d.len, d.headDim, w.ld, w.vt.data());
    for (int64_t j = 0; j < d.len; j++) {
      std::fill(dk + j * stride, dk + j * stride + h.size(), 0.0f);
      std::fill(dv + j * stride, dv + j * stride + h.size(), 0.0f);
    }
    for (int64_t i0 = 0; i0 < d.len; i0 += kRows) {
      const float *qRows[kRows], *dORows[kRows];
      float* dqRows[kRows];
      float rowLse[kRows], rowD[kRows];
      for (int r = 0; r < kRows; r++) {
        const int64_t i = i0 + r;
        const bool inside = i < d.len;
        qRows[r] = inside ? q + i * stride : w.zero.data();
        dORows[r] = inside ? dOut + at.outOffset + i * d.width() : w.zero.data();
        dqRows[r] = inside ? dq + i * stride : nullptr;
        rowLse[r] = inside ? lse[pair * d.len + i] : 0.0f;
        float di = 0;
        if (inside) {
          const float* oi = out + at.outOffset + i * d.width();
          for (int64_t c = 0; c < h.size(); c++) di += dORows[r][c] * oi[c];
        }
        rowD[r] = di;
      }
      const int64_t keys = std::min(i0 + kRows, d.len);
      const int64_t n = roundUp(keys, Lanes<L>::kCols);
      float* p = w.probs.data();
      float* ds = w.dScores.data();
      rowsTimesColumns<L>(qRows, w.kt.data(), w.ld, n, h, p);
      blockProbabilities(p, w.ld, kRows, i0, d.len, n, scale, rowLse, nullptr);
      rowsTimesColumns<L>(dORows, w.vt.data(), w.ld, n, h, ds);  // dP = dO V^T
      for (int r = 0; r < kRows; r++)
        for (int64_t j = 0; j < n; j++) ds[r * w.ld + j] = p[r * w.ld + j] * (ds[r * w.ld + j] - rowD[r]) * scale;
      rowsTimesMatrix<L>(ds, w.ld, k, stride, keys, h, dqRows);
      accumulateOuter<L>(dk, stride, keys, ds, w.ld, qRows, h);
      accumulateOuter<L>(dv, stride, keys, p, w.ld, dORows, h);
    }
  });
}

// Runs fn(Lanes<L>, Head<HD>) with the widest vectors the build has (AVX-512's 16 floats where the head
// dimension is a multiple of 16, else 8) and the head dimension fixed where it is a common one.
template <int L, typename Fn>
void withHead(int64_t hd, Fn fn) {
  switch (hd) {
    case 16: fn(Lanes<L>(), Head<16>(hd)); break;
    case 32: fn(Lanes<L>(), Head<32>(hd)); break;
    case 64: fn(Lanes<L>(), Head<64>(hd)); break;
    default: fn(Lanes<L>(), Head<0>(hd)); break;
  }
}
template <typename Fn>
void withKernel(int64_t hd, Fn fn) {
#ifdef __AVX512F__
  if (hd % 16 == 0) return withHead<16>(hd, fn);
#endif
  withHead<8>(hd, fn);
}

// The output [B*T, d] and each row's log-sum-exp [B*H*T] of qkv [B*T, 3d].
inline void forward(const Dims& d, const float* qkv, float* out, float* lse) {
  withKernel(d.headDim, [&](auto lanes, auto h) { forwardPairs<decltype(lanes)::kLanes>(d, qkv, out, lse, h); });
}

// The gradient dqkv [B*T, 3d] from the output's, dOut [B*T, d], and what the forward pass kept.
inline void backward(const Dims& d, const float* qkv, const float* out, const float* lse, const float* dOut, float* dqkv) {
  withKernel(d.headDim, [&](auto lanes, auto h) { backwardPairs<decltype(lanes)::kLanes>(d, qkv, out, lse, dOut, dqkv, h); });
}

}  // namespace attention
}  // namespace xft
