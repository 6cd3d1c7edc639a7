/* STM32L5 console on LPUART1 (PG7 TX / PG8 RX, AF8) at 115200 8N1: the ST-LINK virtual COM port
 * of the NUCLEO-L552ZE-Q (UM2581; USART3 on PD8/PD9 goes to the Arduino D0/D1 pins instead).
 * Port G pins 2..15 are supplied by VDDIO2, which must be declared valid (PWR_CR2.IOSV) before
 * they work. TrustZone off (the board's default), so the non-secure addresses are used.
 * Not tested on hardware (QEMU has no STM32L5 machine): compiled with the board's flags and
 * -Werror in the tests; the register map is RM0438's (stm32l552xx.h).
 *
 * Two builds of the same API (firmware/targets/l2m_board.h):
 *   USE_HAL_DRIVER defined (PlatformIO's stm32cube framework defines it): STM32Cube HAL UART on
 *     LPUART1, HAL_PWREx_EnableVddIO2; ticks at SystemCoreClock.
 *   otherwise: bare registers. The clock tree is left at its reset state, MSI 4 MHz, so the core
 *     and LPUART1's kernel clock (PCLK1, the reset choice) run at 4 MHz (L2M_STM32_HCLK_HZ). */
#include <stdint.h>

#include "l2m_board.h"

#ifndef L2M_REG /* a register; tests/test_board_consoles.py maps these to simulated memory on the host */
#define L2M_REG(addr) (*(volatile uint32_t *)(addr))
#endif

#define L2M_UART_BAUD 115200u

#ifdef USE_HAL_DRIVER
#include "stm32l5xx_hal.h"

/* The HAL keeps transfer state in the handle between calls, so it needs static storage. */
static UART_HandleTypeDef l2m_uart;

/* HAL_Init starts a 1 kHz SysTick; without this handler the startup file's default handler
 * would spin forever on the first tick. */
void SysTick_Handler(void);
void SysTick_Handler(void) { HAL_IncTick(); }

void l2m_board_init(void)
{
    GPIO_InitTypeDef pins = {0};
    (void)HAL_Init();
    __HAL_RCC_PWR_CLK_ENABLE();
    HAL_PWREx_EnableVddIO2();
    __HAL_RCC_GPIOG_CLK_ENABLE();
    __HAL_RCC_LPUART1_CLK_ENABLE();
    pins.Pin = GPIO_PIN_7 | GPIO_PIN_8;
    pins.Mode = GPIO_MODE_AF_PP;
    pins.Pull = GPIO_PULLUP;
    pins.Speed = GPIO_SPEED_FREQ_VERY_HIGH;
    pins.Alternate = GPIO_AF8_LPUART1;
    HAL_GPIO_Init(GPIOG, &pins);
    l2m_uart.Instance = LPUART1;
    l2m_uart.Init.BaudRate = L2M_UART_BAUD;
    l2m_uart.Init.WordLength = UART_WORDLENGTH_8B;
    l2m_uart.Init.StopBits = UART_STOPBITS_1;
    l2m_uart.Init.Parity = UART_PARITY_NONE;
    l2m_uart.Init.Mode = UART_MODE_TX_RX;
    l2m_uart.Init.HwFlowCtl = UART_HWCONTROL_NONE;
    l2m_uart.Init.OneBitSampling = UART_ONE_BIT_SAMPLE_DISABLE;
    l2m_uart.Init.ClockPrescaler = UART_PRESCALER_DIV1;
    l2m_uart.AdvancedInit.AdvFeatureInit = UART_ADVFEATURE_NO_INIT;
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
        /* an overrun or framing error: the HAL clears it; read again */
    }
    return (int)c;
}

uint32_t l2m_board_tick_hz(void)
{
    SystemCoreClockUpdate();
    return SystemCoreClock;
}

#else /* no HAL: registers (RM0438, non-secure aliases) */

