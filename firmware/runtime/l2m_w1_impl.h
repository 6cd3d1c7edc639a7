/* larq2mcu runtime — the float-input, 1-bit-weight convolution engine (l2m_w1.c and the
 * layer-specialized functions of generated code), as always-inline functions.
 *
 * Summation order (the contract that makes every path bit-identical): for one output pixel and
 * channel, acc = 0.0f, then acc += s_t * a_t for the taps t of the window in (ky, kx, c) order,
 * where s_t = -1 when filter bit t is 1; taps outside the image add s_t * pad_value, or nothing
 * when pad_value is 0. Then + bias, then the threshold. s * a is a sign flip: exact.
 *
 * Fast path for interior windows (l2mi_conv_w1), derived so that it adds the same values in the
 * same order:
 *   - per pixel, the window's T taps are copied once into a table of pairs {a_t, -a_t}: the term
 *     of tap t is then table[2t + bit_t], one load, no branch and no sign manipulation;
 *   - per pixel, the 2^P partial sums of the first P taps, ((0 + s_0 a_0) + s_1 a_1) + ..., are
 *     computed once for every sign pattern (P = L2MI_W1_PREFIX): a filter starts from
 *     prefix[bits 0..P-1] — the very value its own first P additions would produce — and adds
 *     taps P..T-1 one by one.
 * With the geometry constant (generated code) every loop over taps is unrolled: a tap costs a
 * bit extract, an address, a load and an add.
 */
#ifndef L2M_W1_IMPL_H
#define L2M_W1_IMPL_H

#include <stdint.h>
#include <string.h>

#include "l2m_float_impl.h"   /* l2mi_f32_put */
#include "l2m_kernels.h"

/* Largest window (taps) that takes the table path: the table is 2 floats per tap on the stack. */
#define L2MI_W1_MAX_TAPS 48
/* Taps whose sign patterns are tabulated per pixel (2^P partial sums). */
#define L2MI_W1_PREFIX 3

/* v with its sign flipped when bit is 1 (integer sign-bit flip: exact, also for 0, inf, NaN).
 * A union, not memcpy: -ffreestanding turns off memcpy's inlining on the targets. */
