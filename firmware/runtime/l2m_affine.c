/* larq2mcu runtime — input-side affine kernels and the integer first layer (contracts in
 * l2m_kernels.h).
 *
 * Rescale / normalize: the two float32 operations Keras performs, as two statements, so no
 * compiler may contract them into a fused multiply-add (C99 6.5p8 contracts only within one
 * expression): bit for bit what Keras computes.
 *
 * Integer first layer: raw bytes u times 1-bit weights (bit 1 = -1), summed exactly in int32:
 * acc = sum over taps inside the image of (bit ? -u : u); taps outside add nothing (the rescale's
 * offset over the taps inside is folded into the per-border-class thresholds at export:
 * larq2mcu/passes/integer_input.py). |acc| <= 255 * k_h*k_w*in_c: no overflow below 8 M taps.
 */
#include <string.h>

#include "l2m_kernels.h"
#include "l2m_intconv_impl.h"  /* l2mi_byte_value, the table engine */
#include "l2m_window_impl.h"   /* l2mi_inside */

void l2m_rescale_f32_f32_ref(int32_t pixels, int32_t c, const float *in, const float *scale, const float *offset,
                             float *out) {
    for (int32_t p = 0; p < pixels; ++p) {
        for (int32_t i = 0; i < c; ++i) {
            const float t = in[p * c + i] * scale[i];
            out[p * c + i] = t + offset[i];
        }
    }
}

void l2m_normalize_f32_f32_ref(int32_t pixels, int32_t c, const float *in, const float *mean, const float *denom,
                               float *out) {
    for (int32_t p = 0; p < pixels; ++p) {
        for (int32_t i = 0; i < c; ++i) {
            const float t = in[p * c + i] - mean[i];
            out[p * c + i] = t / denom[i];
        }
    }
}

static void conv_8_b32(const l2m_geom *g, const int8_t *cls_y, const int8_t *cls_x, int32_t n_cls_x,
                       const uint8_t *in, int32_t is_signed, const uint32_t *w, const int32_t *thr, uint32_t *out) {
    const int32_t taps = g->k_h * g->k_w * g->in_c;
    const int32_t fw = L2M_WORDS(taps);
    const int32_t onw = L2M_WORDS(g->out_c);
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        const int32_t iy0 = oy * g->stride_h - g->pad_top;
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            const int32_t ix0 = ox * g->stride_w - g->pad_left;
            const int32_t *t = thr + ((int32_t)cls_y[oy] * n_cls_x + (int32_t)cls_x[ox]) * g->out_c;
            memset(out, 0, (size_t)onw * sizeof(uint32_t));
            for (int32_t oc = 0; oc < g->out_c; ++oc) {
                const uint32_t *wf = w + oc * fw;
                int32_t acc = 0;
                for (int32_t ky = 0; ky < g->k_h; ++ky) {
                    for (int32_t kx = 0; kx < g->k_w; ++kx) {
                        const int32_t iy = iy0 + ky, ix = ix0 + kx;
                        if (!l2mi_inside(g, iy, ix)) continue;
                        for (int32_t c = 0; c < g->in_c; ++c) {
                            const int32_t u = l2mi_byte_value(in[(iy * g->in_w + ix) * g->in_c + c], is_signed);
                            acc += l2m_get_bit(wf, (ky * g->k_w + kx) * g->in_c + c) ? -u : u;
                        }
                    }
                }
                if (acc < t[oc]) l2m_set_bit(out, oc);
            }
            out += onw;
        }
    }
}

void l2m_conv2d_u8_b32_ref(const l2m_geom *g, const int8_t *cls_y, const int8_t *cls_x, int32_t n_cls_x,
                           const uint8_t *in, const uint32_t *w, const int32_t *thr, uint32_t *out) {
    conv_8_b32(g, cls_y, cls_x, n_cls_x, in, 0, w, thr, out);
}

void l2m_conv2d_s8_b32_ref(const l2m_geom *g, const int8_t *cls_y, const int8_t *cls_x, int32_t n_cls_x,
                           const int8_t *in, const uint32_t *w, const int32_t *thr, uint32_t *out) {
    conv_8_b32(g, cls_y, cls_x, n_cls_x, (const uint8_t *)in, 1, w, thr, out);
}

void l2m_conv2d_u8_b32_tab(const l2m_geom *g, const int8_t *cls_y, const int8_t *cls_x, int32_t n_cls_x,
                           const uint8_t *in, const uint32_t *w, const int32_t *thr, uint32_t *out) {
    l2mi_conv_u8_tab(g, n_cls_x, in, w, cls_y, cls_x, thr, out);
}

void l2m_conv2d_s8_b32_tab(const l2m_geom *g, const int8_t *cls_y, const int8_t *cls_x, int32_t n_cls_x,
                           const int8_t *in, const uint32_t *w, const int32_t *thr, uint32_t *out) {
    l2mi_conv_s8_tab(g, n_cls_x, in, w, cls_y, cls_x, thr, out);
}

static void dense_8_b32(int32_t in_n, int32_t out_n, const uint8_t *in, int32_t is_signed, const uint32_t *w,
                        const int32_t *thr, uint32_t *out) {
    memset(out, 0, (size_t)L2M_WORDS(out_n) * sizeof(uint32_t));
    for (int32_t o = 0; o < out_n; ++o) {
        const uint32_t *wo = w + o * L2M_WORDS(in_n);
        int32_t acc = 0;
        for (int32_t i = 0; i < in_n; ++i) {
            const int32_t u = l2mi_byte_value(in[i], is_signed);
            acc += l2m_get_bit(wo, i) ? -u : u;
        }
        if (acc < thr[o]) l2m_set_bit(out, o);
    }
}

void l2m_dense_u8_b32_ref(int32_t in_n, int32_t out_n, const uint8_t *in, const uint32_t *w, const int32_t *thr,
                          uint32_t *out) {
    dense_8_b32(in_n, out_n, in, 0, w, thr, out);
}

void l2m_dense_s8_b32_ref(int32_t in_n, int32_t out_n, const int8_t *in, const uint32_t *w, const int32_t *thr,
                          uint32_t *out) {
    dense_8_b32(in_n, out_n, (const uint8_t *)in, 1, w, thr, out);
}
