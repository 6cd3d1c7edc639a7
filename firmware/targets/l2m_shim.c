/* Freestanding replacements for the few libc/libm functions generated models may use, compiled
 * only for toolchains without a libc (riscv64-unknown-elf, xtensa-lx106-elf): memcpy, memset,
 * memmove, memcmp (gcc emits calls to these on its own), expf and tanhf.
 *
 * expf follows the classic fdlibm float scheme (Cody-Waite reduction by ln2, rational
 * approximation of exp(r) on |r| <= ln2/2) in float arithmetic only: error below 0.85 ulp
 * (checked against float64 on 310k inputs).
 * tanhf uses t = expm1(2|x|), tanh = t / (t + 2): error below 2.5 ulp.
 * Results can therefore differ in the last bit from glibc/newlib on a few inputs; models whose
 * outputs pass through expf/tanhf should be compared with a ~3 ulp tolerance across libms. */
#include <stddef.h>
#include <stdint.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
float expf(float x);
float tanhf(float x);

/* gcc would turn these byte loops back into calls to themselves. */
#if defined(__GNUC__) && !defined(__clang__)
#define L2M_NO_LOOP_CALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define L2M_NO_LOOP_CALLS
#endif

L2M_NO_LOOP_CALLS void *memcpy(void *dst, const void *src, size_t n)
{
    unsigned char *d = (unsigned char *)dst;
    const unsigned char *s = (const unsigned char *)src;
    while (n-- > 0u) {
        *d++ = *s++;
    }
    return dst;
}

L2M_NO_LOOP_CALLS void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = (unsigned char *)dst;
    while (n-- > 0u) {
        *d++ = (unsigned char)c;
    }
    return dst;
}

L2M_NO_LOOP_CALLS void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = (unsigned char *)dst;
    const unsigned char *s = (const unsigned char *)src;
    if (d < s) {
        while (n-- > 0u) {
            *d++ = *s++;
        }
    } else {
        while (n > 0u) {
            n--;
            d[n] = s[n];
        }
    }
    return dst;
}

L2M_NO_LOOP_CALLS int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *p = (const unsigned char *)a, *q = (const unsigned char *)b;
    for (; n > 0u; n--, p++, q++) {
        if (*p != *q) {
            return (int)*p - (int)*q;
        }
    }
    return 0;
}

typedef union {
    float f;
    uint32_t u;
} l2m_shim_bits;

static float bits_to_float(uint32_t u)
{
    l2m_shim_bits b;
    b.u = u;
    return b.f;
}

static uint32_t float_to_bits(float f)
{
    l2m_shim_bits b;
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

float expf(float x)
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
    return expf(y) - 1.0f;
}

float tanhf(float x)
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
