/* larq2mcu runtime — reference grouped / dilated / depthwise conv kernels (contracts in
 * l2m_kernels.h, section "grouped convolution"). Plain per-channel loops: the bit of input
 * channel c0 + ci is read with l2m_get_bit, so group slices need not be word-aligned. */
#include <string.h>

#include "l2m_kernels.h"

/* Integer accumulator of one output pixel of the filter `wf` whose group starts at input
 * channel c0 (cin_g channels). */
static int32_t gconv_acc(const l2m_geom *g, int32_t dil_h, int32_t dil_w, int32_t cin_g, int32_t pad_one,
                         const uint32_t *in, const uint32_t *wf, int32_t c0, int32_t oy, int32_t ox) {
    const int32_t nw = L2M_WORDS(g->in_c);
    int32_t acc = 0;
    for (int32_t ky = 0; ky < g->k_h; ++ky) {
        const int32_t iy = oy * g->stride_h - g->pad_top + ky * dil_h;
        for (int32_t kx = 0; kx < g->k_w; ++kx) {
            const int32_t ix = ox * g->stride_w - g->pad_left + kx * dil_w;
            const int32_t t0 = (ky * g->k_w + kx) * cin_g;
            if (iy >= 0 && iy < g->in_h && ix >= 0 && ix < g->in_w) {
                const uint32_t *a = in + (iy * g->in_w + ix) * nw;
                for (int32_t ci = 0; ci < cin_g; ++ci) {
                    acc += (l2m_get_bit(a, c0 + ci) ^ l2m_get_bit(wf, t0 + ci)) ? -1 : 1;
                }
            } else if (pad_one) {
                /* a padded +1 tap contributes the weight itself */
                for (int32_t ci = 0; ci < cin_g; ++ci) acc += l2m_get_bit(wf, t0 + ci) ? -1 : 1;
            }
        }
    }
    return acc;
}

void l2m_gconv2d_b32_f32_ref(const l2m_geom *g, int32_t dil_h, int32_t dil_w, int32_t groups, int32_t pad_one,
                             const uint32_t *in, const uint32_t *w, const float *bias, float *out) {
    const int32_t cin_g = g->in_c / groups, cout_g = g->out_c / groups;
    const int32_t fw = L2M_WORDS(g->k_h * g->k_w * cin_g);
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            for (int32_t oc = 0; oc < g->out_c; ++oc) {
                const int32_t acc = gconv_acc(g, dil_h, dil_w, cin_g, pad_one, in, w + oc * fw,
                                              (oc / cout_g) * cin_g, oy, ox);
                *out++ = (float)acc + (bias ? bias[oc] : 0.0f);
            }
        }
    }
}

void l2m_gconv2d_b32_b32_ref(const l2m_geom *g, int32_t dil_h, int32_t dil_w, int32_t groups, int32_t pad_one,
                             const uint32_t *in, const uint32_t *w, const int32_t *thr, uint32_t *out) {
    const int32_t cin_g = g->in_c / groups, cout_g = g->out_c / groups;
    const int32_t fw = L2M_WORDS(g->k_h * g->k_w * cin_g);
    const int32_t onw = L2M_WORDS(g->out_c);
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            memset(out, 0, (size_t)onw * sizeof(uint32_t));
            for (int32_t oc = 0; oc < g->out_c; ++oc) {
                const int32_t acc = gconv_acc(g, dil_h, dil_w, cin_g, pad_one, in, w + oc * fw,
                                              (oc / cout_g) * cin_g, oy, ox);
                if (acc < thr[oc]) l2m_set_bit(out, oc);
            }
            out += onw;
        }
    }
}

/* Float accumulator of one output pixel and channel: from 0.0f in (ky, kx, ci) order, taps
 * outside reading pad_value (bias not added). */
static float gconv_f32_acc(const l2m_geom *g, int32_t dil_h, int32_t dil_w, int32_t cin_g, float pad_value,
                           const float *in, const float *w, int32_t c0, int32_t oy, int32_t ox, int32_t oc) {
    float acc = 0.0f;
    for (int32_t ky = 0; ky < g->k_h; ++ky) {
        const int32_t iy = oy * g->stride_h - g->pad_top + ky * dil_h;
        for (int32_t kx = 0; kx < g->k_w; ++kx) {
            const int32_t ix = ox * g->stride_w - g->pad_left + kx * dil_w;
            const int inside = iy >= 0 && iy < g->in_h && ix >= 0 && ix < g->in_w;
            const float *a = inside ? in + (iy * g->in_w + ix) * g->in_c + c0 : NULL;
            const float *wk = w + (ky * g->k_w + kx) * cin_g * g->out_c + oc;
            for (int32_t ci = 0; ci < cin_g; ++ci) acc += (a ? a[ci] : pad_value) * wk[ci * g->out_c];
        }
    }
    return acc;
}

void l2m_gconv2d_f32_f32_ref(const l2m_geom *g, int32_t dil_h, int32_t dil_w, int32_t groups, float pad_value,
                             const float *in, const float *w, const float *bias, float *out) {
    const int32_t cin_g = g->in_c / groups, cout_g = g->out_c / groups;
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            for (int32_t oc = 0; oc < g->out_c; ++oc) {
                const float acc = gconv_f32_acc(g, dil_h, dil_w, cin_g, pad_value, in, w, (oc / cout_g) * cin_g,
                                                oy, ox, oc);
                *out++ = acc + (bias ? bias[oc] : 0.0f);
            }
        }
    }
}

