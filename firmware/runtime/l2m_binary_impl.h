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
 * The counting (XOR + popcount per `mode`) is l2m_popcount_impl.h; this header walks the windows.
 * With L2M_MODE_BUILTIN two output channels go per pass (one activation load serves both).
 * Interior windows (no tap outside the image) read k_h rows of k_w*nw contiguous words without
 * bounds checks; a border window is first copied to the stack (taps outside read as bits 0, with
 * a mask word per tap for zero padding) so that it takes the same unrolled path; a window larger
 * than that copy (L2MI_WIN_MAX words) is computed tap by tap like the reference does.
 * Threshold bits are assembled 32 at a time without branches.
 *
 * Contract of l2mi_conv2d / l2mi_dense / l2mi_conv2d_packed: those of the _ref kernels
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
#include "l2m_popcount_impl.h"

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

/* Entry point: the whole convolution. */
L2M_INLINE void l2mi_conv2d(int mode, const l2m_geom *g, int32_t pad_one, const uint32_t *in,
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

/* Entry point: a dense layer, one interior window of groups * L2M_WORDS(c) words. */
L2M_INLINE void l2mi_dense(int mode, int32_t groups, int32_t c, int32_t out_n, const uint32_t *in,
                                const uint32_t *w, const int32_t *thr, const float *bias, uint32_t *obits,
                                float *of) {
    l2mi_window(mode, in, NULL, 0, 1, groups * L2M_WORDS(c), groups * c, out_n, w, thr, bias, &obits, &of,
                l2mi_masks_make());
}

/* Window at (iy0, ix0) packed as in l2m_packed.c (bit (ky*k_w + kx)*in_c + c, in_c < 32) into
 * win[0..L2M_WORDS(k_h*k_w*in_c)), built word by word from the taps that overlap each word (all
 * offsets are constants in a specialized layer: a load and a shifted OR per tap and word). Taps
 * outside the image read as bits 0 (= +1); mk, when not NULL, gets the bits of the taps inside.
 * `interior` (constant per call site) drops the bounds tests. Returns the number of taps inside. */
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
        for (int32_t t = b0 / g->in_c; t < t1; ++t) {
            const int32_t iy = iy0 + t / g->k_w, ix = ix0 + t % g->k_w;
            const int32_t off = t * g->in_c - b0;   /* where the tap starts: -in_c < off < 32 */
            if (interior || (iy >= 0 && iy < g->in_h && ix >= 0 && ix < g->in_w)) {
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

/* Few-channel conv (contract of l2m_conv2d_packed_b32_{b32,f32}_ref in l2m_kernels.h): per pixel
 * the window is packed once (l2mi_pack_window), then every filter is one run of its
 * L2M_WORDS(k_h*k_w*in_c) words through the mode's popcount. Accumulator: (bits that count) -
 * 2 * popcount of the (masked) XOR, the reference's per-word sum regrouped (integers). */
L2M_INLINE void l2mi_conv2d_packed(int mode, const l2m_geom *g, int32_t pad_one, const uint32_t *in,
                                   const uint32_t *w, const int32_t *thr, const float *bias, uint32_t *obits,
                                   float *of) {
    const l2mi_masks m = l2mi_masks_make();
    const int32_t k = g->k_h * g->k_w * g->in_c;
    const int32_t nwin = L2M_WORDS(k);
    uint32_t win[L2M_PACKED_MAX_WORDS], mk[L2M_PACKED_MAX_WORDS];
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        const int32_t iy0 = oy * g->stride_h - g->pad_top;
        const int yin = iy0 >= 0 && iy0 + g->k_h <= g->in_h;
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            const int32_t ix0 = ox * g->stride_w - g->pad_left;
            if (yin && ix0 >= 0 && ix0 + g->k_w <= g->in_w) {
                (void)l2mi_pack_window(g, in, iy0, ix0, 1, win, NULL);
                l2mi_window(mode, win, NULL, 0, 1, nwin, k, g->out_c, w, thr, bias, &obits, &of, m);
            } else if (pad_one) {   /* outside taps are +1: bits 0 against the weight, all bits count */
                (void)l2mi_pack_window(g, in, iy0, ix0, 0, win, NULL);
                l2mi_window(mode, win, NULL, 0, 1, nwin, k, g->out_c, w, thr, bias, &obits, &of, m);
            } else {
                const int32_t inside = l2mi_pack_window(g, in, iy0, ix0, 0, win, mk);
                l2mi_window(mode, win, mk, 0, 1, nwin, inside * g->in_c, g->out_c, w, thr, bias, &obits, &of, m);
            }
        }
    }
}

#endif /* L2M_BINARY_IMPL_H */
