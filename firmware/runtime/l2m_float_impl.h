/* larq2mcu runtime — float conv/dense engines for the layer-specialized functions of generated
 * code, as always-inline functions; bit-identical to l2m_conv2d_f32_*_ref / l2m_dense_f32_*_ref.
 *
 * Summation order (the reference's, l2m_float.c): for one output pixel and channel, acc = 0.0f,
 * then acc += a_t * w_t over the window's taps in (ky, kx, c) order (taps outside the image add
 * pad_value * w_t, or nothing when pad_value is 0), then + bias, then the threshold. No
 * contraction into fused multiply-adds (C99 mode; the host build adds -ffp-contract=off).
 *
 * Fast path: the reference walks the whole window once per output channel. Here a block of
 * L2MI_F32_BLOCK output channels is accumulated together — the tap loop outside, the channel loop
 * inside — so each input value is loaded once per block and the weights of a tap (HWIO: the
 * output channel is the fastest axis) are read contiguously. Each channel's accumulator still
 * receives exactly the same products in exactly the same order, so the sums are the same floats.
 * With constant sizes every inner loop is unrolled and the accumulators stay in registers.
 *
 * l2mi_dense_fw: the float dense on a bit vector (l2m_dense_fw_b32_*_ref), the same blocks.
 * l2mi_dense_qw: its fixed-point form (l2m_dense_qw_b32_*_ref), integer sums over the rows of
 * the set bits, listed once per input word (stack: L2MI_QW_TILE sums and 32 row pointers).
 *
 * Contract of l2mi_conv_f32 / l2mi_dense_f32: those of l2m_conv2d_f32_{f32,b32}_ref /
 * l2m_dense_f32_{f32,b32}_ref (l2m_kernels.h: HWIO / in_n x out_n weights, 4-byte aligned, no
 * output overlapping an input) with one output descriptor `o` (l2m_types.h) of kind
 * L2M_OUT_FLOAT (bias may be NULL) or L2M_OUT_BITS_FLOAT (bias, tau, mode); L2M_OUT_BITS is not
 * a float engine's kind. Stack: L2MI_F32_BLOCK floats twice. No heap, no globals, reentrant.
 */
#ifndef L2M_FLOAT_IMPL_H
#define L2M_FLOAT_IMPL_H

#include <stdint.h>
#include <string.h>

#include "l2m_kernels.h"
#include "l2m_window_impl.h"

/* Output channels accumulated together (fits the FPU registers of a Cortex-M4F with room). */
#define L2MI_F32_BLOCK 8

/* Thumb-2 with a single-precision FPU: a full block's tap is one vldm of its 8 weights, 8 vmul
 * and 8 vadd (the reference's product, rounded, then its add: the same floats), instead of 8
 * loads and ~8 moves more (tests/test_float_qemu.py compares the two on the cores). Not with MVE
 * floats (Cortex-M55): there the compiler vectorises the C loop, which measured fewer (bireal_tiny's
 * float stem conv 409,393 instructions vs 761,588 with this form). */
#if defined(__GNUC__) && defined(__thumb2__) && defined(__ARM_FP) && (__ARM_FP & 4) && !defined(L2M_NO_ASM) && \
    !(defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 2))
#define L2MI_F32_ASM 1
#else
#define L2MI_F32_ASM 0
#endif

/* Store channel oc: threshold bit into o.bits (zeroed by the caller) for L2M_OUT_BITS_FLOAT, else
 * the float into o.f (l2m_out_value: + bias, then a folded BatchNorm if any). The bias is added
 * first in both. */
L2M_INLINE void l2mi_f32_put(float acc, int32_t oc, l2m_out o) {
    if (o.kind == L2M_OUT_BITS_FLOAT) {
        const float v = acc + (o.bias ? o.bias[oc] : 0.0f);
        if (l2m_float_threshold_bit(v, o.tau[oc], o.mode[oc])) l2m_set_bit(o.bits, oc);
    } else if (o.kind == L2M_OUT_FLOAT) {
        float *const f = o.f;   /* the caller's array (a by-value copy of the pointer, not of the data) */
        f[oc] = l2m_out_value(o, oc, acc);   /* + bias, then a folded BatchNorm if any */
    }
}

