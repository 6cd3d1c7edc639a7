/* larq2mcu runtime — float inputs with 1-bit weights (contracts in l2m_kernels.h).
 *
 * A binary kernel on a float input (Larq's first layer: QuantConv2D without input quantizer)
 * multiplies by +-1 only, so the weights are stored as bits and each term is added with its sign
 * flipped instead of multiplied: a * (+1.0f) == a and a * (-1.0f) == -a exactly, and acc + (-a)
 * == acc - a, so these kernels return bit for bit what the float-weight kernels return with the
 * same weights as +-1.0f, in the same summation order — at 1/32 of the weight memory.
 */
#include <string.h>

#include "l2m_kernels.h"

/* v with its sign flipped when bit is 1 (integer sign-bit flip: exact, also for 0, inf, NaN).
 * A union, not memcpy: -ffreestanding turns off memcpy's inlining on the targets. */
static float flip_sign(float v, uint32_t bit) {
    union {
        float f;
        uint32_t u;
    } x;
    x.f = v;
    x.u ^= bit << 31;
    return x.f;
}

/* Window entirely inside the image: k_h rows of k_w*in_c contiguous floats (NHWC), `stride`
 * floats apart; the filter's bits are consumed in the same (ky, kx, c) order as below. */
static float conv_w1_acc_interior(const float *a, int32_t stride, int32_t rows, int32_t row_len,
                                  const uint32_t *wf) {
    float acc = 0.0f;
    uint32_t word = 0;
    int32_t i = 0;
    for (int32_t r = 0; r < rows; ++r, a += stride) {
        for (int32_t j = 0; j < row_len; ++j, ++i) {
            if ((i & 31) == 0) word = wf[i >> 5];
            acc += flip_sign(a[j], word & 1u);
            word >>= 1;
        }
    }
    return acc;
}

/* Sum over the window of one output pixel and channel; wf: that filter's k_h*k_w*in_c bits. */
static float conv_w1_acc(const l2m_geom *g, float pad_value, const float *in, const uint32_t *wf,
                         int32_t oy, int32_t ox) {
    const int32_t iy0 = oy * g->stride_h - g->pad_top, ix0 = ox * g->stride_w - g->pad_left;
    if (iy0 >= 0 && iy0 + g->k_h <= g->in_h && ix0 >= 0 && ix0 + g->k_w <= g->in_w) {
        return conv_w1_acc_interior(in + (iy0 * g->in_w + ix0) * g->in_c, g->in_w * g->in_c, g->k_h,
                                    g->k_w * g->in_c, wf);
    }
    float acc = 0.0f;
    int32_t i = 0;                                      /* bit index: (ky*k_w + kx)*in_c + c */
    for (int32_t ky = 0; ky < g->k_h; ++ky) {
        const int32_t iy = oy * g->stride_h - g->pad_top + ky;
        for (int32_t kx = 0; kx < g->k_w; ++kx, i += g->in_c) {
            const int32_t ix = ox * g->stride_w - g->pad_left + kx;
            if (iy >= 0 && iy < g->in_h && ix >= 0 && ix < g->in_w) {
                const float *a = in + (iy * g->in_w + ix) * g->in_c;
                for (int32_t c = 0; c < g->in_c; ++c) acc += flip_sign(a[c], l2m_get_bit(wf, i + c));
            } else if (pad_value != 0.0f) {
                for (int32_t c = 0; c < g->in_c; ++c) acc += flip_sign(pad_value, l2m_get_bit(wf, i + c));
            }
        }
    }
    return acc;
}

void l2m_conv2d_w1_f32_f32_ref(const l2m_geom *g, float pad_value, const float *in, const uint32_t *w,
                               const float *bias, float *out) {
    const int32_t fw = L2M_WORDS(g->k_h * g->k_w * g->in_c);
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            for (int32_t oc = 0; oc < g->out_c; ++oc) {
                *out++ = conv_w1_acc(g, pad_value, in, w + oc * fw, oy, ox) + (bias ? bias[oc] : 0.0f);
            }
        }
    }
}

void l2m_conv2d_w1_f32_b32_ref(const l2m_geom *g, float pad_value, const float *in, const uint32_t *w,
                               const float *bias, const float *tau, const int8_t *mode, uint32_t *out) {
    const int32_t fw = L2M_WORDS(g->k_h * g->k_w * g->in_c);
    const int32_t onw = L2M_WORDS(g->out_c);
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            memset(out, 0, (size_t)onw * sizeof(uint32_t));
            for (int32_t oc = 0; oc < g->out_c; ++oc) {
                const float acc = conv_w1_acc(g, pad_value, in, w + oc * fw, oy, ox) + (bias ? bias[oc] : 0.0f);
                if (l2m_float_threshold_bit(acc, tau[oc], mode[oc])) l2m_set_bit(out, oc);
            }
            out += onw;
        }
    }
}

static float dense_w1_acc(int32_t in_n, const float *in, const uint32_t *wo) {
    float acc = 0.0f;
    for (int32_t i = 0; i < in_n; ++i) acc += flip_sign(in[i], l2m_get_bit(wo, i));
    return acc;
}

void l2m_dense_w1_f32_f32_ref(int32_t in_n, int32_t out_n, const float *in, const uint32_t *w, const float *bias,
                              float *out) {
    for (int32_t o = 0; o < out_n; ++o) {
        out[o] = dense_w1_acc(in_n, in, w + o * L2M_WORDS(in_n)) + (bias ? bias[o] : 0.0f);
    }
}

void l2m_dense_w1_f32_b32_ref(int32_t in_n, int32_t out_n, const float *in, const uint32_t *w, const float *bias,
                              const float *tau, const int8_t *mode, uint32_t *out) {
    memset(out, 0, (size_t)L2M_WORDS(out_n) * sizeof(uint32_t));
    for (int32_t o = 0; o < out_n; ++o) {
        const float acc = dense_w1_acc(in_n, in, w + o * L2M_WORDS(in_n)) + (bias ? bias[o] : 0.0f);
        if (l2m_float_threshold_bit(acc, tau[o], mode[o])) l2m_set_bit(out, o);
    }
}
