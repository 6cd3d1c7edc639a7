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

/* Byte b as the integer it stands for: b itself, or (signed) b - 256 for b >= 128 (two's
 * complement int8, written without an implementation-defined conversion). */
static int32_t byte_value(uint8_t b, int32_t is_signed) {
    return (int32_t)b - (is_signed ? (int32_t)(b & 0x80u) * 2 : 0);
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
                            const int32_t u = byte_value(in[(iy * g->in_w + ix) * g->in_c + c], is_signed);
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

/* The table engine (contract of conv_8_b32, bit for bit: integer sums are exact in any order).
 * Per output pixel, the window's taps in (ky, kx, c) order are taken in groups of four; for
 * group j, tab[16 j + m] = sum over its taps q of (bit q of m ? -a_q : a_q) (a_q the byte, 0
 * outside the image) for all 16 sign patterns m, as (taps 0, 1) + (taps 2, 3): one add per entry
 * (integer sums are exact in any order). A filter's sum is then one load and add per four taps,
 * shared by every filter of the pixel.
 * Filters are taken 32 at a time (one output word), outermost: each filter's group patterns are
 * turned once per block into byte offsets into tab (boff), so the inner loop does no bit-field
 * work — a halfword load, a load and an add per group (3 Thumb-1 instructions); the tables are
 * rebuilt per block, which costs less than the extracts it saves from 2 blocks on.
 * Windows of more than TAB_GROUPS groups fall back to the reference loop. Stack: ~1.2 KB. */
#define TAB_GROUPS 8

/* One walk of the table engine with `groups` a compile-time constant at every call site below
 * (always inlined into a switch): the group loops unroll. Taps past the window (the last group's
 * tail) read 0 and meet weight pad bits 0: they add +0. */
L2M_INLINE void conv_tab_core(const l2m_geom *g, const int8_t *cls_y, const int8_t *cls_x, int32_t n_cls_x,
                              const uint8_t *in, int32_t is_signed, const uint32_t *w, const int32_t *thr,
                              uint32_t *out, const int32_t groups, const int32_t *off, const int8_t *tky,
                              const int8_t *tkx, int32_t *tab, uint16_t (*boff)[TAB_GROUPS]) {
    /* the geometry in locals: with -fno-strict-aliasing every store to tab/out could change *g */
    const int32_t in_h = g->in_h, in_w = g->in_w, in_c = g->in_c, out_h = g->out_h, out_w = g->out_w;
    const int32_t out_c = g->out_c, k_h = g->k_h, k_w = g->k_w, s_h = g->stride_h, s_w = g->stride_w;
    const int32_t p_t = g->pad_top, p_l = g->pad_left;
    const int32_t taps = k_h * k_w * in_c;
    const int32_t fw = L2M_WORDS(taps);
    const int32_t onw = L2M_WORDS(out_c);
    const uint8_t *const tb = (const uint8_t *)tab;
    for (int32_t oc0 = 0; oc0 < out_c; oc0 += 32) {
        const int32_t nb = out_c - oc0 < 32 ? out_c - oc0 : 32;
        for (int32_t i = 0; i < nb; ++i) {
            const uint32_t *wf = w + (oc0 + i) * fw;
            for (int32_t j = 0; j < groups; ++j) {
                const uint32_t m = (wf[j >> 3] >> (uint32_t)((j & 7) * 4)) & 15u;
                boff[i][j] = (uint16_t)(((uint32_t)j * 16u + m) * (uint32_t)sizeof(int32_t));
            }
        }
        uint32_t *o = out + oc0 / 32;
        for (int32_t oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * s_h - p_t;
            const int yin = iy0 >= 0 && iy0 + k_h <= in_h;
            for (int32_t ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * s_w - p_l;
                const int interior = yin && ix0 >= 0 && ix0 + k_w <= in_w;
                const int32_t base = (iy0 * in_w + ix0) * in_c;   /* index of the window's first byte */
                const int32_t *t = thr + ((int32_t)cls_y[oy] * n_cls_x + (int32_t)cls_x[ox]) * out_c + oc0;
#pragma GCC unroll 8
                for (int32_t j = 0; j < groups; ++j) {
                    int32_t *tj = tab + 16 * j;
                    int32_t a[4];
#pragma GCC unroll 4
                    for (int32_t q = 0; q < 4; ++q) {
                        const int32_t tp = 4 * j + q;
                        a[q] = 0;
                        if (tp < taps && (interior || (iy0 + tky[tp] >= 0 && iy0 + tky[tp] < in_h &&
                                                        ix0 + tkx[tp] >= 0 && ix0 + tkx[tp] < in_w))) {
                            a[q] = byte_value(in[base + off[tp]], is_signed);
                        }
                    }
                    /* entry lo | hi << 2 = (signed taps 0, 1 by lo) + (signed taps 2, 3 by hi): the
                     * four sums of each pair from one sum and one difference, then 16 adds */
                    const int32_t s01 = a[0] + a[1], d01 = a[0] - a[1], s23 = a[2] + a[3], d23 = a[2] - a[3];
                    const int32_t lo4[4] = {s01, -d01, d01, -s01}, hi4[4] = {s23, -d23, d23, -s23};
#pragma GCC unroll 4
                    for (int32_t hi = 0; hi < 4; ++hi) {
#pragma GCC unroll 4
                        for (int32_t lo = 0; lo < 4; ++lo) tj[4 * hi + lo] = lo4[lo] + hi4[hi];
                    }
                }
                uint32_t cur = 0u;
                for (int32_t i = 0; i < nb; ++i) {
                    const uint16_t *bo = boff[i];
                    int32_t acc = 0;
#pragma GCC unroll 8
                    for (int32_t j = 0; j < groups; ++j) {
                        /* an element of tab at its byte offset (aligned: a multiple of 4) */
                        acc += *(const int32_t *)(const void *)(tb + bo[j]);
                    }
                    cur |= (uint32_t)(acc < t[i]) << (uint32_t)i;
                }
                *o = cur;
                o += onw;
            }
        }
    }
}

/* conv_tab_core with `groups` constant, one function each: a separate small frame per group count
 * (inlined into one switch, the eight copies shared a frame too large for Thumb-1's sp-relative
 * addressing, and the inner loop rebuilt the table address on every load). */
#define L2MI_TAB_FN(n)                                                                                   \
    static L2M_NOINLINE void conv_tab_##n(const l2m_geom *g, const int8_t *cls_y, const int8_t *cls_x,  \
                                          int32_t n_cls_x, const uint8_t *in, int32_t is_signed,        \
                                          const uint32_t *w, const int32_t *thr, uint32_t *out,         \
                                          const int32_t *off, const int8_t *tky, const int8_t *tkx,     \
                                          int32_t *tab, uint16_t (*boff)[TAB_GROUPS]) {                 \
        conv_tab_core(g, cls_y, cls_x, n_cls_x, in, is_signed, w, thr, out, n, off, tky, tkx, tab, boff); \
    }