void l2m_gconv2d_f32_b32_ref(const l2m_geom *g, int32_t dil_h, int32_t dil_w, int32_t groups, float pad_value,
                             const float *in, const float *w, const float *bias, const float *tau, const int8_t *mode,
                             uint32_t *out) {
    const int32_t cin_g = g->in_c / groups, cout_g = g->out_c / groups;
    const int32_t onw = L2M_WORDS(g->out_c);
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            memset(out, 0, (size_t)onw * sizeof(uint32_t));
            for (int32_t oc = 0; oc < g->out_c; ++oc) {
                const float acc = gconv_f32_acc(g, dil_h, dil_w, cin_g, pad_value, in, w, (oc / cout_g) * cin_g,
                                                oy, ox, oc) + (bias ? bias[oc] : 0.0f);
                if (l2m_float_threshold_bit(acc, tau[oc], mode[oc])) l2m_set_bit(out, oc);
            }
            out += onw;
        }
    }
}

/* Depthwise (groups = in_c = out_c) binary convs, 32 channels at a time: per channel word the
 * mismatch count m of every channel is kept in bit-sliced counters (plane p = bit p of 32
 * counters; one ripple-carry add per tap); acc = n - 2m for the pixel's n contributing taps. */
static int32_t dw_taps(const l2m_geom *g, int32_t dil_h, int32_t dil_w, int32_t pad_one, int32_t oy, int32_t ox) {
    int32_t n = 0;
    for (int32_t ky = 0; ky < g->k_h; ++ky) {
        const int32_t iy = oy * g->stride_h - g->pad_top + ky * dil_h;
        for (int32_t kx = 0; kx < g->k_w; ++kx) {
            const int32_t ix = ox * g->stride_w - g->pad_left + kx * dil_w;
            n += (pad_one || (iy >= 0 && iy < g->in_h && ix >= 0 && ix < g->in_w)) ? 1 : 0;
        }
    }
    return n;
}

static void dw_counts(const l2m_geom *g, int32_t dil_h, int32_t dil_w, int32_t pad_one, int32_t nplanes,
                      const uint32_t *in, const uint32_t *w, int32_t oy, int32_t ox, int32_t wi, uint32_t m[8]) {
    const int32_t nw = L2M_WORDS(g->in_c);
    for (int32_t p = 0; p < 8; ++p) m[p] = 0u;
    for (int32_t ky = 0; ky < g->k_h; ++ky) {
        const int32_t iy = oy * g->stride_h - g->pad_top + ky * dil_h;
        for (int32_t kx = 0; kx < g->k_w; ++kx) {
            const int32_t ix = ox * g->stride_w - g->pad_left + kx * dil_w;
            const uint32_t wt = w[(ky * g->k_w + kx) * nw + wi];
            uint32_t carry;
            if (iy >= 0 && iy < g->in_h && ix >= 0 && ix < g->in_w) {
                carry = in[(iy * g->in_w + ix) * nw + wi] ^ wt;
            } else if (pad_one) {
                carry = wt;          /* a padded +1 tap mismatches where the weight is -1 */
            } else {
                continue;
            }
            for (int32_t p = 0; p < nplanes && carry; ++p) {
                const uint32_t t = m[p] & carry;
                m[p] ^= carry;
                carry = t;
            }
        }
    }
}

/* Thresholds: bit = acc < thr  <=>  n - 2m < thr  <=>  m >= T,  T = floor((n - thr) / 2) + 1,
 * compared plane by plane from the top with the planes of T(n) in `tplanes`. */
void l2m_dwconv2d_b32_b32_sliced(const l2m_geom *g, int32_t dil_h, int32_t dil_w, int32_t pad_one, int32_t nplanes,
                                 const uint32_t *in, const uint32_t *w, const uint32_t *tplanes, uint32_t *out) {
    const int32_t nw = L2M_WORDS(g->in_c);
    const int32_t per_n = nw * (nplanes + 2);
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            const int32_t n = dw_taps(g, dil_h, dil_w, pad_one, oy, ox);
            for (int32_t wi = 0; wi < nw; ++wi) {
                uint32_t m[8];
                dw_counts(g, dil_h, dil_w, pad_one, nplanes, in, w, oy, ox, wi, m);
                const uint32_t *t = tplanes + n * per_n + wi * (nplanes + 2);
                uint32_t gt = 0u, eq = 0xFFFFFFFFu;
                for (int32_t p = nplanes - 1; p >= 0; --p) {
                    gt |= eq & m[p] & ~t[2 + p];
                    eq &= ~(m[p] ^ t[2 + p]);
                }
                out[wi] = (t[0] | ((gt | eq) & ~t[1]));
            }
            out += nw;
        }
    }
}

void l2m_dwconv2d_b32_f32_sliced(const l2m_geom *g, int32_t dil_h, int32_t dil_w, int32_t pad_one, int32_t nplanes,
                                 const uint32_t *in, const uint32_t *w, const float *bias, float *out) {
    const int32_t nw = L2M_WORDS(g->in_c);
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            const int32_t n = dw_taps(g, dil_h, dil_w, pad_one, oy, ox);
            for (int32_t wi = 0; wi < nw; ++wi) {
                uint32_t m[8];
                dw_counts(g, dil_h, dil_w, pad_one, nplanes, in, w, oy, ox, wi, m);
                const int32_t c0 = wi * 32, cn = (g->in_c - c0) < 32 ? (g->in_c - c0) : 32;
                for (int32_t c = 0; c < cn; ++c) {
                    int32_t cnt = 0;
                    for (int32_t p = 0; p < nplanes; ++p) cnt |= (int32_t)((m[p] >> (uint32_t)c) & 1u) << p;
                    out[c0 + c] = (float)(n - 2 * cnt) + (bias ? bias[c0 + c] : 0.0f);
                }
            }
            out += g->in_c;
        }
    }
}
