"""Board profiles: load and validate boards.yaml into frozen `Board` records.

Contract:
  * `load_boards(path=None)` reads the packaged boards.yaml (`larq2mcu.paths.boards_yaml()`) or a
    user file and returns {name: Board} in file order. Any unknown, missing or wrong-typed field
    raises `BoardError` whose message names the board and the field (and a close field name for
    typos).
  * `get_board(name, boards=None)` returns one board; an unknown name raises `BoardError` listing
    close names (difflib) and all known boards.
  * `fits(board, flash_bytes, ram_bytes)` says whether an image fits, with a need-vs-have message.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..errors import BoardError
from ..paths import boards_yaml
from ..variants import CPU_VARIANTS, VARIANTS

ARCHES = ("arm", "riscv", "xtensa")
PRINTS = ("uart", "semihosting")
CYCLE_COUNTERS = ("dwt", "ccount", "mcycle", "rp2040_timer", "none")
# console glue in firmware/targets/boards/<console>.c(pp); semihosting = the emulated families' own
CONSOLES = ("semihosting", "stm32f4_usart2", "espidf_uart0", "arduino_serial", "cmsdk_uart", "none",
            "stm32h7_usart3", "stm32l5_lpuart1", "nrf51_uart")


@dataclass(frozen=True)
class QemuConfig:
    """How to emulate a board: QEMU binary/machine/cpu and the memory map the linker uses."""

    binary: str
    machine: str
    cpu: str | None
    flash_origin: int
    flash_size: int
    ram_origin: int
    ram_size: int


@dataclass(frozen=True)
class UartEmulator:
    """A QEMU machine that runs a real board's console build unchanged (same UART at the same
    address): `larq2mcu validate --emulated` and CI talk to it over `serial` (the index of the
    machine's -serial options that is the board's console UART)."""

    binary: str
    machine: str
    serial: int
    console: str | None = None     # glue of the emulated build (default: the board's console)


@dataclass(frozen=True)
class HostCheck:
    """A locally installed compiler standing in for a board's unavailable one (compile check only)."""

    toolchain: str
    cflags: tuple[str, ...]
    note: str


@dataclass(frozen=True)
class Board:
    """One board profile of boards.yaml (toolchain, PlatformIO ids, memory sizes in bytes, how it runs)."""
    name: str
    description: str
    arch: str
    platform: str
    board: str
    framework: str | None
    cpu: str
    features: tuple[str, ...]
    flash: int
    ram: int
    cflags: tuple[str, ...]
    toolchain: str
    kernel_variant: str
    print: str
    cycle_counter: str
    qemu: QemuConfig | None = None
    memory: tuple[int, int] | None = None   # (flash_origin, ram_origin) for real-board size links
    host_check: HostCheck | None = None
    clock_hz: int | None = None          # core clock the board runs at (ms = cycles / clock_hz)
    console: str = "semihosting"         # the harness' console glue (CONSOLES)
    uart_emulator: UartEmulator | None = None

    @property
    def emulated(self) -> bool:
        """True when the board runs under QEMU (it has a `qemu` section)."""
        return self.qemu is not None

    def link_map(self) -> tuple[int, int, int, int]:
        """(flash_origin, flash_size, ram_origin, ram_size) for the bare-metal linker script."""
        if self.qemu is not None:
            q = self.qemu
            return q.flash_origin, q.flash_size, q.ram_origin, q.ram_size
        assert self.memory is not None   # guaranteed by validation
        flash_origin, ram_origin = self.memory
        return flash_origin, self.flash, ram_origin, self.ram


@dataclass(frozen=True)
class Fit:
    """Result of `fits`: truthy when the image fits; `message` always says need vs have."""

    ok: bool
    message: str

    def __bool__(self) -> bool:
        return self.ok


# field name -> (type(s), required)
_FIELDS: dict[str, tuple[Any, bool]] = {
    "description": (str, True), "arch": (str, True), "platform": (str, True), "board": (str, True),
    "framework": ((str, type(None)), True), "cpu": (str, True), "features": (list, True),
    "flash": (int, True), "ram": (int, True), "cflags": (list, True), "toolchain": (str, True),
    "kernel_variant": (str, True), "print": (str, True), "cycle_counter": (str, True),
    "qemu": (dict, False), "memory": (dict, False), "host_check": (dict, False),
    "clock_hz": (int, False), "console": (str, False), "uart_emulator": (dict, False),
}
_UART_EMU_FIELDS = {"binary": (str, True), "machine": (str, True), "serial": (int, True),
                    "console": (str, False)}
