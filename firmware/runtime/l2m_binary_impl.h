/* larq2mcu runtime — the binary dot-product engine behind l2m_kernels_opt.h, as always-inline
 * functions so that it can be instantiated twice:
 *   - l2m_binary_opt.c: the exported variant kernels (l2m_conv2d_b32_b32_usad8, ...), geometry
 *     read at run time;
 *   - generated model code: one static function per binary layer that calls l2mi_conv2d /
 *     l2mi_dense with the layer's geometry as compile-time constants, so the compiler unrolls
 *     the window (k_h rows of k_w*L2M_WORDS(in_c) words), drops the overflow tests that the sizes
 *     rule out and resolves every border test of interior pixels — same arithmetic, same results
 *     (tested bit-identical to the _ref kernels).
 *
 * Strategy, chosen by a compile-time `mode` constant after inlining:
 *   L2M_MODE_BUILTIN  popcount(a ^ w) per word with __builtin_popcount (one instruction where the
 *                     ISA has it; a libgcc call elsewhere), two output channels per pass.
 *   L2M_MODE_CSA      rows of up to 30 words (conv windows): a carry-save adder turns 3 XOR
 *                     words into (h, l) with value 2h + l (5 ops instead of 2 popcounts); l and
 *                     h are counted per 4-bit field, combined, widened to bytes (<= 24 per byte
 *                     per triple) and accumulated in one word whose bytes are summed only when
 *                     they could overflow. Longer rows (dense layers): Harley-Seal, 8 words per
 *                     step through 7 carry-save adders, one popcount per step.
 *   L2M_MODE_USAD     L2M_MODE_CSA, but byte counts are added to the total by USADA8.
 * The SWAR masks are kept in registers on Arm (shifted-operand ANDs).
 * Interior windows (no tap outside the image) read k_h rows of k_w*nw contiguous words without
 * bounds checks; a border window is first copied to the stack (taps outside read as bits 0, with
 * a mask word per tap for zero padding) so that it takes the same unrolled path; a window larger
 * than that copy (L2MI_WIN_MAX words) is computed tap by tap like the reference does.
 * Threshold bits are assembled 32 at a time without branches.
 *
 * Contract of l2mi_conv2d / l2mi_dense / l2mi_conv2d_rows: those of the _ref kernels
 * (l2m_kernels.h), plus `mode`; exactly one of obits (threshold bits, thr != NULL) and of (floats,
 * bias may be NULL) non-NULL. Stack: up to 2 * L2MI_WIN_MAX words (512 bytes) for the border copy
 * (one copy of 256 bytes when pad_one is a constant 1). No heap, no globals, reentrant.
 * Internal header: names are l2mi_*, not part of the kernel API.
 */
#ifndef L2M_BINARY_IMPL_H
#define L2M_BINARY_IMPL_H

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

#if defined(__GNUC__)
#define L2M_INLINE static inline __attribute__((always_inline))
#define L2M_NOINLINE __attribute__((noinline))
#else
#define L2M_INLINE static inline
#define L2M_NOINLINE
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

/* Byte counts of popcount(x0) + popcount(x1) + popcount(x2), each byte <= 24. */
L2M_INLINE uint32_t l2mi_triple_bytes(uint32_t x0, uint32_t x1, uint32_t x2, l2mi_masks m) {
    const uint32_t u = x0 ^ x1;
    const uint32_t h = (x0 & x1) | (u & x2);   /* carries, weight 2 */
    const uint32_t l = u ^ x2;                 /* sums, weight 1 */
    return l2mi_nib_to_bytes(l2mi_nib(l, m) + (l2mi_nib(h, m) << 1), m);   /* per nibble <= 4 + 8 */
}

