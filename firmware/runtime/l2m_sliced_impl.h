/* larq2mcu runtime — the bit-sliced binary engine: conv / dense layers with threshold outputs,
 * 32 filters counted at once, as always-inline functions for layer-specialized generated code
 * (contract and layout: l2m_conv2d_sliced_b32_b32_ref in l2m_kernels.h; arithmetic: l2m_sliced.c).
 *
 * Why: an XOR+popcount engine spends ~10 instructions per 32-bit word and filter on Cortex-M
 * (no popcount instruction). Here a window's bits select weight rows (row = one input bit of 32
 * filters) and only the selected rows are added — into 32 bit-sliced counters by Harley-Seal
 * carry-save adders (5 operations per row, 16 rows per step). Selecting the set bits, or the
 * clear ones when fewer, halves the work on average and bounds it by half the window; finding
 * the next selected bit is one count-leading-zeros (clz on Armv7-M/v8-M, nsau on Xtensa, Zbb's
 * clz), so use this engine where that instruction exists (kernel variants clz, usad8, zbb).
 *
 * Per pixel: the window is copied once (conv), P = popcount; per block of 32 filters the
 * counters start at the block's constant planes plus/minus P/2 (one bit-sliced add), the
 * selected rows are counted (padded with zero rows to a multiple of 8) and the top plane is the
 * output word. Stack: L2M_SLICED_MAX_WORDS + L2MI_SL_MAX_M words. No heap, no globals, reentrant.
 * Internal header: names are l2mi_*, not part of the kernel API.
 */
#ifndef L2M_SLICED_IMPL_H
#define L2M_SLICED_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "l2m_binary_impl.h"
#include "l2m_kernels.h"
#include "l2m_popcount_impl.h"

/* Counter planes: enough for windows of up to 2^23 bits (m = l2m_sliced_planes(K) <= 26). */
#define L2MI_SL_MAX_M 26

/* Same value as l2m_sliced_planes(), inline so that a constant k folds to a constant. */
L2M_INLINE int32_t l2mi_sl_planes(int32_t k) {
    uint32_t v = (uint32_t)(k + k / 2 + 2);
    int32_t bits = 0;
    while (v != 0u) {
        ++bits;
        v >>= 1;
    }
    return bits + 1;
}

/* The generator of selected rows. State: r = selected bits of the current word not yet taken,
 * rp = that word's 32 rows (row t for bit 31 - t), ap/aend = the words still to come (it starts
 * on the first word). Every word XORed with flip (0: set bits, ~0: clear bits). Past the last word a sentinel of 32 set
 * bits selects zero rows, so counts can be padded. l2mi_sl_refill makes r non-zero. */
typedef struct {
    uint32_t r, flip;
    const uint32_t *rp, *ap, *aend, *zeros;   /* field offsets 0..20: the Thumb-2 loop reads them */
} l2mi_sl_gen;

L2M_INLINE void l2mi_sl_refill(l2mi_sl_gen *s) {
    while (s->r == 0u) {
        if (s->ap == s->aend) {
            s->r = 0xFFFFFFFFu;
            s->rp = s->zeros;
        } else {
            s->r = *s->ap++ ^ s->flip;
            s->rp += 32;
        }
    }
}

/* The next selected row. clz(r) = t picks bit 31 - t, whose row is rp[t]; that bit is cleared. */
L2M_INLINE uint32_t l2mi_sl_next(l2mi_sl_gen *s) {
    const uint32_t t = (uint32_t)__builtin_clz(s->r);
    const uint32_t x = s->rp[t];
    s->r ^= 0x80000000u >> t;
    if (__builtin_expect(s->r == 0u, 0)) l2mi_sl_refill(s);
    return x;
}

/* v (m planes) += a word of weight 2^p0, carry rippling up to plane m-1 (modulo 2^m). */
L2M_INLINE void l2mi_sl_ripple(uint32_t *v, int32_t p0, int32_t m, uint32_t c) {
    for (int32_t p = p0; c != 0u && p < m; ++p) {
        const uint32_t t = v[p] & c;
        v[p] ^= c;
        c = t;
    }
}

/* Two rows into ones: the carries (weight 2) are returned. */
L2M_INLINE uint32_t l2mi_sl_pair(l2mi_sl_gen *s, uint32_t *ones) {
    uint32_t h;
    const uint32_t x0 = l2mi_sl_next(s);
    const uint32_t x1 = l2mi_sl_next(s);
    l2mi_csa(&h, ones, *ones, x0, x1);
    return h;
}

/* Eight rows into ones/twos/fours: the carries (weight 8) are returned. */
L2M_INLINE uint32_t l2mi_sl_eight(l2mi_sl_gen *s, uint32_t *ones, uint32_t *twos, uint32_t *fours) {
    uint32_t fa, fb, e;
    const uint32_t ta = l2mi_sl_pair(s, ones);
    const uint32_t tb = l2mi_sl_pair(s, ones);
    l2mi_csa(&fa, twos, *twos, ta, tb);
    const uint32_t tc = l2mi_sl_pair(s, ones);
    const uint32_t td = l2mi_sl_pair(s, ones);
    l2mi_csa(&fb, twos, *twos, tc, td);
    l2mi_csa(&e, fours, *fours, fa, fb);
    return e;
}

/* Count n8 (a multiple of 8) rows of generator s into the counters v (m planes, m >= 5):
 * Harley-Seal, 16 rows per step, planes 0..3 in registers, the weight-16 carry rippled into
 * planes 4.. once per step. */
