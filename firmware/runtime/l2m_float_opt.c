/* larq2mcu runtime — optimized float glue kernels (declared in l2m_kernels_opt.h).
 *
 * Each is bit-identical to its _ref twin (l2m_float.c, l2m_binary.c) for every argument the _ref
 * contract allows: the same IEEE operations on each element in the same order, only the loop
 * structure differs (window bounds hoisted out of the channel loop, four channels per pass held
 * in registers, signs read from the float's bit pattern). Contracts: NHWC, 4-byte aligned
 * pointers, in and out must not overlap, no heap, no globals, reentrant, cannot fail. Built with
 * -ffp-contract=off like the whole runtime (no fused multiply-add). */
#include "l2m_kernels.h"
#include "l2m_pool_impl.h"

/* Float <-> bit pattern through a union (C99 TC3 6.5.2.3; not memcpy: board builds are
 * -ffreestanding, which makes memcpy a real call) where a value is built in a core register. */
typedef union {
    float f;
    uint32_t u;
} l2mi_pun;

/* The taps of output (oy, ox) that lie inside the image: rows [*y0, *y1), columns [*x0, *x1). */
static void window(const l2m_geom *g, int32_t oy, int32_t ox, int32_t *y0, int32_t *y1, int32_t *x0,
                   int32_t *x1) {
    const int32_t iy = oy * g->stride_h - g->pad_top, ix = ox * g->stride_w - g->pad_left;
    *y0 = iy < 0 ? 0 : iy;
    *y1 = iy + g->k_h > g->in_h ? g->in_h : iy + g->k_h;
    *x0 = ix < 0 ? 0 : ix;
    *x1 = ix + g->k_w > g->in_w ? g->in_w : ix + g->k_w;
}

/* One tap of a pool, in place on the accumulator: a max takes the tap only when it is greater
 * (NaN never replaces, as in _ref), a sum adds it. */
#define L2MI_POOL_TAP(a, v) ((a) = is_max ? ((v) > (a) ? (v) : (a)) : (a) + (v))

/* One output pixel of a pool: every channel's taps in the _ref order (rows, then columns), four
 * channels per pass; is_max is a constant at both call sites (always inlined), and a two-tap row
 * (the common 2 x 2 pool) is unrolled. A sum starts from +0.0f and adds each tap (0.0f + -0.0f =
 * +0.0f, as in _ref) and is divided by the number of taps inside (one IEEE division, as in _ref);
 * a max starts from the first tap. */
L2M_INLINE void pool_pixel(const l2m_geom *g, const float *in, float *out, int32_t oy, int32_t ox, const int is_max) {
    int32_t y0, y1, x0, x1;
    window(g, oy, ox, &y0, &y1, &x0, &x1);
    const int32_t c = g->in_c, row = g->in_w * c, ny = y1 - y0, nx = x1 - x0;
    const float n = (float)(ny * nx);
    const float *first = in + (y0 * g->in_w + x0) * c;
    int32_t i = 0;
    for (; i + 4 <= c; i += 4) {
        float a0, a1, a2, a3;
        if (is_max) {
            a0 = first[i]; a1 = first[i + 1]; a2 = first[i + 2]; a3 = first[i + 3];
        } else {
            a0 = 0.0f; a1 = 0.0f; a2 = 0.0f; a3 = 0.0f;
        }
        const float *p = first + i;
        for (int32_t y = 0; y < ny; ++y, p += row) {
            if (nx == 2) {
                L2MI_POOL_TAP(a0, p[0]); L2MI_POOL_TAP(a1, p[1]); L2MI_POOL_TAP(a2, p[2]); L2MI_POOL_TAP(a3, p[3]);
                L2MI_POOL_TAP(a0, p[c]); L2MI_POOL_TAP(a1, p[c + 1]); L2MI_POOL_TAP(a2, p[c + 2]);
                L2MI_POOL_TAP(a3, p[c + 3]);
            } else {
                const float *q = p;
                for (int32_t x = 0; x < nx; ++x, q += c) {
                    L2MI_POOL_TAP(a0, q[0]); L2MI_POOL_TAP(a1, q[1]); L2MI_POOL_TAP(a2, q[2]); L2MI_POOL_TAP(a3, q[3]);
                }
            }
        }
        if (is_max) {
            out[i] = a0; out[i + 1] = a1; out[i + 2] = a2; out[i + 3] = a3;
        } else {
            out[i] = a0 / n; out[i + 1] = a1 / n; out[i + 2] = a2 / n; out[i + 3] = a3 / n;
        }
    }
    for (; i < c; ++i) {
        float a = is_max ? first[i] : 0.0f;
        const float *p = first + i;
        for (int32_t y = 0; y < ny; ++y, p += row) {
            for (int32_t x = 0; x < nx; ++x) L2MI_POOL_TAP(a, p[x * c]);
        }
        out[i] = is_max ? a : a / n;
    }
}

