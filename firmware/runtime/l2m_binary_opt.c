/* larq2mcu runtime — optimized binary conv/dense kernels (contracts in l2m_kernels_opt.h).
 *
 * One generic implementation, specialised per variant by a compile-time `mode` that is constant
 * after inlining (always_inline), so each exported function is straight code for one strategy:
 *   MODE_BUILTIN  popcount(a ^ w) per word with __builtin_popcount (one instruction where the ISA
 *                 has it; a libgcc call elsewhere), two output channels per pass.
 *   MODE_CSA      a carry-save adder turns 3 XOR words into (h, l) with value 2h + l (5 ops
 *                 instead of 2 popcounts); l and h are counted per 4-bit field, combined, widened
 *                 to bytes (<= 24 per byte per triple) and accumulated in one word whose bytes are
 *                 summed only when they could overflow: about a third of a popcount per word.
 *   MODE_USAD     MODE_CSA, but each triple's byte counts are added to the total by USADA8.
 * Interior windows (no tap outside the image) read k_h rows of k_w*nw contiguous words without
 * bounds checks; border windows test each tap like the reference does.
 */
#include <stddef.h>

#include "l2m_kernels_opt.h"

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
#else
#define L2M_INLINE static inline
#endif

#define MODE_BUILTIN 0
#define MODE_CSA 1
#define MODE_USAD 2

#define MODE_HS MODE_CSA
#define MODE_USAD8 (L2M_HAVE_USADA8 ? MODE_USAD : MODE_CSA)
#if defined(__riscv_zbb)
#define MODE_ZBB MODE_BUILTIN
#else
#define MODE_ZBB MODE_CSA
#endif
#define MODE_HW (L2M_HW_POPCOUNT ? MODE_BUILTIN : MODE_CSA)

L2M_INLINE int32_t pc_builtin(uint32_t x) {
    return (int32_t)__builtin_popcount(x);
}

