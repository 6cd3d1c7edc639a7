/* larq2mcu runtime — the integer first layer's table engine (l2m_affine.c and the
 * layer-specialised functions of generated code), as always-inline functions.
 *
 * Contract of l2mi_conv_u8_tab / l2mi_conv_s8_tab: that of l2m_conv2d_{u8,s8}_b32_ref
 * (l2m_kernels.h), bit for bit (integer sums are exact in any order). Stack: ~1.3 KB (the group
 * tables, one block's entry offsets and packed thresholds). No heap, no globals, reentrant.
 * Internal header: names are l2mi_*, not part of the kernel API.
 *
 * Two output pixels at a time (ox, ox + 1), packed in one 32-bit word: pixel A's value in the low
 * half, pixel B's in the high half, as P = a + 65536 b computed mod 2^32 (no SIMD instructions:
 * plain adds, so every core runs it). Sums of such words are linear mod 2^32, so as long as the
 * final value of each half lies in [0, 65535], the word holds both exactly, whatever the
 * intermediate halves were.
 *
 * Per pixel pair, the window's taps in (ky, kx, c) order are taken in groups of four (the last
 * group takes five when it would otherwise hold one tap); for group j,
 * tab[16 j + m] = sum over its taps q of (bit q of m ? -P_q : P_q) (P_q = 0 outside the image) for
 * all 16 (32) sign patterns m, built in Gray-code order (each entry is the one before with one
 * tap's sign flipped: one add or subtract of 2 P_q). A filter's packed sum V = S_A + 65536 S_B is
 * then one load and add per group, shared by every filter of both pixels.
 *
 * Compare: with bt = amax * taps (amax = 255 for bytes, 128 for int8: |±a| <= amax), each
 * S + bt + 0x8000 lies in [0x8000, 0x8000 + 2 bt], within [0x8000, 0xFFFF] (taps <= 33:
 * 2 bt <= 16830). With t'' = clamp(t + bt, 0, 0x8000) per pixel,
 * D = V + (bt + 0x8000) * 0x10001 - (t''_A + 65536 t''_B) has halves in [0, 0xFFFF] (no borrow
 * between them), and bit 15 of a half is set exactly when S + bt >= t'', i.e. when acc >= t: the
 * output bit is its complement (acc < t). Clamped thresholds lie outside the feasible range of
 * acc, where they decide the same. The per-filter constant T2 = t''_A + 65536 t''_B - (bt + 0x8000)
 * * 0x10001 is recomputed when the pair's border classes change: pairs are taken in runs of one
 * column-class pair, each run down all rows, so that is once per run and row class (once per block
 * for a valid conv, 9 times for a 3x3 'same' one).
 *
 * Bits are gathered as y = (y >> 1) | (D & 0x80008000), filters taken upwards, 16 per word (pixel
 * A in the low half, B in the high half; see l2mi_tab_half). Filters are taken 32 at a time (one output word),
 * outermost: each filter's group patterns are turned once per block into byte offsets into tab
 * (boff), so the inner loop does no bit-field work. With the geometry a compile-time constant
 * (generated code) every tap's offset and every loop bound folds. Windows of more than
 * L2MI_TAB_TAPS taps run the reference kernel.
 */
#ifndef L2M_INTCONV_IMPL_H
#define L2M_INTCONV_IMPL_H

#include <stdint.h>

#include "l2m_kernels.h"

#define L2MI_TAB_GROUPS 8
#define L2MI_TAB_TAPS (L2MI_TAB_GROUPS * 4 + 1)
#define L2MI_TAB_ENTRIES (L2MI_TAB_GROUPS * 16 + 16)

/* Byte b as the integer it stands for: b itself, or (signed) b - 256 for b >= 128 (two's
 * complement int8, written without an implementation-defined conversion). */
L2M_INLINE int32_t l2mi_byte_value(uint8_t b, int32_t is_signed) {
    return (int32_t)b - (is_signed ? (int32_t)(b & 0x80u) * 2 : 0);
}

/* t'' = clamp(t + bt, 0, 0x8000) without overflow (t may be any int32). */
L2M_INLINE uint32_t l2mi_tab_thr(int32_t t, int32_t bt) {
    return t <= -bt ? 0u : t >= 0x8000 - bt ? 0x8000u : (uint32_t)(t + bt);
}