/* Carry-save adder: a + b + c = 2 * (*h) + (*l), bit by bit. */
L2M_INLINE void l2mi_csa(uint32_t *h, uint32_t *l, uint32_t a, uint32_t b, uint32_t c) {
    const uint32_t u = a ^ b;
    *h = (a & b) | (u & c);
    *l = u ^ c;
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
        return total + l2mi_hsum_bytes(bytes);
    }
    if (n <= 30) {
        int32_t room = 255;
#pragma GCC unroll 8
        for (int32_t r = 0; r < rows; ++r, a += as, w += n, mk = mk != NULL ? mk + as : NULL) {
            if (room < 8 * n) {
                total += l2mi_hsum_bytes(bytes);
                bytes = 0;
                room = 255;
            }
            room -= 8 * n;
            l2mi_row(mode, a, w, mk, n, m, &total, &bytes);
        }
        return total + l2mi_hsum_bytes(bytes);
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

/* Accumulator of a window with taps outside the image (same arithmetic as the reference), one
 * kernel row at a time: the taps of a row inside the image are contiguous words. */
L2M_INLINE int32_t l2mi_border_acc(int mode, const l2m_geom *g, int32_t pad_one, const uint32_t *in,
                                   const uint32_t *wf, int32_t iy0, int32_t ix0, l2mi_masks m) {
    const int32_t nw = L2M_WORDS(g->in_c);
    const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
    const int32_t kx1 = ix0 + g->k_w > g->in_w ? g->in_w - ix0 : g->k_w;
    const int32_t n_in = kx1 > kx0 ? kx1 - kx0 : 0;
    int32_t acc = 0;
    for (int32_t ky = 0; ky < g->k_h; ++ky, wf += g->k_w * nw) {
        const int32_t iy = iy0 + ky;
        int32_t outside = g->k_w;
        if (iy >= 0 && iy < g->in_h && n_in > 0) {
            acc += n_in * g->in_c - 2 * l2mi_xpc_rows(mode, in + (iy * g->in_w + ix0 + kx0) * nw, 0, wf + kx0 * nw,
                                                      1, n_in * nw, m);
            outside -= n_in;
            if (pad_one) {   /* a padded +1 tap has bits 0: the XOR is the weight */
                acc += outside * g->in_c - 2 * (l2mi_pc_words(mode, wf, kx0 * nw) +
                                                l2mi_pc_words(mode, wf + (kx0 + n_in) * nw, (g->k_w - kx0 - n_in) * nw));
            }
        } else if (pad_one) {
            acc += g->k_w * g->in_c - 2 * l2mi_pc_words(mode, wf, g->k_w * nw);
        }
    }
    return acc;
}

/* Output channel j of a block of 32 starting at oc0: its threshold bit into *cur (thr != NULL),
 * else a float (+ bias) at *of. (thr, not of, decides: it is a literal NULL in float-output
 * instantiations, so the dead branch is gone at compile time.) */
L2M_INLINE void l2mi_put(int32_t acc, int32_t oc0, int32_t j, const int32_t *thr, const float *bias, uint32_t *cur,
                         float **of) {
    if (thr != NULL) {
        *cur |= (uint32_t)(acc < thr[oc0 + j]) << (uint32_t)j;
    } else if (*of != NULL) {   /* always true here; stated for static analyzers */
        *(*of)++ = (float)acc + (bias ? bias[oc0 + j] : 0.0f);
    }
}

/* Every output channel of one window, in order, threshold bits assembled 32 at a time without
 * branches. The window is `rows` rows of n words, row r at src + r*as; mk (same layout, or NULL)
 * masks out taps that must not count; k = number of bits that count. Where popcount is one
 * instruction two filters go per pass, so each activation word is loaded once for both. */
L2M_INLINE void l2mi_window(int mode, const uint32_t *src, const uint32_t *mk, int32_t as, int32_t rows, int32_t n,
                            int32_t k, int32_t out_c, const uint32_t *w, const int32_t *thr, const float *bias,
                            uint32_t **obits, float **of, l2mi_masks m) {
    const int32_t fw = rows * n;
    for (int32_t oc0 = 0; oc0 < out_c; oc0 += 32) {
        const int32_t nb = out_c - oc0 < 32 ? out_c - oc0 : 32;
        const uint32_t *wb = w + oc0 * fw;
        uint32_t cur = 0;
        int32_t j = 0;
        if (mode == L2M_MODE_BUILTIN) {
            for (; j + 1 < nb; j += 2) {
                int32_t p0, p1;
                l2mi_xpc_rows2(src, mk, as, wb + j * fw, wb + (j + 1) * fw, rows, n, &p0, &p1);
                l2mi_put(k - 2 * p0, oc0, j, thr, bias, &cur, of);
                l2mi_put(k - 2 * p1, oc0, j + 1, thr, bias, &cur, of);
            }
        }
        for (; j < nb; ++j) {
            l2mi_put(k - 2 * l2mi_xpc_rows_m(mode, src, mk, as, wb + j * fw, rows, n, m), oc0, j, thr, bias, &cur, of);
        }
        if (thr != NULL && *obits != NULL) *(*obits)++ = cur;
    }
}

/* Border window too large for the on-stack copy: per filter, tap by tap (l2mi_border_acc). */
L2M_INLINE void l2mi_window_border(int mode, const l2m_geom *g, int32_t pad_one, const uint32_t *in,
                                   const uint32_t *w, int32_t iy0, int32_t ix0, const int32_t *thr,
                                   const float *bias, uint32_t **obits, float **of, l2mi_masks m) {
    const int32_t fw = g->k_h * g->k_w * L2M_WORDS(g->in_c);
    for (int32_t oc0 = 0; oc0 < g->out_c; oc0 += 32) {
        const int32_t nb = g->out_c - oc0 < 32 ? g->out_c - oc0 : 32;
        uint32_t cur = 0;
        for (int32_t j = 0; j < nb; ++j) {
            l2mi_put(l2mi_border_acc(mode, g, pad_one, in, w + (oc0 + j) * fw, iy0, ix0, m), oc0, j, thr, bias, &cur, of);
        }
        if (thr != NULL && *obits != NULL) *(*obits)++ = cur;
    }
}

/* Words of the on-stack window copy that border pixels use (256 bytes of stack). */
#define L2MI_WIN_MAX 64

/* Copy of the window at (iy0, ix0) into win (k_h*k_w*L2M_WORDS(in_c) <= L2MI_WIN_MAX words, tap
 * after tap): a tap outside the image reads as bits 0 (= +1, the pad_one value) and gets mask
 * words 0 in mk, unless mk is NULL (so that zero padding can drop it). Returns the number of
 * taps inside. */
L2M_INLINE int32_t l2mi_gather(const l2m_geom *g, const uint32_t *in, int32_t iy0, int32_t ix0, uint32_t *win,
                               uint32_t *mk) {
    const int32_t nw = L2M_WORDS(g->in_c);
    int32_t t = 0, taps = 0;
    for (int32_t ky = 0; ky < g->k_h; ++ky) {
        const int32_t iy = iy0 + ky;
        for (int32_t kx = 0; kx < g->k_w; ++kx) {
            const int32_t ix = ix0 + kx;
            const int ok = iy >= 0 && iy < g->in_h && ix >= 0 && ix < g->in_w;
            const uint32_t *p = in + (ok ? (iy * g->in_w + ix) * nw : 0);
            for (int32_t c = 0; c < nw; ++c, ++t) {
                win[t] = ok ? p[c] : 0u;
                if (mk != NULL) mk[t] = ok ? 0xFFFFFFFFu : 0u;
            }
            taps += ok;
        }
    }
    return taps;
}

L2M_INLINE void l2mi_conv_impl(int mode, const l2m_geom *g, int32_t pad_one, const uint32_t *in,
                               const uint32_t *w, const int32_t *thr, const float *bias, uint32_t *obits,
                               float *of) {
    const l2mi_masks m = l2mi_masks_make();
    const int32_t nw = L2M_WORDS(g->in_c);
    const int32_t n = g->k_w * nw;              /* words of one kernel row */
    const int32_t as = g->in_w * nw;            /* words between input rows */
    const int32_t k = g->k_h * g->k_w * g->in_c;
    uint32_t win[L2MI_WIN_MAX], mk[L2MI_WIN_MAX];
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        const int32_t iy0 = oy * g->stride_h - g->pad_top;
        const int yin = iy0 >= 0 && iy0 + g->k_h <= g->in_h;
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            const int32_t ix0 = ox * g->stride_w - g->pad_left;
            if (yin && ix0 >= 0 && ix0 + g->k_w <= g->in_w) {
                l2mi_window(mode, in + (iy0 * g->in_w + ix0) * nw, NULL, as, g->k_h, n, k, g->out_c, w, thr, bias,
                            &obits, &of, m);
            } else if (g->k_h * n > L2MI_WIN_MAX) {
                l2mi_window_border(mode, g, pad_one, in, w, iy0, ix0, thr, bias, &obits, &of, m);
            } else {
                if (pad_one) {   /* padded taps are +1: bits 0, counted like any tap */
                    (void)l2mi_gather(g, in, iy0, ix0, win, NULL);
                    l2mi_window(mode, win, NULL, n, g->k_h, n, k, g->out_c, w, thr, bias, &obits, &of, m);
                } else {         /* zero padding: padded taps add nothing */
                    const int32_t taps = l2mi_gather(g, in, iy0, ix0, win, mk);
                    l2mi_window(mode, win, mk, n, g->k_h, n, taps * g->in_c, g->out_c, w, thr, bias, &obits, &of, m);
                }
            }
        }
    }
}