L2M_INLINE float l2mi_flip_sign(float v, uint32_t bit) {
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
L2M_INLINE float l2mi_w1_acc_interior(const float *a, int32_t stride, int32_t rows, int32_t row_len,
                                       const uint32_t *wf) {
    float acc = 0.0f;
    uint32_t word = 0;
    int32_t i = 0;
    for (int32_t r = 0; r < rows; ++r, a += stride) {
        for (int32_t j = 0; j < row_len; ++j, ++i) {
            if ((i & 31) == 0) word = wf[i >> 5];
            acc += l2mi_flip_sign(a[j], word & 1u);
            word >>= 1;
        }
    }
    return acc;
}

/* Sum over the window of one output pixel and channel; wf: that filter's k_h*k_w*in_c bits. */
L2M_INLINE float l2mi_w1_acc(const l2m_geom *g, float pad_value, const float *in, const uint32_t *wf, int32_t oy,
                              int32_t ox) {
    const int32_t iy0 = oy * g->stride_h - g->pad_top, ix0 = ox * g->stride_w - g->pad_left;
    if (iy0 >= 0 && iy0 + g->k_h <= g->in_h && ix0 >= 0 && ix0 + g->k_w <= g->in_w) {
        return l2mi_w1_acc_interior(in + (iy0 * g->in_w + ix0) * g->in_c, g->in_w * g->in_c, g->k_h,
                                    g->k_w * g->in_c, wf);
    }
    float acc = 0.0f;
    int32_t i = 0;                                      /* bit index: (ky*k_w + kx)*in_c + c */
    for (int32_t ky = 0; ky < g->k_h; ++ky) {
        const int32_t iy = iy0 + ky;
        for (int32_t kx = 0; kx < g->k_w; ++kx, i += g->in_c) {
            const int32_t ix = ix0 + kx;
            if (iy >= 0 && iy < g->in_h && ix >= 0 && ix < g->in_w) {
                const float *a = in + (iy * g->in_w + ix) * g->in_c;
                for (int32_t c = 0; c < g->in_c; ++c) acc += l2mi_flip_sign(a[c], l2m_get_bit(wf, i + c));
            } else if (pad_value != 0.0f) {
                for (int32_t c = 0; c < g->in_c; ++c) acc += l2mi_flip_sign(pad_value, l2m_get_bit(wf, i + c));
            }
        }
    }
    return acc;
}

/* The whole convolution (contract of l2m_conv2d_w1_f32_{f32,b32}_ref): floats to `of` when tau
 * is NULL, else threshold bits to `obits`. */
L2M_INLINE void l2mi_conv_w1(const l2m_geom *g, float pad_value, const float *in, const uint32_t *w,
                              const float *bias, const float *tau, const int8_t *mode, uint32_t *obits, float *of) {
    const int32_t taps = g->k_h * g->k_w * g->in_c;
    const int32_t fw = L2M_WORDS(taps);
    const int32_t onw = L2M_WORDS(g->out_c);
    const int32_t row_len = g->k_w * g->in_c;
    const int32_t p = taps >= L2MI_W1_PREFIX + 1 ? L2MI_W1_PREFIX : 0;
    float tab[2 * L2MI_W1_MAX_TAPS], pre[1 << L2MI_W1_PREFIX];
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        const int32_t iy0 = oy * g->stride_h - g->pad_top;
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            const int32_t ix0 = ox * g->stride_w - g->pad_left;
            if (tau != NULL) memset(obits, 0, (size_t)onw * sizeof(uint32_t));
            if (taps > L2MI_W1_MAX_TAPS || iy0 < 0 || iy0 + g->k_h > g->in_h || ix0 < 0 || ix0 + g->k_w > g->in_w) {
                for (int32_t oc = 0; oc < g->out_c; ++oc) {
                    l2mi_f32_put(l2mi_w1_acc(g, pad_value, in, w + oc * fw, oy, ox), oc, bias, tau, mode, obits, of);
                }
            } else {
                const float *a = in + (iy0 * g->in_w + ix0) * g->in_c;
                int32_t t = 0;
#pragma GCC unroll 16
                for (int32_t r = 0; r < g->k_h; ++r, a += g->in_w * g->in_c) {
#pragma GCC unroll 64
                    for (int32_t j = 0; j < row_len; ++j, ++t) {
                        tab[2 * t] = a[j];
                        tab[2 * t + 1] = l2mi_flip_sign(a[j], 1u);
                    }
                }
                /* pre[m] for every sign pattern m of taps 0..p-1, built tap by tap in order */
                pre[0] = 0.0f;
#pragma GCC unroll 8
                for (int32_t q = 0; q < p; ++q) {
                    for (int32_t m = (1 << q) - 1; m >= 0; --m) {
                        pre[m | (1 << q)] = pre[m] + tab[2 * q + 1];
                        pre[m] = pre[m] + tab[2 * q];
                    }
                }
                for (int32_t oc = 0; oc < g->out_c; ++oc) {
                    const uint32_t *wf = w + oc * fw;
                    float acc = pre[wf[0] & ((1u << p) - 1u)];
#pragma GCC unroll 64
                    for (int32_t i = p; i < taps; ++i) {
                        acc += tab[2 * i + (int32_t)((wf[i >> 5] >> (i & 31)) & 1u)];
                    }
                    l2mi_f32_put(acc, oc, bias, tau, mode, obits, of);
                }
            }
            if (tau != NULL) {
                obits += onw;
            } else {
                of += g->out_c;
            }
        }
    }
}

#endif /* L2M_W1_IMPL_H */