L2M_INLINE void l2mi_sl_count(l2mi_sl_gen *s, int32_t n8, uint32_t *v, int32_t m) {
    uint32_t ones = v[0], twos = v[1], fours = v[2], eights = v[3];
    int32_t k = n8;
    for (; k >= 16; k -= 16) {
        uint32_t c;
        const uint32_t ea = l2mi_sl_eight(s, &ones, &twos, &fours);
        const uint32_t eb = l2mi_sl_eight(s, &ones, &twos, &fours);
        l2mi_csa(&c, &eights, eights, ea, eb);
        l2mi_sl_ripple(v, 4, m, c);
    }
    if (k != 0) {
        const uint32_t e = l2mi_sl_eight(s, &ones, &twos, &fours);
        const uint32_t c = eights & e;
        eights ^= e;
        l2mi_sl_ripple(v, 4, m, c);
    }
    v[0] = ones;
    v[1] = twos;
    v[2] = fours;
    v[3] = eights;
}

/* On Armv7-M / Armv8-M mainline (Thumb-2 with clz) the counting loop is hand-scheduled assembly
 * (l2m_sliced.c: 5 instructions per selected row to find and load it, 5 per carry-save adder,
 * all state in registers) — the same function as l2mi_sl_count; tested against it under QEMU. */
#if defined(__GNUC__) && defined(__thumb2__) && defined(__ARM_FEATURE_CLZ) && !defined(L2M_NO_ASM)
#define L2MI_SL_ASM 1
void l2m_sliced_count_t2(l2mi_sl_gen *s, int32_t n8, uint32_t *v, int32_t m);
#else
#define L2MI_SL_ASM 0
#endif

/* Every block of 32 filters for one window of nwin contiguous words (k real bits). */
L2M_INLINE void l2mi_sl_window(int mode, const uint32_t *win, int32_t nwin, int32_t k, int32_t out_c,
                               const uint32_t *w, const uint32_t *planes, uint32_t *out) {
    const int32_t m = l2mi_sl_planes(k);
    const int32_t p = l2mi_pc_words(mode, win, nwin);
    const int32_t compl_ = 32 * nwin - p < p;
    const int32_t n = compl_ ? 32 * nwin - p : p;
    const int32_t n8 = (n + 7) & ~7;
    const uint32_t flip = compl_ ? 0xFFFFFFFFu : 0u;
    const uint32_t add = compl_ ? (uint32_t)(p >> 1) : 0u - (uint32_t)(p >> 1);   /* +-P/2 */
    const int32_t set = 2 * compl_ + (p & 1);
    for (int32_t b = 0; b < L2M_WORDS(out_c); ++b) {
        const uint32_t *z = planes + (b * 4 + set) * m;
        uint32_t v[L2MI_SL_MAX_M];
        uint32_t c = 0u;
        v[0] = v[1] = v[2] = v[3] = 0u;   /* overwritten below (m >= 5); says so to static analyzers */
        for (int32_t pl = 0; pl < m; ++pl) {   /* v = z + add, plane by plane (add is the same in every lane) */
            const uint32_t a = 0u - ((add >> (uint32_t)pl) & 1u);
            const uint32_t za = z[pl] ^ a;
            v[pl] = za ^ c;
            c = (z[pl] & a) | (c & za);
        }
        l2mi_sl_gen s = {win[0] ^ flip, flip, w + b * nwin * 32, win + 1, win + nwin, l2m_sliced_zero_rows};
        if (n8 != 0) {
            l2mi_sl_refill(&s);
#if L2MI_SL_ASM
            l2m_sliced_count_t2(&s, n8, v, m);
#else
            l2mi_sl_count(&s, n8, v, m);
#endif
        }
        uint32_t o = v[m - 1] ^ ~flip;
        if (32 * b + 32 > out_c) o &= (1u << (uint32_t)(out_c - 32 * b)) - 1u;   /* pad bits 0 */
        out[b] = o;
    }
}

/* Entry point: the whole convolution (contract of l2m_conv2d_sliced_b32_b32_ref). */
L2M_INLINE void l2mi_conv2d_sliced(int mode, const l2m_geom *g, int32_t packed, const uint32_t *in,
                                   const uint32_t *w, const uint32_t *planes, uint32_t *out) {
    const int32_t taps = g->k_h * g->k_w;
    const int32_t nwin = packed ? L2M_WORDS(taps * g->in_c) : taps * L2M_WORDS(g->in_c);
    uint32_t win[L2M_SLICED_MAX_WORDS];
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        const int32_t iy0 = oy * g->stride_h - g->pad_top;
        const int yin = iy0 >= 0 && iy0 + g->k_h <= g->in_h;
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            const int32_t ix0 = ox * g->stride_w - g->pad_left;
            const int inside = yin && ix0 >= 0 && ix0 + g->k_w <= g->in_w;
            if (packed) {
                (void)l2mi_pack_window(g, in, iy0, ix0, inside, win, NULL);
            } else {
                (void)l2mi_gather(g, in, iy0, ix0, win, NULL);
            }
            l2mi_sl_window(mode, win, nwin, taps * g->in_c, g->out_c, w, planes, out);
            out += L2M_WORDS(g->out_c);
        }
    }
}

/* Entry point: a dense layer (contract of l2m_dense_sliced_b32_b32_ref); reads `in` in place. */
L2M_INLINE void l2mi_dense_sliced(int mode, int32_t groups, int32_t c, int32_t out_n, const uint32_t *in,
                                  const uint32_t *w, const uint32_t *planes, uint32_t *out) {
    l2mi_sl_window(mode, in, groups * L2M_WORDS(c), groups * c, out_n, w, planes, out);
}

#endif /* L2M_SLICED_IMPL_H */
