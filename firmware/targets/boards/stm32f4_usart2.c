/* STM32F4 console on USART2 (PA2 TX / PA3 RX, AF7) at 115200 8N1: the ST-LINK virtual COM port
 * of Nucleo-64 boards (nucleo_f446re), and the USART2 of QEMU's netduinoplus2 (STM32F405), which
 * sits at the same address, so CI runs this very code under emulation.
 *
 * Two builds of the same API (firmware/targets/l2m_board.h):
 *   USE_HAL_DRIVER defined (PlatformIO's stm32cube framework defines it): STM32Cube HAL UART,
 *     HAL_Init, SysTick for the HAL tick; ticks at HAL_RCC_GetHCLKFreq().
 *   otherwise: bare registers, for builds without the HAL (emulation, size checks). The clock
 *     tree is left at its reset state, HSI 16 MHz, so BRR = 16 MHz / 115200 and the DWT ticks
 *     at 16 MHz (L2M_STM32_HCLK_HZ). */
#include <stdint.h>

#include "l2m_board.h"

#ifndef L2M_REG /* a register; tests/test_board_consoles.py maps these to simulated memory on the host */
#define L2M_REG(addr) (*(volatile uint32_t *)(addr))
#endif

#define L2M_UART_BAUD 115200u

#ifdef USE_HAL_DRIVER
#include "stm32f4xx_hal.h"

/* The HAL keeps transfer state in the handle between calls, so it needs static storage. */
static UART_HandleTypeDef l2m_uart;

/* HAL_Init starts a 1 kHz SysTick; without this handler the startup file's default handler
 * would spin forever on the first tick. */
void SysTick_Handler(void);
void SysTick_Handler(void) { HAL_IncTick(); }

void l2m_board_init(void)
{
    GPIO_InitTypeDef pins = {0};
    HAL_Init();
    __HAL_RCC_GPIOA_CLK_ENABLE();
    __HAL_RCC_USART2_CLK_ENABLE();
    pins.Pin = GPIO_PIN_2 | GPIO_PIN_3;
    pins.Mode = GPIO_MODE_AF_PP;
    pins.Pull = GPIO_PULLUP;
    pins.Speed = GPIO_SPEED_FREQ_VERY_HIGH;
    pins.Alternate = GPIO_AF7_USART2;
    HAL_GPIO_Init(GPIOA, &pins);
    l2m_uart.Instance = USART2;
    l2m_uart.Init.BaudRate = L2M_UART_BAUD;
    l2m_uart.Init.WordLength = UART_WORDLENGTH_8B;
    l2m_uart.Init.StopBits = UART_STOPBITS_1;
    l2m_uart.Init.Parity = UART_PARITY_NONE;
    l2m_uart.Init.Mode = UART_MODE_TX_RX;
    l2m_uart.Init.HwFlowCtl = UART_HWCONTROL_NONE;
    l2m_uart.Init.OverSampling = UART_OVERSAMPLING_16;
    (void)HAL_UART_Init(&l2m_uart);
}

void l2m_board_puts(const char *s)
{
    uint16_t n = 0u;
    while (s[n] != '\0' && n < 0xFFFFu) {
        n++;
    }
    (void)HAL_UART_Transmit(&l2m_uart, (uint8_t *)(uintptr_t)s, n, HAL_MAX_DELAY);
}

int l2m_board_getc(void)
{
    uint8_t c = 0u;
    while (HAL_UART_Receive(&l2m_uart, &c, 1u, HAL_MAX_DELAY) != HAL_OK) {
        /* an overrun or framing error: clear it by reading again */
    }
    return (int)c;
}

uint32_t l2m_board_tick_hz(void) { return HAL_RCC_GetHCLKFreq(); }

#else /* no HAL: registers (RM0390 for the F446; the F405 of netduinoplus2 has the same map) */

#ifndef L2M_STM32_HCLK_HZ
#define L2M_STM32_HCLK_HZ 16000000u /* HSI, the reset clock; APB1 undivided */
#endif

#define L2M_RCC_AHB1ENR L2M_REG(0x40023830u)
#define L2M_RCC_APB1ENR L2M_REG(0x40023840u)
#define L2M_GPIOA_MODER L2M_REG(0x40020000u)
#define L2M_GPIOA_AFRL L2M_REG(0x40020020u)
#define L2M_USART2_SR L2M_REG(0x40004400u)
#define L2M_USART2_DR L2M_REG(0x40004404u)
#define L2M_USART2_BRR L2M_REG(0x40004408u)
#define L2M_USART2_CR1 L2M_REG(0x4000440Cu)
#define L2M_SR_RXNE (1u << 5)
#define L2M_SR_TXE (1u << 7)
#define L2M_SR_ERRORS 0xFu /* PE, FE, NF, ORE: cleared by reading SR then DR */

void l2m_board_init(void)
{
    L2M_RCC_AHB1ENR |= 1u << 0;  /* GPIOAEN */
    L2M_RCC_APB1ENR |= 1u << 17; /* USART2EN */
    /* PA2, PA3: alternate function (MODER = 0b10), AF7 = USART2 */
    L2M_GPIOA_MODER = (L2M_GPIOA_MODER & ~(0xFu << 4)) | (0xAu << 4);
    L2M_GPIOA_AFRL = (L2M_GPIOA_AFRL & ~(0xFFu << 8)) | (0x77u << 8);
    /* oversampling by 16: BRR = fck / baud rounded, as mantissa.fraction in 12.4 fixed point */
    L2M_USART2_BRR = (L2M_STM32_HCLK_HZ + L2M_UART_BAUD / 2u) / L2M_UART_BAUD;
    L2M_USART2_CR1 = (1u << 13) | (1u << 3) | (1u << 2); /* UE, TE, RE */
}

void l2m_board_puts(const char *s)
{
    for (; *s != '\0'; s++) {
        while ((L2M_USART2_SR & L2M_SR_TXE) == 0u) {
        }
        L2M_USART2_DR = (uint32_t)(unsigned char)*s;
    }
}

int l2m_board_getc(void)
{
    for (;;) {
        uint32_t sr = L2M_USART2_SR;
        if ((sr & L2M_SR_RXNE) != 0u) {
            uint32_t c = L2M_USART2_DR;
            if ((sr & L2M_SR_ERRORS) == 0u) {
                return (int)(c & 0xFFu);
            }
        }
    }
}

uint32_t l2m_board_tick_hz(void) { return L2M_STM32_HCLK_HZ; }

#endif
