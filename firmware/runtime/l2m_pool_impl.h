/* larq2mcu runtime — the integer pool-and-sign engine (SumPoolSign, docs/MATH.md §12) as an
 * always-inline function: run by l2m_sumpool_f32_b32_opt (l2m_float_opt.c) and, with the layer's
 * geometry as compile-time constants (whole 2x2 windows of a constant channel count unroll into
 * constant offsets), by the layer-specialised functions of generated code.
 *
 * Contract of l2mi_sumpool: that of l2m_sumpool_f32_b32_ref (l2m_kernels.h) with |tau| <= 2^24
 * (the pass's clip keeps it there): `in` holds exact integers as floats, bit = (S < tau[n-1][c])
 * for the window sum S of n taps inside the image; with an FPU (L2M_HW_FLOAT) the sums are float
 * adds (exact: integers below 2^24), else integers read from the bit patterns. NHWC, 4-byte
 * aligned, out does not overlap in, output pad bits 0. No heap, no globals, reentrant, cannot
 * fail. Internal header: names are l2mi_*, not part of the kernel API.
 */
#ifndef L2M_POOL_IMPL_H
#define L2M_POOL_IMPL_H

#include <stdint.h>

#include "l2m_kernels.h"

/* One tap of a window sum: with an FPU the float itself (the sums stay exact: integers, |sum| <
 * 2^24 by the contract), else its integer from the bit pattern (l2mi_exact_int). */
#if L2M_HW_FLOAT
typedef float l2mi_sp_acc;
#define L2MI_SP_TAP(p) (*(const float *)(const void *)(p))
#else
/* The int32 of a float holding an exact integer below 2^24 in magnitude, from its bit pattern u
 * (no float instruction: on a core without an FPU a conversion is a library call): |x| =
 * (2^23 | mantissa) * 2^(e - 150) with e the biased exponent, e <= 150; e < 127 is only +-0. */
L2M_INLINE int32_t l2mi_exact_int(uint32_t u) {
    const uint32_t e = (u >> 23) & 0xFFu;
    if (e < 127u) return 0;
    const int32_t m = (int32_t)(((u & 0x7FFFFFu) | 0x800000u) >> (150u - e));
    return (u >> 31) ? -m : m;
}

typedef int32_t l2mi_sp_acc;
#define L2MI_SP_TAP(p) l2mi_exact_int(*(p))
#endif

/* The bits of channels c0 .. c0+nc-1 (nc <= 32) of one output pixel whose window, clipped to the
 * image, is h x w taps from p (rows `row` apart, taps `step` apart): bit j = (S_j < t[j]) taken as
 * the sign bit of S_j - t[j] (|S|, |t| <= 2^24: no overflow) and shifted in from the top; a whole
 * 2x2 window (the common case) unrolled. */
L2M_INLINE uint32_t l2mi_sumpool_word(const uint32_t *p, int32_t h, int32_t w, int32_t row, int32_t step,
                                      const int32_t *t, int32_t nc) {
    uint32_t word = 0;
    if (h == 2 && w == 2) {
        /* unrolled where nc is a constant (gcc; clang unrolls constant trip counts itself and,
         * with -Werror, fails on a run-time one): each tap a load at a constant offset */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 32
#endif
        for (int32_t j = 0; j < nc; ++j, ++p) {
            const l2mi_sp_acc acc = L2MI_SP_TAP(p) + L2MI_SP_TAP(p + step) + L2MI_SP_TAP(p + row)
                                    + L2MI_SP_TAP(p + row + step);
            word = (word >> 1) | ((uint32_t)((int32_t)acc - t[j]) & 0x80000000u);
        }
    } else {
        for (int32_t j = 0; j < nc; ++j, ++p) {
            l2mi_sp_acc acc = 0;
            for (int32_t iy = 0; iy < h; ++iy) {
                for (int32_t ix = 0; ix < w; ++ix) acc += L2MI_SP_TAP(p + iy * row + ix * step);
            }
            word = (word >> 1) | ((uint32_t)((int32_t)acc - t[j]) & 0x80000000u);
        }
    }
    return nc < 32 ? word >> (uint32_t)(32 - nc) : word;      /* channel 0 to bit 0; pad bits 0 */
}

/* As l2m_sumpool_f32_b32_ref (and |tau| <= 2^24): each pixel's window clipped to the image once,
 * channels innermost (contiguous), the geometry in locals (out may not alias it, but the compiler
 * cannot know). */
L2M_INLINE void l2mi_sumpool(const l2m_geom *g, const int32_t *tau, const float *in, uint32_t *out) {
    const uint32_t *const u = (const uint32_t *)(const void *)in;
    const int32_t c_n = g->out_c, in_c = g->in_c, in_h = g->in_h, in_w = g->in_w, row = in_w * in_c;
    const int32_t out_h = g->out_h, out_w = g->out_w, k_h = g->k_h, k_w = g->k_w;
    const int32_t s_h = g->stride_h, s_w = g->stride_w, p_t = g->pad_top, p_l = g->pad_left;
    for (int32_t oy = 0; oy < out_h; ++oy) {
        const int32_t y0 = oy * s_h - p_t;
        const int32_t ya = y0 < 0 ? 0 : y0, yb = y0 + k_h > in_h ? in_h : y0 + k_h;
        for (int32_t ox = 0; ox < out_w; ++ox) {
            const int32_t x0 = ox * s_w - p_l;
            const int32_t xa = x0 < 0 ? 0 : x0, xb = x0 + k_w > in_w ? in_w : x0 + k_w;
            const int32_t *const t = tau + ((yb - ya) * (xb - xa) - 1) * c_n;
            const uint32_t *const p0 = u + ya * row + xa * in_c;
            for (int32_t c0 = 0; c0 < c_n; c0 += 32) {
                const int32_t nc = c_n - c0 < 32 ? c_n - c0 : 32;
                *out++ = l2mi_sumpool_word(p0 + c0, yb - ya, xb - xa, row, in_c, t + c0, nc);
            }
        }
    }
}

#endif /* L2M_POOL_IMPL_H */
