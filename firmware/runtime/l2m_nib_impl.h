/* larq2mcu runtime — the nibble-table engine: binary convs with the window packed densely
 * (few input channels: l2m_conv2d_packed_b32_*_ref) and at most 32 filters, as always-inline
 * functions for the layer-specialised functions of generated code.
 *
 * Contract of l2mi_conv2d_nib: that of l2mi_conv2d_packed (l2m_binary_impl.h; the
 * l2m_conv2d_packed_b32_{b32,f32}_ref kernels of l2m_kernels.h), bit for bit, for any geometry and
 * output descriptor (L2M_OUT_BITS with thr, or L2M_OUT_FLOAT); a layer that does not fit
 * (l2mi_nib_fits) runs l2mi_conv2d_packed. Stack: L2MI_NIB_TAB words of table (4.5 KB). No heap,
 * no globals, reentrant, cannot fail.
 *
 * Why: with 16 filters the XOR+popcount engine spends its time counting bits of each filter's
 * 4.5-word window separately (~60 instructions an output on Cortex-M4, no popcount instruction).
 * Here the k window bits (bits (ky*k_w + kx)*in_c + c, as l2mi_pack_window and the weights) are
 * cut into P = ceil(k/4) nibbles, and a table built once per call holds, for nibble position p
 * and each of its 16 values v, the counts of all filters at once:
 *   T[(p*16 + v)*Q + q], 4-bit field i = popcount(v ^ nibble p of filter 8q + i)  (0..4),
 * Q = ceil(out_c/8) words. A window's popcount of filter j is then the sum over p of field j of
 * its entries: per nibble one table row of Q words added, for all filters. Fields stay <= 12
 * over 3 nibbles, then are widened into byte counters (lo: even fields, hi: odd fields) that
 * hold up to 255 (k <= L2MI_NIB_K). acc = k - 2p as in the generic engine, and the output
 * expressions are the same (l2m_out_value_int; thresholds acc < thr).
 * The table is built without popcounts: T[p][0] field i = popcount(nibble), and
 * T[p][v] = T[p][v without its lowest set bit b] + d_b, with d_b field i = +1 where bit b of the
 * filter's nibble is 0 and -1 where it is 1 — exact as integer arithmetic on the whole word,
 * since every T[p][v] is itself a valid packed word (fields 0..4, no carries); l2mi_nib_build.
 * Interior windows with in_c % 4 == 0 read the nibbles from the input words directly (a nibble
 * never straddles taps); other windows are packed first (l2mi_pack_window: taps outside are
 * bits 0 = +1, counted with pad_one); zero-padded border windows (only the taps inside count)
 * run l2mi_window with their mask, as in l2mi_conv2d_packed.
 * Internal header: names are l2mi_*, not part of the kernel API.
 */
#ifndef L2M_NIB_IMPL_H
#define L2M_NIB_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "l2m_binary_impl.h"

/* Limits; larq2mcu/ops/dot.py states the same (tests/test_spec_kernels.py checks that they agree):
 * table words, words per table row (32 filters), window bits (byte counters). */
#define L2MI_NIB_TAB 1152
#define L2MI_NIB_Q 4
#define L2MI_NIB_K 255

/* Whether the table path takes this layer. */
L2M_INLINE int l2mi_nib_fits(const l2m_geom *g, l2m_out o) {
    const int32_t k = g->k_h * g->k_w * g->in_c;
    const int32_t q = (g->out_c + 7) / 8;
    return (o.kind == L2M_OUT_FLOAT || o.kind == L2M_OUT_BITS) && k >= 1 && k <= L2MI_NIB_K && q >= 1 &&
           q <= L2MI_NIB_Q && (k + 3) / 4 * 16 * q <= L2MI_NIB_TAB;
}

