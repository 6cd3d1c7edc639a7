/* STM32H7 console on USART3 (PD8 TX / PD9 RX, AF7) at 115200 8N1: the ST-LINK virtual COM port
 * of the Nucleo-144 boards (nucleo_h743zi: UM2407, solder bridges in their default state).
 * Not tested on hardware (QEMU has no STM32H7 machine): compiled with the board's flags and
 * -Werror in the tests; the register map is RM0433's (stm32h743xx.h), and the code follows the
 * F4 driver (stm32f4_usart2.c) that does run under emulation, with the newer USART's registers.
 *
 * Two builds of the same API (firmware/targets/l2m_board.h):
 *   USE_HAL_DRIVER defined (PlatformIO's stm32cube framework defines it): STM32Cube HAL UART,
 *     HAL_Init, SysTick for the HAL tick; ticks at SystemCoreClock (the CPU clock the DWT
 *     counts; HCLK may be half of it on the H7).
 *   otherwise: bare registers. The clock tree is left at its reset state, HSI 64 MHz with every
 *     prescaler at 1, so USART3's kernel clock (rcc_pclk1, the reset choice) and the core both
 *     run at 64 MHz (L2M_STM32_HCLK_HZ). */
#include <stdint.h>

#include "l2m_board.h"

#ifndef L2M_REG /* a register; tests/test_board_consoles.py maps these to simulated memory on the host */
#define L2M_REG(addr) (*(volatile uint32_t *)(addr))
#endif

#define L2M_UART_BAUD 115200u

/* The Cortex-M7's DWT has a lock (LAR, CoreSight): CYCCNT stays 0 until it is unlocked, unless a
 * debugger did it. Harmless where there is no lock. */
#define L2M_DWT_LAR L2M_REG(0xE0001FB0u)
#define L2M_DWT_UNLOCK 0xC5ACCE55u

#ifdef USE_HAL_DRIVER
#include "stm32h7xx_hal.h"

/* The HAL keeps transfer state in the handle between calls, so it needs static storage. */
static UART_HandleTypeDef l2m_uart;

/* HAL_Init starts a 1 kHz SysTick; without this handler the startup file's default handler
 * would spin forever on the first tick. */
void SysTick_Handler(void);
void SysTick_Handler(void) { HAL_IncTick(); }

void l2m_board_init(void)
{
    GPIO_InitTypeDef pins = {0};
    L2M_DWT_LAR = L2M_DWT_UNLOCK;
    (void)HAL_Init();
    __HAL_RCC_GPIOD_CLK_ENABLE();
    __HAL_RCC_USART3_CLK_ENABLE();
    pins.Pin = GPIO_PIN_8 | GPIO_PIN_9;
    pins.Mode = GPIO_MODE_AF_PP;
    pins.Pull = GPIO_PULLUP;
    pins.Speed = GPIO_SPEED_FREQ_VERY_HIGH;
    pins.Alternate = GPIO_AF7_USART3;
    HAL_GPIO_Init(GPIOD, &pins);
    l2m_uart.Instance = USART3;
    l2m_uart.Init.BaudRate = L2M_UART_BAUD;
    l2m_uart.Init.WordLength = UART_WORDLENGTH_8B;
    l2m_uart.Init.StopBits = UART_STOPBITS_1;
    l2m_uart.Init.Parity = UART_PARITY_NONE;
    l2m_uart.Init.Mode = UART_MODE_TX_RX;
    l2m_uart.Init.HwFlowCtl = UART_HWCONTROL_NONE;
    l2m_uart.Init.OverSampling = UART_OVERSAMPLING_16;
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

#else /* no HAL: registers (RM0433) */

#ifndef L2M_STM32_HCLK_HZ
#define L2M_STM32_HCLK_HZ 64000000u /* HSI, the reset clock; all prescalers 1 */
#endif

#define L2M_RCC_AHB4ENR L2M_REG(0x580244E0u)  /* RCC 0x58024400 + 0xE0 */
#define L2M_RCC_APB1LENR L2M_REG(0x580244E8u) /* RCC 0x58024400 + 0xE8 */
#define L2M_GPIOD_MODER L2M_REG(0x58020C00u)
#define L2M_GPIOD_AFRH L2M_REG(0x58020C24u)
#define L2M_USART3_CR1 L2M_REG(0x40004800u)
#define L2M_USART3_BRR L2M_REG(0x4000480Cu)
#define L2M_USART3_ISR L2M_REG(0x4000481Cu)
#define L2M_USART3_ICR L2M_REG(0x40004820u)
#define L2M_USART3_RDR L2M_REG(0x40004824u)
#define L2M_USART3_TDR L2M_REG(0x40004828u)
#define L2M_ISR_RXNE (1u << 5)
#define L2M_ISR_TXE (1u << 7)
#define L2M_ISR_ERRORS 0xFu /* PE, FE, NE, ORE; cleared through ICR (same bit positions) */

void l2m_board_init(void)
{
    L2M_DWT_LAR = L2M_DWT_UNLOCK;
    L2M_RCC_AHB4ENR |= 1u << 3;   /* GPIODEN */
    L2M_RCC_APB1LENR |= 1u << 18; /* USART3EN */
    (void)L2M_RCC_APB1LENR;       /* read back: the clock is on before the first access */
    /* PD8, PD9: alternate function (MODER = 0b10), AF7 = USART3 (AFRH: pins 8..15) */
    L2M_GPIOD_MODER = (L2M_GPIOD_MODER & ~(0xFu << 16)) | (0xAu << 16);
    L2M_GPIOD_AFRH = (L2M_GPIOD_AFRH & ~0xFFu) | 0x77u;
    L2M_USART3_CR1 = 0u; /* BRR is written with the USART disabled */
    /* oversampling by 16: BRR = usart_ker_ck / baud, rounded */
    L2M_USART3_BRR = (L2M_STM32_HCLK_HZ + L2M_UART_BAUD / 2u) / L2M_UART_BAUD;
    L2M_USART3_CR1 = (1u << 3) | (1u << 2) | (1u << 0); /* TE, RE, UE */
}

void l2m_board_puts(const char *s)
{
    for (; *s != '\0'; s++) {
        while ((L2M_USART3_ISR & L2M_ISR_TXE) == 0u) {
        }
        L2M_USART3_TDR = (uint32_t)(unsigned char)*s;
    }
}

int l2m_board_getc(void)
{
    for (;;) {
        uint32_t isr = L2M_USART3_ISR;
        if ((isr & L2M_ISR_ERRORS) != 0u) {
            L2M_USART3_ICR = isr & L2M_ISR_ERRORS; /* an overrun stops reception until cleared */
        }
        if ((isr & L2M_ISR_RXNE) != 0u) {
            return (int)(L2M_USART3_RDR & 0xFFu);
        }
    }
}

uint32_t l2m_board_tick_hz(void) { return L2M_STM32_HCLK_HZ; }

#endif
