/* larq2mcu runtime — bit-sliced binary conv / dense with threshold outputs: the plain reference
 * (contract in l2m_kernels.h; the fast engine is l2m_sliced_impl.h).
 *
 * Arithmetic (derived in larq2mcu/layout/sliced.py, which builds w and planes). A window is
 * nwin words of bits a_i (1 = -1), K of them real; filter j has bits w_ij (pad bits 0 in both).
 * With P = sum a_i, C_j = sum w_ij and S_j = sum a_i w_ij,
 *     acc_j = K - 2 * sum_i (a_i xor w_ij) = K - 2P - 2C_j + 4 S_j,
 * so bit_j = (acc_j < thr_j) = (S_j < B_j(P)) with B_j(P) = ceil((thr_j - K + 2C_j + 2P) / 4)
 * = G_j[P & 1] + (P >> 1). The 32 filters of a block are counted together, lane j of a word
 * belonging to filter j: S is a sum of weight rows (row i = bit i of the block's 32 filters)
 * over the set bits of the window — or, when fewer bits are clear than set, S = C - S0 with S0
 * the sum over the clear bits. Either way the count goes into an m-bit two's-complement counter
 * per lane, bit-sliced (plane p = bit p of every lane), started at
 *     normal:     Z[P & 1] - (P >> 1),   Z = 2^(m-1) - G            bit = NOT top plane
 *     complement: Z'[P & 1] + (P >> 1),  Z' = 2^(m-1) - C - 1 + G   bit = top plane
 * so that the top plane after counting is the comparison. `planes` holds Z and Z' (mod 2^m)
 * sliced: per block 4 sets (normal even P, normal odd, complement even, complement odd) of m
 * words; m = l2m_sliced_planes(K) keeps every counter in range (G is clamped to
 * [-(K/2) - 1, K + 1], where the result is constant anyway); m >= 5 so that the engine's four
 * register planes are never the top one.
 *
 * Float outputs (the _b32_f32 kernels) need no planes: the count is read back per filter and
 * acc = K - 2P - 2C_j + 4S_j (set bits counted) or K - 2P + 2C_j - 4S0_j (clear bits), with
 * C_j given (kc). This file computes all of it lane by lane and bit by bit: the twin every
 * optimized instantiation is tested against. The engine's counting loop (Thumb-2 assembly, or C
 * elsewhere) is l2m_sliced_t2.c.
 */
#include <string.h>

#include "l2m_kernels.h"
#include "l2m_sliced_impl.h"   /* l2mi_sl_planes: one formula for K -> m */

int32_t l2m_sliced_planes(int32_t k) {
    return l2mi_sl_planes(k);
}

/* S_j of filter j (in block b) over the selected bits of the window (word ^ flip), bit by bit. */
static uint32_t sliced_count(const uint32_t *win, int32_t nwin, uint32_t flip, const uint32_t *rows, int32_t j) {
    uint32_t s = 0;
    for (int32_t q = 0; q < nwin; ++q) {
        for (int32_t bit = 0; bit < 32; ++bit) {
            if (((win[q] ^ flip) >> (uint32_t)bit) & 1u) s += (rows[q * 32 + 31 - bit] >> (uint32_t)j) & 1u;
        }
    }
    return s;
}

/* Float outputs (l2m_*_sliced_b32_f32_ref): acc = K - 2P - 2C_j + 4S_j, or K - 2P + 2C_j - 4S0_j. */
static void sliced_window_f32(const uint32_t *win, int32_t nwin, int32_t k, int32_t out_c, const uint32_t *w,
                              const int32_t *kc, const float *bias, float *out) {
    int32_t p = 0;
    for (int32_t q = 0; q < nwin; ++q) p += l2m_popcount32(win[q]);
    const int compl_ = 32 * nwin - p < p;
    for (int32_t oc = 0; oc < out_c; ++oc) {
        const uint32_t *rows = w + (size_t)(oc / 32) * ((size_t)nwin * 32u + 8u);
        const int32_t s = (int32_t)sliced_count(win, nwin, compl_ ? 0xFFFFFFFFu : 0u, rows, oc % 32);
        const int32_t acc = compl_ ? k - 2 * p + 2 * kc[oc] - 4 * s : k - 2 * p - 2 * kc[oc] + 4 * s;
        out[oc] = (float)acc + (bias ? bias[oc] : 0.0f);
    }
}

