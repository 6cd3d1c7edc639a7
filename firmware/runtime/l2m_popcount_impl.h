/* larq2mcu runtime — XOR + popcount over runs of packed words: the counting core of the binary
 * engine (l2m_binary_impl.h), as always-inline functions selected by a compile-time `mode`.
 *
 *   L2M_MODE_BUILTIN  popcount(a ^ w) per word with __builtin_popcount (one instruction where the
 *                     ISA has it; a libgcc call elsewhere).
 *   L2M_MODE_CSA      rows of up to 30 words (conv windows): a carry-save adder turns 3 XOR
 *                     words into (h, l) with value 2h + l (5 ops instead of 2 popcounts); l and
 *                     h are counted per 4-bit field, combined, widened to bytes (<= 24 per byte
 *                     per triple) and accumulated in one word whose bytes are summed only when
 *                     they could overflow. Longer rows (dense layers): Harley-Seal, 8 words per
 *                     step through 7 carry-save adders, one popcount per step.
 *   L2M_MODE_USAD     L2M_MODE_CSA, but byte counts are added to the total by USADA8.
 * Variant names map to modes below (L2M_MODE_HS, _USAD8, _ZBB, _HW): a variant whose ISA feature
 * is missing falls back to the carry-save code. The SWAR masks are kept in registers on Arm
 * (shifted-operand ANDs). Internal header: names are l2mi_*, not part of the kernel API.
 */
#ifndef L2M_POPCOUNT_IMPL_H
#define L2M_POPCOUNT_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "l2m_kernels.h"

#if defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32
#include <arm_acle.h>
#define L2M_HAVE_USADA8 1
#else
#define L2M_HAVE_USADA8 0
#endif

/* Targets where __builtin_popcount is a single instruction (given the right -m flags). */
#if defined(__POPCNT__) || defined(__aarch64__) || defined(__riscv_zbb)
#define L2M_HW_POPCOUNT 1
#else
#define L2M_HW_POPCOUNT 0
#endif

#define L2M_MODE_BUILTIN 0
#define L2M_MODE_CSA 1
#define L2M_MODE_USAD 2

#define L2M_MODE_HS L2M_MODE_CSA
#define L2M_MODE_USAD8 (L2M_HAVE_USADA8 ? L2M_MODE_USAD : L2M_MODE_CSA)
#if defined(__riscv_zbb)
#define L2M_MODE_ZBB L2M_MODE_BUILTIN
#else
#define L2M_MODE_ZBB L2M_MODE_CSA
#endif
#define L2M_MODE_HW (L2M_HW_POPCOUNT ? L2M_MODE_BUILTIN : L2M_MODE_CSA)

/* The SWAR masks. On Arm they are made opaque to the compiler (an empty asm) so that they live in
 * registers: then (x >> k) & m is one AND with a shifted register operand instead of a shift and
 * an AND with an immediate, which saves a quarter of the popcount's instructions. */
typedef struct {
    uint32_t m1, m2, m4;   /* 0x55555555, 0x33333333, 0x0F0F0F0F */
} l2mi_masks;

L2M_INLINE l2mi_masks l2mi_masks_make(void) {
    l2mi_masks m = {0x55555555u, 0x33333333u, 0x0F0F0F0Fu};
#if defined(__arm__) && defined(__GNUC__)
    __asm__("" : "+r"(m.m1), "+r"(m.m2), "+r"(m.m4));
#endif
    return m;
}

L2M_INLINE int32_t l2mi_pc_builtin(uint32_t x) {
    return (int32_t)__builtin_popcount(x);
}

/* Per-4-bit-field popcount (each field 0..4). */
L2M_INLINE uint32_t l2mi_nib(uint32_t x, l2mi_masks m) {
    x = x - ((x >> 1) & m.m1);
    return (x & m.m2) + ((x >> 2) & m.m2);
}

/* Fields of 4 bits (each <= 15) summed pairwise into bytes. */
L2M_INLINE uint32_t l2mi_nib_to_bytes(uint32_t y, l2mi_masks m) {
    return (y & m.m4) + ((y >> 4) & m.m4);
}

/* Carry-save adder: a + b + c = 2 * (*h) + (*l), bit by bit. */
L2M_INLINE void l2mi_csa(uint32_t *h, uint32_t *l, uint32_t a, uint32_t b, uint32_t c) {
    const uint32_t u = a ^ b;
    *h = (a & b) | (u & c);
    *l = u ^ c;
}

/* Byte counts of popcount(x0) + popcount(x1) + popcount(x2), each byte <= 24: one carry-save
 * adder gives carries h (weight 2) and sums l (weight 1). */
L2M_INLINE uint32_t l2mi_triple_bytes(uint32_t x0, uint32_t x1, uint32_t x2, l2mi_masks m) {
    uint32_t h, l;
    l2mi_csa(&h, &l, x0, x1, x2);
    return l2mi_nib_to_bytes(l2mi_nib(l, m) + (l2mi_nib(h, m) << 1), m);   /* per nibble <= 4 + 8 */
}

