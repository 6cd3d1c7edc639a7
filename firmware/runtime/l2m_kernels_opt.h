/* larq2mcu runtime — optimized binary kernels (implementation: l2m_binary_opt.c; the bench hooks at
 * the end: l2m_bench_hooks.c).
 *
 * Every function here is bit-identical to its _ref twin in l2m_kernels.h for every argument the
 * _ref contract allows, and has the same contract: NHWC layout, packed tensors as in l2m_bits.h,
 * 4-byte aligned pointers, inputs and outputs must not overlap, no heap, no globals, reentrant,
 * cannot fail, output pad bits written as 0. Stack: a border window is copied to at most 512
 * bytes of stack (l2m_binary_impl.h, L2MI_WIN_MAX), no other scratch buffer.
 *
 * The implementation is the always-inline engine in l2m_binary_impl.h; generated code does not
 * call these functions but instantiates the same engine once per layer with the layer's sizes as
 * constants (templates/model.c.j2), which is what the board variant selects.
 *
 * A variant name selects a whole set (conv2d b32->b32 / b32->f32, dense b32->b32 / b32->f32).
 * All variants compile on every target (C99, GCC/clang builtins only); where the ISA feature a
 * variant is named after is missing, it falls back to the portable carry-save code (_hs):
 *   _hs       carry-save adders: 3:2 compressors over word triples in conv windows, Harley-Seal
 *             over 8 words in long rows, counted per byte with SWAR; portable C, the best
 *             choice on cores without popcount.
 *   _clz      _hs. In generated code the variant also runs binary layers with integer
 *             thresholds on the bit-sliced engine (l2m_sliced_impl.h, where it applies:
 *             larq2mcu/layout/sliced.py), which needs a count-leading-zeros instruction
 *             (Cortex-M3 and up, Xtensa NSAU); so do _usad8 and _zbb.
 *   _usad8    _hs, with the per-byte counts summed by one USADA8 (ACLE __usada8) per triple on
 *             cores with __ARM_FEATURE_SIMD32 (Cortex-M4/M7/M33/M55 with DSP).
 *   _zbb      __builtin_popcount where __riscv_zbb is defined (-> cpop), else _hs.
 *   _hw       __builtin_popcount where the target has a popcount instruction (x86-64 -mpopcnt,
 *             arm64, rv32/64 Zbb), else _hs.
 *   _builtin  plain __builtin_popcount everywhere (on cores without popcount, a libgcc call per
 *             word): the baseline other BNN code generators use, kept for benchmarks.
 * Common structure of all variants: convolution outputs whose window lies inside the image take
 * a branch-free path (each kernel row is k_w*L2M_WORDS(in_c) contiguous words in both input and
 * weights); border windows are copied once per pixel with padded taps filled in (see
 * l2m_binary_impl.h). Where popcount is one instruction, two output channels are computed
 * together so each activation word is loaded once for both. Threshold outputs are assembled in a
 * register and stored once per 32 channels.
 */
#ifndef L2M_KERNELS_OPT_H
#define L2M_KERNELS_OPT_H

#include <stdint.h>

#include "l2m_types.h"   /* l2m_geom; not l2m_kernels.h, which includes this header */

/* Spelled out one by one (no token pasting) so that tools scanning headers for l2m_*( names,
 * such as larq2mcu.codegen.lower.runtime_kernels(), see every variant. */
void l2m_conv2d_b32_f32_hs(const l2m_geom *g, int32_t pad_one, const uint32_t *in, const uint32_t *w,
                           const float *bias, float *out);
void l2m_conv2d_b32_b32_hs(const l2m_geom *g, int32_t pad_one, const uint32_t *in, const uint32_t *w,
                           const int32_t *thr, uint32_t *out);
void l2m_dense_b32_f32_hs(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const uint32_t *w,
                          const float *bias, float *out);
void l2m_dense_b32_b32_hs(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const uint32_t *w,
                          const int32_t *thr, uint32_t *out);
void l2m_conv2d_b32_f32_clz(const l2m_geom *g, int32_t pad_one, const uint32_t *in, const uint32_t *w,
                            const float *bias, float *out);
void l2m_conv2d_b32_b32_clz(const l2m_geom *g, int32_t pad_one, const uint32_t *in, const uint32_t *w,
                            const int32_t *thr, uint32_t *out);
void l2m_dense_b32_f32_clz(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const uint32_t *w,
                           const float *bias, float *out);
