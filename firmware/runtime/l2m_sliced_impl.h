/* larq2mcu runtime — the bit-sliced binary engine: conv / dense layers with threshold or float
 * outputs, 32 filters counted at once, as always-inline functions for layer-specialized generated
 * code (contracts and layout: l2m_*_sliced_b32_* in l2m_kernels.h; arithmetic and the plain reference:
 * l2m_sliced.c; the compiled counting loop: l2m_sliced_t2.c).
 *
 * Why: an XOR+popcount engine spends ~10 instructions per 32-bit word and filter on Cortex-M
 * (no popcount instruction). Here a window's bits select weight rows (row = one input bit of 32
 * filters) and only the selected rows are added — into 32 bit-sliced counters by Harley-Seal
 * carry-save adders (5 operations per row, 16 rows per step). Selecting the set bits, or the
 * clear ones when fewer, halves the work on average and bounds it by half the window; finding
 * the next selected bit is one count-leading-zeros (clz on Armv7-M/v8-M, nsau on Xtensa, Zbb's
 * clz) or, on cores without one (L2M_HW_CLZ 0: Cortex-M0/M0+, rv32imc), a de Bruijn multiply and
 * a 32-byte table: every sliced kernel variant (hs, clz, usad8, zbb) runs this engine.
 *
 * Per pixel: the window is copied once, P = popcount, the selection (set or clear bits) applied
 * to the copy; per block of 32 filters the counters start at the block's constant planes
 * plus/minus P/2 (one bit-sliced add), the selected rows are counted (padded with the block's
 * zero rows to a multiple of 8) and the top plane is the output word (float outputs: counters
 * start at 0 and the counts are read back per filter). Stack: the window copy
 * (L2M_SLICED_MAX_WORDS + 1 words for a conv, L2M_SLICED_DENSE_MAX_WORDS + 1 for a dense layer)
 * and L2MI_SL_MAX_M words of counters. No heap, no globals, reentrant, cannot fail.
 *
 * Contract of the entry points l2mi_conv2d_sliced / l2mi_dense_sliced: those of
 * l2m_{conv2d,dense}_sliced_b32_{b32,f32}_ref (l2m_kernels.h: transposed rows w, 4-byte
 * aligned, no output overlapping an input), plus `mode` (the L2M_MODE_* of the window popcount)
 * and one output descriptor `o` (l2m_types.h): L2M_OUT_BITS with o.planes (kc unused, may be
 * NULL) or L2M_OUT_FLOAT with o.bias (may be NULL) and kc (per-filter weight popcounts).
 * Internal header: names are l2mi_*, not part of the kernel API.
 */
#ifndef L2M_SLICED_IMPL_H
#define L2M_SLICED_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "l2m_kernels.h"
#include "l2m_popcount_impl.h"
#include "l2m_window_impl.h"

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
    return bits + 1 < 5 ? 5 : bits + 1;
}

/* The generator of selected rows, over a window copied to the stack with the selection applied
 * (word ^ flip: set bits select) and a sentinel word after it with bits 31..24 set, whose rows
 * are the 8 zero rows that end each block of w (so counts can be padded to a multiple of 8).
 * State: r = selected bits of the current word not yet taken, rp = that word's 32 rows (row t
 * for bit 31 - t), ap = the next word. l2mi_sl_refill makes r non-zero (the sentinel stops it). */
typedef struct {
    uint32_t r;
    const uint32_t *rp, *ap;   /* field offsets 0, 4, 8: the Thumb-2 loop reads them */
} l2mi_sl_gen;

L2M_INLINE void l2mi_sl_refill(l2mi_sl_gen *s) {
    while (s->r == 0u) {
        s->r = *s->ap++;
        s->rp += 32;
    }
}