/* Sum of the four bytes of b (each up to 255). */
L2M_INLINE int32_t l2mi_hsum_bytes(uint32_t b) {
    b = (b & 0x00FF00FFu) + ((b >> 8) & 0x00FF00FFu);
    return (int32_t)((b + (b >> 16)) & 0xFFFFu);
}

/* total + sum of the bytes of b, by USADA8 where the core has it. Only L2M_MODE_USAD calls it. */
L2M_INLINE int32_t l2mi_add_bytes(int32_t total, uint32_t b) {
#if L2M_HAVE_USADA8
    return (int32_t)__usada8(b, 0u, (uint32_t)total);
#else
    return total + l2mi_hsum_bytes(b);
#endif
}

/* total + the sum of the byte counters: one USADA8 in L2M_MODE_USAD (a one-word window on a
 * Cortex-M4 then pays 1 instruction for it instead of 6). */
L2M_INLINE int32_t l2mi_finish_bytes(int mode, int32_t total, uint32_t bytes) {
    return mode == L2M_MODE_USAD ? l2mi_add_bytes(total, bytes) : total + l2mi_hsum_bytes(bytes);
}

/* Word i of a ^ w, restricted to the bits set in mk[i] when mk is not NULL (always a compile-time
 * NULL or not after inlining: no test per word). */
L2M_INLINE uint32_t l2mi_x(const uint32_t *a, const uint32_t *w, const uint32_t *mk, int32_t i) {
    return mk != NULL ? (a[i] ^ w[i]) & mk[i] : a[i] ^ w[i];
}

/* One row of n words (n <= 30) into the counters: triples by carry-save, 0..2 words alone. */
L2M_INLINE void l2mi_row(int mode, const uint32_t *a, const uint32_t *w, const uint32_t *mk, int32_t n,
                         l2mi_masks m, int32_t *total, uint32_t *bytes) {
    const int32_t n3 = n - n % 3;
    int32_t i = 0;
    for (; i < n3; i += 3) {
        const uint32_t b = l2mi_triple_bytes(l2mi_x(a, w, mk, i), l2mi_x(a, w, mk, i + 1), l2mi_x(a, w, mk, i + 2), m);
        if (mode == L2M_MODE_USAD) {
            *total = l2mi_add_bytes(*total, b);
        } else {
            *bytes += b;
        }
    }
    for (; i < n; ++i) *bytes += l2mi_nib_to_bytes(l2mi_nib(l2mi_x(a, w, mk, i), m), m);
}

/* popcount((a ^ w) & mk) over `rows` rows of n words: row r of a (and of mk, when not NULL)
 * starts at a + r*as, w is contiguous. With constant sizes (layer-specialized code) the row loop
 * is unrolled and every overflow test below is decided at compile time. */
L2M_INLINE int32_t l2mi_xpc_rows_m(int mode, const uint32_t *a, const uint32_t *mk, int32_t as, const uint32_t *w,
                                   int32_t rows, int32_t n, l2mi_masks m) {
    int32_t total = 0;
    if (mode == L2M_MODE_BUILTIN) {
#pragma GCC unroll 8
        for (int32_t r = 0; r < rows; ++r, a += as, w += n, mk = mk != NULL ? mk + as : NULL) {
            for (int32_t i = 0; i < n; ++i) total += l2mi_pc_builtin(l2mi_x(a, w, mk, i));
        }
        return total;
    }
    /* Pending byte counts: every byte stays <= 255 - room (a word adds <= 8 per byte). Short rows
     * (<= 30 words, every conv row up to 320 channels at 3x3) go by word triples and test for
     * overflow once per row; longer ones take the Harley-Seal loop below. */
    uint32_t bytes = 0;
    if (rows * n <= 31) {   /* the whole window fits the byte counters: no overflow test at all */
#pragma GCC unroll 8
        for (int32_t r = 0; r < rows; ++r, a += as, w += n, mk = mk != NULL ? mk + as : NULL) {
            l2mi_row(mode, a, w, mk, n, m, &total, &bytes);
        }
        return l2mi_finish_bytes(mode, total, bytes);
    }
    if (n <= 30) {
        int32_t room = 255;
#pragma GCC unroll 8
        for (int32_t r = 0; r < rows; ++r, a += as, w += n, mk = mk != NULL ? mk + as : NULL) {
            if (room < 8 * n) {
                total = l2mi_finish_bytes(mode, total, bytes);
                bytes = 0;
                room = 255;
            }
            room -= 8 * n;
            l2mi_row(mode, a, w, mk, n, m, &total, &bytes);
        }
        return l2mi_finish_bytes(mode, total, bytes);
    }
    /* Long rows (dense layers): Harley-Seal, 8 words per step through a tree of 7 carry-save
     * adders into running ones/twos/fours; only the eights word is counted per step. */
    for (int32_t r = 0; r < rows; ++r, a += as, w += n, mk = mk != NULL ? mk + as : NULL) {
        uint32_t ones = 0, twos = 0, fours = 0, eights_bytes = 0;
        int32_t eights = 0, steps = 0;
        int32_t i = 0;
        for (; i + 8 <= n; i += 8) {
            uint32_t twos_a, twos_b, fours_a, fours_b, e;
            l2mi_csa(&twos_a, &ones, ones, l2mi_x(a, w, mk, i), l2mi_x(a, w, mk, i + 1));
            l2mi_csa(&twos_b, &ones, ones, l2mi_x(a, w, mk, i + 2), l2mi_x(a, w, mk, i + 3));
            l2mi_csa(&fours_a, &twos, twos, twos_a, twos_b);
            l2mi_csa(&twos_a, &ones, ones, l2mi_x(a, w, mk, i + 4), l2mi_x(a, w, mk, i + 5));
            l2mi_csa(&twos_b, &ones, ones, l2mi_x(a, w, mk, i + 6), l2mi_x(a, w, mk, i + 7));
            l2mi_csa(&fours_b, &twos, twos, twos_a, twos_b);
            l2mi_csa(&e, &fours, fours, fours_a, fours_b);
            if (mode == L2M_MODE_USAD) {
                eights = l2mi_add_bytes(eights, l2mi_nib_to_bytes(l2mi_nib(e, m), m));
            } else {
                eights_bytes += l2mi_nib_to_bytes(l2mi_nib(e, m), m);   /* <= 8 per byte per step */
                if (++steps == 31) {
                    eights += l2mi_hsum_bytes(eights_bytes);
                    eights_bytes = 0;
                    steps = 0;
                }
            }
        }
        /* ones + 2 twos + 4 fours per nibble <= 4 + 8 + 16: widened to bytes before the x4 */
        bytes = l2mi_nib_to_bytes(l2mi_nib(ones, m) + (l2mi_nib(twos, m) << 1), m) +
                (l2mi_nib_to_bytes(l2mi_nib(fours, m), m) << 2);            /* <= 24 + 32 per byte */
        for (; i < n; ++i) bytes += l2mi_nib_to_bytes(l2mi_nib(l2mi_x(a, w, mk, i), m), m);   /* + 7 x 8 */
        total += 8 * (eights + l2mi_hsum_bytes(eights_bytes)) + l2mi_hsum_bytes(bytes);
    }
    return total;
}

