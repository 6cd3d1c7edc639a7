/* larq2mcu runtime — element-wise quantizers (step functions, clips) and the output scale of
 * scaled binary dots (contracts in l2m_kernels.h). */
#include "l2m_kernels.h"

void l2m_step_f32_f32_ref(int32_t n, int32_t nbp, const float *bp, const float *levels, const float *in,
                          float *out) {
    for (int32_t i = 0; i < n; ++i) {
        const float x = in[i];
        /* binary search: lo = #{j: bp[j] <= x} (bp ascending) */
        int32_t lo = 0, hi = nbp;
        while (lo < hi) {
            const int32_t mid = lo + (hi - lo) / 2;
            if (bp[mid] <= x) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        out[i] = levels[lo];
    }
}

void l2m_clip_f32_f32_ref(int32_t n, float lo, float hi, int32_t strict, int32_t flush, const float *in,
                          float *out) {
    const float tiny = 1.17549435e-38f; /* FLT_MIN */
    for (int32_t i = 0; i < n; ++i) {
        float x = in[i];
        if (flush && x > -tiny && x < tiny) x = x * 0.0f; /* +-0.0, the sign of x */
        if (strict) {
            out[i] = x < lo ? lo : (x > hi ? hi : x);
        } else {
            out[i] = x <= lo ? lo : (x >= hi ? hi : x);
        }
    }
}

void l2m_scale_bias_f32_ref(int32_t pixels, int32_t c, const float *scale, const float *bias, float *out) {
    for (int32_t p = 0; p < pixels; ++p) {
        for (int32_t k = 0; k < c; ++k) {
            const float v = out[k] * scale[k];
            out[k] = bias != NULL ? v + bias[k] : v;
        }
        out += c;
    }
}
