/* larq2mcu runtime — the binary XOR+popcount engine behind l2m_kernels_opt.h, as always-inline
 * functions so that it can be instantiated twice:
 *   - l2m_binary_opt.c: the exported variant kernels (l2m_conv2d_b32_b32_usad8, ...), geometry
 *     read at run time;
 *   - generated model code: one static function per binary layer that calls l2mi_conv2d /
 *     l2mi_conv2d_packed / l2mi_dense with the layer's geometry as compile-time constants and a
 *     constant output kind, so the compiler unrolls the window (k_h rows of k_w*L2M_WORDS(in_c)
 *     words), drops the overflow tests that the sizes rule out, resolves every border test of
 *     interior pixels and keeps only that output kind's code — same arithmetic, same results
 *     (tested bit-identical to the _ref kernels).
 *
 * The counting (XOR + popcount per `mode`) is l2m_popcount_impl.h, the walk over output pixels
 * and the window copies l2m_window_impl.h; this header computes windows. With L2M_MODE_BUILTIN
 * two output channels go per pass (one activation load serves both). Interior windows read k_h
 * rows of k_w*nw contiguous words without bounds checks; a border window is first copied to the
 * stack (taps outside read as bits 0, with a mask word per tap for zero padding) so that it takes
 * the same unrolled path; a window larger than that copy (L2MI_WIN_MAX words) is computed tap by
 * tap like the reference does. Threshold bits are assembled 32 at a time without branches.
 *
 * Contract of the entry points l2mi_conv2d, l2mi_conv2d_packed and l2mi_dense: those of the
 * _ref kernels they mirror (l2m_conv2d_b32_*_ref, l2m_conv2d_packed_b32_*_ref,
 * l2m_dense_b32_*_ref in l2m_kernels.h) — layout, 4-byte alignment, in/w never overlap the
 * output, output pad bits 0 — plus `mode` (an L2M_MODE_* constant) and one output descriptor `o`
 * (l2m_types.h) of kind L2M_OUT_BITS (with thr) or L2M_OUT_FLOAT (bias may be NULL); other kinds
 * write nothing. Stack: up to 2 * L2MI_WIN_MAX words (512 bytes) for the border copy (one copy
 * of 256 bytes when pad_one is a constant 1); the packed conv 2 * L2M_PACKED_MAX_WORDS words.
 * No heap, no globals, reentrant, cannot fail.
 * Internal header: names are l2mi_*, not part of the kernel API.
 */
#ifndef L2M_BINARY_IMPL_H
#define L2M_BINARY_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "l2m_kernels.h"
#include "l2m_popcount_impl.h"
#include "l2m_window_impl.h"

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

/* Output channel oc0 + j of a block of 32: its threshold bit into *cur (L2M_OUT_BITS), or a float
 * (+ bias) into o.f (L2M_OUT_FLOAT). o.kind is a constant in specialized code: one branch stays. */
L2M_INLINE void l2mi_put(int32_t acc, int32_t oc0, int32_t j, l2m_out o, uint32_t *cur) {
    if (o.kind == L2M_OUT_BITS) {
        *cur |= (uint32_t)(acc < o.thr[oc0 + j]) << (uint32_t)j;
    } else if (o.kind == L2M_OUT_FLOAT) {
        float *const f = o.f;   /* the caller's array (a by-value copy of the pointer, not of the data) */
        f[oc0 + j] = l2m_out_value_int(o, oc0 + j, acc);
    }
}

/* The word of threshold bits of block oc0 (L2M_OUT_BITS only). */
L2M_INLINE void l2mi_put_word(l2m_out o, int32_t oc0, uint32_t cur) {
    uint32_t *const bits = o.bits;
    if (o.kind == L2M_OUT_BITS) bits[oc0 / 32] = cur;
}

/* Every output channel of one window (one output pixel, written through o), in order, threshold
 * bits assembled 32 at a time without branches. The window is `rows` rows of n words, row r at
 * src + r*as; mk (same layout, or NULL) masks out taps that must not count; k = number of bits
 * that count. Where popcount is one instruction two filters go per pass, so each activation word
 * is loaded once for both. */
L2M_INLINE void l2mi_window(int mode, const uint32_t *src, const uint32_t *mk, int32_t as, int32_t rows, int32_t n,
                            int32_t k, int32_t out_c, const uint32_t *w, l2m_out o, l2mi_masks m) {
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
                l2mi_put(k - 2 * p0, oc0, j, o, &cur);
                l2mi_put(k - 2 * p1, oc0, j + 1, o, &cur);
            }
        }
        for (; j < nb; ++j) {
            l2mi_put(k - 2 * l2mi_xpc_rows_m(mode, src, mk, as, wb + j * fw, rows, n, m), oc0, j, o, &cur);
        }
        l2mi_put_word(o, oc0, cur);
    }
}

