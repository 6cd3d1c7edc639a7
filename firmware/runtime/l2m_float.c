/* larq2mcu runtime — reference float kernels (contracts in l2m_kernels.h). */
#include <string.h>

#include "l2m_float_impl.h"
#include "l2m_kernels.h"
#include "l2m_math.h"

/* Float accumulator of one output pixel and channel (taps outside read pad_value): the
 * reference order, shared with the fast path of l2m_float_impl.h. */
static float conv_f32_acc(const l2m_geom *g, float pad_value, const float *in, const float *w,
                          int32_t oy, int32_t ox, int32_t oc) {
    return l2mi_f32_acc_border(g, pad_value, in, w, oy * g->stride_h - g->pad_top, ox * g->stride_w - g->pad_left,
                               oc);
}

void l2m_conv2d_f32_f32_ref(const l2m_geom *g, float pad_value, const float *in, const float *w,
                            const float *bias, float *out) {
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            for (int32_t oc = 0; oc < g->out_c; ++oc) {
                *out++ = conv_f32_acc(g, pad_value, in, w, oy, ox, oc) + (bias ? bias[oc] : 0.0f);
            }
        }
    }
}

void l2m_conv2d_f32_b32_ref(const l2m_geom *g, float pad_value, const float *in, const float *w,
                            const float *bias, const float *tau, const int8_t *mode, uint32_t *out) {
    const int32_t onw = L2M_WORDS(g->out_c);
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            memset(out, 0, (size_t)onw * sizeof(uint32_t));
            for (int32_t oc = 0; oc < g->out_c; ++oc) {
                const float acc = conv_f32_acc(g, pad_value, in, w, oy, ox, oc) + (bias ? bias[oc] : 0.0f);
                if (l2m_float_threshold_bit(acc, tau[oc], mode[oc])) l2m_set_bit(out, oc);
            }
            out += onw;
        }
    }
}

void l2m_dense_f32_f32_ref(int32_t in_n, int32_t out_n, const float *in, const float *w, const float *bias,
                           float *out) {
    for (int32_t o = 0; o < out_n; ++o) {
        float acc = 0.0f;
        for (int32_t i = 0; i < in_n; ++i) acc += in[i] * w[i * out_n + o];
        out[o] = acc + (bias ? bias[o] : 0.0f);
    }
}

void l2m_dense_f32_b32_ref(int32_t in_n, int32_t out_n, const float *in, const float *w, const float *bias,
                           const float *tau, const int8_t *mode, uint32_t *out) {
    memset(out, 0, (size_t)L2M_WORDS(out_n) * sizeof(uint32_t));
    for (int32_t o = 0; o < out_n; ++o) {
        float acc = 0.0f;
        for (int32_t i = 0; i < in_n; ++i) acc += in[i] * w[i * out_n + o];
        if (l2m_float_threshold_bit(acc + (bias ? bias[o] : 0.0f), tau[o], mode[o])) l2m_set_bit(out, o);
    }
}

/* Input element i (= g*c + ch of the (groups, c) packing) of a bit vector: 1 stands for -1.0f. */
static uint32_t fw_bit(const uint32_t *in, int32_t c, int32_t i) {
    return l2m_get_bit(in + (i / c) * L2M_WORDS(c), i % c);
}

/* acc + x*w with x = +-1.0f is acc + w or acc - w exactly (x*w is exact; a + (-w) == a - w). */
static float dense_fw_acc(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const float *w, int32_t o) {
    float acc = 0.0f;
    for (int32_t i = 0; i < groups * c; ++i) {
        const float wi = w[i * out_n + o];
        acc = fw_bit(in, c, i) ? acc - wi : acc + wi;
    }
    return acc;
}

void l2m_dense_fw_b32_f32_ref(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const float *w,
                              const float *bias, float *out) {
    for (int32_t o = 0; o < out_n; ++o) out[o] = dense_fw_acc(groups, c, out_n, in, w, o) + (bias ? bias[o] : 0.0f);
}

void l2m_dense_fw_b32_b32_ref(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const float *w,
                              const float *bias, const float *tau, const int8_t *mode, uint32_t *out) {
    memset(out, 0, (size_t)L2M_WORDS(out_n) * sizeof(uint32_t));
    for (int32_t o = 0; o < out_n; ++o) {
        const float acc = dense_fw_acc(groups, c, out_n, in, w, o) + (bias ? bias[o] : 0.0f);
        if (l2m_float_threshold_bit(acc, tau[o], mode[o])) l2m_set_bit(out, o);
    }
}

/* (float)acc * wscale[o] with acc = wsum[o] - 2 * (the sum of w[i*out_n + o] over the inputs whose
 * bit is 1) = the exact integer sum of the +-w; no partial sum leaves int32 (the contract). */
static float dense_qw_value(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const int32_t *w,
                            const int32_t *wsum, const float *wscale, int32_t o) {
    int32_t neg = 0;
    for (int32_t i = 0; i < groups * c; ++i) {
        if (fw_bit(in, c, i)) neg += w[i * out_n + o];
    }
    return (float)(wsum[o] - neg - neg) * wscale[o];
}

void l2m_dense_qw_b32_f32_ref(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const int32_t *w,
                              const int32_t *wsum, const float *wscale, const float *bias, float *out) {
    for (int32_t o = 0; o < out_n; ++o) {
        out[o] = dense_qw_value(groups, c, out_n, in, w, wsum, wscale, o) + (bias ? bias[o] : 0.0f);
    }
}

