/* larq2mcu runtime — the float-input, 1-bit-weight convolution engine (l2m_w1.c and the
 * layer-specialized functions of generated code), as always-inline functions.
 *
 * Summation order (the contract that makes every path bit-identical): for one output pixel and
 * channel, the window's T terms s_t * a_t, in (ky, kx, c) order — s_t = -1 when filter bit t is
 * 1, a_t the input or, for a tap outside the image, pad_value — are summed in groups of four:
 *     G_j = (((0 + term_4j) + term_4j+1) + term_4j+2) + term_4j+3   (the last group may be shorter)
 *     acc = ((0 + G_0) + G_1) + ...
 * then + bias, then the threshold. s * a is a sign flip: exact. (Padding 0 adds +-0.0 to a
 * partial sum that is never -0.0: no change — "taps outside add nothing".) Any order rounds
 * within the same bound of TensorFlow's (fuzz/bounds.py); this one lets a filter fetch each group
 * sum with one load:
 *   - per pixel the 16 sign patterns of each group, G_j[m] for m = 0..15, are computed once by
 *     doubling (term by term, in order: the very values a filter's own additions would give);
 *   - per filter, acc adds G_j[its 4 bits of group j]: a load and an add per 4 taps (the
 *     entry's offset is computed once per block of 32 filters), for interior and border windows
 *     alike.
 * Windows of more than L2MI_W1_MAX_GROUPS groups are summed filter by filter (same order).
 *
 * Contract of l2mi_conv_w1: that of l2m_conv2d_w1_f32_{f32,b32}_ref (l2m_kernels.h: in_h x in_w x
 * in_c floats, L2M_WORDS(k_h*k_w*in_c) weight words per filter, all 4-byte aligned, no output
 * overlapping an input) with one output descriptor `o` (l2m_types.h) of kind L2M_OUT_FLOAT (bias
 * may be NULL) or L2M_OUT_BITS_FLOAT (bias, tau, mode). Stack: the group tables and one block's
 * per-filter entry pointers, bias and thresholds, ~1.8 KB (32-bit pointers). No
 * heap, no globals, reentrant. Internal header: names are l2mi_*, not part of the kernel API.
 */
#ifndef L2M_W1_IMPL_H
#define L2M_W1_IMPL_H

#include <stdint.h>
#include <string.h>

#include "l2m_float_impl.h"   /* l2mi_f32_put */
#include "l2m_kernels.h"
#include "l2m_window_impl.h"

/* Taps per group, and the largest window (in groups) whose group tables fit the stack:
 * 16 floats per group, 512 bytes. */
#define L2MI_W1_GROUP 4
#define L2MI_W1_MAX_GROUPS 8

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

/* Term t of the window at (iy0, ix0) before its sign: the input, or pad_value outside. */
L2M_INLINE float l2mi_w1_tap(const l2m_geom *g, float pad_value, const float *in, int32_t iy0, int32_t ix0,
                             int32_t t) {
    const int32_t c = t % g->in_c, kx = (t / g->in_c) % g->k_w, ky = t / (g->in_c * g->k_w);
    const int32_t iy = iy0 + ky, ix = ix0 + kx;
    return l2mi_inside(g, iy, ix) ? in[(iy * g->in_w + ix) * g->in_c + c] : pad_value;
}

/* Sum over the window of output (oy, ox) for one filter (wf: its k_h*k_w*in_c bits), in the
 * contract's order, term by term: the reference, and the path of windows too large for tables. */
L2M_INLINE float l2mi_w1_acc(const l2m_geom *g, float pad_value, const float *in, const uint32_t *wf, int32_t oy,
                             int32_t ox) {
    const int32_t iy0 = oy * g->stride_h - g->pad_top, ix0 = ox * g->stride_w - g->pad_left;
    const int32_t taps = g->k_h * g->k_w * g->in_c;
    float acc = 0.0f;
    for (int32_t t0 = 0; t0 < taps; t0 += L2MI_W1_GROUP) {
        float grp = 0.0f;
        for (int32_t t = t0; t < t0 + L2MI_W1_GROUP && t < taps; ++t) {
            grp += l2mi_flip_sign(l2mi_w1_tap(g, pad_value, in, iy0, ix0, t), l2m_get_bit(wf, t));
        }
        acc += grp;
    }
    return acc;
}

