/* larq2mcu runtime — the bit convention (its Python twin is larq2mcu/bits.py).
 *
 * A binary value v in {-1, +1} is stored as the bit b = (v < 0): bit 1 = -1, bit 0 = +1.
 * Bits are packed into uint32_t words, least-significant bit first, along the channel axis of an
 * NHWC tensor: channel c of a pixel is bit (c % 32) of word (c / 32). Each pixel (group) starts a
 * new word; unused high bits of its last word (pad bits) are 0 (= +1). Same layout as Larq
 * Compute Engine.
 *
 * Dot product of two packed vectors with n real elements: n - 2 * popcount(a XOR w), because pad
 * bits are 0 in both and XOR to 0. Kernels therefore take the *unpacked* channel count n.
 */
#ifndef L2M_BITS_H
#define L2M_BITS_H

#include <stdint.h>

#define L2M_WORD_BITS 32
/* Words holding c channels: ceil(c / 32). */
#define L2M_WORDS(c) (((c) + 31) / 32)

/* Binarization is bit = (x < 0) with sign(0) = +1 — except that TensorFlow runs its CPU kernels
 * with denormals flushed to zero, so Keras binarizes a negative subnormal to +1 as well. Hence
 * bit = (x <= -FLT_MIN): the largest negative normal float, -2^-126. */
#define L2M_NEG_FLT_MIN (-0x1p-126f)

/* Portable popcount (SWAR, 12 operations, no table, no libgcc call). */
static inline int32_t l2m_popcount32(uint32_t x) {
    x = x - ((x >> 1) & 0x55555555u);
    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
    x = (x + (x >> 4)) & 0x0F0F0F0Fu;
    return (int32_t)((x * 0x01010101u) >> 24);
}

/* Bit `i` of a packed vector. */
static inline uint32_t l2m_get_bit(const uint32_t *v, int32_t i) {
    return (v[i >> 5] >> (uint32_t)(i & 31)) & 1u;
}

/* Set bit `i` (the vector must be zeroed before the first set; pad bits stay 0). */
static inline void l2m_set_bit(uint32_t *v, int32_t i) {
    v[i >> 5] |= 1u << (uint32_t)(i & 31);
}

#endif /* L2M_BITS_H */
