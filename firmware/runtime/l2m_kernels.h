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
 *    l2m_activation_f32_f32_ref, l2m_softmax_f32_f32_ref, l2m_step_f32_f32_ref and
 *    l2m_clip_f32_f32_ref allow out == in (l2m_scale_bias_f32_ref is in place), l2m_add_f32_f32_ref
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
/* Bit input, float weights (a float Dense on sign(x): Larq's QuantDense with an input quantizer
 * and no kernel quantizer): the in_n = groups * c inputs are bits in the (groups, c) packing
 * (element g*c + ch = bit ch of word g*L2M_WORDS(c) + ch/32; bit 1 = -1.0f), w: in_n x out_n
 * floats. Exactly l2m_dense_f32_{f32,b32}_ref on the +-1.0f inputs the bits stand for: each
 * product x*w is exact, so acc + x*w is acc + w or acc - w, summed in input order. bias may be
 * NULL. 4-byte aligned arrays; out overlaps no input. */
void l2m_dense_fw_b32_f32_ref(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const float *w,
                              const float *bias, float *out);
void l2m_dense_fw_b32_b32_ref(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const float *w,
                              const float *bias, const float *tau, const int8_t *mode, uint32_t *out);
/* Dense on bits with fixed-point weights (larq2mcu/layout/fixed.py, docs/MATH.md §11): the float
 * dense above with each output's weights as integers w (in_n x out_n, same order) times wscale[o]
 * (a power of two): out[o] = (float)(wsum[o] - 2 * sum of w[i*out_n+o] over the inputs whose bit
 * is 1) * wscale[o] + bias[o] (bias may be NULL), then the float threshold as above for _b32.
 * wsum[o] = sum_i w[i*out_n+o]; requires sum_i |w[i*out_n+o]| <= 2^30 - 1 (no int32 overflow).
 * Integer sums: no float operation but two per output. Alignment, aliasing as above.        */
void l2m_dense_qw_b32_f32_ref(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const int32_t *w,
                              const int32_t *wsum, const float *wscale, const float *bias, float *out);
void l2m_dense_qw_b32_b32_ref(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in, const int32_t *w,
                              const int32_t *wsum, const float *wscale, const float *bias, const float *tau,
                              const int8_t *mode, uint32_t *out);
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
/* The sign of an average pool of a binary conv's outputs plus bias, in integers (docs/MATH.md
 * §12): `in` holds exact integers (the conv's accumulators without bias; the sum of |x| over any
 * window < 2^24, so float sums of them are exact in any order), and bit c
 * of an output pixel is (S < tau[(n - 1) * out_c + c]) with S the sum over the n taps inside the
 * image (Keras 'same': taps outside are ignored; every window has one inside). out: L2M_WORDS(
 * out_c) words per pixel, pad bits 0. out_c == in_c; |tau| <= 2^24. _ref adds the floats (the
 * average pool's window walk); _opt adds the floats with an FPU, integers from the bit patterns
 * without (L2M_HW_FLOAT). */
void l2m_sumpool_f32_b32_ref(const l2m_geom *g, const int32_t *tau, const float *in, uint32_t *out);
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

/* ---- input-side affine and the integer first layer (l2m_affine.c) -----------------------
 * Keras Rescaling: out = in*scale[i] + offset[i]; Keras Normalization: out = (in - mean[i]) /
 * denom[i]; over `pixels` runs of c channels, each operation one float32 rounding (never fused).
 * out == in allowed (in place: each element is read before it is written).                 */
void l2m_rescale_f32_f32_ref(int32_t pixels, int32_t c, const float *in, const float *scale, const float *offset,
                             float *out);
void l2m_normalize_f32_f32_ref(int32_t pixels, int32_t c, const float *in, const float *mean, const float *denom,
                               float *out);
/* Raw 8-bit input (u8: uint8_t 0..255, s8: int8_t -128..127; any alignment, in_h x in_w x in_c
 * bytes NHWC), 1-bit weights as the w1 kernels (L2M_WORDS(k_h*k_w*in_c) words per filter, HWI
 * bit order, bit 1 = -1): acc = sum over taps inside the image of (bit ? -u : u), exact int32;
 * taps outside add nothing. out: out_h x out_w x L2M_WORDS(out_c) words, bit = acc < thr[(cls_y[oy]
 * * n_cls_x + cls_x[ox]) * out_c + oc] (the border class of the output position: out_h and
 * out_w entries of cls_y / cls_x, each >= 0). No float arithmetic.                           */