L2M_INLINE void pool_f32(const l2m_geom *g, const float *in, float *out, const int is_max) {
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            pool_pixel(g, in, out, oy, ox, is_max);
            out += g->in_c;
        }
    }
}

void l2m_maxpool_f32_f32_opt(const l2m_geom *g, const float *in, float *out) { pool_f32(g, in, out, 1); }

void l2m_avgpool_f32_f32_opt(const l2m_geom *g, const float *in, float *out) { pool_f32(g, in, out, 0); }

/* As l2m_sumpool_f32_b32_ref (and |tau| <= 2^24): the engine of l2m_pool_impl.h, which
 * layer-specialised functions of generated code also run with their geometry as constants. */
void l2m_sumpool_f32_b32_opt(const l2m_geom *g, const int32_t *tau, const float *in, uint32_t *out) {
    l2mi_sumpool(g, tau, in, out);
}

/* bit = (x <= -FLT_MIN), as _ref, from the bit pattern u alone: that is u in [0x80800000,
 * 0xFF800000] (negative normals and -inf; -0.0, negative subnormals and NaNs give 0). With
 * t = u - 0x80800000 the test is t <= 0x7F000000, i.e. bit 31 clear in both t and t + 0x00FFFFFF
 * (checked against the float compare on all 2^32 patterns), so the bit is bit 31 of ~(t | s): no
 * compare, no branch, and the word is built by shifting each bit in from the top. */
#define L2MI_QBIT(v) (~(((v) - 0x80800000u) | ((v) - 0x80800000u + 0x00FFFFFFu)) & 0x80000000u)

#if defined(__GNUC__) && defined(__thumb2__) && !defined(L2M_NO_ASM)
/* Thumb-2: word = 2 * word + bit in two instructions — cmp sets the carry to (0x7F000000 >= t),
 * unsigned, which is the bit, and adc adds it to word + word — instead of five; the elements go
 * in from the last, so element 0 ends at bit 0 (tests/test_quantize_qemu.py runs it on the
 * cores against the host's bits). */
#define L2MI_QASM 1
#define L2MI_QPUSH(word, v) \
    __asm__("cmp %[k], %[t]\n\tadc %[w], %[w], %[w]" : [w] "+r"(word) : [k] "r"(0x7F000000u), [t] "r"((v) + 0x7F800000u) : "cc")
#else
#define L2MI_QASM 0
#endif

/* The floats are read as uint32_t (the runtime is built with -fno-strict-aliasing, a stated
 * requirement): through a union the compiler loads each into an FPU register and moves it over.
 * Always inlined, so that a constant n (a whole word, or 16 channels) unrolls completely. */
L2M_INLINE uint32_t sign_word(const uint32_t *p, int32_t n) {
    uint32_t word = 0;
#if L2MI_QASM
#pragma GCC unroll 32
    for (int32_t b = n - 1; b >= 0; --b) L2MI_QPUSH(word, p[b]);
    return word;                                           /* element 0 at bit 0; pad bits 0 */
#else
    int32_t b = 0;
#pragma GCC unroll 8
    for (; b + 4 <= n; b += 4) {
        word = (word >> 1) | L2MI_QBIT(p[b]);
        word = (word >> 1) | L2MI_QBIT(p[b + 1]);
        word = (word >> 1) | L2MI_QBIT(p[b + 2]);
        word = (word >> 1) | L2MI_QBIT(p[b + 3]);
    }
    for (; b < n; ++b) word = (word >> 1) | L2MI_QBIT(p[b]);
    return n < 32 ? word >> (uint32_t)(32 - n) : word;    /* element 0 to bit 0; pad bits 0 */
#endif
}

