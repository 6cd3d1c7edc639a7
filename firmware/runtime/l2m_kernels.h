/* larq2mcu runtime kernels — contracts.
 *
 * Naming: l2m_<op>_<in>_<out>_<impl>, where b32 = packed bits (see l2m_bits.h) and f32 = float.
 * The _ref kernels are plain C99, always built and tested bit-exact against larq2mcu/reference.py;
 * optimized variants (l2m_kernels_opt.h) and the always-inline engines of the l2m_*_impl.h
 * headers must be bit-identical to them.
 *
 * Common contract for every kernel below (a kernel's own comment states any exception):
 *  - Layout NHWC without batch; packed tensors hold L2M_WORDS(c) words per pixel.
 *  - Every pointer is 4-byte aligned (int8_t mode arrays: any alignment) and points to as many
 *    elements as the sizes say; only the pointers documented "may be NULL" may be NULL.
 *  - Aliasing: an output must not overlap any input, with exactly these exceptions, which the
 *    arena planner (larq2mcu/planner.py, IN_PLACE) relies on: l2m_batchnorm_f32_ref,
 *    l2m_activation_f32_f32_ref and l2m_softmax_f32_f32_ref allow out == in, l2m_add_f32_f32_ref
 *    allows out == a and/or out == b. "==": the same start address; partial overlap is never
 *    allowed. Weights, thresholds and other parameter arrays never overlap an output.
 *  - No scratch memory beyond the stack stated per kernel (none unless stated), no heap, no
 *    globals: kernels are reentrant.
 *  - Arguments come from generated code and are not re-validated; kernels cannot fail (void).
 *  - Output pad bits are written as 0.
 */
#ifndef L2M_KERNELS_H
#define L2M_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "l2m_bits.h"
#include "l2m_types.h"   /* l2m_geom, l2m_status (L2M_OK, L2M_ERR_*), l2m_out, L2M_INLINE */

/* ---- binary <-> float ------------------------------------------------------------------ */
/* out: groups x L2M_WORDS(c) words; bit = (in < 0) (sign(0) = sign(-0.0) = +1). */
void l2m_quantize_f32_b32_ref(int32_t groups, int32_t c, const float *in, uint32_t *out);
/* out[g*c + i] = bit ? -1.0f : +1.0f */
void l2m_dequantize_b32_f32_ref(int32_t groups, int32_t c, const uint32_t *in, float *out);

/* ---- binary convolution ------------------------------------------------------------------
 * in:  in_h x in_w x L2M_WORDS(in_c) words.  w: out_c x k_h x k_w x L2M_WORDS(in_c) words.
 * acc = sum over taps inside the image of (in_c - 2*popcount(a ^ w))
 *     + (pad_one ? sum over taps outside of (in_c - 2*popcount(w)) : 0)      (int32)
 * f32 out: out_h x out_w x out_c floats, (float)acc + bias[oc] (bias may be NULL).
 * b32 out: out_h x out_w x L2M_WORDS(out_c) words, bit = (acc < thr[oc]).                  */
void l2m_conv2d_b32_f32_ref(const l2m_geom *g, int32_t pad_one, const uint32_t *in, const uint32_t *w,
                            const float *bias, float *out);
void l2m_conv2d_b32_b32_ref(const l2m_geom *g, int32_t pad_one, const uint32_t *in, const uint32_t *w,
                            const int32_t *thr, uint32_t *out);

/* Few input channels (in_c < 32, L2M_WORDS(k_h*k_w*in_c) <= L2M_PACKED_MAX_WORDS): same inputs
 * and results as the two kernels above, but each filter's window bits are packed densely, with
 * no pad bits between taps: w holds out_c x L2M_WORDS(k_h*k_w*in_c) words, window bit
 * (ky*k_w + kx)*in_c + c (tail pad bits 0). Uses 2*L2M_PACKED_MAX_WORDS words of stack.      */
#define L2M_PACKED_MAX_WORDS 32
void l2m_conv2d_packed_b32_f32_ref(const l2m_geom *g, int32_t pad_one, const uint32_t *in, const uint32_t *w,
                                   const float *bias, float *out);
