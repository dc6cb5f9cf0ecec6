// The causal-attention kernel (causal_attention.h) as a Node-API addon on Float32Arrays, for every tfjs backend.
#include <node_api.h>

#include <string>

#include "causal_attention.h"

namespace {

using xft::attention::Dims;

// ---- Node-API glue ----

struct JsError {
  std::string message;
};

void check(napi_env env, napi_status status, const char* what) {
  if (status != napi_ok) throw JsError{std::string("causal attention kernel: ") + what};
}

float* floatArray(napi_env env, napi_value value, size_t expected, const char* name) {
  bool is = false;
  check(env, napi_is_typedarray(env, value, &is), name);
  if (!is) throw JsError{std::string("causal attention kernel: ") + name + " must be a Float32Array"};
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  check(env, napi_get_typedarray_info(env, value, &type, &length, &data, nullptr, nullptr), name);
  if (type != napi_float32_array) throw JsError{std::string("causal attention kernel: ") + name + " must be a Float32Array"};
  if (length != expected) {
    throw JsError{std::string("causal attention kernel: ") + name + " has " + std::to_string(length) +
                  " values, expected " + std::to_string(expected)};
  }
  return static_cast<float*>(data);
}

int64_t integer(napi_env env, napi_value value, const char* name) {
  int64_t v = 0;
  check(env, napi_get_value_int64(env, value, &v), name);
  if (v < 1) throw JsError{std::string("causal attention kernel: ") + name + " must be a positive integer"};
  return v;
}

napi_value newFloatArray(napi_env env, size_t length, float** data) {
  napi_value buffer, array;
  void* raw = nullptr;
  check(env, napi_create_arraybuffer(env, length * sizeof(float), &raw, &buffer), "allocating a result");
  check(env, napi_create_typedarray(env, napi_float32_array, length, buffer, 0, &array), "allocating a result");
  *data = static_cast<float*>(raw);
  return array;
}

// Arguments shared by both entry points: (batch, len, heads, headDim, threads, ...arrays).
template <size_t N>
Dims readDims(napi_env env, napi_callback_info info, napi_value (&args)[N]) {
  size_t argc = N;
  check(env, napi_get_cb_info(env, info, &argc, args, nullptr, nullptr), "reading arguments");
  if (argc != N) throw JsError{"causal attention kernel: expected " + std::to_string(N) + " arguments"};
  Dims d{integer(env, args[0], "batch"), integer(env, args[1], "len"), integer(env, args[2], "heads"),
         integer(env, args[3], "headDim"), static_cast<int>(integer(env, args[4], "threads"))};
  if (d.headDim % 8 != 0) throw JsError{"causal attention kernel: headDim must be a multiple of 8, got " + std::to_string(d.headDim)};
  return d;
}

template <typename Fn>
napi_value guarded(napi_env env, Fn fn) {
  try {
    return fn();
  } catch (const JsError& e) {
    napi_throw_error(env, nullptr, e.message.c_str());
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, (std::string("causal attention kernel: ") + e.what()).c_str());
  }
  return nullptr;
}

// forward(batch, len, heads, headDim, threads, qkv) -> [out [B*T, d], lse [B*H*T]]
napi_value Forward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value args[6];
    const Dims d = readDims(env, info, args);
    const float* qkv = floatArray(env, args[5], d.batch * d.len * d.qkvStride(), "qkv");
    float *out = nullptr, *lse = nullptr;
    napi_value outArray = newFloatArray(env, d.batch * d.len * d.width(), &out);
    napi_value lseArray = newFloatArray(env, d.pairs() * d.len, &lse);
    xft::attention::forward(d, qkv, out, lse);
    napi_value result;
    check(env, napi_create_array_with_length(env, 2, &result), "returning");
    check(env, napi_set_element(env, result, 0, outArray), "returning");
    check(env, napi_set_element(env, result, 1, lseArray), "returning");
    return result;
  });
}

// backward(batch, len, heads, headDim, threads, qkv, out, lse, dOut) -> dqkv [B*T, 3d]
napi_value Backward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value args[9];
    const Dims d = readDims(env, info, args);
    const size_t rows = d.batch * d.len;
    const float* qkv = floatArray(env, args[5], rows * d.qkvStride(), "qkv");
    const float* out = floatArray(env, args[6], rows * d.width(), "out");
    const float* lse = floatArray(env, args[7], d.pairs() * d.len, "lse");
    const float* dOut = floatArray(env, args[8], rows * d.width(), "dOut");
    float* dqkv = nullptr;
    napi_value result = newFloatArray(env, rows * d.qkvStride(), &dqkv);
    xft::attention::backward(d, qkv, out, lse, dOut, dqkv);
    return result;
  });
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"forward", nullptr, Forward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"backward", nullptr, Backward, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, 2, props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
