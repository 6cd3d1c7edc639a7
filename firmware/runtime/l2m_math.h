/* larq2mcu runtime — expf and tanhf of our own, in float32 arithmetic only.
 *
 * Why not <math.h>: glibc, newlib and freestanding shims round exp/tanh differently in the last
 * bit, so a sigmoid/tanh/softmax model would give different float outputs on the host and on each
 * board. With these (IEEE float32 + - * / only, no FMA: build with -ffp-contract=off) every target
 * computes the same bits, and no libm is needed.
 *
 * l2m_expf: fdlibm's float scheme (Cody-Waite reduction by ln2, rational approximation of exp(r)
 * on |r| <= ln2/2), error below 0.85 ulp (checked against float64 on 310k inputs).
 * l2m_tanhf: t = expm1(2|x|), tanh = t / (t + 2), error below 2.5 ulp.
 */
#ifndef L2M_MATH_H
#define L2M_MATH_H

float l2m_expf(float x);
float l2m_tanhf(float x);

#endif /* L2M_MATH_H */
