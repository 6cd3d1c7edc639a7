/* larq2mcu runtime — the small-window engine: binary convs whose whole window is at most
 * L2MI_SMALL_K bits (k_h*k_w*in_c <= 9: a one-channel 3x3 conv, a 1x1 conv of up to 9 channels,
 * ...), as always-inline functions for the layer-specialised functions of generated code.
 *
 * Contract of l2mi_conv2d_small: that of l2mi_conv2d_packed (l2m_binary_impl.h; the
 * l2m_conv2d_packed_b32_{b32,f32}_ref kernels of l2m_kernels.h), bit for bit, for any geometry and
 * output descriptor (L2M_OUT_BITS with thr, or L2M_OUT_FLOAT); a layer that does not fit
 * (l2mi_small_fits) runs l2mi_conv2d_packed. Stack: 2^L2MI_SMALL_K bytes of popcount table and
 * L2MI_SMALL_TAB words of output table (1.8 KB). No heap, no globals, reentrant, cannot fail.
 *
 * Why: with so few bits the generic engine's per-output work (a popcount of several instructions
 * without a popcount instruction, the int→float conversion and the epilogue) dwarfs the XOR. Here
 * the window packs into one word x (l2mi_pack_window, bits (ky*k_w + kx)*in_c + c, pad bits 0, as
 * the weights). Where every bit counts (an interior window, or pad_one: a padded tap is +1, bit 0),
 * acc = k - 2p with p = popcount(x ^ w_j) in 0..k, so each output is a table entry, the tables
 * built once per call from the expressions the generic engine evaluates per output:
 *   floats: ftab[j*(k+1) + p] = l2m_out_value_int(o, j, k - 2p); output j = ftab[j*(k+1) + p_j]
 *           (a copy: no float arithmetic per output, so FPU-less cores do none either);
 *   bits:   btab[b*(k+1) + p] = OR over i of (k - 2p < thr[32b + i]) << i; output word b =
 *           OR over i of btab[b*(k+1) + p_(32b+i)] & (1 << i).
 * p is one load from a 2^k-entry byte table built per call (lut[i] = lut[i >> 1] + (i & 1)), or
 * the popcount instruction where mode is L2M_MODE_BUILTIN. Zero-padded border windows (only the
 * taps inside count) run l2mi_window with their mask, as in l2mi_conv2d_packed.
 * Internal header: names are l2mi_*, not part of the kernel API.
 */
#ifndef L2M_SMALL_IMPL_H
#define L2M_SMALL_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "l2m_binary_impl.h"

/* Largest window (bits) and output table (words); larq2mcu/ops/dot.py states the same limits
 * (tests/test_spec_kernels.py checks that they agree). */
#define L2MI_SMALL_K 9
#define L2MI_SMALL_TAB 320

typedef union {
    float f[L2MI_SMALL_TAB];      /* L2M_OUT_FLOAT: out_c rows of k + 1 */
    uint32_t b[L2MI_SMALL_TAB];   /* L2M_OUT_BITS: one row of k + 1 per block of 32 filters */
} l2mi_small_tab;

/* Whether the table path takes this layer: k <= L2MI_SMALL_K and its output table fits. */
L2M_INLINE int l2mi_small_fits(const l2m_geom *g, l2m_out o) {
    const int32_t k = g->k_h * g->k_w * g->in_c;
    const int32_t rows = o.kind == L2M_OUT_FLOAT ? g->out_c : (o.kind == L2M_OUT_BITS ? L2M_WORDS(g->out_c) : -1);
    return k >= 1 && k <= L2MI_SMALL_K && rows >= 0 && rows * (k + 1) <= L2MI_SMALL_TAB;
}

/* popcount of x < 2^L2MI_SMALL_K: the instruction (L2M_MODE_BUILTIN) or one table load. */
L2M_INLINE int32_t l2mi_small_pc(int mode, uint32_t x, const uint8_t *lut) {
    return mode == L2M_MODE_BUILTIN ? l2mi_pc_builtin(x) : (int32_t)lut[x];
}

