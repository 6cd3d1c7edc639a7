// Arduino console for the larq2mcu harness (pico, nano33ble): Serial at 115200 baud (the USB CDC
// port on these boards). setup() runs the harness once, then serves `larq2mcu validate`; ticks
// come from the harness' own counter (DWT on the nRF52840, the 1 MHz timer on the RP2040).
#ifdef ARDUINO
#include <Arduino.h>

#include "l2m_board.h"

extern "C" int l2m_harness_main(void);

extern "C" void l2m_board_init(void)
{
    Serial.begin(115200);
    while (!Serial) {
        // USB CDC: wait for the host to open the port, so the first lines are not lost
    }
}

extern "C" void l2m_board_puts(const char *s) { Serial.print(s); }

extern "C" int l2m_board_getc(void)
{
    while (Serial.available() <= 0) {
    }
    return Serial.read();
}

void setup()
{
    int rc = l2m_harness_main();
    Serial.print("L2M exit ");
    Serial.println(rc);
}

void loop() {}
#endif
