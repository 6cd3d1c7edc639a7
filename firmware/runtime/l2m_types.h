/* larq2mcu runtime — the leaf types header: what every other runtime header and generated file
 * shares, and nothing else (it includes only <stddef.h> and <stdint.h>, so no include cycle can
 * pass through it). Includes point one way: l2m_types.h, l2m_bits.h (leaves) <- l2m_kernels_opt.h
 * <- l2m_kernels.h <- l2m_window_impl.h, l2m_popcount_impl.h <- the engines (l2m_*_impl.h).
 */
#ifndef L2M_TYPES_H
#define L2M_TYPES_H

#include <stddef.h>
#include <stdint.h>

/* Status codes returned by generated <name>_invoke() (the kernels themselves cannot fail). The
 * values are part of the C API: never renumber. */
typedef enum {
    L2M_OK = 0,
    L2M_ERR_NULL = -1,        /* a NULL input/output/arena pointer */
    L2M_ERR_ALIGN = -2,       /* arena not 8-byte aligned (_invoke_checked: or input/output not 4-byte aligned) */
    L2M_ERR_ARENA_SIZE = -3,  /* _invoke_checked: arena smaller than <NAME>_ARENA_SIZE */
    L2M_ERR_OVERLAP = -4      /* _invoke_checked: input or output lies inside the arena */
} l2m_status;

/* For the always-inline engines of the l2m_*_impl.h headers (runtime and generated code): their
 * helpers must inline so that a layer's constant sizes reach every loop. L2M_NOINLINE keeps each
 * layer-specialized function of generated code a function of its own (one per layer in a profile). */
#if defined(__GNUC__)
#define L2M_INLINE static inline __attribute__((always_inline))
#define L2M_NOINLINE __attribute__((noinline))
#else
#define L2M_INLINE static inline
#define L2M_NOINLINE
#endif

/* A condition the caller guarantees, told to the compiler: a layer-specialized function states
 * whether its optional pointers (bias) are NULL — its one caller, the generated step, passes
 * exactly that — so the engines' per-output NULL tests fold away. Nothing without the builtin. */
#if defined(__GNUC__)
#define L2M_ASSUME(c) do { if (!(c)) __builtin_unreachable(); } while (0)
#else
#define L2M_ASSUME(c) ((void)0)
#endif

/* Hides a value from the optimiser: an empty asm that claims to read and rewrite x, so gcc/clang
 * can neither hoist, rematerialize nor re-derive it (induction-variable rewrites included). Where an
 * engine wants it only on some targets it wraps this (l2m_nib_impl.h: Arm only). No-op elsewhere. */
#if defined(__GNUC__)
#define L2M_OPAQUE(x) __asm__("" : "+r"(x))
#else
#define L2M_OPAQUE(x) ((void)0)
#endif

/* Convolution / pooling geometry. Output (oy, ox) reads input rows oy*stride_h - pad_top + ky and
 * columns ox*stride_w - pad_left + kx, ky < k_h, kx < k_w; taps outside [0, in_h) x [0, in_w) are
 * padding (what they read is each kernel's contract). All fields are >= 0, strides and kernel
 * sizes >= 1, and every index product fits int32. */
/* Whether the target computes float32 in hardware: a kernel with an integer and a float form of
 * the same exact computation (l2m_sumpool_f32_b32_opt) takes the cheaper one. 0 on cores without
 * an FPU (Cortex-M0/M3, rv32imc, Xtensa LX106: a float operation is a library call there).
 * Overridable with -DL2M_HW_FLOAT=0/1 (the tests build both forms on the host). */
#ifndef L2M_HW_FLOAT
#if (defined(__arm__) && !(defined(__ARM_FP) && (__ARM_FP & 4))) || (defined(__riscv) && !defined(__riscv_flen)) \
    || defined(__XTENSA_SOFT_FLOAT__)
#define L2M_HW_FLOAT 0
#else
#define L2M_HW_FLOAT 1
#endif
#endif

