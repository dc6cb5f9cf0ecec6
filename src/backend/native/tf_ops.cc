// xft's own TensorFlow ops: GELU, LayerNorm (alone, or with the residual stream's add before it) and causal
// attention, forward and backward, the head's softmax cross-entropy and the AdamW step, one op each, registered
// into the TensorFlow runtime that tfjs-node has loaded (through TensorFlow's C API for ops and kernels), so that
// tfjs-node runs them on TensorFlow's own tensors like any other op: no copies in or out of JavaScript.
//
// Why: as tfjs ops, GELU is 6 ops forward and 9 backward and LayerNorm 9 and 11, each a pass over the
// activations with a fresh output and tfjs-node's cost per op (25-65 us); on the reference configs they
// are a quarter of a training step. Fused, each is one pass. So are the head's softmax cross-entropy (a softmax,
// two row maxima and a gather as tfjs ops) and the AdamW step (about 140 ops over the parameters, most of them
// reshapes, each at that cost per op). Attention is the kernel of causal_attention.h, which
// as a Node-API addon has to copy its inputs out of TensorFlow and its outputs back in (2-8 ms a layer on config C).
//
// Every op computes its rows in fixed blocks, and the sums over rows (the LayerNorm gradient's column sums, the
// loss, the gradient norm) add the blocks' partial sums in block order, so the numbers do not depend on the
// thread count.
#include <node_api.h>
#include <tensorflow/c/kernels.h>
#include <tensorflow/c/ops.h>
#include <tensorflow/c/tf_status.h>
#include <tensorflow/c/tf_tensor.h>

#include <optional>
#include <string>
#include <vector>

#include "causal_attention.h"
#include "gemm.h"
#include "parallel.h"
#include "vector_math.h"

namespace {

int gThreads = 1;
constexpr int64_t kBlockRows = 64;           // rows per block of work (and per partial sum)
// Below this many floats of work a thread, a second thread costs more than it saves. Inside a training step waking
// a pool thread costs 30-80 us, not the few us it takes between back-to-back calls: TensorFlow's own threads are
// still spinning after its last op. At 2^16, ops on 2048 x 64 values were 1.5-1.8x slower on two threads than on
// one (config A, Intel Xeon: column sums 83 against 54 us, row gathers 104 against 58).
constexpr int64_t kMinFloatsPerThread = 1 << 17;

// Runs body(block) for blocks 0..n-1 on up to gThreads threads, each taking a contiguous range.
template <typename Body>
void forBlocks(int64_t n, int64_t floatsPerBlock, Body body) {
  const int64_t wanted = std::max<int64_t>(1, n * floatsPerBlock / kMinFloatsPerThread);
  xft::forRanges(n, std::min<int64_t>(gThreads, wanted), [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; b++) body(b);
  });
}

// Runs body(block, begin, end) over rows 0..rows-1 of `width` floats in fixed blocks of kBlockRows rows.
int64_t rowBlocks(int64_t rows) { return (rows + kBlockRows - 1) / kBlockRows; }
template <typename Body>
void forRowBlocks(int64_t rows, int64_t width, Body body) {
  forBlocks(rowBlocks(rows), kBlockRows * width,
            [&](int64_t b) { body(b, b * kBlockRows, std::min(rows, (b + 1) * kBlockRows)); });
}

// Runs body(begin, end) over 0..n in fixed blocks of kElementBlock values, for elementwise work.
constexpr int64_t kElementBlock = kBlockRows * 256;
template <typename Body>
void forElementBlocks(int64_t n, Body body) {
  forBlocks((n + kElementBlock - 1) / kElementBlock, kElementBlock,
            [&](int64_t b) { body(b * kElementBlock, std::min(n, (b + 1) * kElementBlock)); });
}

// ---- GELU, tanh approximation in its sigmoid form: x * sigmoid(u), u = x (A x^2 + B) (as in gpt.ts) ----

const float kGeluB = 2.0f * std::sqrt(2.0f / 3.14159265358979f);
const float kGeluA = kGeluB * 0.044715f;

inline float sigmoid(float u) {
  const float e = xft::expNonPositive(-std::fabs(u));
  const float r = 1.0f / (1.0f + e);
  return u >= 0 ? r : e * r;
}

void geluForward(const float* x, float* y, int64_t n) {
  forElementBlocks(n, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; i++) {
      const float v = x[i];
      y[i] = v * sigmoid(v * (kGeluA * v * v + kGeluB));
    }
  });
}

// d/dx x s(u) = s + x s (1 - s) (3 A x^2 + B)
void geluBackward(const float* dy, const float* x, float* dx, int64_t n) {
  forElementBlocks(n, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; i++) {
      const float v = x[i];
      const float v2 = v * v;
      const float s = sigmoid(v * (kGeluA * v2 + kGeluB));
      dx[i] = dy[i] * (s + v * s * (1.0f - s) * (3.0f * kGeluA * v2 + kGeluB));
    }
  });
}

// ---- LayerNorm over the last axis: y = (x - mean) * rstd * g + b, rstd = 1 / sqrt(var + eps) ----

// `delta` (nullptr for none) is added to x first, the residual stream's add, and the sum is written to `sum`:
// one pass where the add and the norm would be two, each over the whole stream.
void layerNormForward(const float* x, const float* delta, const float* g, const float* bias, int64_t rows, int64_t d,
                      float eps, float* sum, float* y, float* mean, float* rstd) {
  forRowBlocks(rows, d, [&](int64_t, int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; r++) {
      const float* xr = x + r * d;
      if (delta) {
        float* sr = sum + r * d;
        const float* dr = delta + r * d;
        for (int64_t c = 0; c < d; c++) sr[c] = xr[c] + dr[c];
        xr = sr;
      }
      float total = 0;
      for (int64_t c = 0; c < d; c++) total += xr[c];
      const float m = total / d;
      float sq = 0;
      for (int64_t c = 0; c < d; c++) sq += (xr[c] - m) * (xr[c] - m);
      const float s = 1.0f / std::sqrt(sq / d + eps);
      float* yr = y + r * d;
      for (int64_t c = 0; c < d; c++) yr[c] = (xr[c] - m) * s * g[c] + bias[c];
      mean[r] = m;
      rstd[r] = s;
    }
  });
}