/* All groups of c channels, c a constant in the calls below (whole words or 16 channels: every
 * loop unrolls), or any c. */
L2M_INLINE void quantize_groups(int32_t groups, const int32_t c, const uint32_t *u, uint32_t *out) {
    const int32_t nw = L2M_WORDS(c);
    for (int32_t g = 0; g < groups; ++g) {
        for (int32_t wi = 0; wi < nw; ++wi) {
            out[wi] = sign_word(u + wi * 32, (c - wi * 32) < 32 ? (c - wi * 32) : 32);
        }
        u += c;
        out += nw;
    }
}

void l2m_quantize_f32_b32_opt(int32_t groups, int32_t c, const float *in, uint32_t *out) {
    const uint32_t *u = (const uint32_t *)(const void *)in;
    if (c == 1) {              /* one word per group (a 1-channel map): no word assembly at all */
        for (int32_t g = 0; g < groups; ++g) {
#if L2MI_QASM
            uint32_t word = 0;
            L2MI_QPUSH(word, u[g]);
            out[g] = word;
#else
            out[g] = L2MI_QBIT(u[g]) >> 31;
#endif
        }
        return;
    }
    if (c == 16) {             /* Bi-Real-style widths: the word's 16 bits unrolled */
        quantize_groups(groups, 16, u, out);
    } else if (c % 32 == 0) {  /* whole words: as one group of groups * c channels */
        quantize_groups(groups * (c / 32), 32, u, out);
    } else {
        quantize_groups(groups, c, u, out);
    }
}

/* out[i] = a[i] + b[i], as _ref (out == a and/or out == b allowed: each pass reads its elements
 * before it writes them). With Thumb-2 and a single-precision FPU, 8 elements a pass in 11
 * instructions (two vldm, eight vadd, one vstm: the very adds of _ref, so the same bits, flush-to-
 * zero and NaN rules included; tests/test_glue_qemu.py compares them on the cores). */
#if defined(__GNUC__) && defined(__thumb2__) && defined(__ARM_FP) && (__ARM_FP & 4) && !defined(L2M_NO_ASM)
void l2m_add_f32_f32_opt(int32_t n, const float *a, const float *b, float *out) {
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __asm__ volatile("vldmia %[a]!, {s0-s7}\n\t"
                         "vldmia %[b]!, {s8-s15}\n\t"
                         "vadd.f32 s0, s0, s8\n\tvadd.f32 s1, s1, s9\n\t"
                         "vadd.f32 s2, s2, s10\n\tvadd.f32 s3, s3, s11\n\t"
                         "vadd.f32 s4, s4, s12\n\tvadd.f32 s5, s5, s13\n\t"
                         "vadd.f32 s6, s6, s14\n\tvadd.f32 s7, s7, s15\n\t"
                         "vstmia %[o]!, {s0-s7}"
                         : [a] "+r"(a), [b] "+r"(b), [o] "+r"(out)
                         :
                         : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13",
                           "s14", "s15", "memory");
    }
    for (; i < n; ++i) *out++ = *a++ + *b++;
}
#else
void l2m_add_f32_f32_opt(int32_t n, const float *a, const float *b, float *out) { l2m_add_f32_f32_ref(n, a, b, out); }
#endif

/* -1.0f / +1.0f written as bit patterns: 0x3F800000 with the sign bit taken from the input bit. */
void l2m_dequantize_b32_f32_opt(int32_t groups, int32_t c, const uint32_t *in, float *out) {
    const int32_t nw = L2M_WORDS(c);
    for (int32_t g = 0; g < groups; ++g) {
        for (int32_t i = 0; i < c; ++i) {
            l2mi_pun v;
            v.u = 0x3F800000u | (((in[i >> 5] >> (i & 31)) & 1u) << 31);
            out[i] = v.f;
        }
        in += nw;
        out += c;
    }
}
