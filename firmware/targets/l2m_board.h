/* Target-independent board API used by the larq2mcu harness (firmware/targets/<arch>/board.c).
 *
 * Emulated families implement these strongly (semihosting / simcall); the harness main.c carries
 * weak defaults (puts does nothing, cycles reads the counter selected by -DL2M_CYCLES_<KIND> or
 * returns 0) so the same main.c also links on real boards, where printing is left to the board's
 * framework. */
#ifndef L2M_BOARD_H
#define L2M_BOARD_H

#include <stdint.h>

/* Write a NUL-terminated string to the host console (no newline added). */
void l2m_board_puts(const char *s);
/* End the program with `code` (QEMU exits with it). Never returns on emulated boards. */
void l2m_board_exit(int code);
/* Free-running cycle counter, or 0 where the board has none. Wraps modulo 2^32. */
uint32_t l2m_board_cycles(void);

#endif
