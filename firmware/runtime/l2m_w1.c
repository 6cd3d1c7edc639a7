/* larq2mcu runtime — float inputs with 1-bit weights (contracts in l2m_kernels.h).
 *
 * A binary kernel on a float input (Larq's first layer: QuantConv2D without input quantizer)
 * multiplies by +-1 only, so the weights are stored as bits and each term is added with its sign
 * flipped instead of multiplied: a * (+1.0f) == a and a * (-1.0f) == -a exactly. The dense
 * kernels sum in the float-weight kernels' order (bit for bit what they return with the weights
 * as +-1.0f); the convolutions sum in groups of four taps (l2m_w1_impl.h), which the fast path
 * reads from per-pixel tables — at 1/32 of the weight memory.
 */
#include <string.h>

#include "l2m_kernels.h"
#include "l2m_w1_impl.h"   /* l2mi_flip_sign, l2mi_w1_acc: the reference order, shared with the engine */

void l2m_conv2d_w1_f32_f32_ref(const l2m_geom *g, float pad_value, const float *in, const uint32_t *w,
                               const float *bias, float *out) {
    const int32_t fw = L2M_WORDS(g->k_h * g->k_w * g->in_c);
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            for (int32_t oc = 0; oc < g->out_c; ++oc) {
                *out++ = l2mi_w1_acc(g, pad_value, in, w + oc * fw, oy, ox) + (bias ? bias[oc] : 0.0f);
            }
        }
    }
}

void l2m_conv2d_w1_f32_b32_ref(const l2m_geom *g, float pad_value, const float *in, const uint32_t *w,
                               const float *bias, const float *tau, const int8_t *mode, uint32_t *out) {
    const int32_t fw = L2M_WORDS(g->k_h * g->k_w * g->in_c);
    const int32_t onw = L2M_WORDS(g->out_c);
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            memset(out, 0, (size_t)onw * sizeof(uint32_t));
            for (int32_t oc = 0; oc < g->out_c; ++oc) {
                const float acc = l2mi_w1_acc(g, pad_value, in, w + oc * fw, oy, ox) + (bias ? bias[oc] : 0.0f);
                if (l2m_float_threshold_bit(acc, tau[oc], mode[oc])) l2m_set_bit(out, oc);
            }
            out += onw;
        }
    }
}

static float dense_w1_acc(int32_t in_n, const float *in, const uint32_t *wo) {
    float acc = 0.0f;
    for (int32_t i = 0; i < in_n; ++i) acc += l2mi_flip_sign(in[i], l2m_get_bit(wo, i));
    return acc;
}

void l2m_dense_w1_f32_f32_ref(int32_t in_n, int32_t out_n, const float *in, const uint32_t *w, const float *bias,
                              float *out) {
    for (int32_t o = 0; o < out_n; ++o) {
        out[o] = dense_w1_acc(in_n, in, w + o * L2M_WORDS(in_n)) + (bias ? bias[o] : 0.0f);
    }
}

void l2m_dense_w1_f32_b32_ref(int32_t in_n, int32_t out_n, const float *in, const uint32_t *w, const float *bias,
                              const float *tau, const int8_t *mode, uint32_t *out) {
    memset(out, 0, (size_t)L2M_WORDS(out_n) * sizeof(uint32_t));
    for (int32_t o = 0; o < out_n; ++o) {
        const float acc = dense_w1_acc(in_n, in, w + o * L2M_WORDS(in_n)) + (bias ? bias[o] : 0.0f);
        if (l2m_float_threshold_bit(acc, tau[o], mode[o])) l2m_set_bit(out, o);
    }
}
