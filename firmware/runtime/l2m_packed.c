/* larq2mcu runtime — binary convolution for few input channels (contract in l2m_kernels.h).
 *
 * With in_c < 32 a pixel fills only in_c bits of its word, so the standard layout spends
 * k_h*k_w words (and XOR/popcounts) per filter on k_h*k_w*in_c bits. Here each filter's window
 * bits are packed densely — bit (ky*k_w + kx)*in_c + c of L2M_WORDS(k_h*k_w*in_c) words — and
 * so is the input window of each output pixel, once, before all filters: a 3x3 window of 16
 * channels costs 5 words instead of 9, of one channel 1 word instead of 9; flash holds the bits
 * and no padding between taps. Same accumulator as l2m_conv2d_b32_*_ref: taps outside the image
 * count as +1 with pad_one, else not at all.
 *
 * This is the plain reference: the window is packed bit by bit.
 */
#include <string.h>

#include "l2m_kernels.h"

/* Pack the window of output (oy, ox): bits r, mask m of the bits that count; returns how many
 * count. A tap outside the image has bits 0 (= +1) and counts only with pad_one. */
static int32_t gather_packed(const l2m_geom *g, int32_t pad_one, const uint32_t *in, int32_t oy, int32_t ox,
                             uint32_t *r, uint32_t *m) {
    const int32_t nwin = L2M_WORDS(g->k_h * g->k_w * g->in_c);
    int32_t n = 0;
    memset(r, 0, (size_t)nwin * sizeof(uint32_t));
    memset(m, 0, (size_t)nwin * sizeof(uint32_t));
    for (int32_t ky = 0; ky < g->k_h; ++ky) {
        const int32_t iy = oy * g->stride_h - g->pad_top + ky;
        for (int32_t kx = 0; kx < g->k_w; ++kx) {
            const int32_t ix = ox * g->stride_w - g->pad_left + kx;
            const int inside = iy >= 0 && iy < g->in_h && ix >= 0 && ix < g->in_w;
            if (!inside && !pad_one) continue;
            for (int32_t c = 0; c < g->in_c; ++c) {
                const int32_t b = (ky * g->k_w + kx) * g->in_c + c;
                if (inside && l2m_get_bit(in + iy * g->in_w + ix, c)) l2m_set_bit(r, b);
                l2m_set_bit(m, b);
                ++n;
            }
        }
    }
    return n;
}

static int32_t packed_acc(int32_t nwin, int32_t n, const uint32_t *r, const uint32_t *m, const uint32_t *wf) {
    int32_t p = 0;
    for (int32_t i = 0; i < nwin; ++i) p += l2m_popcount32((r[i] ^ wf[i]) & m[i]);
    return n - 2 * p;
}

void l2m_conv2d_packed_b32_b32_ref(const l2m_geom *g, int32_t pad_one, const uint32_t *in, const uint32_t *w,
                                   const int32_t *thr, uint32_t *out) {
    uint32_t r[L2M_PACKED_MAX_WORDS], m[L2M_PACKED_MAX_WORDS];
    const int32_t nwin = L2M_WORDS(g->k_h * g->k_w * g->in_c);
    const int32_t onw = L2M_WORDS(g->out_c);
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            const int32_t n = gather_packed(g, pad_one, in, oy, ox, r, m);
            memset(out, 0, (size_t)onw * sizeof(uint32_t));
            for (int32_t oc = 0; oc < g->out_c; ++oc) {
                if (packed_acc(nwin, n, r, m, w + oc * nwin) < thr[oc]) l2m_set_bit(out, oc);
            }
            out += onw;
        }
    }
}

void l2m_conv2d_packed_b32_f32_ref(const l2m_geom *g, int32_t pad_one, const uint32_t *in, const uint32_t *w,
                                   const float *bias, float *out) {
    uint32_t r[L2M_PACKED_MAX_WORDS], m[L2M_PACKED_MAX_WORDS];
    const int32_t nwin = L2M_WORDS(g->k_h * g->k_w * g->in_c);
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            const int32_t n = gather_packed(g, pad_one, in, oy, ox, r, m);
            for (int32_t oc = 0; oc < g->out_c; ++oc) {
                *out++ = (float)packed_acc(nwin, n, r, m, w + oc * nwin) + (bias ? bias[oc] : 0.0f);
            }
        }
    }
}