/* The table T of the file header, from the filters' packed windows w (L2M_WORDS(k) words each).
 * Per (word q, position p): the 8 filters' nibbles p side by side, n (field i = filter 8q + i);
 * bit b of every field, B_b = (n >> b) & ones, so row 0 = B_0 + B_1 + B_2 + B_3 (the nibbles'
 * popcounts) and d_b = ones - 2 B_b (+1 where the filter's bit is 0, -1 where 1; modulo 2^32, and
 * exact, as every row is itself a valid packed word); the 15 other rows by the recurrence, in
 * registers: ~70 instructions per (q, p). Rolled over p (code size; the build runs once a call). */
L2M_INLINE void l2mi_nib_build(int32_t k, int32_t out_c, const uint32_t *w, uint32_t *t) {
    const int32_t np = (k + 3) / 4, nwin = L2M_WORDS(k), nq = (out_c + 7) / 8;
    for (int32_t q = 0; q < nq; ++q) {
        const int32_t nf = out_c - 8 * q < 8 ? out_c - 8 * q : 8;
        const uint32_t ones = 0x11111111u >> (4u * (uint32_t)(8 - nf));
        const uint32_t *const wq = w + 8 * q * nwin;
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 1
#endif
        for (int32_t p = 0; p < np; ++p) {
            const uint32_t sh = 4u * (uint32_t)(p % 8);
            uint32_t n = 0u;
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 8
#endif
            for (int32_t i = 0; i < nf; ++i) n |= ((wq[i * nwin + p / 8] >> sh) & 15u) << (4u * (uint32_t)i);
            const uint32_t b0 = n & ones, b1 = (n >> 1) & ones, b2 = (n >> 2) & ones, b3 = (n >> 3) & ones;
            const uint32_t d0 = ones - 2u * b0, d1 = ones - 2u * b1, d2 = ones - 2u * b2, d3 = ones - 2u * b3;
            uint32_t *const e = t + p * 16 * nq + q;
            const uint32_t r0 = b0 + b1 + b2 + b3, r2 = r0 + d1, r4 = r0 + d2, r6 = r4 + d1, r8 = r0 + d3;
            const uint32_t r10 = r8 + d1, r12 = r8 + d2, r14 = r12 + d1;
            e[0] = r0;
            e[nq] = r0 + d0;
            e[2 * nq] = r2;
            e[3 * nq] = r2 + d0;
            e[4 * nq] = r4;
            e[5 * nq] = r4 + d0;
            e[6 * nq] = r6;
            e[7 * nq] = r6 + d0;
            e[8 * nq] = r8;
            e[9 * nq] = r8 + d0;
            e[10 * nq] = r10;
            e[11 * nq] = r10 + d0;
            e[12 * nq] = r12;
            e[13 * nq] = r12 + d0;
            e[14 * nq] = r14;
            e[15 * nq] = r14 + d0;
        }
    }
}

/* Counters of one window, for up to L2MI_NIB_Q table words: n (4-bit fields, <= 3 nibbles
 * pending), l / h (bytes: the even / odd fields). Scalars, not arrays: the optimiser then keeps
 * them in registers (an array indexed in a loop stays in memory). */
typedef struct {
    uint32_t n0, n1, n2, n3, l0, l1, l2, l3, h0, h1, h2, h3;
} l2mi_nib_acc;

/* The x86/C form of one table row into the pending fields. */
#define L2MI_NIB_ROW(e)              \
    do {                             \
        a->n0 += (e)[0];             \
        if (nq > 1) a->n1 += (e)[1]; \
        if (nq > 2) a->n2 += (e)[2]; \
        if (nq > 3) a->n3 += (e)[3]; \
    } while (0)