/* Whether the target has a count-leading-zeros instruction (the bit-sliced engine finds each
 * selected weight row with one): 0 on Armv6-M (Cortex-M0/M0+) and RISC-V without Zbb, where
 * __builtin_clz is a libgcc call, and the engine uses a de Bruijn multiply instead
 * (l2m_sliced_impl.h). Overridable with -DL2M_HW_CLZ=0/1 (the host tests build both). */
#ifndef L2M_HW_CLZ
#if (defined(__arm__) && !defined(__ARM_FEATURE_CLZ)) || (defined(__riscv) && !defined(__riscv_zbb))
#define L2M_HW_CLZ 0
#else
#define L2M_HW_CLZ 1
#endif
#endif

typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
} l2m_geom;

/* ---- the output descriptor of the always-inline engines -----------------------------------
 * An engine computes one accumulator acc per output pixel and channel oc (an int32 for binary
 * inputs, a float for float inputs) and writes it as the descriptor's kind says:
 *   L2M_OUT_BITS        bits: L2M_WORDS(out_c) words per pixel, bit oc = (acc < thr[oc]) — int
 *                       accumulators; the bit-sliced engine reads the same thresholds as counter
 *                       planes (`planes`, built by larq2mcu/layout/sliced.py) instead of thr;
 *   L2M_OUT_BITS_FLOAT  bits as above, bit oc = l2m_float_threshold_bit(acc + bias[oc], tau[oc],
 *                       mode[oc]) — float accumulators (l2m_kernels.h);
 *   L2M_OUT_FLOAT       f: out_c floats per pixel, f[oc] = (float)acc + bias[oc], then, with
 *                       a folded BatchNorm (l2m_out_float_bn), f[oc] = (f[oc] - mean) * scale +
 *                       offset, the channel's three floats read from bn[3*oc .. 3*oc+2] — the
 *                       same float32 operations in the same order as l2m_batchnorm_f32_ref, so the
 *                       result is bit-identical to that kernel run on the unfused output
 *                       (larq2mcu/passes/fuse_batchnorm.py; l2m_out_value).
 * bias may be NULL (adds 0.0f). Pad bits of the last word of a pixel are written as 0. The fields
 * a kind does not name are ignored (NULL by the constructors below). Build a descriptor with one
 * of the constructors and pass it by value: with the constructor's constant kind, layer-
 * specialized code keeps only the branch of that kind. Every output array is 4-byte aligned and
 * overlaps no input of the engine. */
typedef enum {
    L2M_OUT_BITS = 0,
    L2M_OUT_BITS_FLOAT = 1,
    L2M_OUT_FLOAT = 2
} l2m_out_kind;

typedef struct {
    l2m_out_kind kind;
    uint32_t *bits;           /* L2M_OUT_BITS, L2M_OUT_BITS_FLOAT */
    float *f;                 /* L2M_OUT_FLOAT */
    const int32_t *thr;       /* L2M_OUT_BITS, XOR+popcount engines: out_c thresholds */
    const uint32_t *planes;   /* L2M_OUT_BITS, bit-sliced engine: the thresholds as counter planes */
    const float *bias;        /* L2M_OUT_FLOAT, L2M_OUT_BITS_FLOAT: out_c floats or NULL */
    const float *tau;         /* L2M_OUT_BITS_FLOAT: out_c thresholds */
    const int8_t *mode;       /* L2M_OUT_BITS_FLOAT: out_c threshold modes (0..3) */
    const float *bn;          /* L2M_OUT_FLOAT with a folded BatchNorm: 3*out_c floats, per channel
                               * mean, scale, offset (interleaved: one pointer, and a Cortex-M4F
                               * loads a channel's three with one VLDM); NULL without */
    int32_t has_bn;           /* 1: bn is applied; a constant of the constructor, so specialized
                               * code keeps no run-time test of it */
} l2m_out;