/* Filters i0 .. i1-1 (at most 16) of a block for one pixel pair, taken upwards: per filter the
 * packed sum V (one table load per group), D = V - t2[i], and bit 15 of each half taken in from
 * the top as y = (y >> 1) | (D & 0x80008000) (one mask, one shifted or). After n = i1 - i0
 * filters, filter i sits at bit 16 - n + (i - i0) of each half (the high half's bits never reach
 * bit 15: they move down at most 15 places from bit 31), so y >> (16 - n) puts it at bit i - i0.
 * n may be <= 0 (no filters in the high half): y is 0 and the shift below 32. */
L2M_INLINE uint32_t l2mi_tab_half(const uint8_t *tb, uint16_t (*boff)[L2MI_TAB_GROUPS], const uint32_t *t2,
                                  const int32_t groups, int32_t i0, int32_t i1) {
    uint32_t y = 0u;
#pragma GCC unroll 16
    for (int32_t i = i0; i < i1; ++i) {
        const uint16_t *bo = boff[i];
        uint32_t v = 0u;
#pragma GCC unroll 8
        for (int32_t j = 0; j < groups; ++j) v += *(const uint32_t *)(const void *)(tb + bo[j]);
        y = (y >> 1) | ((v - t2[i]) & 0x80008000u);
    }
    return y >> (uint32_t)(16 - (i1 - i0));
}

/* The group tables of one pixel pair, tab[16 j + m] for every group j (see the top of the file).
 * Pixel A's window starts at in[base], B's bstep bytes further; interior: both windows lie inside
 * the image (no checks), else taps outside it count 0 (bounds checked per tap with iy0, ixa, ixb,
 * the windows' top-left corners). Called with a constant `interior`, once for each value. */
L2M_INLINE void l2mi_tab_build(uint32_t *tab, const uint8_t *in, const int32_t base, const int32_t bstep,
                               const int32_t in_h, const int32_t in_w, const int32_t in_c, const int32_t k_w,
                               const int32_t taps, const int32_t groups, const int32_t last5,
                               const int32_t is_signed, const int interior, const int32_t iy0, const int32_t ixa,
                               const int32_t ixb) {
#pragma GCC unroll 8
    for (int32_t j = 0; j < groups; ++j) {
        uint32_t *tj = tab + 16 * j;
        uint32_t a[5];
        const int32_t ns = j == groups - 1 && last5 ? 5 : 4;
#pragma GCC unroll 5
        for (int32_t q = 0; q < 5; ++q) {
            const int32_t tp = 4 * j + q;
            /* tap tp = (ky, kx, c): constants when the geometry is */
            const int32_t ky = tp / (k_w * in_c), kx = tp / in_c % k_w;
            const int32_t off = (ky * in_w + kx) * in_c + tp % in_c;
            a[q] = 0u;
            if (q >= ns || tp >= taps) continue;
            if (interior) {
                a[q] = (uint32_t)l2mi_byte_value(in[base + off], is_signed) +
                       ((uint32_t)l2mi_byte_value(in[base + bstep + off], is_signed) << 16);
            } else {
                const int32_t iy = iy0 + ky, xa = ixa + kx, xb = ixb + kx;
                const int iny = iy >= 0 && iy < in_h;
                if (iny && xa >= 0 && xa < in_w) a[q] = (uint32_t)l2mi_byte_value(in[base + off], is_signed);
                if (iny && xb >= 0 && xb < in_w) {
                    a[q] += (uint32_t)l2mi_byte_value(in[base + bstep + off], is_signed) << 16;
                }
            }
        }
        /* the entries in Gray-code order: entry g(k) = g(k-1) with one tap's sign
         * flipped, so each is one add or subtract of twice that tap and one store
         * (few live values, whatever surrounds the loop) */
        uint32_t e = a[0] + a[1] + a[2] + a[3] + a[4];
        tj[0] = e;
        /* 16 or 32 entries, not 1 << ns: UBSan's shift check in the loop condition
         * would make gcc drop the unroll annotation (a -Werror warning) */
        const int32_t nent = ns == 5 ? 32 : 16;
#pragma GCC unroll 32
        for (int32_t r = 1; r < nent; ++r) {
            const int32_t gk = r ^ (r >> 1), flip = gk ^ ((r - 1) ^ ((r - 1) >> 1));
            const int32_t q = (flip >= 2) + (flip >= 4) + (flip >= 8) + (flip >= 16);
            if (gk & flip) e -= a[q] << 1;   /* tap q's sign bit set: now -P_q */
            else e += a[q] << 1;
            tj[gk] = e;
        }
    }
}