L2MI_TAB_FN(1)
L2MI_TAB_FN(2)
L2MI_TAB_FN(3)
L2MI_TAB_FN(4)
L2MI_TAB_FN(5)
L2MI_TAB_FN(6)
L2MI_TAB_FN(7)
L2MI_TAB_FN(8)
#undef L2MI_TAB_FN

static void conv_8_b32_tab(const l2m_geom *g, const int8_t *cls_y, const int8_t *cls_x, int32_t n_cls_x,
                           const uint8_t *in, int32_t is_signed, const uint32_t *w, const int32_t *thr,
                           uint32_t *out) {
    const int32_t taps = g->k_h * g->k_w * g->in_c;
    /* zero-filled: taps past the window are never read, which the static analysers cannot see */
    int32_t off[TAB_GROUPS * 4] = {0};    /* per tap: offset from the window's first byte */
    int8_t tky[TAB_GROUPS * 4] = {0}, tkx[TAB_GROUPS * 4] = {0};
    /* one set of tables for every case of the switch below (the frame stays small, so the inner
     * loop reaches them through a register, not an address rebuilt from sp each time) */
    int32_t tab[TAB_GROUPS * 16];
    uint16_t boff[32][TAB_GROUPS];   /* filter i of the block, group j: byte offset of its entry */
    int32_t tp = 0;
    if (taps > TAB_GROUPS * 4) {
        conv_8_b32(g, cls_y, cls_x, n_cls_x, in, is_signed, w, thr, out);
        return;
    }
    for (int32_t ky = 0; ky < g->k_h; ++ky) {
        for (int32_t kx = 0; kx < g->k_w; ++kx) {
            for (int32_t c = 0; c < g->in_c; ++c, ++tp) {
                off[tp] = (ky * g->in_w + kx) * g->in_c + c;
                tky[tp] = (int8_t)ky;
                tkx[tp] = (int8_t)kx;
            }
        }
    }
    switch ((taps + 3) / 4) {
        case 1: conv_tab_1(g, cls_y, cls_x, n_cls_x, in, is_signed, w, thr, out, off, tky, tkx, tab, boff); break;
        case 2: conv_tab_2(g, cls_y, cls_x, n_cls_x, in, is_signed, w, thr, out, off, tky, tkx, tab, boff); break;
        case 3: conv_tab_3(g, cls_y, cls_x, n_cls_x, in, is_signed, w, thr, out, off, tky, tkx, tab, boff); break;
        case 4: conv_tab_4(g, cls_y, cls_x, n_cls_x, in, is_signed, w, thr, out, off, tky, tkx, tab, boff); break;
        case 5: conv_tab_5(g, cls_y, cls_x, n_cls_x, in, is_signed, w, thr, out, off, tky, tkx, tab, boff); break;
        case 6: conv_tab_6(g, cls_y, cls_x, n_cls_x, in, is_signed, w, thr, out, off, tky, tkx, tab, boff); break;
        case 7: conv_tab_7(g, cls_y, cls_x, n_cls_x, in, is_signed, w, thr, out, off, tky, tkx, tab, boff); break;
        default: conv_tab_8(g, cls_y, cls_x, n_cls_x, in, is_signed, w, thr, out, off, tky, tkx, tab, boff); break;
    }
}

