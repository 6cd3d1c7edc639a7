/* Minimal <math.h> for toolchains without a libc: only what generated models may call
 * (expf, tanhf; implemented in firmware/targets/l2m_shim.c) plus the constant macros. */
#ifndef L2M_SHIM_MATH_H
#define L2M_SHIM_MATH_H

float expf(float x);
float tanhf(float x);

#define INFINITY (__builtin_inff())
#define NAN (__builtin_nanf(""))
#define HUGE_VALF (__builtin_inff())

#endif