L2M_INLINE void l2mi_conv_8_tab(const l2m_geom *g, const int32_t is_signed, const int32_t n_cls_x,
                                const uint8_t *in, const uint32_t *w, const int8_t *cls_y, const int8_t *cls_x,
                                const int32_t *thr, uint32_t *out) {
    /* the geometry in locals: with -fno-strict-aliasing every store to tab/out could change *g */
    const int32_t in_h = g->in_h, in_w = g->in_w, in_c = g->in_c, out_h = g->out_h, out_w = g->out_w;
    const int32_t out_c = g->out_c, k_h = g->k_h, k_w = g->k_w, s_h = g->stride_h, s_w = g->stride_w;
    const int32_t p_t = g->pad_top, p_l = g->pad_left;
    const int32_t taps = k_h * k_w * in_c;
    const int32_t fw = L2M_WORDS(taps);
    const int32_t onw = L2M_WORDS(out_c);
    /* groups of four taps; a lone last tap joins the group before it (a 32-entry table) */
    const int32_t last5 = taps > 4 && taps % 4 == 1;
    const int32_t groups = (taps + 3) / 4 - last5;
    const int32_t bt = (is_signed ? 128 : 255) * taps;
    const uint32_t bias = ((uint32_t)bt + 0x8000u) * 0x10001u;
    const int32_t pstep = s_w * in_c;              /* bytes between the two windows of a pair */
    uint32_t tab[L2MI_TAB_ENTRIES];
    uint16_t boff[32][L2MI_TAB_GROUPS];   /* filter i of the block, group j: byte offset of its entry */
    uint32_t t2[32] = {0};                /* per filter of the block: the packed threshold constant */
    const uint8_t *const tb = (const uint8_t *)tab;
    if (taps > L2MI_TAB_TAPS) {
        if (is_signed) l2m_conv2d_s8_b32_ref(g, cls_y, cls_x, n_cls_x, (const int8_t *)(const void *)in, w, thr, out);
        else l2m_conv2d_u8_b32_ref(g, cls_y, cls_x, n_cls_x, in, w, thr, out);
        return;
    }
    for (int32_t oc0 = 0; oc0 < out_c; oc0 += 32) {
        const int32_t nb = out_c - oc0 < 32 ? out_c - oc0 : 32;
        /* the block's filters as lanes: filters 0..15 in the low half word, 16..31 in the high */
        const uint32_t lanes = 0xFFFFFFFFu >> (uint32_t)(32 - nb);
        const uint32_t mlo = lanes & 0xFFFFu, mhi = lanes >> 16;
        /* filters in the low half, min(nb, 16) in arithmetic (no branch for the analysers to call
         * constant in a layer of fixed width): d & ~neg = nb - 16 when nb >= 16, else 0 */
        const uint32_t d = (uint32_t)nb - 16u, neg = 0u - (d >> 31);
        const int32_t nlo = nb - (int32_t)(d & ~neg);
        int32_t key = -1;                          /* border classes t2 was computed for */
        for (int32_t i = 0; i < nb; ++i) {
            const uint32_t *wf = w + (oc0 + i) * fw;
            for (int32_t j = 0; j < groups; ++j) {
                const int32_t n = j == groups - 1 && last5 ? 5 : 4;
                uint32_t m = 0u;
                for (int32_t q = 0; q < n; ++q) m |= (uint32_t)l2m_get_bit(wf, 4 * j + q) << (uint32_t)q;
                boff[i][j] = (uint16_t)(((uint32_t)j * 16u + m) * (uint32_t)sizeof(uint32_t));
            }
        }
        /* run by run (see the top of the file): pairs r0, r0 + 2, .. < r1 share the column classes
         * (ca, cb); a lone last pixel is a run of its own */
        for (int32_t r0 = 0; r0 < out_w;) {
            const int32_t ca = cls_x[r0], cb = cls_x[r0 + 1 < out_w ? r0 + 1 : r0];
            int32_t r1 = r0 + 2;
            while (r1 + 1 < out_w && cls_x[r1] == ca && cls_x[r1 + 1] == cb) r1 += 2;
            /* only a lone pixel's run overshoots, and the loop below would stop anyway; the clamp
             * tells gcc ox < out_w (without it: +10k instructions on M4, +18k on M0, CIFAR) */
            if (r1 > out_w) r1 = out_w;
            for (int32_t oy = 0; oy < out_h; ++oy) {
                const int32_t iy0 = oy * s_h - p_t;
                const int yin = iy0 >= 0 && iy0 + k_h <= in_h;
                const int32_t k = ((int32_t)cls_y[oy] * n_cls_x + ca) * n_cls_x + cb;
                if (k != key) {
                    const int32_t *ta = thr + ((int32_t)cls_y[oy] * n_cls_x + ca) * out_c + oc0;
                    const int32_t *tbp = thr + ((int32_t)cls_y[oy] * n_cls_x + cb) * out_c + oc0;
                    for (int32_t i = 0; i < nb; ++i) {
                        t2[i] = l2mi_tab_thr(ta[i], bt) + (l2mi_tab_thr(tbp[i], bt) << 16) - bias;
                    }
                    key = k;
                }
                for (int32_t ox = r0; ox < r1; ox += 2) {
                    const int pair = ox + 1 < out_w;
                    const int32_t oxb = pair ? ox + 1 : ox;   /* a lone last pixel: B repeats A */
                    const int32_t ixa = ox * s_w - p_l, ixb = oxb * s_w - p_l;
                    const int interior = yin && ixa >= 0 && ixb + k_w <= in_w;
                    const int32_t base = (iy0 * in_w + ixa) * in_c;   /* index of A's first window byte */
                    const int32_t bstep = pair ? pstep : 0;
                    /* two instantiations, each with its own constant offsets and registers */
                    if (interior) {
                        l2mi_tab_build(tab, in, base, bstep, in_h, in_w, in_c, k_w, taps, groups, last5, is_signed, 1,
                                       iy0, ixa, ixb);
                    } else {
                        l2mi_tab_build(tab, in, base, bstep, in_h, in_w, in_c, k_w, taps, groups, last5, is_signed, 0,
                                       iy0, ixa, ixb);
                    }
                    const uint32_t yhi = l2mi_tab_half(tb, boff, t2, groups, 16, nb);
                    const uint32_t ylo = l2mi_tab_half(tb, boff, t2, groups, 0, nlo);
                    uint32_t *o = out + (oy * out_w + ox) * onw + oc0 / 32;
                    o[0] = (~ylo & mlo) | ((~yhi & mhi) << 16);
                    if (pair) o[onw] = ((~ylo >> 16) & mlo) | (((~yhi >> 16) & mhi) << 16);
                }
            }
            r0 = r1;
        }
    }
}

/* The engine on raw bytes / int8, for generated code and l2m_conv2d_{u8,s8}_b32_tab. */
L2M_INLINE void l2mi_conv_u8_tab(const l2m_geom *g, const int32_t n_cls_x, const uint8_t *in, const uint32_t *w,
                                 const int8_t *cls_y, const int8_t *cls_x, const int32_t *thr, uint32_t *out) {
    l2mi_conv_8_tab(g, 0, n_cls_x, in, w, cls_y, cls_x, thr, out);
}

L2M_INLINE void l2mi_conv_s8_tab(const l2m_geom *g, const int32_t n_cls_x, const int8_t *in, const uint32_t *w,
                                 const int8_t *cls_y, const int8_t *cls_x, const int32_t *thr, uint32_t *out) {
    l2mi_conv_8_tab(g, 1, n_cls_x, (const uint8_t *)(const void *)in, w, cls_y, cls_x, thr, out);
}

#endif