void l2m_conv2d_packed_b32_b32_ref(const l2m_geom *g, int32_t pad_one, const uint32_t *in, const uint32_t *w,
                                   const int32_t *thr, uint32_t *out);

/* ---- binary dense ------------------------------------------------------------------------
 * in: groups x L2M_WORDS(c) words (a flattened packed map keeps its per-pixel packing).
 * w:  out_n x groups x L2M_WORDS(c) words.  acc = groups*c - 2*popcount(in ^ w).
 * f32 out: out_n floats (float)acc + bias[o];  b32 out: L2M_WORDS(out_n) words, bit = acc < thr[o]. */
void l2m_dense_b32_f32_ref(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const uint32_t *w,
                           const float *bias, float *out);
void l2m_dense_b32_b32_ref(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const uint32_t *w,
                           const int32_t *thr, uint32_t *out);

/* ---- bit-sliced binary conv / dense (threshold outputs) ----------------------------------
 * Same bits as l2m_conv2d_b32_b32_ref (packed = 0), l2m_conv2d_packed_b32_b32_ref (packed = 1)
 * with pad_one = 1, and l2m_dense_b32_b32_ref — bit = (acc < thr) — from a transposed weight
 * layout in which 32 filters are counted at once (arithmetic: l2m_sliced.c; built by
 * larq2mcu/layout/sliced.py). A window is nwin words: conv k_h*k_w*L2M_WORDS(in_c) (tap after
 * tap) or, packed, L2M_WORDS(k_h*k_w*in_c) (bit (ky*k_w + kx)*in_c + c); dense the whole input,
 * groups*L2M_WORDS(c). Taps outside the image are +1 (bit 0): a padded conv must have
 * pad_value 1 (zero padding has no sliced form).
 *  w:      L2M_WORDS(out_c) blocks of nwin*32 + 8 words; word q*32 + t of block b holds, in
 *          bit j, filter 32b + j's weight bit for window bit 31 - t of window word q (bits 0
 *          for filters past out_c); the last 8 words of a block are 0.
 *  planes: L2M_WORDS(out_c) blocks x 4 sets x m words, m = l2m_sliced_planes(K), K the real
 *          window bits (k_h*k_w*in_c, groups*c).
 * Windows hold at most L2M_SLICED_MAX_WORDS (conv) / L2M_SLICED_DENSE_MAX_WORDS (dense) words:
 * the engine copies them to the stack.                                                     */
#define L2M_SLICED_MAX_WORDS 64
#define L2M_SLICED_DENSE_MAX_WORDS 128
int32_t l2m_sliced_planes(int32_t k);
void l2m_conv2d_sliced_b32_b32_ref(const l2m_geom *g, int32_t packed, const uint32_t *in, const uint32_t *w,
                                   const uint32_t *planes, uint32_t *out);
void l2m_dense_sliced_b32_b32_ref(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const uint32_t *w,
                                  const uint32_t *planes, uint32_t *out);
/* Float outputs: same floats as l2m_conv2d_b32_f32_ref / l2m_conv2d_packed_b32_f32_ref (pad_one
 * = 1) / l2m_dense_b32_f32_ref, (float)acc + bias[oc] (bias may be NULL), from the same rows and
 * kc[oc] = the number of bits set in filter oc (its -1 weights). K must be below 65536.     */
void l2m_conv2d_sliced_b32_f32_ref(const l2m_geom *g, int32_t packed, const uint32_t *in, const uint32_t *w,
                                   const int32_t *kc, const float *bias, float *out);
void l2m_dense_sliced_b32_f32_ref(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const uint32_t *w,
                                  const int32_t *kc, const float *bias, float *out);

/* ---- binary pooling / data movement ------------------------------------------------------ */
/* Max of +-1 values = AND of bits; channels with or_mask bit set take the OR (min) instead.
 * or_mask: L2M_WORDS(c) words or NULL. Taps outside the image are ignored. out_c == in_c.    */