/* Border window too large for the on-stack copy: per filter, tap by tap (l2mi_border_acc). */
L2M_INLINE void l2mi_window_border(int mode, const l2m_geom *g, int32_t pad_one, const uint32_t *in,
                                   const uint32_t *w, l2mi_pos p, l2m_out o, l2mi_masks m) {
    const int32_t fw = g->k_h * g->k_w * L2M_WORDS(g->in_c);
    for (int32_t oc0 = 0; oc0 < g->out_c; oc0 += 32) {
        const int32_t nb = g->out_c - oc0 < 32 ? g->out_c - oc0 : 32;
        uint32_t cur = 0;
        for (int32_t j = 0; j < nb; ++j) {
            l2mi_put(l2mi_border_acc(mode, g, pad_one, in, w + (oc0 + j) * fw, p.iy0, p.ix0, m), oc0, j, o, &cur);
        }
        l2mi_put_word(o, oc0, cur);
    }
}

/* Words of the on-stack window copy that border pixels use (256 bytes of stack). */
#define L2MI_WIN_MAX 64

/* Entry point: the whole convolution (l2m_conv2d_b32_{b32,f32}_ref). */
L2M_INLINE void l2mi_conv2d(int mode, const l2m_geom *g, int32_t pad_one, const uint32_t *in, const uint32_t *w,
                            l2m_out o) {
    const l2mi_masks m = l2mi_masks_make();
    const int32_t nw = L2M_WORDS(g->in_c);
    const int32_t n = g->k_w * nw;              /* words of one kernel row */
    const int32_t as = g->in_w * nw;            /* words between input rows */
    const int32_t k = g->k_h * g->k_w * g->in_c;
    uint32_t win[L2MI_WIN_MAX], mk[L2MI_WIN_MAX];
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        const l2mi_wrow r = l2mi_row_at(g, oy);
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            const l2mi_pos p = l2mi_pos_at(g, r, ox);
            if (p.interior) {
                l2mi_window(mode, in + (p.iy0 * g->in_w + p.ix0) * nw, NULL, as, g->k_h, n, k, g->out_c, w, o, m);
            } else if (g->k_h * n > L2MI_WIN_MAX) {
                l2mi_window_border(mode, g, pad_one, in, w, p, o, m);
            } else if (pad_one) {   /* padded taps are +1: bits 0, counted like any tap */
                (void)l2mi_gather(g, in, p.iy0, p.ix0, win, NULL);
                l2mi_window(mode, win, NULL, n, g->k_h, n, k, g->out_c, w, o, m);
            } else {                /* zero padding: padded taps add nothing */
                const int32_t taps = l2mi_gather(g, in, p.iy0, p.ix0, win, mk);
                l2mi_window(mode, win, mk, n, g->k_h, n, taps * g->in_c, g->out_c, w, o, m);
            }
            o = l2m_out_next(o, g->out_c);
        }
    }
}

/* Entry point: a dense layer (l2m_dense_b32_{b32,f32}_ref), one interior window of
 * groups * L2M_WORDS(c) words. */
L2M_INLINE void l2mi_dense(int mode, int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const uint32_t *w,
                           l2m_out o) {
    l2mi_window(mode, in, NULL, 0, 1, groups * L2M_WORDS(c), groups * c, out_n, w, o, l2mi_masks_make());
}

/* Entry point: few-channel conv (l2m_conv2d_packed_b32_{b32,f32}_ref): per pixel the window is
 * packed once (l2mi_pack_window), then every filter is one run of its L2M_WORDS(k_h*k_w*in_c)
 * words through the mode's popcount. Accumulator: (bits that count) - 2 * popcount of the
 * (masked) XOR, the reference's per-word sum regrouped (integers). */
L2M_INLINE void l2mi_conv2d_packed(int mode, const l2m_geom *g, int32_t pad_one, const uint32_t *in,
                                   const uint32_t *w, l2m_out o) {
    const l2mi_masks m = l2mi_masks_make();
    const int32_t k = g->k_h * g->k_w * g->in_c;
    const int32_t nwin = L2M_WORDS(k);
    uint32_t win[L2M_PACKED_MAX_WORDS], mk[L2M_PACKED_MAX_WORDS];
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        const l2mi_wrow r = l2mi_row_at(g, oy);
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            const l2mi_pos p = l2mi_pos_at(g, r, ox);
            if (p.interior) {
                (void)l2mi_pack_window(g, in, p.iy0, p.ix0, 1, win, NULL);
                l2mi_window(mode, win, NULL, 0, 1, nwin, k, g->out_c, w, o, m);
            } else if (pad_one) {   /* outside taps are +1: bits 0 against the weight, all bits count */
                (void)l2mi_pack_window(g, in, p.iy0, p.ix0, 0, win, NULL);
                l2mi_window(mode, win, NULL, 0, 1, nwin, k, g->out_c, w, o, m);
            } else {
                const int32_t inside = l2mi_pack_window(g, in, p.iy0, p.ix0, 0, win, mk);
                l2mi_window(mode, win, mk, 0, 1, nwin, inside * g->in_c, g->out_c, w, o, m);
            }
            o = l2m_out_next(o, g->out_c);
        }
    }
}

#endif /* L2M_BINARY_IMPL_H */