/* s[j] += x * wt[j] (j < nb) for the n inputs x of a (one contiguous run of taps), the weights of
 * input i at wt + i*out_c: the reference's order, channel by channel. */
L2M_INLINE void l2mi_f32_run(const float *a, int32_t n, const float *wt, int32_t out_c, int32_t nb, float *s) {
#if L2MI_F32_ASM
    if (nb == L2MI_F32_BLOCK) {   /* a constant in the full blocks' calls: this path only */
        float s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3], s4 = s[4], s5 = s[5], s6 = s[6], s7 = s[7];
        for (int32_t i = 0; i < n; ++i, wt += out_c) {
            const float x = a[i];
            __asm__("vldmia %[w], {s16-s23}\n\t"
                    "vmul.f32 s16, s16, %[x]\n\tvmul.f32 s17, s17, %[x]\n\t"
                    "vmul.f32 s18, s18, %[x]\n\tvmul.f32 s19, s19, %[x]\n\t"
                    "vmul.f32 s20, s20, %[x]\n\tvmul.f32 s21, s21, %[x]\n\t"
                    "vmul.f32 s22, s22, %[x]\n\tvmul.f32 s23, s23, %[x]\n\t"
                    "vadd.f32 %[a0], %[a0], s16\n\tvadd.f32 %[a1], %[a1], s17\n\t"
                    "vadd.f32 %[a2], %[a2], s18\n\tvadd.f32 %[a3], %[a3], s19\n\t"
                    "vadd.f32 %[a4], %[a4], s20\n\tvadd.f32 %[a5], %[a5], s21\n\t"
                    "vadd.f32 %[a6], %[a6], s22\n\tvadd.f32 %[a7], %[a7], s23"
                    : [a0] "+t"(s0), [a1] "+t"(s1), [a2] "+t"(s2), [a3] "+t"(s3), [a4] "+t"(s4), [a5] "+t"(s5),
                      [a6] "+t"(s6), [a7] "+t"(s7)
                    : [w] "r"(wt), [x] "t"(x), "m"(*(const float(*)[L2MI_F32_BLOCK])wt)
                    : "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23");
        }
        s[0] = s0; s[1] = s1; s[2] = s2; s[3] = s3; s[4] = s4; s[5] = s5; s[6] = s6; s[7] = s7;
        return;
    }
#endif
    for (int32_t i = 0; i < n; ++i, wt += out_c) {
        const float x = a[i];
#pragma GCC unroll 8
        for (int32_t j = 0; j < L2MI_F32_BLOCK; ++j) {
            if (j < nb) s[j] += x * wt[j];
        }
    }
}

/* Sums of channels oc0 .. oc0+nb-1 (nb <= L2MI_F32_BLOCK) over `taps` (row, input) pairs: rows of
 * `row_len` inputs, `stride` floats apart, starting at a; weights of input t at w + t*out_c. */
L2M_INLINE void l2mi_f32_block(const float *a, int32_t stride, int32_t rows, int32_t row_len, const float *w,
                                int32_t out_c, int32_t oc0, int32_t nb, float *acc) {
    float s[L2MI_F32_BLOCK];
#pragma GCC unroll 8
    for (int32_t j = 0; j < L2MI_F32_BLOCK; ++j) s[j] = 0.0f;
    const float *wt = w + oc0;
    for (int32_t r = 0; r < rows; ++r, a += stride, wt += row_len * out_c) l2mi_f32_run(a, row_len, wt, out_c, nb, s);
#pragma GCC unroll 8
    for (int32_t j = 0; j < L2MI_F32_BLOCK; ++j) acc[j] = s[j];
}