L2M_INLINE l2m_out l2m_out_none(l2m_out_kind kind) {
    l2m_out o;
    o.kind = kind;
    o.bits = NULL;
    o.f = NULL;
    o.thr = NULL;
    o.planes = NULL;
    o.bias = NULL;
    o.tau = NULL;
    o.mode = NULL;
    o.bn = NULL;
    o.has_bn = 0;
    return o;
}

/* Integer thresholds: bit = (acc < thr[oc]). */
L2M_INLINE l2m_out l2m_out_bits(uint32_t *bits, const int32_t *thr) {
    l2m_out o = l2m_out_none(L2M_OUT_BITS);
    o.bits = bits;
    o.thr = thr;
    return o;
}

/* Integer thresholds in the bit-sliced engine's form (l2m_dense_sliced_b32_b32_ref). */
L2M_INLINE l2m_out l2m_out_bits_planes(uint32_t *bits, const uint32_t *planes) {
    l2m_out o = l2m_out_none(L2M_OUT_BITS);
    o.bits = bits;
    o.planes = planes;
    return o;
}

/* Float thresholds after the bias: bit = l2m_float_threshold_bit(acc + bias, tau, mode). */
L2M_INLINE l2m_out l2m_out_bits_float(uint32_t *bits, const float *bias, const float *tau, const int8_t *mode) {
    l2m_out o = l2m_out_none(L2M_OUT_BITS_FLOAT);
    o.bits = bits;
    o.bias = bias;
    o.tau = tau;
    o.mode = mode;
    return o;
}

/* Floats: f = (float)acc + bias (bias may be NULL). */
L2M_INLINE l2m_out l2m_out_float(float *f, const float *bias) {
    l2m_out o = l2m_out_none(L2M_OUT_FLOAT);
    o.f = f;
    o.bias = bias;
    return o;
}

/* Floats with a folded BatchNorm: f = ((float)acc + bias - mean) * scale + offset (bias may be
 * NULL; bn: mean, scale, offset of each channel in turn). */
L2M_INLINE l2m_out l2m_out_float_bn(float *f, const float *bias, const float *bn) {
    l2m_out o = l2m_out_float(f, bias);
    o.bn = bn;
    o.has_bn = 1;
    return o;
}

/* The L2M_OUT_FLOAT value of channel oc from the accumulator as a float: acc + bias (0.0f when
 * NULL), then the folded BatchNorm when o.has_bn. Each step is one float32 operation
 * (the build uses -ffp-contract=off), in l2m_batchnorm_f32_ref's order: (x - mean) * scale + offset. */
L2M_INLINE float l2m_out_value(l2m_out o, int32_t oc, float acc) {
    float v = acc + (o.bias ? o.bias[oc] : 0.0f);
    if (o.has_bn) {
        const float *const p = o.bn + 3 * oc;
        v = (v - p[0]) * p[1] + p[2];
    }
    return v;
}

/* l2m_out_value of an integer accumulator (the binary engines). (float)acc is never -0.0 (nor
 * NaN), so (float)acc + 0.0f == (float)acc bit for bit: without a bias the addition is skipped
 * (one float operation fewer per output; a library call on cores without an FPU). */
L2M_INLINE float l2m_out_value_int(l2m_out o, int32_t oc, int32_t acc) {
    float v = (float)acc;
    if (o.bias) v = v + o.bias[oc];
    if (o.has_bn) {
        const float *const p = o.bn + 3 * oc;
        v = (v - p[0]) * p[1] + p[2];
    }
    return v;
}

/* The descriptor of the next output pixel of out_c channels (conv engines walk pixels in order). */
L2M_INLINE l2m_out l2m_out_next(l2m_out o, int32_t out_c) {
    if (o.kind == L2M_OUT_FLOAT) {
        o.f += out_c;
    } else {
        o.bits += (out_c + 31) / 32;
    }
    return o;
}

#endif /* L2M_TYPES_H */