L2M_INLINE int32_t l2mi_xpc_rows(int mode, const uint32_t *a, int32_t as, const uint32_t *w, int32_t rows,
                                 int32_t n, l2mi_masks m) {
    return l2mi_xpc_rows_m(mode, a, NULL, as, w, rows, n, m);
}

/* Two filters against the same activation rows (L2M_MODE_BUILTIN): one activation load serves both. */
L2M_INLINE void l2mi_xpc_rows2(const uint32_t *a, const uint32_t *mk, int32_t as, const uint32_t *w0,
                               const uint32_t *w1, int32_t rows, int32_t n, int32_t *p0, int32_t *p1) {
    int32_t t0 = 0, t1 = 0;
#pragma GCC unroll 8
    for (int32_t r = 0; r < rows; ++r, a += as, w0 += n, w1 += n, mk = mk != NULL ? mk + as : NULL) {
        for (int32_t i = 0; i < n; ++i) {
            const uint32_t x = a[i];
            const uint32_t keep = mk != NULL ? mk[i] : 0xFFFFFFFFu;
            t0 += l2mi_pc_builtin((x ^ w0[i]) & keep);
            t1 += l2mi_pc_builtin((x ^ w1[i]) & keep);
        }
    }
    *p0 = t0;
    *p1 = t1;
}

L2M_INLINE int32_t l2mi_pc_words(int mode, const uint32_t *w, int32_t n) {
    int32_t pc = 0;
    for (int32_t i = 0; i < n; ++i) pc += mode == L2M_MODE_BUILTIN ? l2mi_pc_builtin(w[i]) : l2m_popcount32(w[i]);
    return pc;
}

/* popcount of n words: word triples through a carry-save adder, counted per byte (the
 * XOR-free form of l2mi_xpc_rows_m; a popcount instruction where the mode has one). */
L2M_INLINE int32_t l2mi_pc_run(int mode, const uint32_t *a, int32_t n) {
    if (mode == L2M_MODE_BUILTIN) return l2mi_pc_words(mode, a, n);
    const l2mi_masks mk = l2mi_masks_make();
    const int32_t n3 = n - n % 3;
    int32_t total = 0, room = 255;
    uint32_t bytes = 0;
#pragma GCC unroll 4
    for (int32_t i = 0; i < n3; i += 3) {
        if (room < 24) {
            total += l2mi_hsum_bytes(bytes);
            bytes = 0;
            room = 255;
        }
        bytes += l2mi_triple_bytes(a[i], a[i + 1], a[i + 2], mk);
        room -= 24;
    }
    if (room < 16) {   /* the 0..2 words left add up to 8 each per byte */
        total += l2mi_hsum_bytes(bytes);
        bytes = 0;
    }
    for (int32_t i = n3; i < n; ++i) bytes += l2mi_nib_to_bytes(l2mi_nib(a[i], mk), mk);
    return total + l2mi_hsum_bytes(bytes);
}

#endif /* L2M_POPCOUNT_IMPL_H */
