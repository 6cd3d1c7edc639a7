/* RISC-V semihosting (same op codes as ARM; the magic slli/ebreak/srai sequence must not be
 * compressed) and the l2m_board_* API. Cycles come from the harness' weak reader (mcycle). */
#include <stdint.h>

#include "l2m_board.h"

void l2m_fault_handler(void);

static uint32_t sh_call(uint32_t op, const void *arg)
{
    register uint32_t a0 __asm__("a0") = op;
    register const void *a1 __asm__("a1") = arg;
    __asm__ volatile(".option push\n\t.option norvc\n\t.balign 16\n\t"
                     "slli x0, x0, 0x1f\n\tebreak\n\tsrai x0, x0, 7\n\t.option pop"
                     : "+r"(a0)
                     : "r"(a1)
                     : "memory");
    return a0;
}

void l2m_board_puts(const char *s) { (void)sh_call(0x04u, s); }

void l2m_board_exit(int code)
{
    uint32_t blk[2];
    blk[0] = 0x20026u; /* ADP_Stopped_ApplicationExit */
    blk[1] = (uint32_t)code;
    (void)sh_call(0x20u, blk); /* SYS_EXIT_EXTENDED */
    for (;;) {
    }
}

void l2m_fault_handler(void)
{
    l2m_board_puts("FAULT\n");
    l2m_board_exit(254);
}