/* One pixel's window, tap by tap with bounds tests: the reference kernel's accumulator (l2m_float.c
 * calls it), used here for border pixels. */
L2M_INLINE float l2mi_f32_acc_border(const l2m_geom *g, float pad_value, const float *in, const float *w,
                                      int32_t iy0, int32_t ix0, int32_t oc) {
    float acc = 0.0f;
    for (int32_t ky = 0; ky < g->k_h; ++ky) {
        const int32_t iy = iy0 + ky;
        for (int32_t kx = 0; kx < g->k_w; ++kx) {
            const int32_t ix = ix0 + kx;
            const float *wt = w + ((ky * g->k_w + kx) * g->in_c) * g->out_c + oc;
            if (l2mi_inside(g, iy, ix)) {
                const float *a = in + (iy * g->in_w + ix) * g->in_c;
                for (int32_t c = 0; c < g->in_c; ++c) acc += a[c] * wt[c * g->out_c];
            } else if (pad_value != 0.0f) {
                for (int32_t c = 0; c < g->in_c; ++c) acc += pad_value * wt[c * g->out_c];
            }
        }
    }
    return acc;
}

/* l2mi_f32_block for a border window with zero padding: the taps inside the image only, kernel
 * row by kernel row (rows [ky0, ky1), columns [kx0, kx1) of the window), in the reference order
 * (ky, kx, c) — the reference skips a tap outside when pad_value is 0, so this is its sum. */
L2M_INLINE void l2mi_f32_block_inside(const l2m_geom *g, const float *in, const float *w, int32_t iy0, int32_t ix0,
                                      int32_t oc0, int32_t nb, float *acc) {
    float s[L2MI_F32_BLOCK];
    const int32_t ky0 = iy0 < 0 ? -iy0 : 0, ky1 = iy0 + g->k_h > g->in_h ? g->in_h - iy0 : g->k_h;
    const int32_t kx0 = ix0 < 0 ? -ix0 : 0, kx1 = ix0 + g->k_w > g->in_w ? g->in_w - ix0 : g->k_w;
    const int32_t run = (kx1 - kx0) * g->in_c;           /* inputs of one kernel row inside */
#pragma GCC unroll 8
    for (int32_t j = 0; j < L2MI_F32_BLOCK; ++j) s[j] = 0.0f;
    for (int32_t ky = ky0; ky < ky1; ++ky) {
        l2mi_f32_run(in + ((iy0 + ky) * g->in_w + ix0 + kx0) * g->in_c, run,
                     w + (ky * g->k_w + kx0) * g->in_c * g->out_c + oc0, g->out_c, nb, s);
    }
#pragma GCC unroll 8
    for (int32_t j = 0; j < L2MI_F32_BLOCK; ++j) acc[j] = s[j];
}

