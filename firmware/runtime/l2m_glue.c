/* larq2mcu runtime — reference glue kernels: pad, relu family, PReLU, broadcast arithmetic
 * (contracts in l2m_kernels.h). Each repeats Keras' float32 steps one rounding at a time, so
 * the results equal TensorFlow's exactly (up to the sign of a zero). Clamps and max/min are
 * written so that a NaN propagates, as numpy's maximum/minimum (the oracle) do. */
#include "l2m_kernels.h"

void l2m_pad_f32_ref(int32_t h, int32_t w, int32_t c, int32_t top, int32_t bottom, int32_t left, int32_t right,
                     float value, const float *in, float *out) {
    const int32_t ow = w + left + right;
    for (int32_t y = 0; y < h + top + bottom; ++y) {
        for (int32_t x = 0; x < ow; ++x) {
            const int32_t iy = y - top, ix = x - left;
            const int inside = iy >= 0 && iy < h && ix >= 0 && ix < w;
            for (int32_t i = 0; i < c; ++i) *out++ = inside ? in[(iy * w + ix) * c + i] : value;
        }
    }
}

void l2m_chanwindow_f32_ref(int32_t pixels, int32_t in_c, int32_t out_c, int32_t begin, float value,
                            const float *in, float *out) {
    for (int32_t p = 0; p < pixels; ++p) {
        for (int32_t i = 0; i < out_c; ++i) {
            const int32_t src = begin + i;
            *out++ = src >= 0 && src < in_c ? in[p * in_c + src] : value;
        }
    }
}

void l2m_relu_f32_f32_ref(int32_t n, float alpha, float threshold, int32_t has_max, float max_value,
                          const float *in, float *out) {
    const int leaky = alpha != 0.0f && !has_max && threshold == 0.0f;
    for (int32_t i = 0; i < n; ++i) {
        const float x = in[i];
        if (leaky) {
            out[i] = x > 0.0f ? x : x * alpha;
            continue;
        }
        float neg = 0.0f, y;
        if (alpha != 0.0f) {
            neg = threshold - x;
            neg = neg < 0.0f ? 0.0f : neg;
        }
        if (threshold != 0.0f) {
            y = x > threshold ? x : x * 0.0f;
        } else {
            y = x < 0.0f ? 0.0f : x;
        }
        if (has_max) {
            y = y > max_value ? max_value : y;
            y = y < 0.0f ? 0.0f : y;
        }
        if (alpha != 0.0f) y = y - alpha * neg;
        out[i] = y;
    }
}

void l2m_prelu_f32_f32_ref(int32_t n, int32_t alpha_n, const float *alpha, const float *in, float *out) {
    for (int32_t i = 0; i < n; ++i) {
        const float x = in[i];
        const float pos = x < 0.0f ? 0.0f : x;
        const float neg = -x < 0.0f ? 0.0f : -x;
        out[i] = pos + (-alpha[i % alpha_n]) * neg;
    }
}

static float arith(int32_t kind, float a, float b) {
    switch (kind) {
        case L2M_ARITH_SUB: return a - b;
        case L2M_ARITH_MUL: return a * b;
        case L2M_ARITH_DIV: return a / b;
        case L2M_ARITH_MAX: return (a > b || a != a) ? a : b;   /* a != a: a is NaN */
        case L2M_ARITH_MIN: return (a < b || a != a) ? a : b;
        default: return a + b;
    }
}

void l2m_arith_f32_f32_ref(int32_t kind, int32_t h, int32_t w, int32_t c, int32_t ash, int32_t asw, int32_t asc,
                           const float *a, int32_t bsh, int32_t bsw, int32_t bsc, const float *b, float *out) {
    for (int32_t y = 0; y < h; ++y) {
        for (int32_t x = 0; x < w; ++x) {
            for (int32_t i = 0; i < c; ++i) {
                *out++ = arith(kind, a[y * ash + x * asw + i * asc], b[y * bsh + x * bsw + i * bsc]);
            }
        }
    }
}