// out[c] = the sum over blocks b, in order, of partial[b * stride + c], c < width: per-block partial sums (one block
// per kBlockRows rows) made into totals that do not depend on how the blocks were spread over threads.
void sumOverBlocks(const float* partial, int64_t blocks, int64_t stride, int64_t width, float* out) {
  std::fill(out, out + width, 0.0f);
  for (int64_t blk = 0; blk < blocks; blk++) {
    const float* p = partial + blk * stride;
    for (int64_t c = 0; c < width; c++) out[c] += p[c];
  }
}

// With xhat = (x - mean) rstd and dxhat = dy g: dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)),
// dg = sum over rows of dy xhat, db = sum over rows of dy. `dSum` (nullptr for none) is the gradient the sum of an
// add-and-norm has from the rest of the residual stream, added to dx.
void layerNormBackward(const float* dy, const float* dSum, const float* x, const float* g, const float* mean,
                       const float* rstd, int64_t rows, int64_t d, float* dx, float* dg, float* db) {
  const int64_t blocks = rowBlocks(rows);
  std::vector<float> partial(blocks * 2 * d, 0.0f);  // per block: dg then db
  forRowBlocks(rows, d, [&](int64_t blk, int64_t begin, int64_t end) {
    float* pg = partial.data() + blk * 2 * d;
    float* pb = pg + d;
    for (int64_t r = begin; r < end; r++) {
      const float* xr = x + r * d;
      const float* dyr = dy + r * d;
      const float m = mean[r], s = rstd[r];
      float sumDxhat = 0, sumDxhatXhat = 0;
      for (int64_t c = 0; c < d; c++) {
        const float xhat = (xr[c] - m) * s;
        const float dxhat = dyr[c] * g[c];
        sumDxhat += dxhat;
        sumDxhatXhat += dxhat * xhat;
        pg[c] += dyr[c] * xhat;
        pb[c] += dyr[c];
      }
      const float a = sumDxhat / d, b = sumDxhatXhat / d;
      float* dxr = dx + r * d;
      for (int64_t c = 0; c < d; c++) dxr[c] = s * (dyr[c] * g[c] - a - (xr[c] - m) * s * b);
      if (dSum) {
        const float* dsr = dSum + r * d;
        for (int64_t c = 0; c < d; c++) dxr[c] += dsr[c];
      }
    }
  });
  sumOverBlocks(partial.data(), blocks, 2 * d, d, dg);
  sumOverBlocks(partial.data() + d, blocks, 2 * d, d, db);
}

// ---- Column sums of x [rows, d]: a linear layer's bias gradient ----

// TensorFlow's BiasAddGrad took 2.4% of a step on config D and 4.7% on A (Intel Xeon, 2 threads): 0.16 ms for
// [2048, 64], a 512 KiB read. Here each block of rows sums into a partial of its own, and the partials are added in
// block order, so the sums do not depend on the thread count.
void columnSums(const float* x, int64_t rows, int64_t d, float* out) {
  const int64_t blocks = rowBlocks(rows);
  std::vector<float> partial(blocks * d, 0.0f);
  forRowBlocks(rows, d, [&](int64_t blk, int64_t begin, int64_t end) {
    float* p = partial.data() + blk * d;
    for (int64_t r = begin; r < end; r++) {
      const float* xr = x + r * d;
      for (int64_t c = 0; c < d; c++) p[c] += xr[c];
    }
  });
  sumOverBlocks(partial.data(), blocks, d, d, out);
}

// ---- Rows by id: embedding lookups and their gradients (TensorFlow's GatherV2 and UnsortedSegmentSum, 3-4x slower
// on these shapes: 0.19 and 0.29 ms for 2048 rows of 64 on Intel Xeon, 6% of a step of config A) ----

// Returns the first position whose id is not below `limit` (or, where negatives are refused, below 0), or -1.
int64_t firstIdOutside(const int32_t* ids, int64_t n, int64_t limit, bool negativeAllowed) {
  for (int64_t i = 0; i < n; i++) {
    if (ids[i] >= limit || (ids[i] < 0 && !negativeAllowed)) return i;
  }
  return -1;
}

// out[i] = table[ids[i]] for rows of d values.
void gatherRows(const float* table, const int32_t* ids, int64_t m, int64_t d, float* out) {
  forRowBlocks(m, d, [&](int64_t, int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; i++) std::copy(table + ids[i] * d, table + (ids[i] + 1) * d, out + i * d);
  });
}

// out[r] = the sum of x[i] over the i with ids[i] == r, in the order of i; a negative id's row is dropped (as in
// TensorFlow). The threads share out the columns, 16 at a time, so that every sum is made in the same order.
constexpr int64_t kSumColumns = 16;
void sumRowsById(const float* x, const int32_t* ids, int64_t m, int64_t d, int64_t rows, float* out) {
  std::fill(out, out + rows * d, 0.0f);
  forBlocks((d + kSumColumns - 1) / kSumColumns, m * kSumColumns, [&](int64_t b) {
    const int64_t c0 = b * kSumColumns, c1 = std::min(d, c0 + kSumColumns);
    for (int64_t i = 0; i < m; i++) {
      if (ids[i] < 0) continue;
      float* o = out + ids[i] * d;
      const float* xi = x + i * d;
      for (int64_t c = c0; c < c1; c++) o[c] += xi[c];
    }
  });
}

// ---- Softmax cross-entropy of logits [rows, V] against target ids [rows]: the probabilities, and the loss summed ----

// The softmax of one row of logits x [V] into p (which may be x itself), and the row's loss lse - x[target], with
// lse = max + log(sum exp(x - max)).
float softmaxRow(const float* x, float* p, int64_t v, int32_t target) {
  const float m = xft::maxOf(x, v);
  const float loss = m - x[target];  // read before p, which may be x, is written
  float sum = 0;
  for (int64_t j = 0; j < v; j++) {
    p[j] = xft::expNonPositive(x[j] - m);
    sum += p[j];
  }
  const float inv = 1.0f / sum;
  for (int64_t j = 0; j < v; j++) p[j] *= inv;
  return loss + std::log(sum);
}

// The probabilities of every row, and the loss summed over rows: the blocks' partial sums added in block order.
void softmaxCrossEntropy(const float* logits, const int32_t* targets, int64_t rows, int64_t v, float* probs, float* lossSum) {
  std::vector<double> partial(rowBlocks(rows), 0.0);
  forRowBlocks(rows, v, [&](int64_t blk, int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; r++) partial[blk] += softmaxRow(logits + r * v, probs + r * v, v, targets[r]);
  });
  double total = 0;
  for (double part : partial) total += part;
  *lossSum = static_cast<float>(total);
}

