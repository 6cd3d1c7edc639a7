/* larq2mcu runtime — the window walker shared by every convolution engine (binary, packed,
 * bit-sliced, 1-bit-weight, float), as always-inline functions without callbacks or macros.
 *
 * Every engine walks the output pixels in row-major order, and for each pixel asks where its
 * window starts and whether it is interior (every tap inside the image: the engine's fast,
 * bounds-free path) or a border window (some taps are padding). The walk is written once here:
 *
 *     for (int32_t oy = 0; oy < g->out_h; ++oy) {
 *         const l2mi_wrow r = l2mi_row_at(g, oy);          // vertical part, once per row
 *         for (int32_t ox = 0; ox < g->out_w; ++ox) {
 *             const l2mi_pos p = l2mi_pos_at(g, r, ox);   // p.interior, p.iy0, p.ix0
 *             ...;  o = l2m_out_next(o, g->out_c);
 *         }
 *     }
 *
 * With a layer's geometry as constants (generated code) the vertical test is decided per row and
 * the horizontal one folds to a comparison of ox with two constants. The window copies used by
 * the binary engines (standard layout: l2mi_gather, l2mi_copy_interior; few channels packed
 * densely: l2mi_pack_window) live here too: the XOR+popcount and the bit-sliced engine read the
 * same windows. Internal header: names are l2mi_*, not part of the kernel API.
 */
#ifndef L2M_WINDOW_IMPL_H
#define L2M_WINDOW_IMPL_H

#include <stdint.h>

#include "l2m_bits.h"
#include "l2m_types.h"

/* Output row oy: first input row of its windows, and whether all k_h rows are inside. */
typedef struct {
    int32_t iy0;
    int yin;
} l2mi_wrow;

/* Output pixel (oy, ox): its window's top-left input tap (may be outside) and its class. */
typedef struct {
    int32_t iy0, ix0;
    int interior;   /* 1: every tap inside the image; 0: a border window */
} l2mi_pos;

L2M_INLINE l2mi_wrow l2mi_row_at(const l2m_geom *g, int32_t oy) {
    l2mi_wrow r;
    r.iy0 = oy * g->stride_h - g->pad_top;
    r.yin = r.iy0 >= 0 && r.iy0 + g->k_h <= g->in_h;
    return r;
}

L2M_INLINE l2mi_pos l2mi_pos_at(const l2m_geom *g, l2mi_wrow r, int32_t ox) {
    l2mi_pos p;
    p.iy0 = r.iy0;
    p.ix0 = ox * g->stride_w - g->pad_left;
    p.interior = r.yin && p.ix0 >= 0 && p.ix0 + g->k_w <= g->in_w;
    return p;
}

/* Whether input tap (iy, ix) lies inside the image. */
L2M_INLINE int l2mi_inside(const l2m_geom *g, int32_t iy, int32_t ix) {
    return iy >= 0 && iy < g->in_h && ix >= 0 && ix < g->in_w;
}

/* Copy of the window at (iy0, ix0) in the standard layout (k_h*k_w*L2M_WORDS(in_c) words, tap
 * after tap) into win: a tap outside the image reads as bits 0 (= +1, the pad_one value) and gets
 * mask words 0 in mk, unless mk is NULL (so that zero padding can drop it). win and mk hold that
 * many words and do not overlap in. Returns the number of taps inside. */
L2M_INLINE int32_t l2mi_gather(const l2m_geom *g, const uint32_t *in, int32_t iy0, int32_t ix0, uint32_t *win,
                               uint32_t *mk) {
    const int32_t nw = L2M_WORDS(g->in_c);
    int32_t t = 0, taps = 0;
    for (int32_t ky = 0; ky < g->k_h; ++ky) {
        const int32_t iy = iy0 + ky;
        for (int32_t kx = 0; kx < g->k_w; ++kx) {
            const int32_t ix = ix0 + kx;
            const int ok = l2mi_inside(g, iy, ix);
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

/* The same copy for an interior window: k_h rows of k_w*L2M_WORDS(in_c) contiguous words, no
 * bounds tests (fully unrolled for constant sizes). */
L2M_INLINE void l2mi_copy_interior(const l2m_geom *g, const uint32_t *in, int32_t iy0, int32_t ix0, uint32_t *win) {
    const int32_t nw = L2M_WORDS(g->in_c), row = g->k_w * nw;
    const uint32_t *src = in + (iy0 * g->in_w + ix0) * nw;
#pragma GCC unroll 16
    for (int32_t r = 0; r < g->k_h; ++r, src += g->in_w * nw) {
#pragma GCC unroll 64
        for (int32_t j = 0; j < row; ++j) win[r * row + j] = src[j];
    }
}

/* Window at (iy0, ix0) packed densely (in_c < 32; bit (ky*k_w + kx)*in_c + c, as l2m_packed.c)
 * into win[0..L2M_WORDS(k_h*k_w*in_c)), built word by word from the taps that overlap each word
 * (all offsets are constants in a specialized layer: a load and a shifted OR per tap and word).
 * Taps outside the image read as bits 0 (= +1); mk, when not NULL, gets the bits of the taps
 * inside. `interior` (constant per call site) drops the bounds tests. Returns the number of taps
 * inside. */
L2M_INLINE int32_t l2mi_pack_window(const l2m_geom *g, const uint32_t *in, int32_t iy0, int32_t ix0, int interior,
                                    uint32_t *win, uint32_t *mk) {
    const int32_t taps = g->k_h * g->k_w;
    const int32_t nwin = L2M_WORDS(taps * g->in_c);
    const uint32_t cmask = (1u << (uint32_t)g->in_c) - 1u;
    int32_t inside = 0;
#pragma GCC unroll 32
    for (int32_t j = 0; j < nwin; ++j) {
        const int32_t b0 = 32 * j;
        const int32_t t_end = (b0 + 32 + g->in_c - 1) / g->in_c;   /* taps starting below bit b0 + 32 */
        const int32_t t1 = t_end < taps ? t_end : taps;
        uint32_t r = 0u, mm = 0u;
        /* unrolled with constant sizes: each tap's row, column and shift become constants (rolled,
         * the loop divided by k_w for every tap: ~14 instructions a tap on Cortex-M4). gcc only:
         * clang unrolls constant trip counts by itself and, with -Werror, fails on a run-time one */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 64
#endif
        for (int32_t t = b0 / g->in_c; t < t1; ++t) {
            const int32_t iy = iy0 + t / g->k_w, ix = ix0 + t % g->k_w;
            const int32_t off = t * g->in_c - b0;   /* where the tap starts: -in_c < off < 32 */
            if (interior || l2mi_inside(g, iy, ix)) {
                const uint32_t a = in[iy * g->in_w + ix];   /* pad bits are 0: no masking */
                r |= off >= 0 ? a << (uint32_t)off : a >> (uint32_t)-off;
                mm |= off >= 0 ? cmask << (uint32_t)off : cmask >> (uint32_t)-off;
                inside += off >= 0;
            }
        }
        win[j] = r;
        if (mk != NULL) mk[j] = mm;
    }
    return inside;
}

#endif /* L2M_WINDOW_IMPL_H */