void l2m_dense_qw_b32_b32_ref(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const int32_t *w,
                              const int32_t *wsum, const float *wscale, const float *bias, const float *tau,
                              const int8_t *mode, uint32_t *out) {
    memset(out, 0, (size_t)L2M_WORDS(out_n) * sizeof(uint32_t));
    for (int32_t o = 0; o < out_n; ++o) {
        const float acc = dense_qw_value(groups, c, out_n, in, w, wsum, wscale, o) + (bias ? bias[o] : 0.0f);
        if (l2m_float_threshold_bit(acc, tau[o], mode[o])) l2m_set_bit(out, o);
    }
}

void l2m_batchnorm_f32_ref(int32_t pixels, int32_t c, const float *in, const float *mean, const float *scale,
                           const float *offset, float *out) {
    for (int32_t p = 0; p < pixels; ++p) {
        for (int32_t i = 0; i < c; ++i) {
            *out++ = (*in++ - mean[i]) * scale[i] + offset[i];
        }
    }
}

/* Max (is_max) or sum of channel c over the taps of output pixel (oy, ox)'s window inside the
 * image, into *acc; returns their number n (every window has one). */
static int32_t pool_window(const l2m_geom *g, const float *in, int32_t oy, int32_t ox, int32_t c, int is_max,
                           float *acc) {
    float a = 0.0f;
    int32_t n = 0;
    for (int32_t ky = 0; ky < g->k_h; ++ky) {
        const int32_t iy = oy * g->stride_h - g->pad_top + ky;
        if (iy < 0 || iy >= g->in_h) continue;
        for (int32_t kx = 0; kx < g->k_w; ++kx) {
            const int32_t ix = ox * g->stride_w - g->pad_left + kx;
            if (ix < 0 || ix >= g->in_w) continue;
            const float v = in[(iy * g->in_w + ix) * g->in_c + c];
            if (is_max) {
                if (n == 0 || v > a) a = v;
            } else {
                a += v;
            }
            n += 1;
        }
    }
    *acc = a;
    return n;
}

static void pool_f32(const l2m_geom *g, const float *in, float *out, int is_max) {
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            for (int32_t c = 0; c < g->in_c; ++c) {
                float acc;
                const int32_t n = pool_window(g, in, oy, ox, c, is_max, &acc);
                *out++ = is_max ? acc : acc / (float)n;
            }
        }
    }
}

void l2m_maxpool_f32_f32_ref(const l2m_geom *g, const float *in, float *out) { pool_f32(g, in, out, 1); }

void l2m_avgpool_f32_f32_ref(const l2m_geom *g, const float *in, float *out) { pool_f32(g, in, out, 0); }

/* The window sum of integers is exact in float (the contract bounds it below 2^24). */
void l2m_sumpool_f32_b32_ref(const l2m_geom *g, const int32_t *tau, const float *in, uint32_t *out) {
    const int32_t words = L2M_WORDS(g->out_c);
    memset(out, 0, (size_t)(g->out_h * g->out_w * words) * sizeof(uint32_t));
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            uint32_t *const o = out + (oy * g->out_w + ox) * words;
            for (int32_t c = 0; c < g->out_c; ++c) {
                float sum;
                const int32_t n = pool_window(g, in, oy, ox, c, 0, &sum);
                if ((int32_t)sum < tau[(n - 1) * g->out_c + c]) l2m_set_bit(o, c);
            }
        }
    }
}

void l2m_global_avgpool_f32_f32_ref(int32_t pixels, int32_t c, const float *in, float *out) {
    for (int32_t i = 0; i < c; ++i) {
        float acc = 0.0f;
        for (int32_t p = 0; p < pixels; ++p) acc += in[p * c + i];
        out[i] = acc / (float)pixels;
    }
}

void l2m_add_f32_f32_ref(int32_t n, const float *a, const float *b, float *out) {
    for (int32_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void l2m_chancopy_f32_ref(int32_t pixels, int32_t in_c, int32_t out_c, int32_t offset, const float *in,
                          float *out) {
    for (int32_t p = 0; p < pixels; ++p) {
        memcpy(out + p * out_c + offset, in + p * in_c, (size_t)in_c * sizeof(float));
    }
}

void l2m_activation_f32_f32_ref(int32_t n, int32_t kind, const float *in, float *out) {
    for (int32_t i = 0; i < n; ++i) {
        const float x = in[i];
        switch (kind) {
            case L2M_ACT_RELU: out[i] = x > 0.0f ? x : 0.0f; break;
            case L2M_ACT_SIGMOID: out[i] = 1.0f / (1.0f + l2m_expf(-x)); break;
            case L2M_ACT_TANH: out[i] = l2m_tanhf(x); break;
            default: out[i] = x; break;
        }
    }
}

void l2m_softmax_f32_f32_ref(int32_t rows, int32_t c, const float *in, float *out) {
    for (int32_t r = 0; r < rows; ++r) {
        float mx = in[0], sum = 0.0f;
        for (int32_t i = 1; i < c; ++i) mx = in[i] > mx ? in[i] : mx;
        for (int32_t i = 0; i < c; ++i) {
            out[i] = l2m_expf(in[i] - mx);
            sum += out[i];
        }
        for (int32_t i = 0; i < c; ++i) out[i] /= sum;
        in += c;
        out += c;
    }
}
