/* Single-precision soft-float that Debian's xtensa-lx106-elf libgcc lacks (it ships __divsf3 and
 * the comparisons, but no __addsf3/__subsf3/__mulsf3 or int<->float conversions).
 * IEEE 754 binary32, round-to-nearest-even, subnormals kept (matches x86 SSE and the Cortex-M
 * FPU with FZ=0 bit for bit, NaN payloads aside: any NaN result is 0x7FC00000).
 * No 64-bit arithmetic: this libgcc has no __muldi3 either. */
#include <stdint.h>

#define L2M_SF_NAN 0x7FC00000u
#define L2M_SF_INF 0x7F800000u

float __addsf3(float a, float b);
float __subsf3(float a, float b);
float __mulsf3(float a, float b);
float __floatsisf(int32_t x);
float __floatunsisf(uint32_t x);
int32_t __fixsfsi(float a);
uint32_t __fixunssfsi(float a);

typedef union {
    float f;
    uint32_t u;
} l2m_sf_bits;

static uint32_t to_bits(float f)
{
    l2m_sf_bits b;
    b.f = f;
    return b.u;
}

static float from_bits(uint32_t u)
{
    l2m_sf_bits b;
    b.u = u;
    return b.f;
}

static int is_nan(uint32_t u) { return (u & 0x7FFFFFFFu) > L2M_SF_INF; }

/* Shift right by n keeping a sticky bit (any 1 shifted out sets bit 0). */
static uint32_t shr_sticky(uint32_t x, int32_t n)
{
    if (n <= 0) {
        return x;
    }
    if (n >= 32) {
        return x != 0u ? 1u : 0u;
    }
    return (x >> n) | ((x & ((1u << n) - 1u)) != 0u ? 1u : 0u);
}

/* sig in [2^30, 2^31) (or smaller with e == 1: subnormal) holds 24 mantissa bits over 7 round
 * bits; value = sig / 2^30 * 2^(e - 127). Rounds to nearest-even and packs. */
static float round_pack(uint32_t sign, int32_t e, uint32_t sig)
{
    uint32_t m, rem;
    if (e < 1) {
        sig = shr_sticky(sig, 1 - e);
        e = 1;
    }
    rem = sig & 0x7Fu;
    m = sig >> 7;
    if (rem > 0x40u || (rem == 0x40u && (m & 1u) != 0u)) {
        m++;
        if (m == (1u << 24)) {
            m >>= 1;
            e++;
        }
    }
    if (e >= 255) {
        return from_bits(sign | L2M_SF_INF);
    }
    return from_bits(sign | ((m >= (1u << 23)) ? ((uint32_t)e << 23) : 0u) | (m & 0x7FFFFFu));
}

/* Exponent field (1 for subnormals) and 24-bit significand of a finite value. */
static void unpack(uint32_t u, int32_t *e, uint32_t *m)
{
    uint32_t field = (u >> 23) & 0xFFu;
    *m = u & 0x7FFFFFu;
    if (field != 0u) {
        *m |= 1u << 23;
        *e = (int32_t)field;
    } else {
        *e = 1;
    }
}

float __addsf3(float a, float b)
{
    uint32_t ua = to_bits(a), ub = to_bits(b), sign, sa, sb, s;
    int32_t ea, eb;
    if (is_nan(ua) || is_nan(ub)) {
        return from_bits(L2M_SF_NAN);
    }
    if ((ua & 0x7FFFFFFFu) == L2M_SF_INF) {
        return ((ub & 0x7FFFFFFFu) == L2M_SF_INF && ua != ub) ? from_bits(L2M_SF_NAN) : a;
    }
    if ((ub & 0x7FFFFFFFu) == L2M_SF_INF) {
        return b;
    }
    if ((ua & 0x7FFFFFFFu) < (ub & 0x7FFFFFFFu)) { /* make |a| >= |b| */
        uint32_t t = ua;
        ua = ub;
        ub = t;
    }
    if ((ua & 0x7FFFFFFFu) == 0u) { /* both zero: -0 only if both are -0 */
        return from_bits(ua & ub);
    }
    sign = ua & 0x80000000u;
    unpack(ua, &ea, &sa);
    unpack(ub, &eb, &sb);
    sa <<= 7;
    sb = shr_sticky(sb << 7, ea - eb);
    if (((ua ^ ub) & 0x80000000u) == 0u) {
        s = sa + sb;
        if (s >= (1u << 31)) {
            s = shr_sticky(s, 1);
            ea++;
        }
    } else {
        s = sa - sb;
        if (s == 0u) {
            return from_bits(0u); /* x - x = +0 in round-to-nearest */
        }
        while (s < (1u << 30) && ea > 1) {
            s <<= 1;
            ea--;
        }
    }
    return round_pack(sign, ea, s);
}