/* Builds tab[16 j + m] (group j's terms summed in order with the signs of the bits of m) for the
 * window at (iy0, ix0): by doubling, term by term — the very values a filter's own additions give. */
L2M_INLINE void l2mi_w1_tables(const l2m_geom *g, float pad_value, const float *in, int32_t iy0, int32_t ix0,
                               int inside, int32_t taps, int32_t groups, float *tab) {
#pragma GCC unroll 8
    for (int32_t j = 0; j < groups; ++j) {
        float *tj = tab + 16 * j;
        const int32_t left = taps - L2MI_W1_GROUP * j;
        const int32_t n = left < L2MI_W1_GROUP ? left : L2MI_W1_GROUP;
        tj[0] = 0.0f;
#pragma GCC unroll 4
        for (int32_t q = 0; q < n; ++q) {
            const int32_t t = L2MI_W1_GROUP * j + q;
            const float a = inside ? in[((iy0 + t / (g->in_c * g->k_w)) * g->in_w + ix0 +
                                         (t / g->in_c) % g->k_w) * g->in_c + t % g->in_c]
                                   : l2mi_w1_tap(g, pad_value, in, iy0, ix0, t);
            const float na = l2mi_flip_sign(a, 1u);
#pragma GCC unroll 8
            for (int32_t m = (1 << q) - 1; m >= 0; --m) {
                tj[m | (1 << q)] = tj[m] + na;
                tj[m] = tj[m] + a;
            }
        }
    }
}

/* Threshold bits of the nb filters of one block from the tables: acc = G_0 + G_1 + ... (the
 * reference's (0 + G_0) + ... differs only in the sign of a zero sum, which no comparison sees),
 * + bias when there is one, bit = acc < tau. ent holds each filter's group entries as pointers
 * into the tables (sign patterns complemented for mode-1 filters, so that they too compare
 * acc < tau: see l2mi_conv_w1): a load of the pointer and of the float per group. */
L2M_INLINE uint32_t l2mi_w1_block_bits(int32_t groups, int32_t nb, const float *const *ent, const float *bz,
                                       const float *tz, int has_bias) {
    uint32_t cur = 0u, bit = 1u;
    for (int32_t i = 0; i < nb; ++i, bit <<= 1) {
        const float *const *e = ent + L2MI_W1_MAX_GROUPS * i;
        float acc = *e[0];
#pragma GCC unroll 8
        for (int32_t j = 1; j < groups; ++j) acc += *e[j];
        if (has_bias) acc = acc + bz[i];
        if (acc < tz[i]) cur |= bit;
    }
    return cur;
}

/* Integer thresholded outputs where there is no FPU (l2m_w1fix_impl.h); -DL2M_W1_FIXED=0/1
 * overrides (the host tests build both). */
#ifndef L2M_W1_FIXED
#if ((defined(__arm__) || defined(__thumb__)) && !defined(__ARM_FP)) || (defined(__riscv) && !defined(__riscv_flen)) || \
    defined(__XTENSA_SOFT_FLOAT__)
#define L2M_W1_FIXED 1
#else
#define L2M_W1_FIXED 0
#endif
#endif
#if L2M_W1_FIXED
#include "l2m_w1fix_impl.h"
#endif

/* The whole convolution (contract of l2m_conv2d_w1_f32_{f32,b32}_ref), written through o.
 * Filters are taken 32 at a time (one output word of bits), outermost; per block each filter's
 * group patterns become pointers into the tables once, and the tables are rebuilt per pixel
 * and block. Threshold bits (L2M_OUT_BITS_FLOAT) are reduced to one form, acc + b < t:
 *   mode 0: as is;  mode 1: -(acc + bias) < tau, and -(acc + bias) is, up to the sign of a zero,
 *   the sum of the complemented sign patterns plus -bias (negation is exact and commutes with
 *   round-to-nearest);  modes 2 and 3: constant bits, masked in per word. */