/* The whole convolution (contract of l2m_conv2d_f32_{f32,b32}_ref), written through o. */
L2M_INLINE void l2mi_conv_f32(const l2m_geom *g, float pad_value, const float *in, const float *w, l2m_out o) {
    const int32_t onw = L2M_WORDS(g->out_c);
    float acc[L2MI_F32_BLOCK];
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        const l2mi_wrow r = l2mi_row_at(g, oy);
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            const l2mi_pos p = l2mi_pos_at(g, r, ox);
            if (o.kind == L2M_OUT_BITS_FLOAT) memset(o.bits, 0, (size_t)onw * sizeof(uint32_t));
            if (p.interior) {
                const float *a = in + (p.iy0 * g->in_w + p.ix0) * g->in_c;
                int32_t oc0 = 0;
                for (; oc0 + L2MI_F32_BLOCK <= g->out_c; oc0 += L2MI_F32_BLOCK) {   /* full blocks */
                    l2mi_f32_block(a, g->in_w * g->in_c, g->k_h, g->k_w * g->in_c, w, g->out_c, oc0, L2MI_F32_BLOCK,
                                   acc);
                    for (int32_t j = 0; j < L2MI_F32_BLOCK; ++j) l2mi_f32_put(acc[j], oc0 + j, o);
                }
                if (oc0 < g->out_c) {                                              /* the rest */
                    l2mi_f32_block(a, g->in_w * g->in_c, g->k_h, g->k_w * g->in_c, w, g->out_c, oc0,
                                   g->out_c - oc0, acc);
                    for (int32_t j = 0; j < g->out_c - oc0; ++j) l2mi_f32_put(acc[j], oc0 + j, o);
                }
            } else if (pad_value == 0.0f) {   /* zero padding: the taps inside, 8 channels at a time */
                for (int32_t oc0 = 0; oc0 < g->out_c; oc0 += L2MI_F32_BLOCK) {
                    const int32_t nb = g->out_c - oc0 < L2MI_F32_BLOCK ? g->out_c - oc0 : L2MI_F32_BLOCK;
                    l2mi_f32_block_inside(g, in, w, p.iy0, p.ix0, oc0, nb, acc);
                    for (int32_t j = 0; j < nb; ++j) l2mi_f32_put(acc[j], oc0 + j, o);
                }
            } else {
                for (int32_t oc = 0; oc < g->out_c; ++oc) {
                    l2mi_f32_put(l2mi_f32_acc_border(g, pad_value, in, w, p.iy0, p.ix0, oc), oc, o);
                }
            }
            o = l2m_out_next(o, g->out_c);
        }
    }
}

/* Dense (contract of l2m_dense_f32_{f32,b32}_ref): one row of in_n inputs, written through o. */
L2M_INLINE void l2mi_dense_f32(int32_t in_n, int32_t out_n, const float *in, const float *w, l2m_out o) {
    float acc[L2MI_F32_BLOCK];
    if (o.kind == L2M_OUT_BITS_FLOAT) memset(o.bits, 0, (size_t)L2M_WORDS(out_n) * sizeof(uint32_t));
    int32_t o0 = 0;
    for (; o0 + L2MI_F32_BLOCK <= out_n; o0 += L2MI_F32_BLOCK) {
        l2mi_f32_block(in, 0, 1, in_n, w, out_n, o0, L2MI_F32_BLOCK, acc);
        for (int32_t j = 0; j < L2MI_F32_BLOCK; ++j) l2mi_f32_put(acc[j], o0 + j, o);
    }
    if (o0 < out_n) {
        l2mi_f32_block(in, 0, 1, in_n, w, out_n, o0, out_n - o0, acc);
        for (int32_t j = 0; j < out_n - o0; ++j) l2mi_f32_put(acc[j], o0 + j, o);
    }
}

/* Sums of channels oc0 .. oc0+nb-1 (nb <= L2MI_F32_BLOCK) of a dense on bits (contract of
 * l2m_dense_fw_b32_*_ref): per input, one test of its bit and nb adds or nb subtractions — the
 * floats l2mi_f32_block gives on the +-1.0f inputs (x*w exact; a + (-w) == a - w). */
L2M_INLINE void l2mi_fw_block(int32_t groups, int32_t c, const uint32_t *in, const float *w, int32_t out_n,
                              int32_t oc0, int32_t nb, float *acc) {
    float s[L2MI_F32_BLOCK];
    const int32_t cw = L2M_WORDS(c);
#pragma GCC unroll 8
    for (int32_t j = 0; j < L2MI_F32_BLOCK; ++j) s[j] = 0.0f;
    const float *wt = w + oc0;
    for (int32_t g = 0; g < groups; ++g) {
        for (int32_t k = 0; k < cw; ++k) {
            uint32_t word = in[g * cw + k];
            const int32_t n = c - 32 * k < 32 ? c - 32 * k : 32;
            for (int32_t b = 0; b < n; ++b, word >>= 1, wt += out_n) {
                if (word & 1u) {
#pragma GCC unroll 8
                    for (int32_t j = 0; j < L2MI_F32_BLOCK; ++j) {
                        if (j < nb) s[j] -= wt[j];
                    }
                } else {
#pragma GCC unroll 8
                    for (int32_t j = 0; j < L2MI_F32_BLOCK; ++j) {
                        if (j < nb) s[j] += wt[j];
                    }
                }
            }
        }
    }
#pragma GCC unroll 8
    for (int32_t j = 0; j < L2MI_F32_BLOCK; ++j) acc[j] = s[j];
}