#ifndef L2M_STM32_HCLK_HZ
#define L2M_STM32_HCLK_HZ 4000000u /* MSI range 6, the reset clock; APB1 undivided */
#endif

#define L2M_RCC_AHB2ENR L2M_REG(0x4002104Cu)  /* RCC 0x40021000 + 0x4C */
#define L2M_RCC_APB1ENR1 L2M_REG(0x40021058u) /* + 0x58 */
#define L2M_RCC_APB1ENR2 L2M_REG(0x4002105Cu) /* + 0x5C */
#define L2M_PWR_CR2 L2M_REG(0x40007004u)
#define L2M_GPIOG_MODER L2M_REG(0x42021800u)
#define L2M_GPIOG_AFRL L2M_REG(0x42021820u)
#define L2M_GPIOG_AFRH L2M_REG(0x42021824u)
#define L2M_LPUART1_CR1 L2M_REG(0x40008000u)
#define L2M_LPUART1_BRR L2M_REG(0x4000800Cu)
#define L2M_LPUART1_ISR L2M_REG(0x4000801Cu)
#define L2M_LPUART1_ICR L2M_REG(0x40008020u)
#define L2M_LPUART1_RDR L2M_REG(0x40008024u)
#define L2M_LPUART1_TDR L2M_REG(0x40008028u)
#define L2M_ISR_RXNE (1u << 5)
#define L2M_ISR_TXE (1u << 7)
#define L2M_ISR_ERRORS 0xFu /* PE, FE, NE, ORE; cleared through ICR (same bit positions) */

void l2m_board_init(void)
{
    L2M_RCC_APB1ENR1 |= 1u << 28; /* PWREN */
    (void)L2M_RCC_APB1ENR1;
    L2M_PWR_CR2 |= 1u << 9;       /* IOSV: VDDIO2 valid, port G usable */
    L2M_RCC_AHB2ENR |= 1u << 6;   /* GPIOGEN */
    L2M_RCC_APB1ENR2 |= 1u << 0;  /* LPUART1EN */
    (void)L2M_RCC_APB1ENR2;
    /* PG7, PG8: alternate function (MODER = 0b10), AF8 = LPUART1 */
    L2M_GPIOG_MODER = (L2M_GPIOG_MODER & ~(0xFu << 14)) | (0xAu << 14);
    L2M_GPIOG_AFRL = (L2M_GPIOG_AFRL & ~(0xFu << 28)) | (0x8u << 28);
    L2M_GPIOG_AFRH = (L2M_GPIOG_AFRH & ~0xFu) | 0x8u;
    L2M_LPUART1_CR1 = 0u; /* BRR is written with the LPUART disabled */
    /* LPUART: BRR = 256 * lpuart_ker_ck / baud, rounded (8,889 at 4 MHz; must be >= 0x300) */
    L2M_LPUART1_BRR = (uint32_t)((256ull * L2M_STM32_HCLK_HZ + L2M_UART_BAUD / 2u) / L2M_UART_BAUD);
    L2M_LPUART1_CR1 = (1u << 3) | (1u << 2) | (1u << 0); /* TE, RE, UE */
}

void l2m_board_puts(const char *s)
{
    for (; *s != '\0'; s++) {
        while ((L2M_LPUART1_ISR & L2M_ISR_TXE) == 0u) {
        }
        L2M_LPUART1_TDR = (uint32_t)(unsigned char)*s;
    }
}

int l2m_board_getc(void)
{
    for (;;) {
        uint32_t isr = L2M_LPUART1_ISR;
        if ((isr & L2M_ISR_ERRORS) != 0u) {
            L2M_LPUART1_ICR = isr & L2M_ISR_ERRORS; /* an overrun stops reception until cleared */
        }
        if ((isr & L2M_ISR_RXNE) != 0u) {
            return (int)(L2M_LPUART1_RDR & 0xFFu);
        }
    }
}

uint32_t l2m_board_tick_hz(void) { return L2M_STM32_HCLK_HZ; }

#endif
