/* ARM CMSDK APB UART0 console (0x40004000 on the MPS2 FPGA images AN385/AN386/AN500, QEMU's
 * mps2-an385/386/500 machines): lets the Cortex-M3/M4/M7 profiles run the serial link under
 * emulation, as stm32f4_usart2.c does for the STM32 on netduinoplus2. 115200 baud from the
 * images' 25 MHz peripheral clock. */
#include <stdint.h>

#include "l2m_board.h"

#define L2M_REG(addr) (*(volatile uint32_t *)(addr))
#define L2M_UART_DATA L2M_REG(0x40004000u)
#define L2M_UART_STATE L2M_REG(0x40004004u)
#define L2M_UART_CTRL L2M_REG(0x40004008u)
#define L2M_UART_BAUDDIV L2M_REG(0x40004010u)
#define L2M_STATE_TXFULL (1u << 0)
#define L2M_STATE_RXFULL (1u << 1)

void l2m_board_init(void)
{
    L2M_UART_BAUDDIV = 25000000u / 115200u;
    L2M_UART_CTRL = (1u << 0) | (1u << 1); /* TX enable, RX enable */
}

void l2m_board_puts(const char *s)
{
    for (; *s != '\0'; s++) {
        while ((L2M_UART_STATE & L2M_STATE_TXFULL) != 0u) {
        }
        L2M_UART_DATA = (uint32_t)(unsigned char)*s;
    }
}

int l2m_board_getc(void)
{
    while ((L2M_UART_STATE & L2M_STATE_RXFULL) == 0u) {
    }
    return (int)(L2M_UART_DATA & 0xFFu);
}