// ---- The head's loss and gradients in one pass: logits, softmax cross-entropy, dh and dW, block by block ----

// For h [M, d], the head W [V, d] and targets [M], with P = softmax(h W^T) and Y the one-hot targets: the loss summed
// over rows, dh = (P - Y) W [M, d] and dW = (P - Y)^T h [V, d], the gradients before their scale (dy / M for a mean).
// As separate ops (about ten) the head writes the logits [M, V], reads them for P, writes P and reads it twice, for dh
// and dW (config A: 16 MiB each time). Here rows go in blocks of kHeadRows whose logits, made into P - Y in place, stay
// in the cache for both products, and no [M, V] tensor is made (a step of config A: 20.5 against 22.3 ms, Intel Xeon). dW's sums are kept per group of blocks
// (kHeadGroups groups, whichever thread runs them) and added in group order, so that no number depends on the thread
// count. `gradients`: 0 the loss alone, 1 also dh, 2 also dW.
constexpr int64_t kHeadRows = 48;
constexpr int64_t kHeadGroups = 8;

void headCrossEntropy(const float* h, const float* w, const int32_t* targets, int64_t rows, int64_t d, int64_t v,
                      int gradients, float* lossSum, float* dh, float* dw) {
  const xft::RightFactor wT(d, v, {w, 1, d});  // W^T [d, V], packed once for every block's logits
  const std::optional<xft::RightFactor> wRows = gradients >= 1 ? std::make_optional<xft::RightFactor>(v, d, xft::MatrixView{w, d, 1}) : std::nullopt;
  const int64_t blocks = (rows + kHeadRows - 1) / kHeadRows;
  const int64_t groups = gradients == 2 ? std::min(blocks, kHeadGroups) : blocks;
  std::vector<float> partialW(gradients == 2 ? groups * v * d : 0);
  std::vector<double> partialLoss(blocks, 0.0);
  forBlocks(groups, (rows / std::max<int64_t>(groups, 1)) * v, [&](int64_t g) {
    thread_local std::vector<float> z;
    z.resize(kHeadRows * v);
    for (int64_t blk = g * blocks / groups; blk < (g + 1) * blocks / groups; blk++) {
      const int64_t r0 = blk * kHeadRows, n = std::min(kHeadRows, rows - r0);
      xft::multiply(n, {h + r0 * d, d, 1}, wT, nullptr, false, z.data(), v, 1);
      for (int64_t r = 0; r < n; r++) {
        partialLoss[blk] += softmaxRow(z.data() + r * v, z.data() + r * v, v, targets[r0 + r]);
        z[r * v + targets[r0 + r]] -= 1.0f;  // P - Y
      }
      if (gradients >= 1) xft::multiply(n, {z.data(), v, 1}, *wRows, nullptr, false, dh + r0 * d, d, 1);
      if (gradients == 2) {
        const xft::RightFactor hBlock(n, d, {h + r0 * d, d, 1});
        xft::multiply(v, {z.data(), 1, v}, hBlock, nullptr, blk > g * blocks / groups, partialW.data() + g * v * d, d, 1);
      }
    }
  });
  double total = 0;
  for (double part : partialLoss) total += part;
  *lossSum = static_cast<float>(total);
  if (gradients < 2) return;
  forElementBlocks(v * d, [&](int64_t begin, int64_t end) {
    std::fill(dw + begin, dw + end, 0.0f);
    for (int64_t g = 0; g < groups; g++) {
      const float* p = partialW.data() + g * v * d;
      for (int64_t i = begin; i < end; i++) dw[i] += p[i];
    }
  });
}

// ---- AdamW over all parameters at once (optimizer.ts has the same as tfjs ops) ----

// Hyperparameters of one step, in the order of the op's `hyper` input.
struct AdamHyper {
  float lr, beta1, beta2, eps, weightDecay, biasCorrection1, biasCorrection2, gradClip;
};

struct AdamTensor {
  const float* param;
  const float* grad;
  int64_t size;
  bool decays;
  float* newParam;
};

// The parameters cut into pieces of at most kElementBlock values, tensor by tensor, so that the whole step is one
// parallel call over the pieces: a call per tensor and pass cost a thread pool round trip each, 150 of them on
// config D (76 tensors), most of them biases and norm gains of a few hundred values.
struct AdamPiece {
  const AdamTensor* tensor;
  int64_t begin, end;  // within the tensor
  int64_t offset;      // of the tensor in m and v
};

std::vector<AdamPiece> adamPieces(const std::vector<AdamTensor>& ts) {
  std::vector<AdamPiece> pieces;
  int64_t offset = 0;
  for (const AdamTensor& t : ts) {
    for (int64_t b = 0; b < t.size; b += kElementBlock) pieces.push_back({&t, b, std::min(t.size, b + kElementBlock), offset});
    offset += t.size;
  }
  return pieces;
}

// Global gradient norm, in double, summed piece by piece in a fixed order.
double gradientNorm(const std::vector<AdamPiece>& pieces) {
  std::vector<double> partial(pieces.size(), 0.0);
  forBlocks(static_cast<int64_t>(pieces.size()), kElementBlock, [&](int64_t b) {
    const AdamPiece& piece = pieces[b];
    const float* g = piece.tensor->grad;
    double sum = 0;
    for (int64_t i = piece.begin; i < piece.end; i++) sum += static_cast<double>(g[i]) * g[i];
    partial[b] = sum;
  });
  double total = 0;
  for (double part : partial) total += part;
  return std::sqrt(total);
}

// AdamW on values begin..end of one tensor, its gradient already scaled by `scale`; `newParam` may be `param`
// itself (updated in place). A function of plain pointers so that the compiler vectorises it: written inline over
// the tensor's fields it did not (the stores might alias them), and the step took 8.2 ms instead of 6.1 on config D.
void adamWRange(const float* grad, const float* param, float* newParam, float* m, float* v, int64_t begin, int64_t end,
                float scale, float decay, const AdamHyper& h) {
  const float beta1 = h.beta1, beta2 = h.beta2, bc1 = h.biasCorrection1, bc2 = h.biasCorrection2, eps = h.eps, lr = h.lr;
  for (int64_t i = begin; i < end; i++) {
    const float g = grad[i] * scale;
    const float mi = m[i] * beta1 + g * (1 - beta1);
    const float vi = v[i] * beta2 + g * g * (1 - beta2);
    m[i] = mi;
    v[i] = vi;
    const float update = mi / (std::sqrt(vi / bc2) + eps) * (1 / bc1) + param[i] * decay;
    newParam[i] = param[i] - update * lr;
  }
}