/* Pending fields of word q widened into its byte counters. */
#define L2MI_NIB_WIDEN(q)                       \
    do {                                        \
        a->l##q += a->n##q & m.m4;              \
        a->h##q += (a->n##q >> 4) & m.m4;       \
        a->n##q = 0u;                           \
        L2MI_NIB_OPAQUE(a->l##q);               \
        L2MI_NIB_OPAQUE(a->h##q);               \
    } while (0)

/* Hides a value from the optimiser (an empty asm; Arm gcc/clang only): see l2mi_nib_add. */
#if defined(__arm__)
#define L2MI_NIB_OPAQUE(x) L2M_OPAQUE(x)
#else
#define L2MI_NIB_OPAQUE(x) ((void)0)
#endif

/* The Thumb-2 form of the row adds (gcc: its operands need the unrolled constants; -DL2M_NO_ASM
 * turns it off). */
#if defined(__thumb2__) && defined(__GNUC__) && !defined(__clang__) && !defined(L2M_NO_ASM)
#define L2MI_NIB_ASM 1
#else
#define L2MI_NIB_ASM 0
#endif

/* Nibble position p into the counters: bits shift..shift+3 of word src[wi]. *tp points at the
 * table rows of position p - p % 3 and moves on after every third position, when the fields are
 * widened into the byte counters (and after the last, np - 1). On Arm the row address
 * (*tp + v*nq) and the counters after each widening are hidden from the optimiser, which would
 * otherwise precompute every position's offset, regroup the sums and spill them. */
L2M_INLINE void l2mi_nib_add(l2mi_nib_acc *a, const uint32_t **tp, int32_t nq, int32_t np, int32_t p,
                             const uint32_t *src, int32_t wi, uint32_t shift, l2mi_masks m) {
#if L2MI_NIB_ASM
    /* Thumb-2, two table words (9..16 filters), every offset a constant (unrolled,
     * layer-specialised code): one asm statement a position — load the word, extract the
     * nibble, the row address, one LDRD, two adds (on the first position of a group the LDRD
     * goes straight into the fields) — and one for the widening; all state stays in registers
     * and nothing is hoisted. */
    if (nq == 2 && __builtin_constant_p(p) && __builtin_constant_p(wi) && __builtin_constant_p(shift) &&
        wi >= 0 && wi < 1024) {
        const uint32_t *e;
        uint32_t t0, t1;
        if (p % 3 == 0) {
            __asm__("ldr %[e], [%[src], %[wo]]\n\tubfx %[e], %[e], %[sh], #4\n\t"
                    "add %[e], %[tp], %[e], lsl #3\n\tldrd %[a0], %[a1], [%[e]]"
                    : [a0] "=&r"(a->n0), [a1] "=&r"(a->n1), [e] "=&r"(e)
                    : [tp] "r"(*tp), [src] "r"(src), [wo] "i"(4 * wi), [sh] "i"(shift),
                      "m"(*(const uint32_t(*)[L2MI_NIB_TAB]) * tp), "m"(src[wi]));
        } else {
            __asm__("ldr %[e], [%[src], %[wo]]\n\tubfx %[e], %[e], %[sh], #4\n\t"
                    "add %[e], %[tp], %[e], lsl #3\n\tldrd %[t0], %[t1], [%[e], %[off]]\n\t"
                    "add %[a0], %[a0], %[t0]\n\tadd %[a1], %[a1], %[t1]"
                    : [a0] "+r"(a->n0), [a1] "+r"(a->n1), [e] "=&r"(e), [t0] "=&r"(t0), [t1] "=&r"(t1)
                    : [tp] "r"(*tp), [src] "r"(src), [wo] "i"(4 * wi), [sh] "i"(shift), [off] "i"((p % 3) * 128),
                      "m"(*(const uint32_t(*)[L2MI_NIB_TAB]) * tp), "m"(src[wi]));
        }
        (void)e;
        if (p % 3 == 2 || p == np - 1) {
            const uint32_t *t = *tp;
            __asm__("and %[t0], %[a0], #0x0F0F0F0F\n\tadd %[l0], %[l0], %[t0]\n\t"
                    "and %[t0], %[a0], #0xF0F0F0F0\n\tadd %[h0], %[h0], %[t0], lsr #4\n\t"
                    "and %[t0], %[a1], #0x0F0F0F0F\n\tadd %[l1], %[l1], %[t0]\n\t"
                    "and %[t0], %[a1], #0xF0F0F0F0\n\tadd %[h1], %[h1], %[t0], lsr #4\n\t"
                    "add %[tp], %[tp], #384"
                    : [l0] "+r"(a->l0), [l1] "+r"(a->l1), [h0] "+r"(a->h0), [h1] "+r"(a->h1), [tp] "+r"(t),
                      [t0] "=&r"(t0)
                    : [a0] "r"(a->n0), [a1] "r"(a->n1));
            *tp = t;
        }
        return;
    }
#endif
    const uint32_t *e = *tp + (int32_t)((src[wi] >> shift) & 15u) * nq;
    L2MI_NIB_OPAQUE(e);
    e += (p % 3) * 16 * nq;
    L2MI_NIB_ROW(e);
    if (p % 3 == 2 || p == np - 1) {
        L2MI_NIB_WIDEN(0);
        if (nq > 1) L2MI_NIB_WIDEN(1);
        if (nq > 2) L2MI_NIB_WIDEN(2);
        if (nq > 3) L2MI_NIB_WIDEN(3);
        const uint32_t *t = *tp + 48 * nq;
        L2MI_NIB_OPAQUE(t);
        *tp = t;
    }
}

/* Byte counter of filter j (< 8 * nq): byte (j % 8) / 2 of l (j even) or h (j odd) of word j / 8. */
L2M_INLINE uint32_t l2mi_nib_count(const l2mi_nib_acc *a, int32_t j) {
    const int32_t q = j / 8;
    const uint32_t w = (j & 1) ? (q == 0 ? a->h0 : q == 1 ? a->h1 : q == 2 ? a->h2 : a->h3)
                               : (q == 0 ? a->l0 : q == 1 ? a->l1 : q == 2 ? a->l2 : a->l3);
    return (w >> (8u * (uint32_t)((j % 8) / 2))) & 255u;
}

/* Every output channel of one window from its byte counters; k bits count. */
L2M_INLINE void l2mi_nib_out(const l2mi_nib_acc *a, int32_t k, int32_t out_c, l2m_out o) {
    if (o.kind == L2M_OUT_FLOAT) {
        float *const f = o.f;
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 32
#endif
        for (int32_t j = 0; j < out_c; ++j) f[j] = l2m_out_value_int(o, j, k - 2 * (int32_t)l2mi_nib_count(a, j));
    } else if (o.kind == L2M_OUT_BITS) {
        uint32_t *const bits = o.bits;
        uint32_t cur = 0u;
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 32
#endif
        for (int32_t j = 0; j < out_c; ++j) {
            cur |= (uint32_t)(k - 2 * (int32_t)l2mi_nib_count(a, j) < o.thr[j]) << (uint32_t)j;
        }
        bits[0] = cur;
    }
}

L2M_INLINE void l2mi_nib_zero(l2mi_nib_acc *a) {
    a->n0 = a->n1 = a->n2 = a->n3 = 0u;
    a->l0 = a->l1 = a->l2 = a->l3 = 0u;
    a->h0 = a->h1 = a->h2 = a->h3 = 0u;
}

/* One window, all of whose k bits count: packed in win (L2M_WORDS(k) words, pad bits 0). */
L2M_INLINE void l2mi_nib_packed(const uint32_t *win, int32_t k, int32_t out_c, const uint32_t *t, l2m_out o,
                                l2mi_masks m) {
    const int32_t np = (k + 3) / 4, nq = (out_c + 7) / 8;
    const uint32_t *tp = t;
    l2mi_nib_acc a;
    l2mi_nib_zero(&a);
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 64
#endif
    for (int32_t p = 0; p < np; ++p) l2mi_nib_add(&a, &tp, nq, np, p, win, p / 8, 4u * (uint32_t)(p % 8), m);
    l2mi_nib_out(&a, k, out_c, o);
}

/* One interior window of in_c % 4 == 0 channels read from the input: row r of k_w words at
 * src + r*as (one word a pixel); nibble p is nibble p % (in_c/4) of tap p / (in_c/4). */
L2M_INLINE void l2mi_nib_direct(const l2m_geom *g, const uint32_t *src, int32_t as, const uint32_t *t, l2m_out o,
                                l2mi_masks m) {
    const int32_t k = g->k_h * g->k_w * g->in_c;
    const int32_t np = k / 4, nq = (g->out_c + 7) / 8, per = g->in_c / 4;
    const uint32_t *tp = t;
    l2mi_nib_acc a;
    l2mi_nib_zero(&a);
    int32_t p = 0;
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 16
#endif
    for (int32_t ky = 0; ky < g->k_h; ++ky) {
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 16
#endif
        for (int32_t kx = 0; kx < g->k_w; ++kx) {
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 8
#endif
            for (int32_t j = 0; j < per; ++j, ++p) l2mi_nib_add(&a, &tp, nq, np, p, src, ky * as + kx, 4u * (uint32_t)j, m);
        }
    }
    l2mi_nib_out(&a, k, g->out_c, o);
}

/* The table engine (contract in the file header), on any target. */
L2M_INLINE void l2mi_conv2d_nib_table(int mode, const l2m_geom *g, int32_t pad_one, const uint32_t *in, const uint32_t *w,
                                l2m_out o) {
    if (!l2mi_nib_fits(g, o) || L2M_WORDS(g->in_c) != 1) {
        l2mi_conv2d_packed(mode, g, pad_one, in, w, o);
        return;
    }
    const l2mi_masks m = l2mi_masks_make();
    const int32_t k = g->k_h * g->k_w * g->in_c;
    uint32_t t[L2MI_NIB_TAB];
    uint32_t win[L2M_PACKED_MAX_WORDS], mk[L2M_PACKED_MAX_WORDS];
    l2mi_nib_build(k, g->out_c, w, t);
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        const l2mi_wrow r = l2mi_row_at(g, oy);
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            const l2mi_pos p = l2mi_pos_at(g, r, ox);
            if (p.interior && g->in_c % 4 == 0) {
                l2mi_nib_direct(g, in + p.iy0 * g->in_w + p.ix0, g->in_w, t, o, m);
            } else if (p.interior || pad_one) {   /* outside taps are +1: bits 0, all bits count */
                (void)l2mi_pack_window(g, in, p.iy0, p.ix0, p.interior, win, NULL);
                l2mi_nib_packed(win, k, g->out_c, t, o, m);
            } else {
                const int32_t inside = l2mi_pack_window(g, in, p.iy0, p.ix0, 0, win, mk);
                l2mi_window(mode, win, mk, 0, 1, L2M_WORDS(k), inside * g->in_c, g->out_c, w, o, m);
            }
            o = l2m_out_next(o, g->out_c);
        }
    }
}

#if defined(__riscv) || defined(__XTENSA__) || defined(__xtensa__)
#define L2MI_NIB_IS_TABLE 0
#else
#define L2MI_NIB_IS_TABLE 1
#endif

/* Entry point (contract in the file header): the table engine, except on RISC-V and Xtensa,
 * where the XOR+popcount engine (l2mi_conv2d_packed) was measured faster (no bit-field extract;
 * the table loads cost more there than the popcounts). On Thumb-2 the table engine was measured
 * 2.1x faster on the Bi-Real-style and seed-CNN 16-filter convs (bench/LAYERCHOICE.md); hosts
 * run it too, so that the host tests and the fuzz campaign check it. */
L2M_INLINE void l2mi_conv2d_nib(int mode, const l2m_geom *g, int32_t pad_one, const uint32_t *in, const uint32_t *w,
                                l2m_out o) {
#if L2MI_NIB_IS_TABLE
    l2mi_conv2d_nib_table(mode, g, pad_one, in, w, o);
#else
    l2mi_conv2d_packed(mode, g, pad_one, in, w, o);
#endif
}

#endif /* L2M_NIB_IMPL_H */
