/* larq2mcu runtime — bit-sliced binary conv / dense with threshold outputs: the plain reference
 * (contract in l2m_kernels.h; the fast engine is l2m_sliced_impl.h).
 *
 * Arithmetic (derived in larq2mcu/codegen/sliced.py, which builds w and planes). A window is
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
 * optimized instantiation is tested against; and the Thumb-2 counting loop of the engine.
 */
#include <string.h>

#include "l2m_kernels.h"
#include "l2m_sliced_impl.h"

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

/* Every output pixel of a conv: threshold words to obits (planes), else floats to of (kc). */
static void sliced_conv(const l2m_geom *g, int32_t packed, const uint32_t *in, const uint32_t *w,
                        const uint32_t *planes, uint32_t *obits, const int32_t *kc, const float *bias, float *of) {
    const int32_t taps = g->k_h * g->k_w;
    const int32_t nwin = packed ? L2M_WORDS(taps * g->in_c) : taps * L2M_WORDS(g->in_c);
    uint32_t win[L2M_SLICED_MAX_WORDS];
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            sliced_gather(g, packed, in, oy, ox, win, nwin);
            if (obits != NULL) {
                sliced_window(win, nwin, taps * g->in_c, g->out_c, w, planes, obits);
                obits += L2M_WORDS(g->out_c);
            } else if (of != NULL) {
                sliced_window_f32(win, nwin, taps * g->in_c, g->out_c, w, kc, bias, of);
                of += g->out_c;
            }
        }
    }
}

void l2m_conv2d_sliced_b32_b32_ref(const l2m_geom *g, int32_t packed, const uint32_t *in, const uint32_t *w,
                                   const uint32_t *planes, uint32_t *out) {
    sliced_conv(g, packed, in, w, planes, out, NULL, NULL, NULL);
}

void l2m_dense_sliced_b32_b32_ref(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const uint32_t *w,
                                  const uint32_t *planes, uint32_t *out) {
    sliced_window(in, groups * L2M_WORDS(c), groups * c, out_n, w, planes, out);
}

void l2m_conv2d_sliced_b32_f32_ref(const l2m_geom *g, int32_t packed, const uint32_t *in, const uint32_t *w,
                                   const int32_t *kc, const float *bias, float *out) {
    sliced_conv(g, packed, in, w, NULL, NULL, kc, bias, out);
}

void l2m_dense_sliced_b32_f32_ref(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const uint32_t *w,
                                  const int32_t *kc, const float *bias, float *out) {
    sliced_window_f32(in, groups * L2M_WORDS(c), groups * c, out_n, w, kc, bias, out);
}

#if !L2MI_SL_ASM
void l2m_sliced_count_c(const l2mi_sl_gen *s, int32_t n8, uint32_t *v, int32_t m) {
    l2mi_sl_gen g = *s;   /* a local copy: v's stores cannot alias the generator state */
    l2mi_sl_count(&g, n8, v, m);
}
#else
/* l2mi_sl_count (l2m_sliced_impl.h) for Thumb-2: count n8 (a multiple of 8, > 0) selected rows of
 * generator *s into the m counter planes v, with the same adders as the C loop. Registers: r0 =
 * bits left in the current word (never 0 between rows), r1 = its rows, r2 = the next word, r3 =
 * 0x80000000; r4-r7 = planes 0-3 (ones, twos, fours, eights); r8/r9 the two rows of a pair and
 * scratch; r10-r12 carries waiting for their partner; lr scratch. Frame: [sp] v, [sp+4] &v[4],
 * [sp+8] &v[m], [sp+12] rows left, [sp+16..24] weight-16 carries of a 64-row step. A word is
 * refilled inline (the window copy ends with a sentinel: no bounds test). */
#define L2MI_T2_NEXT(X)                      \
    "clz   lr, r0\n\t"                       \
    "ldr   " X ", [r1, lr, lsl #2]\n\t"      \
    "lsr   lr, r3, lr\n\t"                   \
    "eors  r0, r0, lr\n\t"                   \
    "bne   1f\n"                             \
    "0:\n\t"                                 \
    "ldr   r0, [r2], #4\n\t"                 \
    "add   r1, r1, #128\n\t"                 \
    "cmp   r0, #0\n\t"                       \
    "beq   0b\n"                             \
    "1:\n\t"
/* two rows into ones (r4); the carry word to OUT */
#define L2MI_T2_PAIR(OUT)                    \
    L2MI_T2_NEXT("r8") L2MI_T2_NEXT("r9")    \
    "eor   lr, r8, r9\n\t"                   \
    "and   r8, r8, r9\n\t"                   \
    "and   r9, lr, r4\n\t"                   \
    "eor   r4, r4, lr\n\t"                   \
    "orr   " OUT ", r8, r9\n\t"
/* carry-save adder of plane P with A and B; the carry word to OUT (may be A); scratch r8, r9 */
#define L2MI_T2_CSA(P, A, B, OUT)            \
    "eor   r8, " A ", " B "\n\t"             \
    "and   " A ", " A ", " B "\n\t"          \
    "and   r9, r8, " P "\n\t"                \
    "eor   " P ", " P ", r8\n\t"             \
    "orr   " OUT ", " A ", r9\n\t"
/* eight rows: the weight-8 carry word to OUT */
#define L2MI_T2_EIGHT(OUT)                   \
    L2MI_T2_PAIR("r10") L2MI_T2_PAIR("lr")   \
    L2MI_T2_CSA("r5", "r10", "lr", "r11")    \
    L2MI_T2_PAIR("r10") L2MI_T2_PAIR("lr")   \
    L2MI_T2_CSA("r5", "r10", "lr", "r10")    \
    L2MI_T2_CSA("r6", "r11", "r10", OUT)
