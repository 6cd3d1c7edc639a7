"""The register-level UART consoles of the boards QEMU cannot run (nucleo_h743zi: USART3 on
PD8/PD9; nucleo_l552ze_q: LPUART1 on PG7/PG8, the ST-LINK virtual COM ports), checked on the host
against their reference manuals' register maps: the console C is compiled with the host cc and
its L2M_REG accessor pointed at simulated registers (reset values as in RM0433/RM0438), then
l2m_board_init, puts and getc run and the test reads back every register they wrote. What this
cannot show (timing, the real peripheral's behaviour) needs the board; the F446 and micro:bit
consoles run end to end under QEMU in test_board_link.py."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from larq2mcu.board.toolchain import targets_dir

DRIVER = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

volatile uint32_t *l2m_test_reg(uint32_t addr);
static uint32_t addrs[64], vals[64];
static int n;

volatile uint32_t *l2m_test_reg(uint32_t addr)
{
    for (int i = 0; i < n; i++) {
        if (addrs[i] == addr) {
            return &vals[i];
        }
    }
    if (n == 64) {
        abort();
    }
    addrs[n] = addr;
    vals[n] = 0u;
    return &vals[n++];
}

void l2m_board_init(void);
void l2m_board_puts(const char *s);
int l2m_board_getc(void);
uint32_t l2m_board_tick_hz(void);

int main(int argc, char **argv)
{
    /* argv: reset values "addr=value" (hex), then the ISR address, TXE/RXNE/ORE masks, RDR, TDR, ICR */
    int k = 1;
    for (; k < argc && argv[k][0] != '-'; k++) {
        unsigned a, v;
        if (sscanf(argv[k], "%x=%x", &a, &v) != 2) {
            return 3;
        }
        *l2m_test_reg(a) = v;
    }
    unsigned isr = (unsigned)strtoul(argv[k + 1], 0, 16), txe = (unsigned)strtoul(argv[k + 2], 0, 16);
    unsigned rxne = (unsigned)strtoul(argv[k + 3], 0, 16), ore = (unsigned)strtoul(argv[k + 4], 0, 16);
    unsigned rdr = (unsigned)strtoul(argv[k + 5], 0, 16), tdr = (unsigned)strtoul(argv[k + 6], 0, 16);
    unsigned icr = (unsigned)strtoul(argv[k + 7], 0, 16);
    l2m_board_init();
    for (int i = 0; i < n; i++) {
        printf("init %08x %08x\n", addrs[i], vals[i]);
    }
    *l2m_test_reg(isr) = txe;
    l2m_board_puts("Z");
    printf("tdr %08x\n", *l2m_test_reg(tdr));
    *l2m_test_reg(isr) = rxne | ore;
    *l2m_test_reg(rdr) = 0x141u;   /* a 9th bit the driver must mask off */
    int c = l2m_board_getc();
    printf("getc %d icr %08x\n", c, *l2m_test_reg(icr));
    printf("hz %u\n", l2m_board_tick_hz());
    return 0;
}
"""

# (console, reset values, ISR, TXE, RXNE, ORE, RDR, TDR, ICR, expected register values after init)
CASES = {
    "stm32h7_usart3": (
        # RM0433: GPIO MODER resets to all-analog (0xFFFFFFFF) on ports other than A/B
        {0x58020C00: 0xFFFFFFFF},
        0x4000481C, 0x80, 0x20, 0x08, 0x40004824, 0x40004828, 0x40004820,
        {0x580244E0: 1 << 3,                    # RCC_AHB4ENR.GPIODEN
         0x580244E8: 1 << 18,                   # RCC_APB1LENR.USART3EN
         0x58020C00: 0xFFFAFFFF,                # PD8, PD9 alternate function (0b10), others untouched
         0x58020C24: 0x77,                      # AFRH: AF7 on PD8, PD9
         0x4000480C: 556,                       # BRR = 64 MHz / 115200, rounded
         0x40004800: 0b1101,                    # CR1: TE, RE, UE
         0xE0001FB0: 0xC5ACCE55},               # DWT unlocked (Cortex-M7 LAR)
        64_000_000),
    "stm32l5_lpuart1": (
        {0x42021800: 0xFFFFFFFF},
        0x4000801C, 0x80, 0x20, 0x08, 0x40008024, 0x40008028, 0x40008020,
        {0x40021058: 1 << 28,                   # RCC_APB1ENR1.PWREN
         0x40007004: 1 << 9,                    # PWR_CR2.IOSV: VDDIO2 valid for port G
         0x4002104C: 1 << 6,                    # RCC_AHB2ENR.GPIOGEN
         0x4002105C: 1 << 0,                    # RCC_APB1ENR2.LPUART1EN
         0x42021800: 0xFFFEBFFF,                # PG7, PG8 alternate function, others untouched
         0x42021820: 0x8 << 28,                 # AFRL: AF8 on PG7
         0x42021824: 0x8,                       # AFRH: AF8 on PG8
         0x4000800C: 8889,                      # LPUART BRR = 256 * 4 MHz / 115200, rounded
         0x40008000: 0b1101},                   # CR1: TE, RE, UE
        4_000_000),
}


@pytest.mark.parametrize("console", sorted(CASES))
def test_register_console_programs_the_documented_registers(console, tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no host C compiler")
    reset, isr, txe, rxne, ore, rdr, tdr, icr, want, hz = CASES[console]
    (tmp_path / "driver.c").write_text(DRIVER)
    exe = tmp_path / "sim"
    src = targets_dir() / "boards" / f"{console}.c"
    # the console sees the accessor's prototype through -include of a tiny header
    (tmp_path / "reg.h").write_text("#include <stdint.h>\nvolatile uint32_t *l2m_test_reg(uint32_t addr);\n")
    proc = subprocess.run([cc, "-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", f"-I{targets_dir()}",
                           "-DL2M_REG(a)=(*l2m_test_reg(a))", "-include", str(tmp_path / "reg.h"),
                           str(src), str(tmp_path / "driver.c"), "-o", str(exe)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    args = [f"{a:x}={v:x}" for a, v in reset.items()] + ["-"] + [f"{v:x}" for v in (isr, txe, rxne, ore, rdr, tdr, icr)]
    out = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=10, check=True).stdout
    regs = {int(a, 16): int(v, 16) for kind, a, v in (ln.split() for ln in out.splitlines() if ln.startswith("init "))}
    assert regs == want, {hex(a): hex(v) for a, v in regs.items()}
    lines = dict(ln.split(" ", 1) for ln in out.splitlines() if not ln.startswith("init "))
    assert lines["tdr"] == f"{ord('Z'):08x}"
    assert lines["getc"] == f"{0x41} icr {ore:08x}"       # 8 data bits; the overrun cleared through ICR
    assert lines["hz"] == str(hz)
