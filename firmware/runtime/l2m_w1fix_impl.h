/* larq2mcu runtime — the float-input, 1-bit-weight convolution with thresholded outputs in
 * integers, for cores without an FPU (included by l2m_w1_impl.h, which defines the reference
 * order l2mi_w1_acc this file falls back to; docs/MATH.md §14).
 *
 * On soft float every float addition is a library call (~50-80 instructions): the table engine
 * spends ~10k instructions a pixel. Here the window's taps are converted to one fixed-point scale
 * per call (integer bit operations only), group tables of integer sums are built as the float
 * ones are, and each filter's exact integer sum is compared with its threshold, moved to the same
 * scale, with a margin that covers every rounding of the reference's float sum:
 *   y = exact window sum + bias, v = the reference's float value (l2mi_w1_acc + bias):
 *   |v - y| <= gamma_{n-1} sum|a| + u (|y| + gamma_{n-1} sum|a|)   (u = 2^-24, n <= 32 taps)
 * plus the fixed-point truncation (< 1 unit a tap, < 1 unit each for tau and bias). Outside the
 * margin the bit is v < tau's without computing v; inside it, or for a filter whose tau or bias
 * does not fit the scale, v is computed in float in the reference's order (l2mi_w1_acc) — so every
 * bit is the reference's. A window whose taps are all +-0.0 has acc = +0.0 exactly in the
 * reference: its bits are those of v = 0.0f + bias, computed once a call.
 *
 * Contract of l2mi_w1x_conv: that of l2mi_conv_w1 for L2M_OUT_BITS_FLOAT with at most
 * L2MI_W1_MAX_GROUPS groups of taps; returns 0 (and writes nothing) when an input or the pad
 * value is inf or NaN, 1 when it wrote the outputs. Stack ~1.5 KB, + 1 KB where the ring of
 * fixed-point taps (below) fits. Internal: names l2mi_w1x_*.
 */
#ifndef L2M_W1FIX_IMPL_H
#define L2M_W1FIX_IMPL_H

#include <stdint.h>

#include "l2m_types.h"

/* 1 as shipped. 0 and 2 only in tests: undecided bits read 0 (2: read 1) instead of being
 * computed in float; the two builds differ exactly on the undecided bits, which shows where the
 * integer decision leaves a bit to the fallback (every window at a threshold must be one). */
#ifndef L2M_W1X_FALLBACK
#define L2M_W1X_FALLBACK 1
#endif

/* Bits of a float (a union: -ffreestanding turns off memcpy's inlining on the targets). */
L2M_INLINE uint32_t l2mi_w1x_bits(float v) {
    union {
        float f;
        uint32_t u;
    } x;
    x.f = v;
    return x.u;
}

/* trunc(x * 2^F) for the float of bits u, where sh0 = F - 150 (so that the 24-bit significand
 * is shifted by exponent + sh0): exact but for the truncation (< 1 unit, toward zero), except
 * that a nonzero x below one unit gives +-1 instead of 0 (still < 1 unit off): the result is 0
 * exactly when x is +-0.0, so a window's sum of |A| is 0 exactly when all its taps are. Sets *sat
 * when |result| could reach 2^(24 + lim) (or x is inf/NaN); the result is then 0. */
L2M_INLINE int32_t l2mi_w1x_fix(uint32_t u, int32_t sh0, int32_t lim, int32_t *sat) {
    int32_t ex = (int32_t)((u >> 23) & 255u);
    uint32_t m = u & 0x7FFFFFu;
    if (ex == 0) {
        ex = 1;   /* subnormal: no implicit bit, exponent of the smallest normal */
    } else {
        m |= 0x800000u;
    }
    const int32_t s = ex + sh0;
    uint32_t a = 0u;
    if (s > lim) {
        *sat = 1;
    } else if (s >= 0) {
        a = m << (uint32_t)s;
    } else {
        a = s > -32 ? m >> (uint32_t)(-s) : 0u;
        a |= (uint32_t)(a == 0u && m != 0u);
    }
    return (u >> 31) ? -(int32_t)a : (int32_t)a;
}

L2M_INLINE int32_t l2mi_w1x_abs(int32_t v) {
    return v < 0 ? -v : v;
}

/* The ring of fixed-point taps (l2mi_w1x_conv): 2 k_h padded input rows of rw entries each,
 * entry (pc * in_c + c) of a row the tap at padded column pc (input column pc - pad_left), pad
 * taps pfix. Row pr (input row pr - pad_top) is stored twice, at slots pr % k_h and
 * pr % k_h + k_h, so that a window's k_h rows are always consecutive slots: each input is
 * converted once a block instead of once per window tap. Entries: L2MI_W1X_RING (int32). */