void l2m_dense_b32_b32_clz(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const uint32_t *w,
                           const int32_t *thr, uint32_t *out);
void l2m_conv2d_b32_f32_usad8(const l2m_geom *g, int32_t pad_one, const uint32_t *in, const uint32_t *w,
                              const float *bias, float *out);
void l2m_conv2d_b32_b32_usad8(const l2m_geom *g, int32_t pad_one, const uint32_t *in, const uint32_t *w,
                              const int32_t *thr, uint32_t *out);
void l2m_dense_b32_f32_usad8(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const uint32_t *w,
                             const float *bias, float *out);
void l2m_dense_b32_b32_usad8(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const uint32_t *w,
                             const int32_t *thr, uint32_t *out);
void l2m_conv2d_b32_f32_zbb(const l2m_geom *g, int32_t pad_one, const uint32_t *in, const uint32_t *w,
                            const float *bias, float *out);
void l2m_conv2d_b32_b32_zbb(const l2m_geom *g, int32_t pad_one, const uint32_t *in, const uint32_t *w,
                            const int32_t *thr, uint32_t *out);
void l2m_dense_b32_f32_zbb(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const uint32_t *w,
                           const float *bias, float *out);
void l2m_dense_b32_b32_zbb(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const uint32_t *w,
                           const int32_t *thr, uint32_t *out);
void l2m_conv2d_b32_f32_hw(const l2m_geom *g, int32_t pad_one, const uint32_t *in, const uint32_t *w,
                           const float *bias, float *out);
void l2m_conv2d_b32_b32_hw(const l2m_geom *g, int32_t pad_one, const uint32_t *in, const uint32_t *w,
                           const int32_t *thr, uint32_t *out);
void l2m_dense_b32_f32_hw(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const uint32_t *w,
                          const float *bias, float *out);
void l2m_dense_b32_b32_hw(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const uint32_t *w,
                          const int32_t *thr, uint32_t *out);
void l2m_conv2d_b32_f32_builtin(const l2m_geom *g, int32_t pad_one, const uint32_t *in, const uint32_t *w,
                                const float *bias, float *out);
void l2m_conv2d_b32_b32_builtin(const l2m_geom *g, int32_t pad_one, const uint32_t *in, const uint32_t *w,
                                const int32_t *thr, uint32_t *out);
void l2m_dense_b32_f32_builtin(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in,
                               const uint32_t *w, const float *bias, float *out);
void l2m_dense_b32_b32_builtin(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in,
                               const uint32_t *w, const int32_t *thr, uint32_t *out);

/* Float glue, optimized (l2m_float_opt.c): bit-identical to the _ref twins of l2m_kernels.h, same
 * contracts (in and out must not overlap). Generated code calls them for every variant but `ref`. */
void l2m_maxpool_f32_f32_opt(const l2m_geom *g, const float *in, float *out);
void l2m_avgpool_f32_f32_opt(const l2m_geom *g, const float *in, float *out);
void l2m_quantize_f32_b32_opt(int32_t groups, int32_t c, const float *in, uint32_t *out);
void l2m_dequantize_b32_f32_opt(int32_t groups, int32_t c, const uint32_t *in, float *out);
void l2m_sumpool_f32_b32_opt(const l2m_geom *g, const int32_t *tau, const float *in, uint32_t *out);
/* out == a and/or out == b allowed, as for l2m_add_f32_f32_ref. */
void l2m_add_f32_f32_opt(int32_t n, const float *a, const float *b, float *out);

/* Micro-benchmark hook (bench/, defined in l2m_bench_hooks.c): popcount(a ^ w) over n contiguous words with the variant's
 * inner loop (mode: 0 hs, 1 usad8, 2 zbb, 3 hw, 4 builtin). Not used by generated code. */
int32_t l2m_opt_xor_popcount(int32_t mode, const uint32_t *a, const uint32_t *w, int32_t n);
/* Micro-benchmark hook (bench/, l2m_bench_hooks.c): the bit-sliced engine (l2m_sliced_impl.h) on one dense layer of
 * n <= L2M_SLICED_DENSE_MAX_WORDS input words and 32 filters (w: 32*n + 8 rows, planes:
 * 4*l2m_sliced_planes(32*n) words, out: 1 word). Not used by generated code. */
void l2m_opt_sliced_dense(int32_t n, const uint32_t *a, const uint32_t *w, const uint32_t *planes, uint32_t *out);

#endif /* L2M_KERNELS_OPT_H */
