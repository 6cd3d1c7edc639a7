/* larq2mcu runtime — reference binary kernels (contracts in l2m_kernels.h). */
#include <string.h>

#include "l2m_kernels.h"

void l2m_quantize_f32_b32_ref(int32_t groups, int32_t c, const float *in, uint32_t *out) {
    const int32_t nw = L2M_WORDS(c);
    for (int32_t g = 0; g < groups; ++g) {
        for (int32_t wi = 0; wi < nw; ++wi) {
            uint32_t word = 0;
            const int32_t base = wi * 32;
            const int32_t n = (c - base) < 32 ? (c - base) : 32;
            for (int32_t b = 0; b < n; ++b) {
                word |= (uint32_t)(in[base + b] <= L2M_NEG_FLT_MIN) << (uint32_t)b;
            }
            out[wi] = word;
        }
        in += c;
        out += nw;
    }
}

void l2m_dequantize_b32_f32_ref(int32_t groups, int32_t c, const uint32_t *in, float *out) {
    const int32_t nw = L2M_WORDS(c);
    for (int32_t g = 0; g < groups; ++g) {
        for (int32_t i = 0; i < c; ++i) {
            out[i] = l2m_get_bit(in, i) ? -1.0f : 1.0f;
        }
        in += nw;
        out += c;
    }
}

/* Integer accumulator of one output pixel and channel (see l2m_kernels.h). */
static int32_t conv_acc(const l2m_geom *g, int32_t pad_one, const uint32_t *in, const uint32_t *wf,
                        int32_t oy, int32_t ox) {
    const int32_t nw = L2M_WORDS(g->in_c);
    int32_t acc = 0;
    for (int32_t ky = 0; ky < g->k_h; ++ky) {
        const int32_t iy = oy * g->stride_h - g->pad_top + ky;
        for (int32_t kx = 0; kx < g->k_w; ++kx) {
            const int32_t ix = ox * g->stride_w - g->pad_left + kx;
            const uint32_t *w = wf + (ky * g->k_w + kx) * nw;
            const int inside = iy >= 0 && iy < g->in_h && ix >= 0 && ix < g->in_w;
            if (inside) {
                const uint32_t *a = in + (iy * g->in_w + ix) * nw;
                int32_t pc = 0;
                for (int32_t i = 0; i < nw; ++i) pc += l2m_popcount32(a[i] ^ w[i]);
                acc += g->in_c - 2 * pc;
            } else if (pad_one) {
                /* a padded +1 tap: bits 0, so the XOR is the weight itself */
                int32_t pc = 0;
                for (int32_t i = 0; i < nw; ++i) pc += l2m_popcount32(w[i]);
                acc += g->in_c - 2 * pc;
            }
        }
    }
    return acc;
}

void l2m_conv2d_b32_f32_ref(const l2m_geom *g, int32_t pad_one, const uint32_t *in, const uint32_t *w,
                            const float *bias, float *out) {
    const int32_t filter_words = g->k_h * g->k_w * L2M_WORDS(g->in_c);
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            for (int32_t oc = 0; oc < g->out_c; ++oc) {
                const int32_t acc = conv_acc(g, pad_one, in, w + oc * filter_words, oy, ox);
                *out++ = (float)acc + (bias ? bias[oc] : 0.0f);
            }
        }
    }
}

void l2m_conv2d_b32_b32_ref(const l2m_geom *g, int32_t pad_one, const uint32_t *in, const uint32_t *w,
                            const int32_t *thr, uint32_t *out) {
    const int32_t filter_words = g->k_h * g->k_w * L2M_WORDS(g->in_c);
    const int32_t onw = L2M_WORDS(g->out_c);
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            memset(out, 0, (size_t)onw * sizeof(uint32_t));
            for (int32_t oc = 0; oc < g->out_c; ++oc) {
                if (conv_acc(g, pad_one, in, w + oc * filter_words, oy, ox) < thr[oc]) l2m_set_bit(out, oc);
            }
            out += onw;
        }
    }
}

static int32_t dense_acc(int32_t words, int32_t n, const uint32_t *in, const uint32_t *w) {
    int32_t pc = 0;
    for (int32_t i = 0; i < words; ++i) pc += l2m_popcount32(in[i] ^ w[i]);
    return n - 2 * pc;
}