void l2m_conv2d_u8_b32_tab(const l2m_geom *g, const int8_t *cls_y, const int8_t *cls_x, int32_t n_cls_x,
                           const uint8_t *in, const uint32_t *w, const int32_t *thr, uint32_t *out) {
    conv_8_b32_tab(g, cls_y, cls_x, n_cls_x, in, 0, w, thr, out);
}

void l2m_conv2d_s8_b32_tab(const l2m_geom *g, const int8_t *cls_y, const int8_t *cls_x, int32_t n_cls_x,
                           const int8_t *in, const uint32_t *w, const int32_t *thr, uint32_t *out) {
    conv_8_b32_tab(g, cls_y, cls_x, n_cls_x, (const uint8_t *)in, 1, w, thr, out);
}

static void dense_8_b32(int32_t in_n, int32_t out_n, const uint8_t *in, int32_t is_signed, const uint32_t *w,
                        const int32_t *thr, uint32_t *out) {
    memset(out, 0, (size_t)L2M_WORDS(out_n) * sizeof(uint32_t));
    for (int32_t o = 0; o < out_n; ++o) {
        const uint32_t *wo = w + o * L2M_WORDS(in_n);
        int32_t acc = 0;
        for (int32_t i = 0; i < in_n; ++i) {
            const int32_t u = byte_value(in[i], is_signed);
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
