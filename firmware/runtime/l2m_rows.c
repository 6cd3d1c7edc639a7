/* larq2mcu runtime — binary convolution for few input channels (contract in l2m_kernels.h).
 *
 * With in_c * k_w <= 32 a whole kernel row fits one word (bit kx*in_c + c). Per output pixel the
 * k_h window rows are gathered once (shift/OR of one word per pixel: in_c <= 32 means one word
 * per pixel) and every filter then costs k_h XOR/popcounts instead of k_h*k_w — a binarized image
 * (in_c = 1) would otherwise spend a whole word per single bit. Same accumulator as
 * l2m_conv2d_b32_*_ref: taps outside the image count as +1 with pad_one, else not at all.
 */
#include <string.h>

#include "l2m_kernels.h"

/* Gather the window rows of output (oy, ox): bits, valid-bit masks and valid-bit counts. */
static void gather_rows(const l2m_geom *g, int32_t pad_one, const uint32_t *in, int32_t oy, int32_t ox,
                        uint32_t *rw, uint32_t *rm, int32_t *rn) {
    const int32_t row_bits = g->k_w * g->in_c;
    const uint32_t full = row_bits == 32 ? 0xFFFFFFFFu : ((1u << (uint32_t)row_bits) - 1u);
    const uint32_t cmask = g->in_c == 32 ? 0xFFFFFFFFu : ((1u << (uint32_t)g->in_c) - 1u);
    for (int32_t ky = 0; ky < g->k_h; ++ky) {
        const int32_t iy = oy * g->stride_h - g->pad_top + ky;
        uint32_t r = 0, m = 0;
        if (iy >= 0 && iy < g->in_h) {
            for (int32_t kx = 0; kx < g->k_w; ++kx) {
                const int32_t ix = ox * g->stride_w - g->pad_left + kx;
                if (ix >= 0 && ix < g->in_w) {
                    const uint32_t sh = (uint32_t)(kx * g->in_c) & 31u;   /* < 32 by contract */
                    r |= in[iy * g->in_w + ix] << sh;      /* pad bits are 0: no masking needed */
                    m |= cmask << sh;
                }
            }
        }
        if (pad_one) m = full;                             /* outside taps: +1 (bit 0) against w */
        rw[ky] = r;
        rm[ky] = m;
        rn[ky] = l2m_popcount32(m);
    }
}

static int32_t rows_acc(int32_t k_h, const uint32_t *rw, const uint32_t *rm, const int32_t *rn, const uint32_t *wf) {
    int32_t acc = 0;
    for (int32_t ky = 0; ky < k_h; ++ky) acc += rn[ky] - 2 * l2m_popcount32((rw[ky] ^ wf[ky]) & rm[ky]);
    return acc;
}

void l2m_conv2d_rows_b32_b32_ref(const l2m_geom *g, int32_t pad_one, const uint32_t *in, const uint32_t *w,
                                 const int32_t *thr, uint32_t *out) {
    uint32_t rw[L2M_ROWS_MAX_KH], rm[L2M_ROWS_MAX_KH];
    int32_t rn[L2M_ROWS_MAX_KH];
    const int32_t onw = L2M_WORDS(g->out_c);
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            gather_rows(g, pad_one, in, oy, ox, rw, rm, rn);
            memset(out, 0, (size_t)onw * sizeof(uint32_t));
            for (int32_t oc = 0; oc < g->out_c; ++oc) {
                if (rows_acc(g->k_h, rw, rm, rn, w + oc * g->k_h) < thr[oc]) l2m_set_bit(out, oc);
            }
            out += onw;
        }
    }
}

void l2m_conv2d_rows_b32_f32_ref(const l2m_geom *g, int32_t pad_one, const uint32_t *in, const uint32_t *w,
                                 const float *bias, float *out) {
    uint32_t rw[L2M_ROWS_MAX_KH], rm[L2M_ROWS_MAX_KH];
    int32_t rn[L2M_ROWS_MAX_KH];
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            gather_rows(g, pad_one, in, oy, ox, rw, rm, rn);
            for (int32_t oc = 0; oc < g->out_c; ++oc) {
                *out++ = (float)rows_acc(g->k_h, rw, rm, rn, w + oc * g->k_h) + (bias ? bias[oc] : 0.0f);
            }
        }
    }
}