// One AdamW step with the gradients scaled by min(1, clip / norm); m and v are flat, in the tensors' order, and
// updated in place.
void adamWStep(const std::vector<AdamPiece>& pieces, const AdamHyper& h, float norm, float* m, float* v) {
  const float scale = h.gradClip > 0 ? std::min(1.0f, h.gradClip / std::max(norm, 1e-12f)) : 1.0f;
  // Weighed as 4 floats a value: it reads 4 arrays and writes 3.
  forBlocks(static_cast<int64_t>(pieces.size()), 4 * kElementBlock, [&](int64_t b) {
    const AdamPiece& piece = pieces[b];
    const AdamTensor& t = *piece.tensor;
    adamWRange(t.grad, t.param, t.newParam, m + piece.offset, v + piece.offset, piece.begin, piece.end, scale,
               t.decays ? h.weightDecay : 0.0f, h);
  });
}

// ---- TensorFlow glue ----

int64_t count(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t v : dims) n *= v;
  return n;
}

// One op's inputs, read and checked; failures go to the op's context, which tfjs-node raises as an error.
struct OpContext {
  TF_OpKernelContext* ctx;
  const char* op;
  TF_Status* status = TF_NewStatus();
  std::vector<TF_Tensor*> held;
  bool failed = false;
  OpContext(TF_OpKernelContext* c, const char* name) : ctx(c), op(name) {}
  ~OpContext() {
    for (TF_Tensor* t : held) TF_DeleteTensor(t);
    TF_DeleteStatus(status);
  }
  // Whether the last TensorFlow call succeeded; if not, the op has failed with its status.
  bool ok() {
    if (TF_GetCode(status) == TF_OK) return true;
    failed = true;
    TF_OpKernelContext_Failure(ctx, status);
    return false;
  }
  void fail(const std::string& message) {
    if (failed) return;
    failed = true;
    TF_SetStatus(status, TF_INVALID_ARGUMENT, (std::string(op) + ": " + message).c_str());
    TF_OpKernelContext_Failure(ctx, status);
  }
  std::vector<int64_t> shape(TF_Tensor* t) {
    std::vector<int64_t> dims(TF_NumDims(t));
    for (size_t i = 0; i < dims.size(); i++) dims[i] = TF_Dim(t, static_cast<int>(i));
    return dims;
  }
  // Input i as T (float, or int32 for ids), with its shape; nullptr (and the op failed) when it cannot be read.
  template <typename T = float>
  const T* input(int i, std::vector<int64_t>* dims) {
    TF_Tensor* t = nullptr;
    TF_GetInput(ctx, i, &t, status);
    if (!ok()) return nullptr;
    held.push_back(t);
    *dims = shape(t);
    return static_cast<const T*>(TF_TensorData(t));
  }
  // Input `in` as output `out`, the same buffer, to be written in place (nothing else may hold that tensor).
  float* inPlace(int in, int out, std::vector<int64_t>* dims) {
    TF_Tensor* t = nullptr;
    TF_GetInput(ctx, in, &t, status);
    if (!ok()) return nullptr;
    held.push_back(t);
    TF_SetOutput(ctx, out, t, status);
    if (!ok()) return nullptr;
    *dims = shape(t);
    return static_cast<float*>(TF_TensorData(t));
  }
  float* output(int i, const std::vector<int64_t>& dims) {
    TF_Tensor* t = TF_AllocateOutput(ctx, i, TF_FLOAT, dims.data(), static_cast<int>(dims.size()), count(dims) * sizeof(float), status);
    if (!ok()) return nullptr;
    held.push_back(t);
    return static_cast<float*>(TF_TensorData(t));
  }
};

std::string shapeText(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); i++) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}

// Rows and width of x [..., d], and a check that a vector is [d].
bool rowsOf(OpContext& op, const std::vector<int64_t>& x, int64_t* rows, int64_t* d) {
  if (x.empty() || x.back() == 0) {
    op.fail("x must have a last axis, got " + shapeText(x));
    return false;
  }
  *d = x.back();
  *rows = count(x) / *d;
  return true;
}

bool isVector(OpContext& op, const char* name, const std::vector<int64_t>& v, int64_t n) {
  if (v.size() == 1 && v[0] == n) return true;
  op.fail(std::string(name) + " must be [" + std::to_string(n) + "], got " + shapeText(v));
  return false;
}

bool sameShape(OpContext& op, const std::string& name, const std::vector<int64_t>& v, const std::vector<int64_t>& expected) {
  if (v == expected) return true;
  op.fail(name + " must be " + shapeText(expected) + ", got " + shapeText(v));
  return false;
}

// A kernel's attributes, a new Attrs filled by read(attrs, status): each of its TensorFlow calls leaves `status`
// failed on an error, and a failure fails the kernel's construction. deleteAttrs<Attrs> releases it.
template <typename Attrs, typename Read>
void* readAttrs(TF_OpKernelConstruction* ctx, Read read) {
  auto* attrs = new Attrs;
  TF_Status* status = TF_NewStatus();
  read(*attrs, status);
  if (TF_GetCode(status) != TF_OK) TF_OpKernelConstruction_Failure(ctx, status);
  TF_DeleteStatus(status);
  return attrs;
}
template <typename Attrs>
void deleteAttrs(void* attrs) {
  delete static_cast<Attrs*>(attrs);
}

// Whether every one of `rows` targets is a row of a [V, ...] vocabulary; if not, the op has failed naming the first that
// is not.
bool targetsInside(OpContext& op, const int32_t* targets, int64_t rows, int64_t v) {
  for (int64_t r = 0; r < rows; r++) {
    if (targets[r] < 0 || targets[r] >= v) {
      op.fail("target " + std::to_string(targets[r]) + " of row " + std::to_string(r) + " is outside the vocabulary [0, " +
              std::to_string(v) + ")");
      return false;
    }
  }
  return true;
}

struct LayerNormAttrs {
  float eps = 1e-5f;
};