/* Dense on bits with float weights (contract of l2m_dense_fw_b32_{f32,b32}_ref), written through o
 * (L2M_OUT_FLOAT or L2M_OUT_BITS_FLOAT). */
L2M_INLINE void l2mi_dense_fw(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const float *w,
                              l2m_out o) {
    float acc[L2MI_F32_BLOCK];
    if (o.kind == L2M_OUT_BITS_FLOAT) memset(o.bits, 0, (size_t)L2M_WORDS(out_n) * sizeof(uint32_t));
    int32_t o0 = 0;
    for (; o0 + L2MI_F32_BLOCK <= out_n; o0 += L2MI_F32_BLOCK) {
        l2mi_fw_block(groups, c, in, w, out_n, o0, L2MI_F32_BLOCK, acc);
        for (int32_t j = 0; j < L2MI_F32_BLOCK; ++j) l2mi_f32_put(acc[j], o0 + j, o);
    }
    if (o0 < out_n) {
        l2mi_fw_block(groups, c, in, w, out_n, o0, out_n - o0, acc);
        for (int32_t j = 0; j < out_n - o0; ++j) l2mi_f32_put(acc[j], o0 + j, o);
    }
}

/* Outputs whose integer sums one pass of the fixed-point dense engine keeps (on the stack). */
#define L2MI_QW_TILE 128

/* acc[0..7] += sum over the m rows r of r[j .. j+7]: eight register sums per row — one add per
 * set input bit and output, and no test of a bit (the rows were selected beforehand). */
L2M_INLINE void l2mi_qw_rows8(const int32_t *const *rows, int32_t m, int32_t j, int32_t *acc) {
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t a4 = acc[4], a5 = acc[5], a6 = acc[6], a7 = acc[7];
    for (int32_t i = 0; i < m; ++i) {
        const int32_t *q = rows[i] + j;
        a0 += q[0]; a1 += q[1]; a2 += q[2]; a3 += q[3];
        a4 += q[4]; a5 += q[5]; a6 += q[6]; a7 += q[7];
    }
    acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3;
    acc[4] = a4; acc[5] = a5; acc[6] = a6; acc[7] = a7;
}

#if defined(__GNUC__) && defined(__thumb2__) && !defined(L2M_NO_ASM) && !defined(__ARM_FEATURE_MVE)
/* Thumb-2 (not Armv8.1-M with MVE, whose loops keep lr and leave too few registers for this
 * loop's 13): acc[0..5] += sum over the m rows r of r[j .. j+5], the loop in assembly — per row one
 * load of its pointer, two ldm of three words and six adds (12 instructions for 6 outputs where
 * the compiled form of l2mi_qw_rows8 spends 20 for 8), every value in registers. Integer adds:
 * any order gives the same sums (tests/test_dense_qw_qemu.py compares it with _ref on the cores). */