L2M_INLINE void l2mi_conv_w1(const l2m_geom *g, float pad_value, const float *in, const uint32_t *w, l2m_out o) {
    const int32_t taps = g->k_h * g->k_w * g->in_c;
    const int32_t fw = L2M_WORDS(taps);
    const int32_t onw = L2M_WORDS(g->out_c);
    const int32_t groups = (taps + L2MI_W1_GROUP - 1) / L2MI_W1_GROUP;
    if (groups > L2MI_W1_MAX_GROUPS) {
        for (int32_t oy = 0; oy < g->out_h; ++oy) {
            for (int32_t ox = 0; ox < g->out_w; ++ox) {
                if (o.kind == L2M_OUT_BITS_FLOAT) memset(o.bits, 0, (size_t)onw * sizeof(uint32_t));
                for (int32_t oc = 0; oc < g->out_c; ++oc) {
                    l2mi_f32_put(l2mi_w1_acc(g, pad_value, in, w + oc * fw, oy, ox), oc, o);
                }
                o = l2m_out_next(o, g->out_c);
            }
        }
        return;
    }
#if L2M_W1_FIXED
    if (o.kind == L2M_OUT_BITS_FLOAT && l2mi_w1x_conv(g, pad_value, in, w, o)) return;
#endif
    float tab[L2MI_W1_MAX_GROUPS * 16];
    const float *ent[32 * L2MI_W1_MAX_GROUPS];   /* filter i, group j: [L2MI_W1_MAX_GROUPS i + j] */
    float bz[32], tz[32];
    const int bits = o.kind == L2M_OUT_BITS_FLOAT;
    const int has_bias = o.bias != NULL;
    for (int32_t oc0 = 0; oc0 < g->out_c; oc0 += 32) {
        const int32_t nb = g->out_c - oc0 < 32 ? g->out_c - oc0 : 32;
        uint32_t keep = 0u, force = 0u;   /* bits from the comparison / constant 1 (modes 2, 3) */
        for (int32_t i = 0; i < nb; ++i) {
            const int32_t oc = oc0 + i;
            const int8_t md = bits ? o.mode[oc] : 0;
            const uint32_t flip = md == 1 ? 15u : 0u;
            for (int32_t j = 0; j < groups; ++j) {
                const int32_t b = L2MI_W1_GROUP * j, left = taps - b;
                const uint32_t full = left < L2MI_W1_GROUP ? (1u << (uint32_t)left) - 1u : 15u;
                const uint32_t m = ((w[oc * fw + (b >> 5)] >> (uint32_t)(b & 31)) & 15u) ^ (flip & full);
                ent[L2MI_W1_MAX_GROUPS * i + j] = tab + 16 * j + (int32_t)m;
            }
            if (bits) {
                const float bv = has_bias ? o.bias[oc] : 0.0f;
                bz[i] = md == 1 ? l2mi_flip_sign(bv, 1u) : bv;
                tz[i] = o.tau[oc];
                keep |= (uint32_t)(md < 2) << (uint32_t)i;
                force |= (uint32_t)(md == 3) << (uint32_t)i;
            }
        }
        l2m_out ob = o;
        for (int32_t oy = 0; oy < g->out_h; ++oy) {
            const l2mi_wrow r = l2mi_row_at(g, oy);
            for (int32_t ox = 0; ox < g->out_w; ++ox) {
                const l2mi_pos p = l2mi_pos_at(g, r, ox);
                l2mi_w1_tables(g, pad_value, in, p.iy0, p.ix0, p.interior, taps, groups, tab);
                if (bits) {
                    const uint32_t cur = has_bias ? l2mi_w1_block_bits(groups, nb, ent, bz, tz, 1)
                                                  : l2mi_w1_block_bits(groups, nb, ent, bz, tz, 0);
                    ob.bits[oc0 / 32] = (cur & keep) | force;
                } else if (o.kind == L2M_OUT_FLOAT) {
                    for (int32_t i = 0; i < nb; ++i) {
                        float acc = 0.0f;
#pragma GCC unroll 8
                        for (int32_t j = 0; j < groups; ++j) acc += *ent[L2MI_W1_MAX_GROUPS * i + j];
                        ob.f[oc0 + i] = l2m_out_value(ob, oc0 + i, acc);   /* + bias, then a folded BatchNorm if any */
                    }
                }
                ob = l2m_out_next(ob, g->out_c);
            }
        }
    }
}

#endif /* L2M_W1_IMPL_H */