float __subsf3(float a, float b) { return __addsf3(a, from_bits(to_bits(b) ^ 0x80000000u)); }

/* 32x32 -> 64 multiply from 16-bit halves. */
static void mul32(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo)
{
    uint32_t a0 = a & 0xFFFFu, a1 = a >> 16, b0 = b & 0xFFFFu, b1 = b >> 16;
    uint32_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    uint32_t mid = (p00 >> 16) + (p01 & 0xFFFFu) + (p10 & 0xFFFFu);
    *lo = (p00 & 0xFFFFu) | (mid << 16);
    *hi = p11 + (p01 >> 16) + (p10 >> 16) + (mid >> 16);
}

float __mulsf3(float a, float b)
{
    uint32_t ua = to_bits(a), ub = to_bits(b), sign = (ua ^ ub) & 0x80000000u, ma, mb, hi, lo, sig;
    int32_t ea, eb, e;
    if (is_nan(ua) || is_nan(ub)) {
        return from_bits(L2M_SF_NAN);
    }
    if ((ua & 0x7FFFFFFFu) == L2M_SF_INF || (ub & 0x7FFFFFFFu) == L2M_SF_INF) {
        if ((ua & 0x7FFFFFFFu) == 0u || (ub & 0x7FFFFFFFu) == 0u) {
            return from_bits(L2M_SF_NAN);
        }
        return from_bits(sign | L2M_SF_INF);
    }
    if ((ua & 0x7FFFFFFFu) == 0u || (ub & 0x7FFFFFFFu) == 0u) {
        return from_bits(sign);
    }
    unpack(ua, &ea, &ma);
    unpack(ub, &eb, &mb);
    while (ma < (1u << 23)) { /* normalise subnormal inputs */
        ma <<= 1;
        ea--;
    }
    while (mb < (1u << 23)) {
        mb <<= 1;
        eb--;
    }
    e = ea + eb - 127;
    mul32(ma << 8, mb << 8, &hi, &lo); /* ma*mb*2^16 in [2^62, 2^64) */
    if (hi >= (1u << 31)) {
        sig = (hi >> 1) | (((hi & 1u) | (lo != 0u ? 1u : 0u)) != 0u ? 1u : 0u);
        e++;
    } else {
        sig = hi | (lo != 0u ? 1u : 0u);
    }
    return round_pack(sign, e, sig);
}

float __floatunsisf(uint32_t x)
{
    int32_t e = 127 + 30;
    if (x == 0u) {
        return 0.0f;
    }
    if (x >= (1u << 31)) {
        x = shr_sticky(x, 1);
        e++;
    }
    while (x < (1u << 30)) {
        x <<= 1;
        e--;
    }
    return round_pack(0u, e, x);
}

float __floatsisf(int32_t x)
{
    uint32_t u = x < 0 ? 0u - (uint32_t)x : (uint32_t)x;
    float f = __floatunsisf(u);
    return x < 0 ? from_bits(to_bits(f) | 0x80000000u) : f;
}

/* Truncate toward zero; out-of-range values saturate (C leaves them undefined). */
uint32_t __fixunssfsi(float a)
{
    uint32_t u = to_bits(a), m;
    int32_t e = (int32_t)((u >> 23) & 0xFFu) - 127;
    if (is_nan(u) || (u & 0x80000000u) != 0u || e < 0) {
        return 0u;
    }
    if (e >= 32) {
        return 0xFFFFFFFFu;
    }
    m = (u & 0x7FFFFFu) | (1u << 23);
    return e >= 23 ? m << (e - 23) : m >> (23 - e);
}

int32_t __fixsfsi(float a)
{
    uint32_t u = to_bits(a), mag;
    if (is_nan(u)) {
        return 0;
    }
    if (((u >> 23) & 0xFFu) >= 127u + 31u) {
        return (u & 0x80000000u) != 0u ? (-2147483647 - 1) : 2147483647;
    }
    mag = __fixunssfsi(from_bits(u & 0x7FFFFFFFu));
    return (u & 0x80000000u) != 0u ? -(int32_t)mag : (int32_t)mag;
}