void l2m_dense_b32_f32_ref(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const uint32_t *w,
                           const float *bias, float *out) {
    const int32_t words = groups * L2M_WORDS(c);
    for (int32_t o = 0; o < out_n; ++o) {
        out[o] = (float)dense_acc(words, groups * c, in, w + o * words) + (bias ? bias[o] : 0.0f);
    }
}

void l2m_dense_b32_b32_ref(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const uint32_t *w,
                           const int32_t *thr, uint32_t *out) {
    const int32_t words = groups * L2M_WORDS(c);
    memset(out, 0, (size_t)L2M_WORDS(out_n) * sizeof(uint32_t));
    for (int32_t o = 0; o < out_n; ++o) {
        if (dense_acc(words, groups * c, in, w + o * words) < thr[o]) l2m_set_bit(out, o);
    }
}

void l2m_maxpool_b32_b32_ref(const l2m_geom *g, const uint32_t *or_mask, const uint32_t *in, uint32_t *out) {
    const int32_t nw = L2M_WORDS(g->in_c);
    const uint32_t last = (g->in_c % 32) ? ((1u << (uint32_t)(g->in_c % 32)) - 1u) : 0xFFFFFFFFu;
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            for (int32_t i = 0; i < nw; ++i) {
                uint32_t all = 0xFFFFFFFFu, any = 0;
                for (int32_t ky = 0; ky < g->k_h; ++ky) {
                    const int32_t iy = oy * g->stride_h - g->pad_top + ky;
                    if (iy < 0 || iy >= g->in_h) continue;
                    for (int32_t kx = 0; kx < g->k_w; ++kx) {
                        const int32_t ix = ox * g->stride_w - g->pad_left + kx;
                        if (ix < 0 || ix >= g->in_w) continue;
                        const uint32_t v = in[(iy * g->in_w + ix) * nw + i];
                        all &= v;
                        any |= v;
                    }
                }
                const uint32_t m = or_mask ? or_mask[i] : 0u;
                uint32_t r = (all & ~m) | (any & m);
                if (i == nw - 1) r &= last;
                *out++ = r;
            }
        }
    }
}

void l2m_avgpool_b32_b32_ref(const l2m_geom *g, const uint32_t *in, uint32_t *out) {
    const int32_t nw = L2M_WORDS(g->in_c);
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            memset(out, 0, (size_t)nw * sizeof(uint32_t));
            for (int32_t c = 0; c < g->in_c; ++c) {
                int32_t n = 0, m = 0;
                for (int32_t ky = 0; ky < g->k_h; ++ky) {
                    const int32_t iy = oy * g->stride_h - g->pad_top + ky;
                    if (iy < 0 || iy >= g->in_h) continue;
                    for (int32_t kx = 0; kx < g->k_w; ++kx) {
                        const int32_t ix = ox * g->stride_w - g->pad_left + kx;
                        if (ix < 0 || ix >= g->in_w) continue;
                        n += 1;
                        m += (int32_t)l2m_get_bit(in + (iy * g->in_w + ix) * nw, c);
                    }
                }
                if (2 * m > n) l2m_set_bit(out, c);
            }
            out += nw;
        }
    }
}

void l2m_bitcopy_b32_ref(int32_t pixels, int32_t in_c, int32_t out_c, int32_t offset, const uint32_t *in,
                         uint32_t *out) {
    const int32_t inw = L2M_WORDS(in_c), outw = L2M_WORDS(out_c);
    for (int32_t p = 0; p < pixels; ++p) {
        for (int32_t i = 0; i < in_c; ++i) {
            if (l2m_get_bit(in, i)) l2m_set_bit(out, offset + i);
        }
        in += inw;
        out += outw;
    }
}

void l2m_repack_b32_ref(int32_t in_c, int32_t out_groups, int32_t out_c, const uint32_t *in, uint32_t *out) {
    const int32_t inw = L2M_WORDS(in_c), outw = L2M_WORDS(out_c);
    memset(out, 0, (size_t)(out_groups * outw) * sizeof(uint32_t));
    int32_t k = 0;  /* logical index of the element */
    for (int32_t og = 0; og < out_groups; ++og) {
        for (int32_t i = 0; i < out_c; ++i, ++k) {
            if (l2m_get_bit(in + (k / in_c) * inw, k % in_c)) l2m_set_bit(out + og * outw, i);
        }
    }
}
