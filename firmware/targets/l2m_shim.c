/* Freestanding replacements for the few libc/libm functions generated models may use, compiled
 * only for toolchains without a libc (riscv64-unknown-elf, xtensa-lx106-elf): memcpy, memset,
 * memmove, memcmp (gcc emits calls to these on its own). exp/tanh live in the runtime
 * (firmware/runtime/l2m_math.c) so that every target rounds them identically.
 * */
#include <stddef.h>
#include <stdint.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);

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