#if L2M_HW_CLZ
/* The next selected row. clz(r) = t picks bit 31 - t, whose row is rp[t]; that bit is cleared. */
L2M_INLINE uint32_t l2mi_sl_next(l2mi_sl_gen *s) {
    const uint32_t t = (uint32_t)__builtin_clz(s->r);
    const uint32_t x = s->rp[t];
    s->r ^= 0x80000000u >> t;
    if (__builtin_expect(s->r == 0u, 0)) l2mi_sl_refill(s);
    return x;
}
#else
/* The next selected row without a clz instruction (Cortex-M0/M0+, rv32imc: __builtin_clz is a
 * libgcc call there): r & -r isolates the lowest selected bit b, the de Bruijn multiply maps it
 * to a distinct 5-bit index, and the table gives that bit's row as a byte offset, (31 - b) * 4.
 * Rows come lowest bit first instead of highest first: the counters add them in another order,
 * to the same exact sums. The table is read-only (.rodata, 32 bytes): no state. */
L2M_INLINE uint32_t l2mi_sl_next(l2mi_sl_gen *s) {
    static const uint8_t row_of[32] = {124, 120, 12, 116, 8, 68, 28, 112, 4, 36, 44, 64, 24, 56, 108, 92,
                                       0, 16, 72, 32, 40, 48, 60, 96, 20, 76, 52, 100, 80, 104, 84, 88};
    const uint32_t low = s->r & (0u - s->r);
    const uint32_t x = *(const uint32_t *)(const void *)((const uint8_t *)s->rp + row_of[(low * 0x077CB531u) >> 27]);
    s->r ^= low;
    if (__builtin_expect(s->r == 0u, 0)) l2mi_sl_refill(s);
    return x;
}
#endif

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

/* Sixteen rows into ones..eights: the carries (weight 16) are returned. */
L2M_INLINE uint32_t l2mi_sl_sixteen(l2mi_sl_gen *s, uint32_t *ones, uint32_t *twos, uint32_t *fours,
                                    uint32_t *eights) {
    uint32_t c;
    const uint32_t ea = l2mi_sl_eight(s, ones, twos, fours);
    const uint32_t eb = l2mi_sl_eight(s, ones, twos, fours);
    l2mi_csa(&c, eights, *eights, ea, eb);
    return c;
}

/* Count n8 (a multiple of 8) rows of generator s into the counters v (m planes, m >= 5):
 * Harley-Seal, planes 0..3 in registers; per 64 rows the four weight-16 carries go through
 * carry-save adders into planes 4 and 5 and only the weight-64 carry ripples (a carry word
 * ripples until every lane's carry has died, ~log2(32) planes: once per 64 rows instead of 4
 * times); the rest 16 and 8 rows at a time. (64 rows are selected only from K >= 64 real bits —
 * no more bits are selected than K — so m = l2mi_sl_planes(K) >= 8 there.) */