void* createLayerNorm(TF_OpKernelConstruction* ctx) {
  return readAttrs<LayerNormAttrs>(ctx, [&](LayerNormAttrs& a, TF_Status* status) {
    TF_OpKernelConstruction_GetAttrFloat(ctx, "epsilon", &a.eps, status);
  });
}
void* createNothing(TF_OpKernelConstruction*) { return nullptr; }
void deleteNothing(void*) {}

void computeGelu(void*, TF_OpKernelContext* ctx) {
  OpContext op(ctx, "XftGelu");
  std::vector<int64_t> xs;
  const float* x = op.input(0, &xs);
  if (!x) return;
  float* y = op.output(0, xs);
  if (y) geluForward(x, y, count(xs));
}

void computeGeluGrad(void*, TF_OpKernelContext* ctx) {
  OpContext op(ctx, "XftGeluGrad");
  std::vector<int64_t> dys, xs;
  const float* dy = op.input(0, &dys);
  const float* x = dy ? op.input(1, &xs) : nullptr;
  if (!x || !sameShape(op, "dy", dys, xs)) return;
  float* dx = op.output(0, xs);
  if (dx) geluBackward(dy, x, dx, count(xs));
}

// XftLayerNorm (x, g, b) -> (y, mean, rstd), and XftAddLayerNorm (x, delta, g, b) -> (sum, y, mean, rstd).
void computeLayerNormOf(void* kernel, TF_OpKernelContext* ctx, bool add) {
  OpContext op(ctx, add ? "XftAddLayerNorm" : "XftLayerNorm");
  const int first = add ? 1 : 0;  // g's input, and y's output
  std::vector<int64_t> xs, ds, gs, bs;
  const float* x = op.input(0, &xs);
  const float* delta = x && add ? op.input(1, &ds) : nullptr;
  const float* g = x && (delta || !add) ? op.input(first + 1, &gs) : nullptr;
  const float* b = g ? op.input(first + 2, &bs) : nullptr;
  int64_t rows, d;
  if (!b || !rowsOf(op, xs, &rows, &d) || (add && !sameShape(op, "delta", ds, xs)) || !isVector(op, "g", gs, d) ||
      !isVector(op, "b", bs, d)) {
    return;
  }
  float* sum = add ? op.output(0, xs) : nullptr;
  float* y = !add || sum ? op.output(first, xs) : nullptr;
  float* mean = y ? op.output(first + 1, {rows}) : nullptr;
  float* rstd = mean ? op.output(first + 2, {rows}) : nullptr;
  if (rstd) layerNormForward(x, delta, g, b, rows, d, static_cast<LayerNormAttrs*>(kernel)->eps, sum, y, mean, rstd);
}
void computeLayerNorm(void* kernel, TF_OpKernelContext* ctx) { computeLayerNormOf(kernel, ctx, false); }
void computeAddLayerNorm(void* kernel, TF_OpKernelContext* ctx) { computeLayerNormOf(kernel, ctx, true); }

// XftLayerNormGrad (dy, x, g, mean, rstd) -> (dx, dg, db), and XftAddLayerNormGrad (d_sum, dy, sum, g, mean, rstd),
// whose dx is the gradient of both terms of the sum.
void computeLayerNormGradOf(TF_OpKernelContext* ctx, bool add) {
  OpContext op(ctx, add ? "XftAddLayerNormGrad" : "XftLayerNormGrad");
  const int first = add ? 1 : 0;  // dy's input
  std::vector<int64_t> dss, dys, xs, gs, ms, ss;
  const float* dSum = add ? op.input(0, &dss) : nullptr;
  const float* dy = !add || dSum ? op.input(first, &dys) : nullptr;
  const float* x = dy ? op.input(first + 1, &xs) : nullptr;
  const float* g = x ? op.input(first + 2, &gs) : nullptr;
  const float* mean = g ? op.input(first + 3, &ms) : nullptr;
  const float* rstd = mean ? op.input(first + 4, &ss) : nullptr;
  int64_t rows, d;
  if (!rstd || !rowsOf(op, xs, &rows, &d) || !sameShape(op, "dy", dys, xs) || (add && !sameShape(op, "d_sum", dss, xs)) ||
      !isVector(op, "g", gs, d) || !isVector(op, "mean", ms, rows) || !isVector(op, "rstd", ss, rows)) {
    return;
  }
  float* dx = op.output(0, xs);
  float* dg = dx ? op.output(1, {d}) : nullptr;
  float* db = dg ? op.output(2, {d}) : nullptr;
  if (db) layerNormBackward(dy, dSum, x, g, mean, rstd, rows, d, dx, dg, db);
}
void computeLayerNormGrad(void*, TF_OpKernelContext* ctx) { computeLayerNormGradOf(ctx, false); }
void computeAddLayerNormGrad(void*, TF_OpKernelContext* ctx) { computeLayerNormGradOf(ctx, true); }

// XftGatherRows (table [n, d], ids [m] int32) -> [m, d].
void computeGatherRows(void*, TF_OpKernelContext* ctx) {
  OpContext op(ctx, "XftGatherRows");
  std::vector<int64_t> ts, is;
  const float* table = op.input(0, &ts);
  const int32_t* ids = table ? op.input<int32_t>(1, &is) : nullptr;
  if (!ids) return;
  if (ts.size() != 2) return op.fail("table must be [rows, d], got " + shapeText(ts));
  if (is.size() != 1) return op.fail("ids must be [m], got " + shapeText(is));
  const int64_t bad = firstIdOutside(ids, is[0], ts[0], false);
  if (bad >= 0) {
    return op.fail("id " + std::to_string(ids[bad]) + " at position " + std::to_string(bad) + " is outside the table's " +
                   std::to_string(ts[0]) + " rows");
  }
  float* out = op.output(0, {is[0], ts[1]});
  if (out) gatherRows(table, ids, is[0], ts[1], out);
}

// XftSumRowsById (x [m, d], ids [m] int32, rows [] int32) -> [rows, d].
void computeSumRowsById(void*, TF_OpKernelContext* ctx) {
  OpContext op(ctx, "XftSumRowsById");
  std::vector<int64_t> xs, is, rs;
  const float* x = op.input(0, &xs);
  const int32_t* ids = x ? op.input<int32_t>(1, &is) : nullptr;
  const int32_t* rows = ids ? op.input<int32_t>(2, &rs) : nullptr;
  if (!rows) return;
  if (xs.size() != 2) return op.fail("x must be [m, d], got " + shapeText(xs));
  if (!isVector(op, "ids", is, xs[0])) return;
  if (!rs.empty() || *rows < 0) return op.fail("rows must be a count (a scalar of at least 0)");
  const int64_t bad = firstIdOutside(ids, xs[0], *rows, true);
  if (bad >= 0) {
    return op.fail("id " + std::to_string(ids[bad]) + " at position " + std::to_string(bad) + " is not below rows (" +
                   std::to_string(*rows) + ")");
  }
  float* out = op.output(0, {*rows, xs[1]});
  if (out) sumRowsById(x, ids, xs[0], xs[1], *rows, out);
}