L2M_INLINE void l2mi_dense_impl(int mode, int32_t groups, int32_t c, int32_t out_n, const uint32_t *in,
                                const uint32_t *w, const int32_t *thr, const float *bias, uint32_t *obits,
                                float *of) {
    l2mi_window(mode, in, NULL, 0, 1, groups * L2M_WORDS(c), groups * c, out_n, w, thr, bias, &obits, &of,
                l2mi_masks_make());
}

/* Few-channel conv (contract of l2m_conv2d_rows_b32_{b32,f32}_ref in l2m_kernels.h, layout of
 * l2m_rows.c: filter = k_h words, bit kx*in_c + c of word ky). Per pixel the k_h window rows are
 * gathered once into one word each — bits, and for zero padding a mask of the taps inside —
 * then every filter is one run of k_h masked XOR words through the mode's popcount. Accumulator:
 * (bits that count) - 2 * popcount, the reference's sum of per-row terms regrouped (integers). */
L2M_INLINE void l2mi_conv2d_rows(int mode, const l2m_geom *g, int32_t pad_one, const uint32_t *in,
                                 const uint32_t *w, const int32_t *thr, const float *bias, uint32_t *obits,
                                 float *of) {
    const l2mi_masks m = l2mi_masks_make();
    const uint32_t cmask = g->in_c >= 32 ? 0xFFFFFFFFu : ((1u << (uint32_t)g->in_c) - 1u);
    uint32_t rw[L2M_ROWS_MAX_KH], rm[L2M_ROWS_MAX_KH];
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        const int32_t iy0 = oy * g->stride_h - g->pad_top;
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            const int32_t ix0 = ox * g->stride_w - g->pad_left;
            int32_t inside = 0;   /* taps inside the image */
#pragma GCC unroll 16
            for (int32_t ky = 0; ky < g->k_h; ++ky) {
                const int32_t iy = iy0 + ky;
                uint32_t r = 0, mk = 0;
                if (iy >= 0 && iy < g->in_h) {
#pragma GCC unroll 32
                    for (int32_t kx = 0; kx < g->k_w; ++kx) {
                        const int32_t ix = ix0 + kx;
                        if (ix >= 0 && ix < g->in_w) {
                            const uint32_t sh = (uint32_t)(kx * g->in_c) & 31u;
                            r |= in[iy * g->in_w + ix] << sh;   /* pad bits are 0: no masking */
                            mk |= cmask << sh;
                            ++inside;
                        }
                    }
                }
                rw[ky] = r;
                rm[ky] = mk;
            }
            if (pad_one) {   /* outside taps are +1: bits 0 against the weight, all taps count */
                l2mi_window(mode, rw, NULL, 0, 1, g->k_h, g->k_h * g->k_w * g->in_c, g->out_c, w, thr, bias, &obits,
                            &of, m);
            } else {
                l2mi_window(mode, rw, rm, 0, 1, g->k_h, inside * g->in_c, g->out_c, w, thr, bias, &obits, &of, m);
            }
        }
    }
}

/* Entry points (see the header comment). */
L2M_INLINE void l2mi_conv2d(int mode, const l2m_geom *g, int32_t pad_one, const uint32_t *in, const uint32_t *w,
                            const int32_t *thr, const float *bias, uint32_t *obits, float *of) {
    l2mi_conv_impl(mode, g, pad_one, in, w, thr, bias, obits, of);
}

L2M_INLINE void l2mi_dense(int mode, int32_t groups, int32_t c, int32_t out_n, const uint32_t *in,
                           const uint32_t *w, const int32_t *thr, const float *bias, uint32_t *obits, float *of) {
    l2mi_dense_impl(mode, groups, c, out_n, in, w, thr, bias, obits, of);
}

#endif /* L2M_BINARY_IMPL_H */