/* Per-4-bit-field popcount (each field 0..4). */
L2M_INLINE uint32_t nib(uint32_t x) {
    x = x - ((x >> 1) & 0x55555555u);
    return (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
}

/* Fields of 4 bits (each <= 15) summed pairwise into bytes. */
L2M_INLINE uint32_t nib_to_bytes(uint32_t y) {
    return (y & 0x0F0F0F0Fu) + ((y >> 4) & 0x0F0F0F0Fu);
}

/* Byte counts of popcount(x0) + popcount(x1) + popcount(x2), each byte <= 24. */
L2M_INLINE uint32_t triple_bytes(uint32_t x0, uint32_t x1, uint32_t x2) {
    const uint32_t u = x0 ^ x1;
    const uint32_t h = (x0 & x1) | (u & x2);   /* carries, weight 2 */
    const uint32_t l = u ^ x2;                 /* sums, weight 1 */
    return nib_to_bytes(nib(l) + (nib(h) << 1));   /* per nibble <= 4 + 8 */
}

/* Sum of the four bytes of b (each up to 255). */
L2M_INLINE int32_t hsum_bytes(uint32_t b) {
    b = (b & 0x00FF00FFu) + ((b >> 8) & 0x00FF00FFu);
    return (int32_t)((b + (b >> 16)) & 0xFFFFu);
}

/* total + sum of the bytes of b, by USADA8 where the core has it. Only MODE_USAD calls it. */
L2M_INLINE int32_t add_bytes(int32_t total, uint32_t b) {
#if L2M_HAVE_USADA8
    return (int32_t)__usada8(b, 0u, (uint32_t)total);
#else
    return total + hsum_bytes(b);
#endif
}

/* popcount(a ^ w) over `rows` rows of n words: row r of a starts at a + r*as, w is contiguous. */
L2M_INLINE int32_t xpc_rows(int mode, const uint32_t *a, int32_t as, const uint32_t *w, int32_t rows,
                            int32_t n) {
    int32_t total = 0;
    if (mode == MODE_BUILTIN) {
        for (int32_t r = 0; r < rows; ++r, a += as, w += n) {
            for (int32_t i = 0; i < n; ++i) total += pc_builtin(a[i] ^ w[i]);
        }
        return total;
    }
    /* Pending byte counts: every byte stays <= 255 - room (a word adds <= 8 per byte). Short rows
     * (<= 30 words, every conv row up to 320 channels at 3x3) test for overflow once per row;
     * longer ones are cut into 27-word chunks (+ a 2-word tail: <= 232). No test runs per triple. */
    uint32_t bytes = 0;
    const int32_t n3 = n - n % 3;
    if (rows * n <= 31) {   /* the whole window fits the byte counters: no overflow test at all */
        for (int32_t r = 0; r < rows; ++r, a += as, w += n) {
            int32_t i = 0;
            for (; i < n3; i += 3) {
                const uint32_t b = triple_bytes(a[i] ^ w[i], a[i + 1] ^ w[i + 1], a[i + 2] ^ w[i + 2]);
                if (mode == MODE_USAD) {
                    total = add_bytes(total, b);
                } else {
                    bytes += b;
                }
            }
            for (; i < n; ++i) bytes += nib_to_bytes(nib(a[i] ^ w[i]));   /* 0..2 words */
        }
        return total + hsum_bytes(bytes);
    }
    if (n <= 30) {
        int32_t room = 255;
        for (int32_t r = 0; r < rows; ++r, a += as, w += n) {
            if (room < 8 * n) {
                total += hsum_bytes(bytes);
                bytes = 0;
                room = 255;
            }
            room -= 8 * n;
            int32_t i = 0;
            for (; i < n3; i += 3) {
                const uint32_t b = triple_bytes(a[i] ^ w[i], a[i + 1] ^ w[i + 1], a[i + 2] ^ w[i + 2]);
                if (mode == MODE_USAD) {
                    total = add_bytes(total, b);
                } else {
                    bytes += b;
                }
            }
            for (; i < n; ++i) bytes += nib_to_bytes(nib(a[i] ^ w[i]));   /* 0..2 words */
        }
        return total + hsum_bytes(bytes);
    }
    for (int32_t r = 0; r < rows; ++r, a += as, w += n) {
        for (int32_t i = 0; i < n;) {
            const int32_t end3 = i + 27 <= n3 ? i + 27 : n3;   /* 9 triples: <= 216 per byte */
            total += hsum_bytes(bytes);
            bytes = 0;
            for (; i < end3; i += 3) {
                const uint32_t b = triple_bytes(a[i] ^ w[i], a[i + 1] ^ w[i + 1], a[i + 2] ^ w[i + 2]);
                if (mode == MODE_USAD) {
                    total = add_bytes(total, b);
                } else {
                    bytes += b;
                }
            }
            if (i == n3) {
                for (; i < n; ++i) bytes += nib_to_bytes(nib(a[i] ^ w[i]));   /* 0..2 words */
            }
        }
    }
    return total + hsum_bytes(bytes);
}

/* Two filters against the same activation rows (MODE_BUILTIN): one activation load serves both. */
L2M_INLINE void xpc_rows2(const uint32_t *a, int32_t as, const uint32_t *w0, const uint32_t *w1,
                          int32_t rows, int32_t n, int32_t *p0, int32_t *p1) {
    int32_t t0 = 0, t1 = 0;
    for (int32_t r = 0; r < rows; ++r, a += as, w0 += n, w1 += n) {
        for (int32_t i = 0; i < n; ++i) {
            const uint32_t x = a[i];
            t0 += pc_builtin(x ^ w0[i]);
            t1 += pc_builtin(x ^ w1[i]);
        }
    }
    *p0 = t0;
    *p1 = t1;
}

L2M_INLINE int32_t pc_words(int mode, const uint32_t *w, int32_t n) {
    int32_t pc = 0;
    for (int32_t i = 0; i < n; ++i) pc += mode == MODE_BUILTIN ? pc_builtin(w[i]) : l2m_popcount32(w[i]);
    return pc;
}

/* Accumulator of a window with taps outside the image (same arithmetic as the reference), one
 * kernel row at a time: the taps of a row inside the image are contiguous words. */
L2M_INLINE int32_t border_acc(int mode, const l2m_geom *g, int32_t pad_one, const uint32_t *in,
                              const uint32_t *wf, int32_t iy0, int32_t ix0) {
    const int32_t nw = L2M_WORDS(g->in_c);
    const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
    const int32_t kx1 = ix0 + g->k_w > g->in_w ? g->in_w - ix0 : g->k_w;
    const int32_t n_in = kx1 > kx0 ? kx1 - kx0 : 0;
    int32_t acc = 0;
    for (int32_t ky = 0; ky < g->k_h; ++ky, wf += g->k_w * nw) {
        const int32_t iy = iy0 + ky;
        int32_t outside = g->k_w;
        if (iy >= 0 && iy < g->in_h && n_in > 0) {
            acc += n_in * g->in_c - 2 * xpc_rows(mode, in + (iy * g->in_w + ix0 + kx0) * nw, 0, wf + kx0 * nw, 1,
                                                 n_in * nw);
            outside -= n_in;
            if (pad_one) {   /* a padded +1 tap has bits 0: the XOR is the weight */
                acc += outside * g->in_c - 2 * (pc_words(mode, wf, kx0 * nw) +
                                                pc_words(mode, wf + (kx0 + n_in) * nw, (g->k_w - kx0 - n_in) * nw));
            }
        } else if (pad_one) {
            acc += g->k_w * g->in_c - 2 * pc_words(mode, wf, g->k_w * nw);
        }
    }
    return acc;
}

/* Store output channel oc: a threshold bit into *cur (flushed every 32 channels and at the end)
 * when obits is set, else a float. */
L2M_INLINE void emit(int32_t acc, int32_t oc, int32_t out_c, const int32_t *thr, const float *bias,
                     uint32_t **obits, uint32_t *cur, float **of) {
    if (*obits != NULL) {
        if (acc < thr[oc]) *cur |= 1u << (uint32_t)(oc & 31);
        if ((oc & 31) == 31 || oc == out_c - 1) {
            *(*obits)++ = *cur;
            *cur = 0;
        }
    } else if (*of != NULL) {   /* always true here; stated for static analyzers */
        *(*of)++ = (float)acc + (bias ? bias[oc] : 0.0f);
    }
}

/* Accumulators of every output channel for one window, emitted in order. `base` is the window's
 * top-left word when interior (rows of n words, stride as), else NULL and border_acc is used. */
L2M_INLINE void window(int mode, const l2m_geom *g, int32_t pad_one, const uint32_t *in, const uint32_t *w,
                       const uint32_t *base, int32_t as, int32_t rows, int32_t n, int32_t k, int32_t out_c,
                       int32_t iy0, int32_t ix0, const int32_t *thr, const float *bias, uint32_t **obits,
                       float **of) {
    const int32_t fw = rows * n;
    uint32_t cur = 0;
    int32_t oc = 0;
    if (base != NULL && mode == MODE_BUILTIN) {
        for (; oc + 1 < out_c; oc += 2) {
            int32_t p0, p1;
            xpc_rows2(base, as, w + oc * fw, w + (oc + 1) * fw, rows, n, &p0, &p1);
            emit(k - 2 * p0, oc, out_c, thr, bias, obits, &cur, of);
            emit(k - 2 * p1, oc + 1, out_c, thr, bias, obits, &cur, of);
        }
    }
    for (; oc < out_c; ++oc) {
        const int32_t acc = base != NULL ? k - 2 * xpc_rows(mode, base, as, w + oc * fw, rows, n)
                                         : border_acc(mode, g, pad_one, in, w + oc * fw, iy0, ix0);
        emit(acc, oc, out_c, thr, bias, obits, &cur, of);
    }
}

L2M_INLINE void conv_impl(int mode, const l2m_geom *g, int32_t pad_one, const uint32_t *in, const uint32_t *w,
                          const int32_t *thr, const float *bias, uint32_t *obits, float *of) {
    const int32_t nw = L2M_WORDS(g->in_c);
    const int32_t n = g->k_w * nw;              /* words of one kernel row */
    const int32_t as = g->in_w * nw;            /* words between input rows */
    const int32_t k = g->k_h * g->k_w * g->in_c;
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        const int32_t iy0 = oy * g->stride_h - g->pad_top;
        const int yin = iy0 >= 0 && iy0 + g->k_h <= g->in_h;
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            const int32_t ix0 = ox * g->stride_w - g->pad_left;
            const int inside = yin && ix0 >= 0 && ix0 + g->k_w <= g->in_w;
            const uint32_t *base = inside ? in + (iy0 * g->in_w + ix0) * nw : NULL;
            window(mode, g, pad_one, in, w, base, as, g->k_h, n, k, g->out_c, iy0, ix0, thr, bias, &obits, &of);
        }
    }
}