// XftColumnSums (x [rows, d]) -> [d].
void computeColumnSums(void*, TF_OpKernelContext* ctx) {
  OpContext op(ctx, "XftColumnSums");
  std::vector<int64_t> xs;
  const float* x = op.input(0, &xs);
  int64_t rows, d;
  if (!x || !rowsOf(op, xs, &rows, &d)) return;
  float* out = op.output(0, {d});
  if (out) columnSums(x, rows, d, out);
}

void computeSoftmaxCrossEntropy(void*, TF_OpKernelContext* ctx) {
  OpContext op(ctx, "XftSoftmaxCrossEntropy");
  std::vector<int64_t> ls, ts;
  const float* logits = op.input(0, &ls);
  const int32_t* targets = logits ? op.input<int32_t>(1, &ts) : nullptr;
  if (!targets) return;
  if (ls.size() != 2 || ls[1] == 0) return op.fail("logits must be [rows, vocabulary], got " + shapeText(ls));
  if (!isVector(op, "targets", ts, ls[0]) || !targetsInside(op, targets, ls[0], ls[1])) return;
  float* probs = op.output(0, ls);
  float* loss = probs ? op.output(1, {}) : nullptr;
  if (loss) softmaxCrossEntropy(logits, targets, ls[0], ls[1], probs, loss);
}

struct HeadAttrs {
  int64_t gradients = 0;
};

void* createHead(TF_OpKernelConstruction* ctx) {
  return readAttrs<HeadAttrs>(ctx, [&](HeadAttrs& a, TF_Status* status) {
    TF_OpKernelConstruction_GetAttrInt64(ctx, "gradients", &a.gradients, status);
  });
}

// XftHeadCrossEntropy (h [M, d], w [V, d], targets [M] int32) -> loss_sum [], dh [M, d], dw [V, d]; a gradient that
// the attribute `gradients` leaves out is [0, d].
void computeHeadCrossEntropy(void* kernel, TF_OpKernelContext* ctx) {
  OpContext op(ctx, "XftHeadCrossEntropy");
  const int64_t gradients = static_cast<HeadAttrs*>(kernel)->gradients;
  std::vector<int64_t> hs, ws, ts;
  const float* h = op.input(0, &hs);
  const float* w = h ? op.input(1, &ws) : nullptr;
  const int32_t* targets = w ? op.input<int32_t>(2, &ts) : nullptr;
  if (!targets) return;
  if (gradients < 0 || gradients > 2) return op.fail("gradients must be 0, 1 or 2, got " + std::to_string(gradients));
  if (hs.size() != 2) return op.fail("h must be [rows, d], got " + shapeText(hs));
  if (ws.size() != 2 || ws[1] != hs[1] || ws[0] == 0) return op.fail("w must be [vocabulary, " + std::to_string(hs[1]) + "], got " + shapeText(ws));
  if (!isVector(op, "targets", ts, hs[0]) || !targetsInside(op, targets, hs[0], ws[0])) return;
  float* loss = op.output(0, {});
  float* dh = loss ? op.output(1, {gradients >= 1 ? hs[0] : 0, hs[1]}) : nullptr;
  float* dw = dh ? op.output(2, {gradients == 2 ? ws[0] : 0, hs[1]}) : nullptr;
  if (dw) headCrossEntropy(h, w, targets, hs[0], hs[1], ws[0], static_cast<int>(gradients), loss, dh, dw);
}

// Inputs: params (N), grads (N), m, v, hyper [8], decays [N] (1 where the parameter decays), in_place [N] (1 where
// the caller gives the parameter up); outputs: the new params (N, those given up updated in place), m and v (the
// inputs themselves, updated in place), and the gradient norm before clipping.
void computeAdamW(void*, TF_OpKernelContext* ctx) {
  OpContext op(ctx, "XftAdamW");
  const int n = (TF_NumInputs(ctx) - 5) / 2;
  std::vector<AdamTensor> ts(n);
  std::vector<std::vector<int64_t>> shapes(n);
  int64_t total = 0;
  for (int i = 0; i < n; i++) {
    std::vector<int64_t> gs;
    ts[i].param = op.input(i, &shapes[i]);
    ts[i].grad = ts[i].param ? op.input(n + i, &gs) : nullptr;
    if (!ts[i].grad || !sameShape(op, "grads[" + std::to_string(i) + "]", gs, shapes[i])) return;
    ts[i].size = count(shapes[i]);
    total += ts[i].size;
  }
  // m and v are updated in place (each is its own output): two new buffers as large as the model, beside the old
  // ones, would be the step's peak of memory. The optimizer (optimizer.ts) alone holds them.
  std::vector<int64_t> ms, vs, hs, ds, is;
  float* m = op.inPlace(2 * n, n, &ms);
  float* v = m ? op.inPlace(2 * n + 1, n + 1, &vs) : nullptr;
  const float* hyper = v ? op.input(2 * n + 2, &hs) : nullptr;
  const float* decays = hyper ? op.input(2 * n + 3, &ds) : nullptr;
  const float* inPlace = decays ? op.input(2 * n + 4, &is) : nullptr;
  if (!inPlace || !isVector(op, "m", ms, total) || !isVector(op, "v", vs, total) || !isVector(op, "hyper", hs, 8) ||
      !isVector(op, "decays", ds, n) || !isVector(op, "in_place", is, n)) {
    return;
  }
  // A parameter that the caller gives up is updated in place too (its own output, as m and v): the new parameters
  // beside the old would be the step's next peak. The update reads each value before writing it.
  for (int i = 0; i < n; i++) {
    std::vector<int64_t> ps;
    ts[i].decays = decays[i] != 0;
    ts[i].newParam = inPlace[i] != 0 ? op.inPlace(i, i, &ps) : op.output(i, shapes[i]);
    if (!ts[i].newParam) return;
  }
  float* norm = op.output(n + 2, {});
  if (!norm) return;
  const AdamHyper h{hyper[0], hyper[1], hyper[2], hyper[3], hyper[4], hyper[5], hyper[6], hyper[7]};
  const std::vector<AdamPiece> pieces = adamPieces(ts);
  *norm = static_cast<float>(gradientNorm(pieces));
  adamWStep(pieces, h, *norm, m, v);
}