void l2m_conv2d_u8_b32_ref(const l2m_geom *g, const int8_t *cls_y, const int8_t *cls_x, int32_t n_cls_x,
                           const uint8_t *in, const uint32_t *w, const int32_t *thr, uint32_t *out);
void l2m_conv2d_s8_b32_ref(const l2m_geom *g, const int8_t *cls_y, const int8_t *cls_x, int32_t n_cls_x,
                           const int8_t *in, const uint32_t *w, const int32_t *thr, uint32_t *out);
/* Same bits as the two kernels above, from the table engine of l2m_intconv_impl.h (two pixels
 * per 32-bit word, per-pair tables of the signed sums of each group of four taps) with the
 * geometry read at run time; generated code runs the same engine with the layer's geometry as
 * constants. ~1.3 KB of stack; windows over 33 taps run the reference loop. */
void l2m_conv2d_u8_b32_tab(const l2m_geom *g, const int8_t *cls_y, const int8_t *cls_x, int32_t n_cls_x,
                           const uint8_t *in, const uint32_t *w, const int32_t *thr, uint32_t *out);
void l2m_conv2d_s8_b32_tab(const l2m_geom *g, const int8_t *cls_y, const int8_t *cls_x, int32_t n_cls_x,
                           const int8_t *in, const uint32_t *w, const int32_t *thr, uint32_t *out);
/* Dense: in_n bytes, w: L2M_WORDS(in_n) words per output; bit = (sum (bit ? -u : u)) < thr[o]. */
void l2m_dense_u8_b32_ref(int32_t in_n, int32_t out_n, const uint8_t *in, const uint32_t *w, const int32_t *thr,
                          uint32_t *out);
void l2m_dense_s8_b32_ref(int32_t in_n, int32_t out_n, const int8_t *in, const uint32_t *w, const int32_t *thr,
                          uint32_t *out);
/* ---- grouped convolution (grouped, dilated, depthwise; l2m_depthwise.c) --------------------
 * groups >= 1 divides in_c and out_c; cin_g = in_c / groups, cout_g = out_c / groups. Output
 * channel oc reads input channels [c0, c0 + cin_g), c0 = (oc / cout_g) * cin_g (depthwise:
 * groups = in_c). Tap (ky, kx) reads row oy*stride_h - pad_top + ky*dil_h and column
 * ox*stride_w - pad_left + kx*dil_w (dil_h, dil_w >= 1; k_h, k_w are the undilated sizes).
 * Binary: in: in_h x in_w x L2M_WORDS(in_c) words; w: out_c filters of L2M_WORDS(k_h*k_w*cin_g)
 * words, bit t = (ky*k_w + kx)*cin_g + ci of filter oc, pad bits 0.
 *   acc = sum over taps inside of sum_ci a*w + (pad_one ? sum over taps outside of sum_ci w : 0),
 *   a, w in {-1, +1} (int32). f32 out: (float)acc + bias[oc] (bias may be NULL); b32 out:
 *   L2M_WORDS(out_c) words per pixel, bit = (acc < thr[oc]).
 * Float: w: k_h x k_w x cin_g x out_c floats; acc summed from 0.0f in (ky, kx, ci) order, taps
 *   outside reading pad_value, then + bias[oc] (bias may be NULL). f32 out: out_h x out_w x
 *   out_c floats; b32 out: L2M_WORDS(out_c) words per pixel, bit = l2m_float_threshold_bit(acc
 *   + bias[oc], tau[oc], mode[oc]).                                                          */
void l2m_gconv2d_b32_f32_ref(const l2m_geom *g, int32_t dil_h, int32_t dil_w, int32_t groups, int32_t pad_one,
                             const uint32_t *in, const uint32_t *w, const float *bias, float *out);
void l2m_gconv2d_b32_b32_ref(const l2m_geom *g, int32_t dil_h, int32_t dil_w, int32_t groups, int32_t pad_one,
                             const uint32_t *in, const uint32_t *w, const int32_t *thr, uint32_t *out);
void l2m_gconv2d_f32_f32_ref(const l2m_geom *g, int32_t dil_h, int32_t dil_w, int32_t groups, float pad_value,
                             const float *in, const float *w, const float *bias, float *out);