void l2m_maxpool_b32_b32_ref(const l2m_geom *g, const uint32_t *or_mask, const uint32_t *in, uint32_t *out);
/* sign(mean of +-1 taps inside the image), 0 -> +1: bit = (2*m > n), m = popcount.        */
void l2m_avgpool_b32_b32_ref(const l2m_geom *g, const uint32_t *in, uint32_t *out);
/* Copy `pixels` runs of in_c bits into runs of out_c bits starting at bit `offset` of each
 * output run. `out` must be zeroed beforehand (concatenation = one call per input).        */
void l2m_bitcopy_b32_ref(int32_t pixels, int32_t in_c, int32_t out_c, int32_t offset, const uint32_t *in,
                         uint32_t *out);
/* Same n logical bits, repacked from (in_groups x in_c) to (out_groups x out_c) runs.       */
void l2m_repack_b32_ref(int32_t in_c, int32_t out_groups, int32_t out_c, const uint32_t *in, uint32_t *out);

/* ---- float kernels ------------------------------------------------------------------------
 * Float results match TensorFlow to rounding only (different summation order).             */
/* w: HWIO (k_h x k_w x in_c x out_c); taps outside the image read pad_value. bias may be NULL. */
void l2m_conv2d_f32_f32_ref(const l2m_geom *g, float pad_value, const float *in, const float *w,
                            const float *bias, float *out);
/* w: in_n x out_n (Keras layout); bias may be NULL. */
void l2m_dense_f32_f32_ref(int32_t in_n, int32_t out_n, const float *in, const float *w, const float *bias,
                           float *out);
/* The same sums (bias included) thresholded per output channel into bits (b32 layout):
 * mode 0: bit = x < tau; 1: bit = -x < tau; 2: bit = 0; 3: bit = 1  (BN + sign folded, exact
 * against Keras' own BN for the given float sum; see larq2mcu/frontend/float_threshold.py).
 * tau and mode: out_c values each, never NULL; bias may be NULL. */
static inline int32_t l2m_float_threshold_bit(float x, float tau, int8_t mode) {
    switch (mode) {
        case 0: return x < tau;
        case 1: return -x < tau;
        case 2: return 0;
        default: return 1;
    }
}
void l2m_conv2d_f32_b32_ref(const l2m_geom *g, float pad_value, const float *in, const float *w,
                            const float *bias, const float *tau, const int8_t *mode, uint32_t *out);
void l2m_dense_f32_b32_ref(int32_t in_n, int32_t out_n, const float *in, const float *w, const float *bias,
                           const float *tau, const int8_t *mode, uint32_t *out);
/* Float input, 1-bit weights (a binary kernel on a float input): each filter's k_h*k_w*in_c
 * weights (HWI order) packed contiguously, L2M_WORDS(k_h*k_w*in_c) words per output channel;
 * dense: L2M_WORDS(in_n) words per output. The dense kernels are bit-identical to the f32 ones
 * with the weights as +-1.0f; the conv kernels sum the window in groups of four taps, in
 * (ky, kx, c) order (order stated in l2m_w1_impl.h). Thresholds as above.                  */
void l2m_conv2d_w1_f32_f32_ref(const l2m_geom *g, float pad_value, const float *in, const uint32_t *w,
                               const float *bias, float *out);
void l2m_conv2d_w1_f32_b32_ref(const l2m_geom *g, float pad_value, const float *in, const uint32_t *w,
                               const float *bias, const float *tau, const int8_t *mode, uint32_t *out);
void l2m_dense_w1_f32_f32_ref(int32_t in_n, int32_t out_n, const float *in, const uint32_t *w, const float *bias,
                              float *out);
void l2m_dense_w1_f32_b32_ref(int32_t in_n, int32_t out_n, const float *in, const uint32_t *w, const float *bias,
                              const float *tau, const int8_t *mode, uint32_t *out);
/* y = (x - mean[c]) * scale[c] + offset[c] over `pixels` runs of c channels; out == in allowed
 * (in place: each element is read before it is written). */
void l2m_batchnorm_f32_ref(int32_t pixels, int32_t c, const float *in, const float *mean, const float *scale,
                           const float *offset, float *out);
/* Taps outside the image are ignored; average divides by the taps inside (Keras 'same'); every
 * window has at least one tap inside. out_c == in_c. */