// ---- Matrix products (gemm.h): XftMatMul (a, b) and XftLinear (x, w, bias), x w + bias ----

struct MatMulAttrs {
  bool transposeA = false, transposeB = false;
};

void* createMatMul(TF_OpKernelConstruction* ctx) {
  return readAttrs<MatMulAttrs>(ctx, [&](MatMulAttrs& a, TF_Status* status) {
    unsigned char ta = 0, tb = 0;
    TF_OpKernelConstruction_GetAttrBool(ctx, "transpose_a", &ta, status);
    if (TF_GetCode(status) == TF_OK) TF_OpKernelConstruction_GetAttrBool(ctx, "transpose_b", &tb, status);
    a.transposeA = ta != 0;
    a.transposeB = tb != 0;
  });
}

// The product of the op's inputs 0 and 1 (each transposed where the attributes say), + input 2 as the bias where
// `withBias`.
void computeProduct(const MatMulAttrs& attrs, TF_OpKernelContext* ctx, const char* name, bool withBias) {
  OpContext op(ctx, name);
  std::vector<int64_t> as, bs, cs;
  const float* a = op.input(0, &as);
  const float* b = a ? op.input(1, &bs) : nullptr;
  const float* bias = b && withBias ? op.input(2, &cs) : nullptr;
  if (!b || (withBias && !bias)) return;
  if (as.size() != 2 || bs.size() != 2) return op.fail("a and b must be matrices, got " + shapeText(as) + " and " + shapeText(bs));
  const int64_t m = attrs.transposeA ? as[1] : as[0], k = attrs.transposeA ? as[0] : as[1];
  const int64_t kb = attrs.transposeB ? bs[1] : bs[0], n = attrs.transposeB ? bs[0] : bs[1];
  if (k != kb) {
    return op.fail("a " + shapeText(as) + (attrs.transposeA ? "^T" : "") + " and b " + shapeText(bs) +
                   (attrs.transposeB ? "^T" : "") + " do not multiply");
  }
  if (withBias && !isVector(op, "bias", cs, n)) return;
  float* c = op.output(0, {m, n});
  if (!c) return;
  const xft::MatrixView av = attrs.transposeA ? xft::MatrixView{a, 1, m} : xft::MatrixView{a, k, 1};
  const xft::MatrixView bv = attrs.transposeB ? xft::MatrixView{b, 1, k} : xft::MatrixView{b, n, 1};
  xft::gemm(m, n, k, av, bv, bias, c, n, gThreads);
}
void computeMatMul(void* kernel, TF_OpKernelContext* ctx) {
  computeProduct(*static_cast<MatMulAttrs*>(kernel), ctx, "XftMatMul", false);
}
void computeLinear(void*, TF_OpKernelContext* ctx) { computeProduct(MatMulAttrs{}, ctx, "XftLinear", true); }

// batch and heads of a causal attention op; the rest follows from qkv's shape.
struct AttentionAttrs {
  int64_t batch = 0, heads = 0;
};

void* createAttention(TF_OpKernelConstruction* ctx) {
  return readAttrs<AttentionAttrs>(ctx, [&](AttentionAttrs& a, TF_Status* status) {
    TF_OpKernelConstruction_GetAttrInt64(ctx, "batch", &a.batch, status);
    if (TF_GetCode(status) == TF_OK) TF_OpKernelConstruction_GetAttrInt64(ctx, "heads", &a.heads, status);
  });
}

// The attention's dimensions from qkv [B*T, 3d]; false (and the op failed) when it does not split.
bool attentionDims(OpContext& op, const AttentionAttrs& a, const std::vector<int64_t>& qkv, xft::attention::Dims* d) {
  const bool splits = qkv.size() == 2 && a.batch > 0 && a.heads > 0 && qkv[0] % a.batch == 0 && qkv[1] % (3 * a.heads) == 0;
  if (!splits || (qkv[1] / (3 * a.heads)) % 8 != 0) {
    op.fail("qkv " + shapeText(qkv) + " does not split into batch " + std::to_string(a.batch) + " and 3 x " +
            std::to_string(a.heads) + " heads of a multiple of 8");
    return false;
  }
  *d = {a.batch, qkv[0] / a.batch, a.heads, qkv[1] / (3 * a.heads), gThreads};
  return true;
}

void computeAttention(void* kernel, TF_OpKernelContext* ctx) {
  OpContext op(ctx, "XftCausalAttention");
  std::vector<int64_t> qs;
  const float* qkv = op.input(0, &qs);
  xft::attention::Dims d;
  if (!qkv || !attentionDims(op, *static_cast<AttentionAttrs*>(kernel), qs, &d)) return;
  float* out = op.output(0, {qs[0], d.width()});
  float* lse = out ? op.output(1, {d.pairs() * d.len}) : nullptr;
  if (lse) xft::attention::forward(d, qkv, out, lse);
}

void computeAttentionGrad(void* kernel, TF_OpKernelContext* ctx) {
  OpContext op(ctx, "XftCausalAttentionGrad");
  std::vector<int64_t> qs, os, ls, ds;
  const float* qkv = op.input(0, &qs);
  const float* out = qkv ? op.input(1, &os) : nullptr;
  const float* lse = out ? op.input(2, &ls) : nullptr;
  const float* dOut = lse ? op.input(3, &ds) : nullptr;
  xft::attention::Dims d;
  if (!dOut || !attentionDims(op, *static_cast<AttentionAttrs*>(kernel), qs, &d)) return;
  const std::vector<int64_t> outShape = {qs[0], d.width()};
  if (!sameShape(op, "out", os, outShape) || !sameShape(op, "dOut", ds, outShape) || !isVector(op, "lse", ls, d.pairs() * d.len)) return;
  float* dqkv = op.output(0, qs);
  if (dqkv) xft::attention::backward(d, qkv, out, lse, dOut, dqkv);
}

void unknownShapes(TF_ShapeInferenceContext* ctx, TF_Status* status) {
  // Eager execution, the only way tfjs-node runs ops, takes output shapes from the kernel.
  TF_ShapeInferenceContextSetUnknownShape(ctx, status);
}

