/* ESP-IDF console for the larq2mcu harness (esp32dev, ESP32-S3, ESP32-C3): printf to stdout,
 * which ESP-IDF routes to UART0 (the board's USB-serial bridge, 115200 baud by default), and
 * reads through the UART0 driver, installed here so that reads block instead of returning EOF.
 * Ticks are CPU cycles (CCOUNT on Xtensa, the performance counter on the C3) at the configured
 * CPU frequency (sdkconfig). */
#include <stdint.h>
#include <stdio.h>

#include "driver/uart.h"
#include "esp_idf_version.h"
#include "sdkconfig.h"
#if ESP_IDF_VERSION_MAJOR >= 5
#include "driver/uart_vfs.h"
#include "esp_cpu.h"
#else
#include "esp_vfs_dev.h"
#include "hal/cpu_hal.h"
#endif

#include "l2m_board.h"

#if defined(CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ)
#define L2M_ESP_CPU_MHZ CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ
#elif defined(CONFIG_ESP32_DEFAULT_CPU_FREQ_MHZ)
#define L2M_ESP_CPU_MHZ CONFIG_ESP32_DEFAULT_CPU_FREQ_MHZ
#else
#define L2M_ESP_CPU_MHZ 160
#endif

void l2m_board_init(void)
{
    /* 2 KiB receive buffer holds a whole streamed line of a small sample; larger ones arrive
     * while the harness reads, so nothing is lost */
    (void)uart_driver_install(UART_NUM_0, 2048, 0, 0, NULL, 0);
#if ESP_IDF_VERSION_MAJOR >= 5
    uart_vfs_dev_use_driver(UART_NUM_0);
#else
    esp_vfs_dev_uart_use_driver(UART_NUM_0);
#endif
}

void l2m_board_puts(const char *s)
{
    (void)fputs(s, stdout);
    (void)fflush(stdout);
}

int l2m_board_getc(void)
{
    uint8_t c = 0u;
    while (uart_read_bytes(UART_NUM_0, &c, 1u, portMAX_DELAY) != 1) {
    }
    return (int)c;
}

uint32_t l2m_board_cycles(void)
{
#if ESP_IDF_VERSION_MAJOR >= 5
    return (uint32_t)esp_cpu_get_cycle_count();
#else
    return (uint32_t)cpu_hal_get_cycle_count();
#endif
}

uint32_t l2m_board_tick_hz(void) { return (uint32_t)L2M_ESP_CPU_MHZ * 1000000u; }
