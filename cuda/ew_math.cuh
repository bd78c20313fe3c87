/*
 * ew_math.cuh: the scalar functions of the elementwise ops and activations, shared by
 * elementwise.cu and the fused matmul epilogues (matmul_small.cu): one definition, so a fused
 * kernel computes exactly what the separate ops compute. They mirror core/cpu_elementwise.c and
 * core/cpu_activation.c (NaN rules included) with CUDA's accurate math (no fast-math).
 * Not installed; C++ only (nvcc).
 */
#ifndef IL_CUDA_EW_MATH_CUH
#define IL_CUDA_EW_MATH_CUH

#include "common.cuh"

/* ---- scalar math, overloaded per type (expf for float, exp for double) --------------------- */

#define MATH1(NAME, F, D)                                                                         \
    __device__ __forceinline__ float NAME(float x) { return F(x); }                               \
    __device__ __forceinline__ double NAME(double x) { return D(x); }
MATH1(m_exp, expf, exp)
MATH1(m_log, logf, log)
MATH1(m_tanh, tanhf, tanh)
MATH1(m_sin, sinf, sin)
MATH1(m_cos, cosf, cos)
MATH1(m_abs, fabsf, fabs)
MATH1(m_sqrt, sqrtf, sqrt)
MATH1(m_log1p, log1pf, log1p)
__device__ __forceinline__ float m_pow(float x, float y) { return powf(x, y); }
__device__ __forceinline__ double m_pow(double x, double y) { return pow(x, y); }

template <typename T> __device__ __forceinline__ T m_sigmoid(T x) {
    if (x >= 0) return (T)1 / ((T)1 + m_exp(-x));
    T e = m_exp(x);
    return e / ((T)1 + e);
}

/* ---- the ops --------------------------------------------------------------------------------- */

/* Op codes of this file's kernels: il_op values would do, but a dense local enum keeps the
 * template arguments readable in profiles. */
enum ew {
    E_ADD, E_SUB, E_MUL, E_DIV, E_POW, E_MAX, E_MIN,
    E_NEG, E_EXP, E_LOG, E_TANH, E_SIGMOID, E_RELU, E_SIN, E_COS, E_ABS, E_SQRT, E_CLAMP,
    E_LEAKY, E_GELU, E_SOFTPLUS, E_SINE,
    E_TANH_G, E_SIGM_G, E_RELU_G, E_LEAKY_G, E_GELU_G, E_SOFTPLUS_G, E_SINE_G,
    E_NONE
};

/* Float ops: x, y the operands (y unused by unary ops), p, q the parameters (p[0], p[1]). */
template <int OP, typename T> __device__ __forceinline__ T fapply(T x, T y, T p, T q) {
    const T k = (T)0.7978845608028654, c = (T)0.044715; /* GELU's tanh form */
    if constexpr (OP == E_ADD) return x + y;
    else if constexpr (OP == E_SUB) return x - y;
    else if constexpr (OP == E_MUL) return x * y;
    else if constexpr (OP == E_DIV) return x / y;
    else if constexpr (OP == E_POW) return m_pow(x, y);
    else if constexpr (OP == E_MAX) return (x != x || x > y) ? x : y; /* NaN propagates */
    else if constexpr (OP == E_MIN) return (x != x || x < y) ? x : y;
    else if constexpr (OP == E_NEG) return -x;
    else if constexpr (OP == E_EXP) return m_exp(x);
    else if constexpr (OP == E_LOG) return m_log(x);
    else if constexpr (OP == E_TANH) return m_tanh(x);
    else if constexpr (OP == E_SIGMOID) return m_sigmoid(x);
    else if constexpr (OP == E_RELU) return x < 0 ? (T)0 : x; /* keeps NaN */
    else if constexpr (OP == E_SIN) return m_sin(x);
    else if constexpr (OP == E_COS) return m_cos(x);
    else if constexpr (OP == E_ABS) return m_abs(x);
    else if constexpr (OP == E_SQRT) return m_sqrt(x);
    else if constexpr (OP == E_CLAMP) return x < p ? p : (x > q ? q : x);
    else if constexpr (OP == E_LEAKY) return x > 0 ? x : p * x;
    else if constexpr (OP == E_GELU) return (T)0.5 * x * ((T)1 + m_tanh(k * (x + c * x * x * x)));
    else if constexpr (OP == E_SOFTPLUS) return (x > 0 ? x : (T)0) + m_log1p(m_exp(-m_abs(x)));
    else if constexpr (OP == E_SINE) return m_sin(p * x);
    /* gradients: x = dy, y = the layer's output (TANH, SIGMOID) or input (the others) */
    else if constexpr (OP == E_TANH_G) return x * ((T)1 - y * y);
    else if constexpr (OP == E_SIGM_G) return x * y * ((T)1 - y);
    else if constexpr (OP == E_RELU_G) return y > 0 ? x : (T)0;
    else if constexpr (OP == E_LEAKY_G) return y > 0 ? x : p * x;
    else if constexpr (OP == E_SOFTPLUS_G) return x * m_sigmoid(y);
    else if constexpr (OP == E_SINE_G) return x * p * m_cos(p * y);
    else { /* E_GELU_G: d/dx 0.5 x (1 + tanh u), u = k (x + c x^3) */
        T t = m_tanh(k * (y + c * y * y * y));
        T du = k * ((T)1 + (T)3 * c * y * y);
        return x * ((T)0.5 * ((T)1 + t) + (T)0.5 * y * ((T)1 - t * t) * du);
    }
}

/* The op code of an il_op, or E_NONE when it is not an elementwise op. */
static inline ew code_of(il_op op) {
    switch (op) {
    case IL_OP_ADD: return E_ADD;
    case IL_OP_SUB: return E_SUB;
    case IL_OP_MUL: return E_MUL;
    case IL_OP_DIV: return E_DIV;
    case IL_OP_POW: return E_POW;
    case IL_OP_MAXIMUM: return E_MAX;
    case IL_OP_MINIMUM: return E_MIN;
    case IL_OP_NEG: return E_NEG;
    case IL_OP_EXP: return E_EXP;
    case IL_OP_LOG: return E_LOG;
    case IL_OP_TANH: return E_TANH;
    case IL_OP_SIGMOID: return E_SIGMOID;
    case IL_OP_RELU: return E_RELU;
    case IL_OP_SIN: return E_SIN;
    case IL_OP_COS: return E_COS;
    case IL_OP_ABS: return E_ABS;
    case IL_OP_SQRT: return E_SQRT;
    case IL_OP_CLAMP: return E_CLAMP;
    case IL_OP_LEAKY_RELU: return E_LEAKY;
    case IL_OP_GELU: return E_GELU;
    case IL_OP_SOFTPLUS: return E_SOFTPLUS;
    case IL_OP_SINE: return E_SINE;
    case IL_OP_TANH_GRAD: return E_TANH_G;
    case IL_OP_SIGMOID_GRAD: return E_SIGM_G;
    case IL_OP_RELU_GRAD: return E_RELU_G;
    case IL_OP_LEAKY_RELU_GRAD: return E_LEAKY_G;
    case IL_OP_GELU_GRAD: return E_GELU_G;
    case IL_OP_SOFTPLUS_GRAD: return E_SOFTPLUS_G;
    case IL_OP_SINE_GRAD: return E_SINE_G;
    default: return E_NONE;
    }
}

#endif