struct OpSpec {
  const char* name;
  std::vector<const char*> inputs, outputs, attrs;
  void* (*create)(TF_OpKernelConstruction*);
  void (*compute)(void*, TF_OpKernelContext*);
  void (*destroy)(void*);
};

const std::vector<OpSpec>& opSpecs() {
  static const std::vector<OpSpec> specs = {
      {"XftGelu", {"x: float"}, {"y: float"}, {}, createNothing, computeGelu, deleteNothing},
      {"XftGeluGrad", {"dy: float", "x: float"}, {"dx: float"}, {}, createNothing, computeGeluGrad, deleteNothing},
      {"XftLayerNorm", {"x: float", "g: float", "b: float"}, {"y: float", "mean: float", "rstd: float"},
       {"epsilon: float = 1e-5"}, createLayerNorm, computeLayerNorm, deleteAttrs<LayerNormAttrs>},
      {"XftLayerNormGrad", {"dy: float", "x: float", "g: float", "mean: float", "rstd: float"},
       {"dx: float", "dg: float", "db: float"}, {}, createNothing, computeLayerNormGrad, deleteNothing},
      {"XftAddLayerNorm", {"x: float", "delta: float", "g: float", "b: float"},
       {"sum: float", "y: float", "mean: float", "rstd: float"}, {"epsilon: float = 1e-5"}, createLayerNorm,
       computeAddLayerNorm, deleteAttrs<LayerNormAttrs>},
      {"XftAddLayerNormGrad", {"d_sum: float", "dy: float", "sum: float", "g: float", "mean: float", "rstd: float"},
       {"dx: float", "dg: float", "db: float"}, {}, createNothing, computeAddLayerNormGrad, deleteNothing},
      {"XftColumnSums", {"x: float"}, {"sums: float"}, {}, createNothing, computeColumnSums, deleteNothing},
      {"XftGatherRows", {"table: float", "ids: int32"}, {"rows: float"}, {}, createNothing, computeGatherRows, deleteNothing},
      {"XftSumRowsById", {"x: float", "ids: int32", "rows: int32"}, {"sums: float"}, {}, createNothing, computeSumRowsById,
       deleteNothing},
      {"XftSoftmaxCrossEntropy", {"logits: float", "targets: int32"}, {"probs: float", "loss_sum: float"}, {},
       createNothing, computeSoftmaxCrossEntropy, deleteNothing},
      {"XftHeadCrossEntropy", {"h: float", "w: float", "targets: int32"}, {"loss_sum: float", "dh: float", "dw: float"},
       {"gradients: int = 0"}, createHead, computeHeadCrossEntropy, deleteAttrs<HeadAttrs>},
      {"XftAdamW", {"params: N * float", "grads: N * float", "m: float", "v: float", "hyper: float", "decays: float",
        "in_place: float"},
       {"new_params: N * float", "new_m: float", "new_v: float", "norm: float"}, {"N: int >= 1"},
       createNothing, computeAdamW, deleteNothing},
      {"XftMatMul", {"a: float", "b: float"}, {"product: float"}, {"transpose_a: bool = false", "transpose_b: bool = false"},
       createMatMul, computeMatMul, deleteAttrs<MatMulAttrs>},
      {"XftLinear", {"x: float", "w: float", "bias: float"}, {"y: float"}, {}, createNothing, computeLinear, deleteNothing},
      {"XftCausalAttention", {"qkv: float"}, {"out: float", "lse: float"}, {"batch: int", "heads: int"},
       createAttention, computeAttention, deleteAttrs<AttentionAttrs>},
      {"XftCausalAttentionGrad", {"qkv: float", "out: float", "lse: float", "d_out: float"}, {"dqkv: float"},
       {"batch: int", "heads: int"}, createAttention, computeAttentionGrad, deleteAttrs<AttentionAttrs>},
  };
  return specs;
}

std::vector<std::string> opNames() {
  std::vector<std::string> names;
  for (const OpSpec& s : opSpecs()) names.push_back(s.name);
  return names;
}

// Registers the ops once per process; returns an error message, empty on success.
std::string registerOps() {
  static bool done = false;
  if (done) return "";
  TF_Status* status = TF_NewStatus();
  std::string error;
  for (const OpSpec& s : opSpecs()) {
    TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder(s.name);
    for (const char* i : s.inputs) TF_OpDefinitionBuilderAddInput(b, i);
    for (const char* o : s.outputs) TF_OpDefinitionBuilderAddOutput(b, o);
    for (const char* a : s.attrs) TF_OpDefinitionBuilderAddAttr(b, a);
    TF_OpDefinitionBuilderSetShapeInferenceFunction(b, unknownShapes);
    TF_RegisterOpDefinition(b, status);
    if (TF_GetCode(status) == TF_OK) {
      TF_KernelBuilder* k = TF_NewKernelBuilder(s.name, "CPU", s.create, s.compute, s.destroy);
      TF_RegisterKernelBuilder((std::string(s.name) + "Cpu").c_str(), k, status);
    }
    if (TF_GetCode(status) != TF_OK) {
      error = std::string(s.name) + ": " + TF_Message(status);
      break;
    }
  }
  TF_DeleteStatus(status);
  done = error.empty();
  return error;
}

// register(threads) -> names of the registered ops; throws when TensorFlow refuses one.
napi_value Register(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  napi_get_cb_info(env, info, &argc, &arg, nullptr, nullptr);
  int32_t threads = 1;
  if (argc != 1 || napi_get_value_int32(env, arg, &threads) != napi_ok || threads < 1) {
    napi_throw_error(env, nullptr, "xft TensorFlow ops: register(threads) takes a positive thread count");
    return nullptr;
  }
  gThreads = threads;
  const std::string error = registerOps();
  if (!error.empty()) {
    napi_throw_error(env, nullptr, ("xft TensorFlow ops: " + error).c_str());
    return nullptr;
  }
  const std::vector<std::string> names = opNames();
  napi_value result;
  napi_create_array_with_length(env, names.size(), &result);
  for (uint32_t i = 0; i < names.size(); i++) {
    napi_value s;
    napi_create_string_utf8(env, names[i].c_str(), NAPI_AUTO_LENGTH, &s);
    napi_set_element(env, result, i, s);
  }
  return result;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {{"register", nullptr, Register, nullptr, nullptr, nullptr, napi_default, nullptr}};
  napi_define_properties(env, exports, 1, props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
