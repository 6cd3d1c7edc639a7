/* Minimal <string.h> for toolchains without a libc (riscv64-unknown-elf, xtensa-lx106-elf);
 * the functions live in firmware/targets/l2m_shim.c. */
#ifndef L2M_SHIM_STRING_H
#define L2M_SHIM_STRING_H

#include <stddef.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);

#endif