L2M_INLINE void l2mi_sl_count(l2mi_sl_gen *s, int32_t n8, uint32_t *v, int32_t m) {
    uint32_t ones = v[0], twos = v[1], fours = v[2], eights = v[3];
    int32_t k = n8;
    for (; k >= 64; k -= 64) {
        uint32_t ca, cb, c;
        const uint32_t s0 = l2mi_sl_sixteen(s, &ones, &twos, &fours, &eights);
        const uint32_t s1 = l2mi_sl_sixteen(s, &ones, &twos, &fours, &eights);
        const uint32_t s2 = l2mi_sl_sixteen(s, &ones, &twos, &fours, &eights);
        const uint32_t s3 = l2mi_sl_sixteen(s, &ones, &twos, &fours, &eights);
        l2mi_csa(&ca, &v[4], v[4], s0, s1);
        l2mi_csa(&cb, &v[4], v[4], s2, s3);
        l2mi_csa(&c, &v[5], v[5], ca, cb);
        l2mi_sl_ripple(v, 6, m, c);
    }
    for (; k >= 16; k -= 16) l2mi_sl_ripple(v, 4, m, l2mi_sl_sixteen(s, &ones, &twos, &fours, &eights));
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
 * (l2m_sliced_t2.c: 5 instructions per selected row to find and load it, 5 per carry-save adder,
 * all state in registers) — the same algorithm as l2mi_sl_count; tested against the C under
 * QEMU. */
#if defined(__GNUC__) && defined(__thumb2__) && defined(__ARM_FEATURE_CLZ) && !defined(L2M_NO_ASM)
#define L2MI_SL_ASM 1
void l2m_sliced_count_t2(const l2mi_sl_gen *s, int32_t n8, uint32_t *v, int32_t m);
#define L2MI_SL_COUNT l2m_sliced_count_t2
#else
#define L2MI_SL_ASM 0
/* Elsewhere the C loop, compiled once (l2m_sliced_t2.c) rather than inlined into every layer: it
 * has no layer-specific constant worth unrolling for, and it is several kilobytes. */
void l2m_sliced_count_c(const l2mi_sl_gen *s, int32_t n8, uint32_t *v, int32_t m);
#define L2MI_SL_COUNT l2m_sliced_count_c
#endif

/* Per filter of a block, its count S from the planes v (m of them, counts < 65536): two lanes
 * per word (j in the low half, j + 16 in the high), one shift, mask and add per plane and pair. */
L2M_INLINE void l2mi_sl_unslice(const uint32_t *v, int32_t m, uint32_t *pairs) {
#pragma GCC unroll 16
    for (int32_t i = 0; i < 16; ++i) pairs[i] = 0u;
#pragma GCC unroll 32
    for (int32_t pl = 0; pl < m; ++pl) {
        const uint32_t x = v[pl];
#pragma GCC unroll 16
        for (int32_t i = 0; i < 16; ++i) pairs[i] += ((x >> (uint32_t)i) & 0x00010001u) << (uint32_t)pl;
    }
}

/* Bit j set for j < lanes (1 <= lanes <= 32): the real filters of a block. */
L2M_INLINE uint32_t l2mi_sl_lanes(int32_t lanes) {
    return 0xFFFFFFFFu >> (uint32_t)(32 - lanes);
}

/* Every block of 32 filters for one window (one output pixel, written through o): win holds
 * nwin words (k real bits) and has room for a sentinel after them; the window is modified
 * (selection applied). L2M_OUT_BITS: threshold bits from o.planes; L2M_OUT_FLOAT: (float)acc +
 * o.bias from kc (bits set per filter); other kinds write nothing. */
L2M_INLINE void l2mi_sl_window(int mode, uint32_t *win, int32_t nwin, int32_t k, int32_t out_c, const uint32_t *w,
                               const int32_t *kc, l2m_out o) {
    const int32_t m = l2mi_sl_planes(k);
    const int32_t p = l2mi_pc_run(mode, win, nwin);
    const int32_t compl_ = 32 * nwin - p < p;
    const int32_t n = compl_ ? 32 * nwin - p : p;
    const int32_t n8 = (n + 7) & ~7;
    const uint32_t add = compl_ ? (uint32_t)(p >> 1) : 0u - (uint32_t)(p >> 1);   /* +-P/2 */
    const int32_t set = 2 * compl_ + (p & 1);
    if (compl_) {
        for (int32_t q = 0; q < nwin; ++q) win[q] = ~win[q];
    }
    /* the sentinel: bits 31..24, whose rows are the block's 8 zero rows (padding takes at most
     * 7), so that both selection orders (clz: highest bit first; de Bruijn: lowest) stay in them */
    win[nwin] = 0xFF000000u;
    for (int32_t b = 0; b < L2M_WORDS(out_c); ++b) {
        uint32_t v[L2MI_SL_MAX_M];
        v[0] = v[1] = v[2] = v[3] = v[4] = v[5] = 0u;   /* overwritten below (m >= 5): for static analyzers */
        if (o.kind == L2M_OUT_BITS) {
            const uint32_t *z = o.planes + (b * 4 + set) * m;
            uint32_t c = 0u;
#pragma GCC unroll 32
            for (int32_t pl = 0; pl < m; ++pl) {   /* v = z + add, plane by plane (add is the same in every lane) */
                const uint32_t a = 0u - ((add >> (uint32_t)pl) & 1u);
                const uint32_t za = z[pl] ^ a;
                v[pl] = za ^ c;
                c = (z[pl] & a) | (c & za);
            }
        } else {
#pragma GCC unroll 32
            for (int32_t pl = 0; pl < m; ++pl) v[pl] = 0u;
        }
        l2mi_sl_gen s = {win[0], w + b * (nwin * 32 + 8), win + 1};
        if (n8 != 0) {
            l2mi_sl_refill(&s);
            L2MI_SL_COUNT(&s, n8, v, m);
        }
        const int32_t left = out_c - 32 * b;
        const int32_t lanes = left < 32 ? left : 32;
        if (o.kind == L2M_OUT_BITS) {
            const uint32_t top = compl_ ? v[m - 1] : ~v[m - 1];
            o.bits[b] = top & l2mi_sl_lanes(lanes);   /* pad bits 0 */
        } else if (o.kind == L2M_OUT_FLOAT) {
            uint32_t pairs[16];
            const int32_t base = k - 2 * p;
            l2mi_sl_unslice(v, m, pairs);
            for (int32_t j = 0; j < lanes; ++j) {
                const int32_t oc = 32 * b + j;
                const int32_t cnt = (int32_t)((pairs[j & 15] >> (j < 16 ? 0u : 16u)) & 0xFFFFu);
                const int32_t acc = compl_ ? base + 2 * kc[oc] - 4 * cnt : base - 2 * kc[oc] + 4 * cnt;
                o.f[oc] = l2m_out_value_int(o, oc, acc);
            }
        }
    }
}

/* Entry point: the whole convolution (contracts of l2m_conv2d_sliced_b32_{b32,f32}_ref): o of
 * kind L2M_OUT_BITS with planes (kc unused, may be NULL), or L2M_OUT_FLOAT with kc and bias. */
L2M_INLINE void l2mi_conv2d_sliced(int mode, const l2m_geom *g, int32_t packed, const uint32_t *in,
                                   const uint32_t *w, const int32_t *kc, l2m_out o) {
    const int32_t taps = g->k_h * g->k_w;
    const int32_t nwin = packed ? L2M_WORDS(taps * g->in_c) : taps * L2M_WORDS(g->in_c);
    uint32_t win[L2M_SLICED_MAX_WORDS + 1];
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        const l2mi_wrow r = l2mi_row_at(g, oy);
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            const l2mi_pos p = l2mi_pos_at(g, r, ox);
            if (packed) {
                (void)l2mi_pack_window(g, in, p.iy0, p.ix0, p.interior, win, NULL);
            } else if (p.interior) {   /* k_h rows of k_w*nw contiguous words: no bounds tests */
                l2mi_copy_interior(g, in, p.iy0, p.ix0, win);
            } else {
                (void)l2mi_gather(g, in, p.iy0, p.ix0, win, NULL);
            }
            l2mi_sl_window(mode, win, nwin, taps * g->in_c, g->out_c, w, kc, o);
            o = l2m_out_next(o, g->out_c);
        }
    }
}

/* Entry point: a dense layer (contracts of l2m_dense_sliced_b32_{b32,f32}_ref; o and kc as for
 * the conv); the input is copied to the stack once (at most L2M_SLICED_DENSE_MAX_WORDS words). */
L2M_INLINE void l2mi_dense_sliced(int mode, int32_t groups, int32_t c, int32_t out_n, const uint32_t *in,
                                  const uint32_t *w, const int32_t *kc, l2m_out o) {
    const int32_t nwin = groups * L2M_WORDS(c);
    uint32_t win[L2M_SLICED_DENSE_MAX_WORDS + 1];
    memset(win, 0, sizeof win);   /* once per layer; tells static analyzers every word is set */
    for (int32_t q = 0; q < nwin; ++q) win[q] = in[q];
    l2mi_sl_window(mode, win, nwin, groups * c, out_n, w, kc, o);
}

#endif /* L2M_SLICED_IMPL_H */
