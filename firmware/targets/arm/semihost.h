/* ARM semihosting (bkpt 0xAB) without libc. SYS_EXIT_EXTENDED carries an arbitrary exit code on
 * A32/T32 (plain SYS_EXIT can only say pass/fail); QEMU exits with that code. */
#ifndef L2M_SEMIHOST_H
#define L2M_SEMIHOST_H

#include <stdint.h>

#define L2M_SYS_WRITE0 0x04u
#define L2M_SYS_EXIT_EXTENDED 0x20u
#define L2M_ADP_STOPPED_APPLICATION_EXIT 0x20026u

static inline uint32_t l2m_sh_call(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static inline void l2m_sh_puts(const char *s) { (void)l2m_sh_call(L2M_SYS_WRITE0, s); }

static inline __attribute__((noreturn)) void l2m_sh_exit(int code)
{
    uint32_t blk[2];
    blk[0] = L2M_ADP_STOPPED_APPLICATION_EXIT;
    blk[1] = (uint32_t)code;
    (void)l2m_sh_call(L2M_SYS_EXIT_EXTENDED, blk);
    for (;;) {
    }
}

#endif