/* sixteen rows: the weight-16 carry word to r8 */
#define L2MI_T2_SIXTEEN                      \
    L2MI_T2_EIGHT("r12") L2MI_T2_EIGHT("r11") \
    "eor   r9, r12, r11\n\t"                 \
    "and   r12, r12, r11\n\t"                \
    "and   r10, r9, r7\n\t"                  \
    "eor   r7, r7, r9\n\t"                   \
    "orr   r8, r12, r10\n\t"
/* carry-save adder of r10 (a plane) with A and B, scratch r9; the carry word to OUT */
#define L2MI_T2_CSA10(A, B, OUT)             \
    "eor   r9, " A ", " B "\n\t"             \
    "and   " A ", " A ", " B "\n\t"          \
    "and   " B ", r9, r10\n\t"               \
    "eor   r10, r10, r9\n\t"                 \
    "orr   " OUT ", " A ", " B "\n\t"
/* the carry word r8 into planes from lr up to (not including) r9: half adders until it is 0 */
#define L2MI_T2_RIPPLE(L)                    \
    "cmp   r8, #0\n\t"                       \
    "beq   " L "f\n"                         \
    "4:\n\t"                                 \
    "ldr   r10, [lr]\n\t"                    \
    "and   r11, r10, r8\n\t"                 \
    "eor   r10, r10, r8\n\t"                 \
    "str   r10, [lr], #4\n\t"                \
    "movs  r8, r11\n\t"                      \
    "beq   " L "f\n\t"                       \
    "cmp   lr, r9\n\t"                       \
    "bne   4b\n"

#define L2MI_UNUSED __attribute__((unused))
__attribute__((naked, noinline)) void l2m_sliced_count_t2(L2MI_UNUSED const l2mi_sl_gen *s, L2MI_UNUSED int32_t n8,
                                                         L2MI_UNUSED uint32_t *v, L2MI_UNUSED int32_t m) {
    __asm__ volatile(
        "push  {r4-r11, lr}\n\t"
        "sub   sp, sp, #28\n\t"
        "str   r2, [sp]\n\t"
        "add   r12, r2, #16\n\t"
        "str   r12, [sp, #4]\n\t"
        "add   r12, r2, r3, lsl #2\n\t"
        "str   r12, [sp, #8]\n\t"
        "str   r1, [sp, #12]\n\t"
        "ldm   r2, {r4, r5, r6, r7}\n\t"
        "ldr   r1, [r0, #4]\n\t"
        "ldr   r2, [r0, #8]\n\t"
        "ldr   r0, [r0]\n\t"
        "mov   r3, #0x80000000\n\t"
        /* 64 rows at a time */
        "ldr   r9, [sp, #12]\n\t"
        "cmp   r9, #64\n\t"
        "blt   6f\n"
        "7:\n\t"
        L2MI_T2_SIXTEEN
        "str   r8, [sp, #16]\n\t"
        L2MI_T2_SIXTEEN
        "str   r8, [sp, #20]\n\t"
        L2MI_T2_SIXTEEN
        "str   r8, [sp, #24]\n\t"
        L2MI_T2_SIXTEEN
        /* planes 4, 5 += the four weight-16 carries (s0..s2 on the stack, s3 in r8) */
        "ldr   lr, [sp, #4]\n\t"
        "ldr   r10, [lr]\n\t"
        "ldrd  r11, r12, [sp, #16]\n\t"
        L2MI_T2_CSA10("r11", "r12", "r11")
        "ldr   r12, [sp, #24]\n\t"
        L2MI_T2_CSA10("r12", "r8", "r12")
        "str   r10, [lr], #4\n\t"
        "ldr   r10, [lr]\n\t"
        L2MI_T2_CSA10("r11", "r12", "r8")
        "str   r10, [lr], #4\n\t"
        "ldr   r9, [sp, #8]\n\t"
        L2MI_T2_RIPPLE("5")
        "5:\n\t"
        "ldr   r9, [sp, #12]\n\t"
        "subs  r9, r9, #64\n\t"
        "str   r9, [sp, #12]\n\t"
        "cmp   r9, #64\n\t"
        "bge   7b\n"
        /* 16 rows at a time */
        "6:\n\t"
        "cmp   r9, #16\n\t"
        "blt   3f\n"
        "2:\n\t"
        L2MI_T2_SIXTEEN
        "ldrd  lr, r9, [sp, #4]\n\t"
        L2MI_T2_RIPPLE("5")
        "5:\n\t"
        "ldr   r9, [sp, #12]\n\t"
        "subs  r9, r9, #16\n\t"
        "str   r9, [sp, #12]\n\t"
        "cmp   r9, #16\n\t"
        "bge   2b\n"
        /* 8 rows */
        "3:\n\t"
        "cmp   r9, #0\n\t"
        "beq   8f\n\t"
        L2MI_T2_EIGHT("r12")
        "and   r8, r7, r12\n\t"
        "eor   r7, r7, r12\n\t"
        "ldrd  lr, r9, [sp, #4]\n\t"
        L2MI_T2_RIPPLE("8")
        "8:\n\t"
        "ldr   r12, [sp]\n\t"
        "stm   r12, {r4, r5, r6, r7}\n\t"
        "add   sp, sp, #28\n\t"
        "pop   {r4-r11, pc}\n");
}
#endif