/* One window of nwin words → L2M_WORDS(out_c) output words. */
static void sliced_window(const uint32_t *win, int32_t nwin, int32_t k, int32_t out_c, const uint32_t *w,
                          const uint32_t *planes, uint32_t *out) {
    const int32_t m = l2m_sliced_planes(k);
    const uint32_t mask = m >= 32 ? 0xFFFFFFFFu : (1u << (uint32_t)m) - 1u;
    int32_t p = 0;
    for (int32_t q = 0; q < nwin; ++q) p += l2m_popcount32(win[q]);
    const int compl_ = 32 * nwin - p < p;
    const uint32_t flip = compl_ ? 0xFFFFFFFFu : 0u;
    const uint32_t h = (uint32_t)(p >> 1);
    const int32_t set = 2 * compl_ + (p & 1);
    for (int32_t b = 0; b < L2M_WORDS(out_c); ++b) {
        const uint32_t *rows = w + (size_t)b * ((size_t)nwin * 32u + 8u);
        const uint32_t *z = planes + (size_t)(b * 4 + set) * (size_t)m;
        uint32_t word = 0;
        for (int32_t j = 0; j < 32 && 32 * b + j < out_c; ++j) {
            const uint32_t s = sliced_count(win, nwin, flip, rows, j);
            uint32_t zj = 0;
            for (int32_t pl = 0; pl < m; ++pl) zj |= ((z[pl] >> (uint32_t)j) & 1u) << (uint32_t)pl;
            const uint32_t v = (zj + s + (compl_ ? h : 0u - h)) & mask;
            word |= (((v >> (uint32_t)(m - 1)) & 1u) ^ (compl_ ? 0u : 1u)) << (uint32_t)j;
        }
        out[b] = word;
    }
}

/* The window of output (oy, ox), nwin words: taps outside the image read as bits 0 (= +1). */
static void sliced_gather(const l2m_geom *g, int32_t packed, const uint32_t *in, int32_t oy, int32_t ox,
                          uint32_t *win, int32_t nwin) {
    const int32_t nw = L2M_WORDS(g->in_c);
    memset(win, 0, (size_t)nwin * sizeof(uint32_t));
    for (int32_t ky = 0; ky < g->k_h; ++ky) {
        for (int32_t kx = 0; kx < g->k_w; ++kx) {
            const int32_t iy = oy * g->stride_h - g->pad_top + ky, ix = ox * g->stride_w - g->pad_left + kx;
            if (iy < 0 || iy >= g->in_h || ix < 0 || ix >= g->in_w) continue;
            const uint32_t *px = in + (iy * g->in_w + ix) * nw;
            for (int32_t c = 0; c < g->in_c; ++c) {
                const int32_t t = ky * g->k_w + kx;
                const int32_t dst = packed ? t * g->in_c + c : t * nw * 32 + c;
                if (l2m_get_bit(px, c)) l2m_set_bit(win, dst);
            }
        }
    }
}

/* Every output pixel of a conv, written through o: threshold words from o.planes (L2M_OUT_BITS),
 * else floats (L2M_OUT_FLOAT) from kc and o.bias. */
static void sliced_conv(const l2m_geom *g, int32_t packed, const uint32_t *in, const uint32_t *w, const int32_t *kc,
                        l2m_out o) {
    const int32_t taps = g->k_h * g->k_w;
    const int32_t nwin = packed ? L2M_WORDS(taps * g->in_c) : taps * L2M_WORDS(g->in_c);
    uint32_t win[L2M_SLICED_MAX_WORDS];
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            sliced_gather(g, packed, in, oy, ox, win, nwin);
            if (o.kind == L2M_OUT_BITS) {
                sliced_window(win, nwin, taps * g->in_c, g->out_c, w, o.planes, o.bits);
            } else {
                sliced_window_f32(win, nwin, taps * g->in_c, g->out_c, w, kc, o.bias, o.f);
            }
            o = l2m_out_next(o, g->out_c);
        }
    }
}

void l2m_conv2d_sliced_b32_b32_ref(const l2m_geom *g, int32_t packed, const uint32_t *in, const uint32_t *w,
                                   const uint32_t *planes, uint32_t *out) {
    sliced_conv(g, packed, in, w, NULL, l2m_out_bits_planes(out, planes));
}

void l2m_conv2d_sliced_b32_f32_ref(const l2m_geom *g, int32_t packed, const uint32_t *in, const uint32_t *w,
                                   const int32_t *kc, const float *bias, float *out) {
    sliced_conv(g, packed, in, w, kc, l2m_out_float(out, bias));
}

void l2m_dense_sliced_b32_b32_ref(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const uint32_t *w,
                                  const uint32_t *planes, uint32_t *out) {
    sliced_window(in, groups * L2M_WORDS(c), groups * c, out_n, w, planes, out);
}

void l2m_dense_sliced_b32_f32_ref(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const uint32_t *w,
                                  const int32_t *kc, const float *bias, float *out) {
    sliced_window_f32(in, groups * L2M_WORDS(c), groups * c, out_n, w, kc, bias, out);
}
