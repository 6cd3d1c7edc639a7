/* nRF51 UART console (BBC micro:bit v1: TX P0.24, RX P0.25, the interface chip's USB serial
 * port) at 115200 8N1, polled through the TXDRDY/RXDRDY events (nRF51 Series Reference Manual,
 * chapter 29). QEMU's `microbit` machine emulates this UART, so `larq2mcu validate --emulated`
 * on qemu_m0 runs the serial link over it (the UART is its -serial 0). */
#include <stdint.h>

#include "l2m_board.h"

#ifndef L2M_REG /* a register; tests/test_board_consoles.py maps these to simulated memory on the host */
#define L2M_REG(addr) (*(volatile uint32_t *)(addr))
#endif

#define L2M_UART_STARTRX L2M_REG(0x40002000u)
#define L2M_UART_STARTTX L2M_REG(0x40002008u)
#define L2M_UART_RXDRDY L2M_REG(0x40002108u)
#define L2M_UART_TXDRDY L2M_REG(0x4000211Cu)
#define L2M_UART_ENABLE L2M_REG(0x40002500u)
#define L2M_UART_PSELTXD L2M_REG(0x4000250Cu)
#define L2M_UART_PSELRXD L2M_REG(0x40002514u)
#define L2M_UART_RXD L2M_REG(0x40002518u)
#define L2M_UART_TXD L2M_REG(0x4000251Cu)
#define L2M_UART_BAUDRATE L2M_REG(0x40002524u)
#define L2M_GPIO_OUTSET L2M_REG(0x50000508u)
#define L2M_GPIO_PIN_CNF(n) L2M_REG(0x50000700u + 4u * (n))
#define L2M_TX_PIN 24u
#define L2M_RX_PIN 25u
#define L2M_BAUD_115200 0x01D7E000u

void l2m_board_init(void)
{
    L2M_GPIO_OUTSET = 1u << L2M_TX_PIN;   /* TXD idles high: output, driven 1 */
    L2M_GPIO_PIN_CNF(L2M_TX_PIN) = 1u;    /* DIR = output */
    L2M_GPIO_PIN_CNF(L2M_RX_PIN) = 0u;    /* input, buffer connected */
    L2M_UART_PSELTXD = L2M_TX_PIN;
    L2M_UART_PSELRXD = L2M_RX_PIN;
    L2M_UART_BAUDRATE = L2M_BAUD_115200;
    L2M_UART_ENABLE = 4u;                 /* 4 = UART enabled */
    L2M_UART_STARTTX = 1u;
    L2M_UART_STARTRX = 1u;
}

void l2m_board_puts(const char *s)
{
    for (; *s != '\0'; s++) {
        L2M_UART_TXDRDY = 0u;
        L2M_UART_TXD = (uint32_t)(unsigned char)*s;
        while (L2M_UART_TXDRDY == 0u) {
        }
    }
}

int l2m_board_getc(void)
{
    while (L2M_UART_RXDRDY == 0u) {
    }
    L2M_UART_RXDRDY = 0u; /* before reading RXD, so a byte already waiting raises it again */
    return (int)(L2M_UART_RXD & 0xFFu);
}