#ifndef L2MI_W1X_RING
#define L2MI_W1X_RING 256
#endif

/* Padded row pr into slots pr % k_h and pr % k_h + k_h of ring (rw = cols * in_c entries). */
L2M_INLINE void l2mi_w1x_ring_row(const l2m_geom *g, int32_t pfix, const float *in, int32_t pr, int32_t cols,
                                  int32_t sh0, int32_t *ring) {
    const int32_t iy = pr - g->pad_top, rw = cols * g->in_c;
    int32_t *d0 = ring + (pr % g->k_h) * rw, *d1 = d0 + g->k_h * rw;
    int32_t sat = 0;   /* never set: the scale bounds every input (mx) */
    for (int32_t pc = 0; pc < cols; ++pc) {
        const int32_t ix = pc - g->pad_left;
        const int ok = l2mi_inside(g, iy, ix);
        const float *src = in + (ok ? (iy * g->in_w + ix) * g->in_c : 0);
        for (int32_t c = 0; c < g->in_c; ++c) {
            const int32_t a = ok ? l2mi_w1x_fix(l2mi_w1x_bits(src[c]), sh0, 5, &sat) : pfix;
            d0[pc * g->in_c + c] = a;
            d1[pc * g->in_c + c] = a;
        }
    }
}

/* Integer group tables, as l2mi_w1_tables builds the float ones: tab[16 j + m] = sum over the
 * group's taps q of (bit q of m ? -A_q : A_q); *sabs = sum |A_q| (0 exactly when every tap is
 * +-0.0: l2mi_w1x_fix). With ring != 0 tap (ky, kx, c) is rp[ky * rw + kx * in_c + c] (rp: the
 * window's first entry in the ring); else it is converted here from in at (iy0, ix0). */
L2M_INLINE void l2mi_w1x_tables(const l2m_geom *g, int32_t pfix, const float *in, int32_t iy0, int32_t ix0,
                                int inside, int ring, const int32_t *rp, int32_t rw, int32_t taps, int32_t groups,
                                int32_t sh0, int32_t *tab, int32_t *sabs) {
    int32_t sa = 0, sat = 0;
#pragma GCC unroll 8
    for (int32_t j = 0; j < groups; ++j) {
        int32_t *tj = tab + 16 * j;
        const int32_t left = taps - L2MI_W1_GROUP * j;
        const int32_t n = left < L2MI_W1_GROUP ? left : L2MI_W1_GROUP;
        tj[0] = 0;
#pragma GCC unroll 4
        for (int32_t q = 0; q < n; ++q) {
            const int32_t t = L2MI_W1_GROUP * j + q;
            const int32_t c = t % g->in_c, kx = (t / g->in_c) % g->k_w, ky = t / (g->in_c * g->k_w);
            int32_t a = pfix;
            if (ring) {
                a = rp[ky * rw + kx * g->in_c + c];
            } else {
                const int32_t iy = iy0 + ky, ix = ix0 + kx;
                if (inside || l2mi_inside(g, iy, ix)) {
                    a = l2mi_w1x_fix(l2mi_w1x_bits(in[(iy * g->in_w + ix) * g->in_c + c]), sh0, 5, &sat);
                }
            }
            sa += l2mi_w1x_abs(a);
#pragma GCC unroll 8
            for (int32_t m = (1 << q) - 1; m >= 0; --m) {
                tj[m | (1 << q)] = tj[m] - a;
                tj[m] = tj[m] + a;
            }
        }
    }
    *sabs = sa;
}

/* Bit of filter oc at the window (oy, ox) in float, exactly as the reference computes it. */
L2M_INLINE uint32_t l2mi_w1x_float_bit(const l2m_geom *g, float pad_value, const float *in, const uint32_t *w,
                                       l2m_out o, int32_t oc, int32_t oy, int32_t ox) {
    const int32_t fw = L2M_WORDS(g->k_h * g->k_w * g->in_c);
    const float v = l2mi_w1_acc(g, pad_value, in, w + oc * fw, oy, ox) + (o.bias ? o.bias[oc] : 0.0f);
    return (uint32_t)l2m_float_threshold_bit(v, o.tau[oc], o.mode[oc]);
}