void l2m_maxpool_f32_f32_ref(const l2m_geom *g, const float *in, float *out);
void l2m_avgpool_f32_f32_ref(const l2m_geom *g, const float *in, float *out);
/* Per channel, the mean over `pixels` (>= 1) runs of c values: out holds c floats. */
void l2m_global_avgpool_f32_f32_ref(int32_t pixels, int32_t c, const float *in, float *out);
/* Element-wise; out == a and/or out == b allowed (in place). */
void l2m_add_f32_f32_ref(int32_t n, const float *a, const float *b, float *out);
/* out[p*out_c + offset + i] = in[p*in_c + i]  (concatenation = one call per input). */
void l2m_chancopy_f32_ref(int32_t pixels, int32_t in_c, int32_t out_c, int32_t offset, const float *in,
                          float *out);

#define L2M_ACT_RELU 1
#define L2M_ACT_SIGMOID 2
#define L2M_ACT_TANH 3
/* Element-wise; out == in allowed (in place). */
void l2m_activation_f32_f32_ref(int32_t n, int32_t kind, const float *in, float *out);
/* Softmax over runs of c values (exp(x - max) / sum); out == in allowed (in place: a row's
 * maximum is taken before any of it is written, each x is read before its slot is). */
void l2m_softmax_f32_f32_ref(int32_t rows, int32_t c, const float *in, float *out);

/* ---- glue kernels (l2m_glue.c) -------------------------------------------------------------
 * Element-wise float kernels that repeat Keras' float32 steps, so results equal TensorFlow's
 * exactly (up to the sign of a zero). Aliasing: l2m_relu_f32_f32_ref and l2m_prelu_f32_f32_ref
 * allow out == in; l2m_arith_f32_f32_ref allows out == a (or out == b) when that operand is
 * read unbroadcast (strides of a contiguous h x w x c map). l2m_pad_f32_ref: no overlap.      */
/* in: h x w x c; out: (h+top+bottom) x (w+left+right) x c, outside the input = value. */
void l2m_pad_f32_ref(int32_t h, int32_t w, int32_t c, int32_t top, int32_t bottom, int32_t left, int32_t right,
                     float value, const float *in, float *out);
/* tf-keras backend.relu(x, alpha, max_value, threshold) (ops/glue.py keras_relu): leaky
 * (x > 0 ? x : x*alpha) when alpha != 0, !has_max, threshold == 0; else neg = relu(threshold - x),
 * y = threshold != 0 ? x*[x > threshold] : relu(x), clip(y, 0, max_value) if has_max,
 * y - alpha*neg if alpha != 0. */
void l2m_relu_f32_f32_ref(int32_t n, float alpha, float threshold, int32_t has_max, float max_value,
                          const float *in, float *out);
/* Keras PReLU: out[i] = relu(x) + (-alpha[i % alpha_n]) * relu(-x); n a multiple of alpha_n. */
void l2m_prelu_f32_f32_ref(int32_t n, int32_t alpha_n, const float *alpha, const float *in, float *out);
#define L2M_ARITH_ADD 0
#define L2M_ARITH_SUB 1
#define L2M_ARITH_MUL 2
#define L2M_ARITH_DIV 3
#define L2M_ARITH_MAX 4
#define L2M_ARITH_MIN 5
/* out (h x w x c, contiguous) [y][x][i] = a[y*ash + x*asw + i*asc] kind b[y*bsh + x*bsw + i*bsc]:
 * one float32 operation (max/min propagate a NaN); a stride of 0 broadcasts. */
void l2m_arith_f32_f32_ref(int32_t kind, int32_t h, int32_t w, int32_t c, int32_t ash, int32_t asw, int32_t asc,
                           const float *a, int32_t bsh, int32_t bsw, int32_t bsc, const float *b, float *out);

/* Optimized variants (_hs, _clz, _usad8, _zbb, _hw, _builtin), bit-identical to the kernels above
 * (that header includes only l2m_types.h: the includes point one way). */
#include "l2m_kernels_opt.h"

#endif /* L2M_KERNELS_H */
