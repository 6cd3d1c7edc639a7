"""Exact cost of one exported candidate on a board: flash, RAM, instructions, milliseconds.

Contract: `measure(exp, board, sample, workdir)` → Cost, where
  * flash  = text + data of the linked bare-metal image (targets.build): model code, weights,
             runtime, startup and a one-sample harness; `weights` is the exporter's weight bytes
             and `code` = flash − weights (everything that is not the model's constant data);
  * ram    = data + bss of that image (the arena `l2m_arena`, the output buffer, harness
             state) + `stack`, the stack high-water mark of the run measured by the QEMU plugin;
  * instructions = exact instructions of one `<name>_invoke` on `sample` (targets.counter);
  * ms     = instructions / clock: the board clock at one instruction per cycle, a lower bound
             on the real time (loads, taken branches and the flash wait states cost more cycles).

A real board is measured on its emulated twin (same core, the real board's cflags and kernel
variant, the twin's memory map); EMULATED_TWIN and CLOCK_HZ are this package's small tables,
keyed by board name (boards.yaml has neither field). Objects that are the same from candidate
to candidate (runtime, startup) are compiled once: every board build goes through the object
cache (larq2mcu/objcache.py).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..board import profiles as _boards
from ..errors import BoardError

# board → emulated board with the same core (QEMU's Cortex-M0 runs the ARMv6-M code of an M0+).
EMULATED_TWIN = {"nucleo_f446re": "qemu_m4", "nano33ble": "qemu_m4", "nucleo_h743zi": "qemu_m7",
                 "nucleo_l552ze_q": "qemu_m33", "pico": "qemu_m0", "esp32-c3-devkitm-1": "qemu_rv32"}
# board → core clock in Hz (the boards' datasheet maximum, as in their descriptions).
CLOCK_HZ = {"nucleo_f446re": 180e6, "nano33ble": 64e6, "nucleo_h743zi": 480e6,
            "nucleo_l552ze_q": 110e6, "pico": 133e6, "esp32-c3-devkitm-1": 160e6}


@dataclass(frozen=True)
class Cost:
    """Measured cost of one model on a board: sizes in bytes, instructions per inference, ms (None when the
    clock is unknown) and the emulated board it was measured on."""
    flash: int
    ram: int
    weights: int
    arena: int
    stack: int
    instructions: int
    ms: float | None
    measured_on: str

    @property
    def code(self) -> int:
        """Flash bytes that are not weights: flash − weights."""
        return self.flash - self.weights

    def as_dict(self) -> dict:
        """The fields as a dict, plus `code`."""
        return {**dataclasses.asdict(self), "code": self.code}


def board_of(board) -> _boards.Board:
    """`board` itself when it is a Board, else the profile of that name (get_board)."""
    return board if isinstance(board, _boards.Board) else _boards.get_board(board)


def twin_of(board: _boards.Board) -> _boards.Board:
    """The board to emulate for `board`: itself when emulated, else its EMULATED_TWIN carrying
    `board`'s cflags and kernel variant. BoardError when there is none."""
    if board.emulated:
        return board
    name = EMULATED_TWIN.get(board.name)
    if name is None:
        raise BoardError(f"search: board '{board.name}' has no emulated twin for exact instruction "
                         f"counts; supported: {', '.join(sorted(EMULATED_TWIN))} or any qemu_* board")
    return dataclasses.replace(_boards.get_board(name), cflags=board.cflags,
                               kernel_variant=board.kernel_variant)


def measure(exp, board, sample: np.ndarray, workdir: str | Path) -> Cost:
    """See the module docstring. `exp` must have been exported with `board`'s kernel variant."""
    from .. import board as targets
    from ..board.runs import footprint
    from ..board.counter import count
    b = board_of(board)
    twin = twin_of(b)
    x = np.asarray(sample, np.float32).reshape(1, -1)
    elf = targets.build(exp.out_dir, twin, x, None, workdir)
    sz = targets.size(elf, twin)
    c = count(elf, twin, exp.name)
    if not c.ok:
        raise BoardError(f"search: the counting run of '{exp.name}' on {twin.name} did not finish")
    weights, arena = footprint(exp)
    clock = CLOCK_HZ.get(b.name)
    return Cost(flash=sz.flash, ram=sz.ram + c.stack_hwm, weights=int(weights), arena=int(arena),
                stack=int(c.stack_hwm), instructions=int(c.total),
                ms=None if clock is None else 1e3 * c.total / clock, measured_on=twin.name)
