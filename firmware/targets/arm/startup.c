/* Cortex-M bare-metal startup for QEMU (and size-check links of real boards): vector table,
 * .data copy / .bss clear, FPU enable, and the l2m_board_* API over semihosting (exit always,
 * printing unless a UART console glue is linked).
 * Any fault ends the program with exit code 254, which larq2mcu reports as a guest fault. */
#include <stdint.h>

#include "l2m_board.h"
#include "semihost.h"

extern uint32_t __stack_top[], __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
int main(void);
void Reset_Handler(void);
void l2m_fault_handler(void);

void l2m_fault_handler(void)
{
    l2m_sh_puts("FAULT\n");
    l2m_sh_exit(254);
}

__attribute__((section(".vectors"), used)) void (*const l2m_vector_table[16])(void) = {
    (void (*)(void))(uintptr_t)__stack_top, Reset_Handler, l2m_fault_handler, l2m_fault_handler,
    l2m_fault_handler, l2m_fault_handler, l2m_fault_handler, l2m_fault_handler, 0, 0, 0,
    l2m_fault_handler, l2m_fault_handler, 0, l2m_fault_handler, l2m_fault_handler,
};

/* With a UART console (-DL2M_CONSOLE_UART: the firmware/targets/boards glue prints), semihosting
 * stays for the exit status and fault reports only. */
#ifndef L2M_CONSOLE_UART
void l2m_board_puts(const char *s) { l2m_sh_puts(s); }
#endif

void l2m_board_exit(int code) { l2m_sh_exit(code); }

/* Only reached from Reset_Handler, before main: keep it out of line so no FP code runs earlier. */
static void enable_fpu(void)
{
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    /* CPACR: full access to CP10/CP11 (FPU and MVE); the barriers make it visible before use. */
    volatile uint32_t *cpacr = (volatile uint32_t *)0xE000ED88u;
    *cpacr |= (0xFu << 20);
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
}

void Reset_Handler(void)
{
    uint32_t *s = __data_load, *d = __data_start;
    while (d < __data_end) {
        *d++ = *s++;
    }
    for (d = __bss_start; d < __bss_end;) {
        *d++ = 0;
    }
    enable_fpu();
    l2m_sh_exit(main());
}