_QEMU_FIELDS: dict[str, tuple[Any, bool]] = {
    "binary": (str, True), "machine": (str, True), "cpu": ((str, type(None)), False),
    "flash_origin": (int, True), "flash_size": (int, True), "ram_origin": (int, True),
    "ram_size": (int, True),
}
_MEMORY_FIELDS = {"flash_origin": (int, True), "ram_origin": (int, True)}
_HOST_CHECK_FIELDS = {"toolchain": (str, True), "cflags": (list, True), "note": (str, True)}


def _tname(t: Any) -> str:
    ts = t if isinstance(t, tuple) else (t,)
    names = {str: "string", int: "integer", list: "list", dict: "mapping", type(None): "null"}
    return " or ".join(names.get(x, x.__name__) for x in ts)


def _check_fields(board: str, where: str, data: Any, spec: Mapping[str, tuple[Any, bool]]) -> None:
    """Raise BoardError for unknown, missing or wrong-typed keys of `data` against `spec`."""
    if not isinstance(data, dict):
        raise BoardError(f"board '{board}': {where or 'entry'} must be a mapping, got {type(data).__name__}")
    prefix = f"{where}." if where else ""
    for key in data:
        if key not in spec:
            close = difflib.get_close_matches(str(key), list(spec), n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            raise BoardError(f"board '{board}': unknown field '{prefix}{key}'{hint}; "
                             f"allowed: {', '.join(spec)}")
    for key, (typ, required) in spec.items():
        if key not in data:
            if required:
                raise BoardError(f"board '{board}': missing required field '{prefix}{key}' ({_tname(typ)})")
            continue
        value = data[key]
        # bool is an int subclass in Python; `flash: yes` must not pass as 1 byte
        if isinstance(value, bool) or not isinstance(value, typ):
            raise BoardError(f"board '{board}': field '{prefix}{key}' must be {_tname(typ)}, "
                             f"got {value!r} ({type(value).__name__})")


def _str_list(board: str, field: str, value: list) -> tuple[str, ...]:
    for item in value:
        if not isinstance(item, str):
            raise BoardError(f"board '{board}': field '{field}' must be a list of strings, got item {item!r}")
    return tuple(value)


def _choice(board: str, field: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise BoardError(f"board '{board}': field '{field}' is {value!r}; allowed: {', '.join(allowed)}")
    return value


def _positive(board: str, field: str, value: int, unit: str = "bytes") -> int:
    if value <= 0:
        raise BoardError(f"board '{board}': field '{field}' must be > 0 {unit}, got {value}")
    return value


def _parse_board(name: str, data: Any) -> Board:
    _check_fields(name, "", data, _FIELDS)
    qemu = memory = host_check = None
    if "qemu" in data:
        q = data["qemu"]
        _check_fields(name, "qemu", q, _QEMU_FIELDS)
        if not q["binary"].startswith("qemu-system-"):
            raise BoardError(f"board '{name}': field 'qemu.binary' must name a qemu-system-* program, "
                             f"got {q['binary']!r}")
        qemu = QemuConfig(q["binary"], q["machine"], q.get("cpu"), q["flash_origin"],
                          _positive(name, "qemu.flash_size", q["flash_size"]), q["ram_origin"],
                          _positive(name, "qemu.ram_size", q["ram_size"]))
    if "memory" in data:
        _check_fields(name, "memory", data["memory"], _MEMORY_FIELDS)
        memory = (data["memory"]["flash_origin"], data["memory"]["ram_origin"])
    if "host_check" in data:
        h = data["host_check"]
        _check_fields(name, "host_check", h, _HOST_CHECK_FIELDS)
        host_check = HostCheck(h["toolchain"], _str_list(name, "host_check.cflags", h["cflags"]), h["note"])
    uart_emu = None
    if "uart_emulator" in data:
        u = data["uart_emulator"]
        _check_fields(name, "uart_emulator", u, _UART_EMU_FIELDS)
        uart_emu = UartEmulator(u["binary"], u["machine"], u["serial"],
                                _choice(name, "uart_emulator.console", u["console"], CONSOLES)
                                if "console" in u else None)
    console = _choice(name, "console", data.get("console", "semihosting"), CONSOLES)
    if data["print"] == "semihosting" and console != "semihosting":
        raise BoardError(f"board '{name}': field 'console' is {console!r} but 'print' is semihosting")
    if qemu is None and memory is None:
        raise BoardError(f"board '{name}': missing field 'memory' (flash_origin, ram_origin); a board "
                         f"without a 'qemu' entry needs it for the size-check link")
    if data["kernel_variant"] not in VARIANTS:
        raise BoardError(f"board '{name}': field 'kernel_variant' is {data['kernel_variant']!r}; "
                         f"allowed: {', '.join(VARIANTS)}")
    want = CPU_VARIANTS.get(str(data["cpu"]).lower())
    if want is not None and data["kernel_variant"] != want:
        raise BoardError(f"board '{name}': cpu '{data['cpu']}' uses kernel_variant '{want}' "
                         f"(larq2mcu/variants.py CPU_VARIANTS), but the board says "
                         f"'{data['kernel_variant']}'; make them agree")
    return Board(
        name=name, description=data["description"], arch=_choice(name, "arch", data["arch"], ARCHES),
        platform=data["platform"], board=data["board"], framework=data["framework"], cpu=data["cpu"],
        features=_str_list(name, "features", data["features"]),
        flash=_positive(name, "flash", data["flash"]), ram=_positive(name, "ram", data["ram"]),
        cflags=_str_list(name, "cflags", data["cflags"]), toolchain=data["toolchain"],
        kernel_variant=data["kernel_variant"], print=_choice(name, "print", data["print"], PRINTS),
        cycle_counter=_choice(name, "cycle_counter", data["cycle_counter"], CYCLE_COUNTERS),
        qemu=qemu, memory=memory, host_check=host_check,
        clock_hz=_positive(name, "clock_hz", data["clock_hz"], "Hz") if "clock_hz" in data else None,
        console=console, uart_emulator=uart_emu)


def parse_boards(doc: Any, source: str = "boards.yaml") -> dict[str, Board]:
    """Validate an already-parsed YAML document (`{version: 1, boards: {...}}`)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("boards"), dict):
        raise BoardError(f"{source}: expected a top-level mapping with a 'boards:' mapping")
    if doc.get("version", 1) != 1:
        raise BoardError(f"{source}: unsupported version {doc.get('version')!r}; this larq2mcu reads version 1")
    extra = set(doc) - {"version", "boards"}
    if extra:
        raise BoardError(f"{source}: unknown top-level key(s) {', '.join(sorted(map(str, extra)))}")
    boards: dict[str, Board] = {}
    for name, data in doc["boards"].items():
        if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", name):
            raise BoardError(f"{source}: invalid board name {name!r}")
        boards[name] = _parse_board(name, data)
    return boards


def load_boards(path: str | Path | None = None) -> dict[str, Board]:
    """Load and validate boards.yaml (the packaged one when `path` is None)."""
    p = Path(path) if path is not None else boards_yaml()
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise BoardError(f"cannot read board file {p}: {e.strerror or e}") from e
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise BoardError(f"{p}: invalid YAML: {e}") from e
    return parse_boards(doc, str(p))


def get_board(name: str, boards: Mapping[str, Board] | None = None) -> Board:
    """Return the board called `name`; unknown names raise BoardError with close matches."""
    boards = load_boards() if boards is None else boards
    if name in boards:
        return boards[name]
    close = difflib.get_close_matches(name, list(boards), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
    raise BoardError(f"unknown board '{name}'; {hint}known boards: {', '.join(boards)}")


def _kib(n: int) -> str:
    return f"{n} B ({n / 1024:.1f} KiB)"


def fits(board: Board, flash_bytes: int, ram_bytes: int) -> Fit:
    """Whether an image needing `flash_bytes` (text+data) and `ram_bytes` (data+bss) fits `board`."""
    problems = []
    if flash_bytes > board.flash:
        problems.append(f"flash: need {_kib(flash_bytes)}, have {_kib(board.flash)} "
                        f"(over by {flash_bytes - board.flash} B)")
    if ram_bytes > board.ram:
        problems.append(f"RAM: need {_kib(ram_bytes)}, have {_kib(board.ram)} "
                        f"(over by {ram_bytes - board.ram} B)")
    if problems:
        return Fit(False, f"does not fit board '{board.name}': " + "; ".join(problems))
    return Fit(True, f"fits board '{board.name}': flash {flash_bytes}/{board.flash} B "
                     f"({100 * flash_bytes / board.flash:.1f}%), RAM {ram_bytes}/{board.ram} B "
                     f"({100 * ram_bytes / board.ram:.1f}%)")


def require_fit(board: Board, flash_bytes: int, ram_bytes: int) -> Fit:
    """Like `fits`, but raise BoardError with the same message when it does not fit."""
    fit = fits(board, flash_bytes, ram_bytes)
    if not fit:
        raise BoardError(fit.message)
    return fit
