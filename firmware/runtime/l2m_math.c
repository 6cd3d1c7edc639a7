/* larq2mcu runtime — see l2m_math.h for why and for the error bounds. */
#include <stdint.h>

#include "l2m_math.h"

typedef union {
    float f;
    uint32_t u;
} l2m_fbits;

static float bits_to_float(uint32_t u)
{
    l2m_fbits b;
    b.u = u;
    return b.f;
}

static uint32_t float_to_bits(float f)
{
    l2m_fbits b;
    b.f = f;
    return b.u;
}

/* x * 2^k for a normal x in [0.5, 2] and any k the callers produce (k >= -152). */
static float scale2(float x, int32_t k)
{
    if (k < -125) { /* result may be subnormal: scale in two steps so rounding happens once */
        return bits_to_float(float_to_bits(x) + ((uint32_t)(k + 100) << 23)) * bits_to_float(0x0D800000u);
    }
    if (k > 127) {
        return bits_to_float(float_to_bits(x) + ((uint32_t)(k - 1) << 23)) * 2.0f;
    }
    return bits_to_float(float_to_bits(x) + (uint32_t)((uint32_t)k << 23));
}

float l2m_expf(float x)
{
    const float ln2_hi = 6.9314575195e-01f, ln2_lo = 1.4286067653e-06f; /* ln2_hi has 16 bits */
    const float p1 = 1.6666625440e-1f, p2 = -2.7667332906e-3f;
    float hi, lo, r, t, c, y;
    int32_t k;
    if (x != x) {
        return x;
    }
    if (x > 88.72283935546875f) {
        return bits_to_float(0x7F800000u);
    }
    if (x < -103.97208404541015625f) {
        return 0.0f;
    }
    if (x > -3.7252903e-9f && x < 3.7252903e-9f) { /* |x| < 2^-28: exp(x) rounds to 1 + x */
        return 1.0f + x;
    }
    k = (int32_t)(x * 1.4426950216e+00f + (x < 0.0f ? -0.5f : 0.5f));
    hi = x - (float)k * ln2_hi;
    lo = (float)k * ln2_lo;
    r = hi - lo;
    t = r * r;
    c = r - t * (p1 + t * p2);
    if (k == 0) {
        return 1.0f - ((r * c) / (c - 2.0f) - r);
    }
    y = 1.0f - ((lo - (r * c) / (2.0f - c)) - hi);
    return scale2(y, k);
}

/* expm1 for 0 <= y <= 18 (tanhf's range): Taylor series below 1 avoids cancellation. */
static float expm1_pos(float y)
{
    if (y < 1.0f) {
        float s = 1.0f / 39916800.0f; /* 1/11! */
        s = 1.0f / 3628800.0f + y * s;
        s = 1.0f / 362880.0f + y * s;
        s = 1.0f / 40320.0f + y * s;
        s = 1.0f / 5040.0f + y * s;
        s = 1.0f / 720.0f + y * s;
        s = 1.0f / 120.0f + y * s;
        s = 1.0f / 24.0f + y * s;
        s = 1.0f / 6.0f + y * s;
        s = 0.5f + y * s;
        return y + y * (y * s);
    }
    return l2m_expf(y) - 1.0f;
}

float l2m_tanhf(float x)
{
    uint32_t sign = float_to_bits(x) & 0x80000000u;
    float ax = bits_to_float(float_to_bits(x) & 0x7FFFFFFFu), t, y;
    if (x != x) {
        return x;
    }
    if (ax > 9.0f) { /* tanh(9) = 1 - 3e-8 rounds to 1 */
        return bits_to_float(sign | 0x3F800000u);
    }
    if (ax < 2.44140625e-4f) { /* |x| < 2^-12: tanh(x) = x within half an ulp */
        return x;
    }
    t = expm1_pos(2.0f * ax);
    y = t / (t + 2.0f);
    return bits_to_float(sign | float_to_bits(y));
}