#define L2MI_QW_ASM 1
L2M_INLINE void l2mi_qw_rows6(const int32_t *const *rows, int32_t m, int32_t j, int32_t *acc) {
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], a4 = acc[4], a5 = acc[5];
    const int32_t *const *lp = rows;
    const int32_t *const *const end = rows + m;
    const int32_t jb = 4 * j;
    register int32_t t0 __asm__("r4"), t1 __asm__("r5"), t2 __asm__("r6");
    const int32_t *q;
    if (m > 0) {
        __asm__ volatile("1:\n\t"
                         "ldr %[q], [%[lp]], #4\n\t"
                         "add %[q], %[q], %[jb]\n\t"
                         "ldmia %[q]!, {%[t0], %[t1], %[t2]}\n\t"
                         "add %[a0], %[a0], %[t0]\n\tadd %[a1], %[a1], %[t1]\n\tadd %[a2], %[a2], %[t2]\n\t"
                         "ldmia %[q], {%[t0], %[t1], %[t2]}\n\t"
                         "add %[a3], %[a3], %[t0]\n\tadd %[a4], %[a4], %[t1]\n\tadd %[a5], %[a5], %[t2]\n\t"
                         "cmp %[lp], %[end]\n\t"
                         "bne 1b"
                         : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [a4] "+r"(a4), [a5] "+r"(a5),
                           [lp] "+r"(lp), [q] "=&r"(q), [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2)
                         : [end] "r"(end), [jb] "r"(jb)
                         : "cc", "memory");
    }
    acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3; acc[4] = a4; acc[5] = a5;
}
#else
#define L2MI_QW_ASM 0
#endif

/* Dense on bits with fixed-point weights (contract of l2m_dense_qw_b32_{f32,b32}_ref), written
 * through o (L2M_OUT_FLOAT or L2M_OUT_BITS_FLOAT). Per tile of L2MI_QW_TILE outputs and per input
 * word: the rows (w + i*out_n, offset to the tile) of its set bits are listed without a branch,
 * then each run of eight outputs adds those rows in registers. N = sum of w over the set bits is
 * then the reference's integer (integer adds in any order: the contract bounds every partial
 * sum), and the same two float operations per output give the same floats. Stack: the tile's
 * sums and 32 row pointers. */
L2M_INLINE void l2mi_dense_qw(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const int32_t *w,
                              const int32_t *wsum, const float *wscale, l2m_out o) {
    int32_t acc[L2MI_QW_TILE];
    const int32_t *rows[32];
    const int32_t cw = L2M_WORDS(c);
    if (o.kind == L2M_OUT_BITS_FLOAT) memset(o.bits, 0, (size_t)L2M_WORDS(out_n) * sizeof(uint32_t));
    for (int32_t t0 = 0; t0 < out_n; t0 += L2MI_QW_TILE) {
        const int32_t nt = out_n - t0 < L2MI_QW_TILE ? out_n - t0 : L2MI_QW_TILE;
        memset(acc, 0, sizeof acc);
        const int32_t *row = w + t0;
        for (int32_t g = 0; g < groups; ++g) {
            for (int32_t k = 0; k < cw; ++k) {
                uint32_t word = in[g * cw + k];
                const int32_t n = c - 32 * k < 32 ? c - 32 * k : 32;
                int32_t m = 0;
                for (int32_t b = 0; b < n; ++b, word >>= 1, row += out_n) {
                    rows[m] = row;     /* kept only when the bit is set: m then moves past it */
                    m += (int32_t)(word & 1u);
                }
                int32_t j = 0;
#if L2MI_QW_ASM
                for (; j + 6 <= nt; j += 6) l2mi_qw_rows6(rows, m, j, acc + j);
#else
                for (; j + 8 <= nt; j += 8) l2mi_qw_rows8(rows, m, j, acc + j);
#endif
                for (; j < nt; ++j) {
                    int32_t s = acc[j];
                    for (int32_t i = 0; i < m; ++i) s += rows[i][j];
                    acc[j] = s;
                }
            }
        }
        for (int32_t j = 0; j < nt; ++j) {
            l2mi_f32_put((float)(wsum[t0 + j] - acc[j] - acc[j]) * wscale[t0 + j], t0 + j, o);
        }
    }
}

#endif /* L2M_FLOAT_IMPL_H */