void l2m_gconv2d_f32_b32_ref(const l2m_geom *g, int32_t dil_h, int32_t dil_w, int32_t groups, float pad_value,
                             const float *in, const float *w, const float *bias, const float *tau, const int8_t *mode,
                             uint32_t *out);
/* Depthwise binary conv (groups = in_c = out_c), bit-identical to l2m_gconv2d_b32_b32_ref /
 * l2m_gconv2d_b32_f32_ref, 32 channels per word operation (bit-sliced mismatch counters).
 * w: k_h*k_w taps x L2M_WORDS(in_c) words, bit c of tap (ky*k_w + kx) = weight bit of channel c.
 * nplanes: counter planes, 1 <= nplanes <= 8, 2^nplanes > k_h*k_w. tplanes: for each n in
 * [0, k_h*k_w] (the pixel's contributing taps: inside ones, all with pad_one) and each channel
 * word, nplanes + 2 words: always-set mask, never-set mask (pad channels included), then planes
 * of T = floor((n - thr[c]) / 2) + 1 (bits past 0 <= T <= n are don't-care under the masks);
 * bit = always | (m >= T & ~never), m = mismatching taps (larq2mcu/ops/depthwise.py builds it). */
void l2m_dwconv2d_b32_b32_sliced(const l2m_geom *g, int32_t dil_h, int32_t dil_w, int32_t pad_one, int32_t nplanes,
                                 const uint32_t *in, const uint32_t *w, const uint32_t *tplanes, uint32_t *out);
/* Float outputs: out_h x out_w x out_c floats, (float)(n - 2m) + bias[c] (bias may be NULL). */
void l2m_dwconv2d_b32_f32_sliced(const l2m_geom *g, int32_t dil_h, int32_t dil_w, int32_t pad_one, int32_t nplanes,
                                 const uint32_t *in, const uint32_t *w, const float *bias, float *out);
/* ---- element-wise quantizers and output scales (l2m_step.c) ----------------------------- */
/* Step function: out[i] = levels[#{j < nbp: bp[j] <= in[i]}]; bp ascending (nbp values),
 * levels nbp + 1 values. out == in allowed (in place). */
void l2m_step_f32_f32_ref(int32_t n, int32_t nbp, const float *bp, const float *levels, const float *in,
                          float *out);
/* Clip: x = in[i], with flush a subnormal x first becomes +-0.0 (sign kept); then strict:
 * x < lo -> lo, x > hi -> hi; else x <= lo -> lo, x >= hi -> hi; otherwise x. out == in allowed. */
void l2m_clip_f32_f32_ref(int32_t n, float lo, float hi, int32_t strict, int32_t flush, const float *in,
                          float *out);
/* In place over pixels x c floats: out[p*c + k] = out[p*c + k] * scale[k] (+ bias[k]); one
 * rounding per operation (build with -ffp-contract=off). bias may be NULL. */
void l2m_scale_bias_f32_ref(int32_t pixels, int32_t c, const float *scale, const float *bias, float *out);
/* ---- glue kernels (l2m_glue.c) -------------------------------------------------------------
 * Element-wise float kernels that repeat Keras' float32 steps, so results equal TensorFlow's
 * exactly (up to the sign of a zero). Aliasing: l2m_relu_f32_f32_ref and l2m_prelu_f32_f32_ref
 * allow out == in; l2m_arith_f32_f32_ref allows out == a (or out == b) when that operand is
 * read unbroadcast (strides of a contiguous h x w x c map). l2m_pad_f32_ref: no overlap.      */
/* in: h x w x c; out: (h+top+bottom) x (w+left+right) x c, outside the input = value. */
void l2m_pad_f32_ref(int32_t h, int32_t w, int32_t c, int32_t top, int32_t bottom, int32_t left, int32_t right,
                     float value, const float *in, float *out);
/* in: pixels x in_c; out: pixels x out_c, out[p*out_c + i] = in[p*in_c + begin + i] where
 * 0 <= begin + i < in_c, else value (channel slice: begin >= 0; channel pad: begin < 0). No overlap. */
void l2m_chanwindow_f32_ref(int32_t pixels, int32_t in_c, int32_t out_c, int32_t begin, float value,
                            const float *in, float *out);
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
