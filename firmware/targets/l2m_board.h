/* Target-independent board API used by the larq2mcu harness (main.c, templates/harness_main.c.j2).
 *
 * The harness carries weak defaults for all of these (puts prints nothing, getc has no link,
 * cycles reads the counter chosen by -DL2M_CYCLES_<KIND>, tick_hz is -DL2M_TICK_HZ), so main.c
 * links anywhere; each board's console glue overrides them strongly:
 *   firmware/targets/<arch>/            emulated boards: semihosting / simcall
 *   firmware/targets/boards/stm32f4_usart2.c   STM32F4 USART2 (ST-LINK VCP), HAL or registers
 *   firmware/targets/boards/espidf_uart0.c     ESP-IDF: printf + UART0 driver
 *   firmware/targets/boards/arduino_serial.cpp Arduino cores: Serial */
#ifndef L2M_BOARD_H
#define L2M_BOARD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bring up the console (clocks, pins, UART); called once before anything is printed. */
void l2m_board_init(void);
/* Write a NUL-terminated string to the host console (no newline added). */
void l2m_board_puts(const char *s);
/* Block until one byte arrives on the console's receive line and return it (0..255); -1 when
 * the board has no receive line (semihosting), which ends the serial validation loop. */
int l2m_board_getc(void);
/* End the program with `code` (QEMU exits with it). Never returns on emulated boards. */
void l2m_board_exit(int code);
/* Free-running tick counter, or 0 where the board has none. Wraps modulo 2^32. */
uint32_t l2m_board_cycles(void);
/* Ticks of l2m_board_cycles per second (the core clock for DWT/CCOUNT/mcycle, 1 MHz for the
 * RP2040 timer), 0 when unknown: milliseconds = ticks * 1000 / tick_hz. */
uint32_t l2m_board_tick_hz(void);

#ifdef __cplusplus
}
#endif

#endif