L2M_INLINE void dense_impl(int mode, int32_t groups, int32_t c, int32_t out_n, const uint32_t *in,
                           const uint32_t *w, const int32_t *thr, const float *bias, uint32_t *obits, float *of) {
    /* a dense layer is one interior window; the geometry is never read (base != NULL), but a real
     * object keeps static analyzers from following a NULL into border_acc */
    const l2m_geom none = {0};
    window(mode, &none, 0, in, w, in, 0, 1, groups * L2M_WORDS(c), groups * c, out_n, 0, 0, thr, bias, &obits, &of);
}

#define L2M_OPT_DEFINE(V, MODE)                                                                      \
    void l2m_conv2d_b32_f32_##V(const l2m_geom *g, int32_t pad_one, const uint32_t *in,               \
                                const uint32_t *w, const float *bias, float *out) {                   \
        conv_impl(MODE, g, pad_one, in, w, NULL, bias, NULL, out);                                   \
    }                                                                                                \
    void l2m_conv2d_b32_b32_##V(const l2m_geom *g, int32_t pad_one, const uint32_t *in,               \
                                const uint32_t *w, const int32_t *thr, uint32_t *out) {               \
        conv_impl(MODE, g, pad_one, in, w, thr, NULL, out, NULL);                                    \
    }                                                                                                \
    void l2m_dense_b32_f32_##V(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in,         \
                               const uint32_t *w, const float *bias, float *out) {                    \
        dense_impl(MODE, groups, c, out_n, in, w, NULL, bias, NULL, out);                            \
    }                                                                                                \
    void l2m_dense_b32_b32_##V(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in,         \
                               const uint32_t *w, const int32_t *thr, uint32_t *out) {                \
        dense_impl(MODE, groups, c, out_n, in, w, thr, NULL, out, NULL);                             \
    }

L2M_OPT_DEFINE(hs, MODE_HS)
L2M_OPT_DEFINE(usad8, MODE_USAD8)
L2M_OPT_DEFINE(zbb, MODE_ZBB)
L2M_OPT_DEFINE(hw, MODE_HW)
L2M_OPT_DEFINE(builtin, MODE_BUILTIN)

int32_t l2m_opt_xor_popcount(int32_t mode, const uint32_t *a, const uint32_t *w, int32_t n) {
    switch (mode) {
    case 0: return xpc_rows(MODE_HS, a, 0, w, 1, n);
    case 1: return xpc_rows(MODE_USAD8, a, 0, w, 1, n);
    case 2: return xpc_rows(MODE_ZBB, a, 0, w, 1, n);
    case 3: return xpc_rows(MODE_HW, a, 0, w, 1, n);
    default: return xpc_rows(MODE_BUILTIN, a, 0, w, 1, n);
    }
}