/* Every output channel of one window x whose k bits all count (see the file header). */
L2M_INLINE void l2mi_small_pixel(int mode, uint32_t x, int32_t n, int32_t out_c, const uint32_t *w,
                                 const uint8_t *lut, const l2mi_small_tab *t, l2m_out o) {
    if (o.kind == L2M_OUT_FLOAT) {
        float *const f = o.f;
        /* unrolled (gcc; clang unrolls constant trip counts itself and, with -Werror, fails on a
         * run-time one): each filter's table row becomes a constant offset, ~6 instructions an output */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 32
#endif
        for (int32_t j = 0; j < out_c; ++j) f[j] = t->f[j * n + l2mi_small_pc(mode, x ^ w[j], lut)];
    } else if (o.kind == L2M_OUT_BITS) {
        uint32_t *const bits = o.bits;
        for (int32_t oc0 = 0; oc0 < out_c; oc0 += 32) {
            const uint32_t *tb = t->b + (oc0 / 32) * n;
            const int32_t nb = out_c - oc0 < 32 ? out_c - oc0 : 32;
            uint32_t cur = 0u;
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 32
#endif
            for (int32_t i = 0; i < nb; ++i) cur |= tb[l2mi_small_pc(mode, x ^ w[oc0 + i], lut)] & (1u << (uint32_t)i);
            bits[oc0 / 32] = cur;
        }
    }
}

L2M_INLINE void l2mi_conv2d_small(int mode, const l2m_geom *g, int32_t pad_one, const uint32_t *in,
                                  const uint32_t *w, l2m_out o) {
    if (!l2mi_small_fits(g, o)) {
        l2mi_conv2d_packed(mode, g, pad_one, in, w, o);
        return;
    }
    const l2mi_masks m = l2mi_masks_make();
    const int32_t k = g->k_h * g->k_w * g->in_c;
    const int32_t n = k + 1;
    uint8_t lut[1 << L2MI_SMALL_K];
    l2mi_small_tab t;
    uint32_t win[1], mk[1];
    if (mode != L2M_MODE_BUILTIN) {
        lut[0] = 0;
        for (int32_t i = 1; i < (1 << k); ++i) lut[i] = (uint8_t)(lut[i >> 1] + (i & 1));
    }
    if (o.kind == L2M_OUT_FLOAT) {
        for (int32_t j = 0; j < g->out_c; ++j)
            for (int32_t p = 0; p < n; ++p) t.f[j * n + p] = l2m_out_value_int(o, j, k - 2 * p);
    } else {
        for (int32_t oc0 = 0; oc0 < g->out_c; oc0 += 32)
            for (int32_t p = 0; p < n; ++p) {
                uint32_t cur = 0u;
                for (int32_t i = 0; i < 32 && oc0 + i < g->out_c; ++i)
                    cur |= (uint32_t)(k - 2 * p < o.thr[oc0 + i]) << (uint32_t)i;
                t.b[(oc0 / 32) * n + p] = cur;
            }
    }
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        const l2mi_wrow r = l2mi_row_at(g, oy);
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            const l2mi_pos p = l2mi_pos_at(g, r, ox);
            if (p.interior) {
                (void)l2mi_pack_window(g, in, p.iy0, p.ix0, 1, win, NULL);
                l2mi_small_pixel(mode, win[0], n, g->out_c, w, lut, &t, o);
            } else if (pad_one) {   /* outside taps are +1: bits 0, and every bit counts */
                (void)l2mi_pack_window(g, in, p.iy0, p.ix0, 0, win, NULL);
                l2mi_small_pixel(mode, win[0], n, g->out_c, w, lut, &t, o);
            } else {
                const int32_t inside = l2mi_pack_window(g, in, p.iy0, p.ix0, 0, win, mk);
                l2mi_window(mode, win, mk, 0, 1, 1, inside * g->in_c, g->out_c, w, o, m);
            }
            o = l2m_out_next(o, g->out_c);
        }
    }
}

#endif /* L2M_SMALL_IMPL_H */