/* One filter of a block: its entries of the group tables (pointers: on Thumb-1 an offset from a
 * stack array costs ~15 instructions of address arithmetic a lookup) and its decision: bit 1
 * where acc + d < lo, undecided where acc - d <= hi, else 0 (d: the pixel's margin). */
typedef struct {
    const int32_t *p[L2MI_W1_MAX_GROUPS];
    int32_t lo, hi;
} l2mi_w1x_filt;

L2M_INLINE int l2mi_w1x_conv(const l2m_geom *g, float pad_value, const float *in, const uint32_t *w, l2m_out o) {
    const int32_t taps = g->k_h * g->k_w * g->in_c;
    const int32_t fw = L2M_WORDS(taps);
    const int32_t groups = (taps + L2MI_W1_GROUP - 1) / L2MI_W1_GROUP;
    /* The scale: the largest magnitude decides F so that sum |A| < 2^29 over the window. */
    uint32_t mx = l2mi_w1x_bits(pad_value) & 0x7FFFFFFFu;
    for (int32_t i = 0; i < g->in_h * g->in_w * g->in_c; ++i) {
        const uint32_t u = l2mi_w1x_bits(in[i]) & 0x7FFFFFFFu;
        mx = u > mx ? u : mx;
    }
    int32_t e = (int32_t)(mx >> 23), lg = 1;
    if (e == 0) e = 1;
    while ((1 << lg) < taps) ++lg;
    /* inf or NaN, or sums that could overflow (|sum + bias| < 2^(e + lg - 125) here): the float
     * path, whose infinities the margin does not model */
    if (e + lg > 250) return 0;
    const int32_t sh0 = 5 - lg - e;    /* |A| < 2^24 * 2^(5 - lg): n |A| < 2^29 */
    int32_t psat = 0;
    const int32_t pfix = l2mi_w1x_fix(l2mi_w1x_bits(pad_value), sh0, 5, &psat);
    int32_t tab[L2MI_W1_MAX_GROUPS * 16];
    l2mi_w1x_filt f[32];
    /* the ring where it fits (with a layer's constant sizes the test folds, and the unused path
     * and its stack go) */
    const int32_t cols = (g->out_w - 1) * g->stride_w + g->k_w, rw = cols * g->in_c;
    const int ring = 2 * g->k_h * rw <= L2MI_W1X_RING;
    int32_t rbuf[L2MI_W1X_RING];
    for (int32_t oc0 = 0; oc0 < g->out_c; oc0 += 32) {
        const int32_t nb = g->out_c - oc0 < 32 ? g->out_c - oc0 : 32;
        uint32_t zero = 0u;   /* the bits of an all-zero window */
        const uint32_t stop = 2u << (uint32_t)(nb - 1);   /* 1 << nb, 0 for nb = 32 (wraps) */
        for (int32_t i = 0; i < nb; ++i) {
            const int32_t oc = oc0 + i;
            const int8_t md = o.mode[oc];
            const float bv = o.bias ? o.bias[oc] : 0.0f;
            if (l2m_float_threshold_bit(0.0f + bv, o.tau[oc], md)) zero |= 1u << (uint32_t)i;
            for (int32_t j = 0; j < groups; ++j) f[i].p[j] = tab;   /* (sentinels) */
            /* Sentinels (|acc| < 2^29, d < 2^12, so acc +- d never reaches them): a constant bit
             * (modes 2 and 3) is always 0 (lo = hi = INT32_MIN) or always 1 (lo = INT32_MAX) */
            if (md >= 2) {
                f[i].lo = md == 3 ? INT32_MAX : INT32_MIN;
                f[i].hi = INT32_MIN;
                continue;
            }
            /* Mode 1 (-x < tau) as mode 0 of the negated sum and bias: complemented patterns. */
            const uint32_t neg = md == 1 ? 1u : 0u;
            int32_t sat = 0, tsat = 0;
            const uint32_t tu = l2mi_w1x_bits(o.tau[oc]);
            /* |B| < 2^28, |T| < 2^30 units (the rest below): lo, hi and their margins fit int32 */
            int32_t tz = l2mi_w1x_fix(tu, sh0, 6, &tsat);
            const int32_t bz = l2mi_w1x_fix(l2mi_w1x_bits(bv) ^ (neg << 31), sh0, 4, &sat);
            if (sat || (tu & 0x7FFFFFFFu) > 0x7F800000u) {
                /* a bias off the scale, or tau NaN: always undecided, i.e. this filter in float */
                f[i].lo = INT32_MIN;
                f[i].hi = INT32_MAX;
                continue;
            }
            /* |tau| >= 2^30 units (inf included) lies past every reachable v (|acc| < 2^29,
             * |B| < 2^28, v within a few hundred units of their sum): +-2^30 decides the same */
            if (tsat) tz = (tu >> 31) ? -(1 << 30) : (1 << 30);
            /* |C - (tau - bias) 2^F| < 2; the bias-add rounding's share u |bias| 2^F <= |bz| / 2^23 + 1 */
            const int32_t margin = (l2mi_w1x_abs(bz) >> 23) + 1;
            f[i].lo = tz - bz - margin;
            f[i].hi = tz - bz + margin;
            for (int32_t j = 0; j < groups; ++j) {
                const int32_t b = L2MI_W1_GROUP * j, left = taps - b;
                const uint32_t full = left < L2MI_W1_GROUP ? (1u << (uint32_t)left) - 1u : 15u;
                const uint32_t m = ((w[oc * fw + (b >> 5)] >> (uint32_t)(b & 31)) & 15u) ^ (neg ? full : 0u);
                f[i].p[j] = tab + 16 * j + (int32_t)m;
            }
        }
        l2m_out ob = o;
        int32_t next_pr = 0;   /* the first padded row not yet in the ring (this block) */
        for (int32_t oy = 0; oy < g->out_h; ++oy) {
            const l2mi_wrow r = l2mi_row_at(g, oy);
            const int32_t base = oy * g->stride_h;   /* the window's first padded row */
            const int32_t *rrow = rbuf;
            if (ring) {
                for (int32_t pr = base > next_pr ? base : next_pr; pr < base + g->k_h; ++pr) {
                    l2mi_w1x_ring_row(g, pfix, in, pr, cols, sh0, rbuf);
                }
                next_pr = base + g->k_h;
                rrow = rbuf + (base % g->k_h) * rw;
            }
            for (int32_t ox = 0; ox < g->out_w; ++ox) {
                const l2mi_pos p = l2mi_pos_at(g, r, ox);
                uint32_t cur = 0u, und = 0u;
                int32_t sa;
                l2mi_w1x_tables(g, pfix, in, p.iy0, p.ix0, p.interior, ring, rrow + ox * g->stride_w * g->in_c, rw,
                                taps, groups, sh0, tab, &sa);
                if (sa == 0) {
                    cur = zero;   /* every tap +-0.0: acc is +0.0 in the reference */
                } else {
                    /* margin in units: truncation (< taps), the sum's gamma_{n-1} S (< S / 2^19) and
                     * the bias add's u S (< S / 2^22), each floor + 1; S = sum|A| + taps bounds sum|a| 2^F */
                    const int32_t s = sa + taps;
                    const int32_t d = taps + 4 + (s >> 19) + (s >> 22);
                    const l2mi_w1x_filt *fk = f;
                    uint32_t bit = 1u;   /* also the loop's count: it runs until bit reaches stop */
                    do {
                        int32_t acc = *fk->p[0];
#pragma GCC unroll 8
                        for (int32_t j = 1; j < groups; ++j) acc += *fk->p[j];
                        if (acc + d < fk->lo) {
                            cur |= bit;
                        } else if (acc - d <= fk->hi) {
                            und |= bit;
                        }
                        ++fk;
                        bit <<= 1;
                        /* hidden from gcc's induction-variable pass (every gcc/clang target: rv32
                         * and lx106 gain too): else it rewrites `bit != stop` as a compare of fk
                         * with an end pointer, which on Thumb-1 (eight cheap registers, all busy)
                         * it rebuilds from sp each iteration: 5 instructions more per filter than
                         * ending on the shift's own flags (stop is 0 for 32 filters) */
                        L2M_OPAQUE(bit);
                    } while (bit != stop);
                }
#if L2M_W1X_FALLBACK == 2
                cur |= und;
#elif L2M_W1X_FALLBACK
                while (und) {   /* the few windows near a threshold: the reference's float sum */
                    const uint32_t lowest = und & (0u - und);
                    int32_t i = 0;
                    while (!((lowest >> (uint32_t)i) & 1u)) ++i;
                    if (l2mi_w1x_float_bit(g, pad_value, in, w, o, oc0 + i, oy, ox)) cur |= lowest;
                    und ^= lowest;
                }
#else
                (void)und;
#endif
                ob.bits[oc0 / 32] = cur;
                ob = l2m_out_next(ob, g->out_c);
            }
        }
    }
    (void)psat;   /* pad's magnitude is in mx: it never saturates */
    return 1;
}

#endif /* L2M_W1FIX_IMPL_H */
