"""The host side of the harness' serial link (templates/_harness_link.c.j2), over pyserial.

Protocol v1, one ASCII line per command and per answer (so a terminal shows it, and a lost or
garbled byte costs one line, never the session):
  host  H                                   device  L2M ready v1 inputs=<n> outputs=<n> ops=<n> hz=<hz>
  host  I <seq> <word>*inputs <crc>         device  L2M sample <seq> st=<rc> ticks=<t> hz=<hz>
                                                        layers=<t0,..|-> y=<word,..> crc=<crc>
                                                    or L2M nak <seq> len|crc|syntax
  host  Q                                   device  L2M bye   (the program ends: emulation only)
A word is the 8 hex digits of a float32's bits; crc is zlib's CRC-32 of the words' little-endian
bytes, checked on both sides: a corrupted sample is answered with nak and sent again, a corrupted
answer is asked for again (up to `retries` times). Lines not starting with "L2M " (the harness'
human-readable output, boot messages) are skipped. Any answer has `timeout` seconds to arrive.

Contract:
  * `SerialLink(url, baudrate=115200, timeout=30)`: `url` is anything pyserial opens
    (/dev/ttyACM0, COM3, socket://host:port, a pty path). `.hello()` -> Ready (sends H until
    answered), `.infer(seq, x)` -> Reply (outputs float32 bit-exact), `.quit()`, `.close()`.
  * `emulated_uart(elf, board, extra_args)` (context manager) runs `elf` on the board's
    `uart_emulator` QEMU machine with its console UART on a local TCP socket and yields
    (url, process); the guest's semihosting exit status is the process' return code.
"""
from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .profiles import Board
from ..errors import BoardError, Larq2McuError, ToolchainMissingError

_READY = re.compile(r"^L2M ready v1 inputs=(\d+) outputs=(\d+) ops=(\d+) hz=(\d+)\s*$")
_SAMPLE = re.compile(r"^L2M sample (\d+) st=(-?\d+) ticks=(\d+) hz=(\d+) layers=(\S+) "
                     r"y=([0-9a-f,]+) crc=([0-9a-f]{8})\s*$")
_NAK = re.compile(r"^L2M nak (\S+) (\S+)\s*$")


class SerialLinkError(Larq2McuError):
    """The board did not answer as the protocol says (timeout, retries exhausted, wrong model)."""

    exit_code = 1


@dataclass(frozen=True)
class Ready:
    """The device's ready line: counts of inputs, outputs and ops, and its tick rate in Hz."""
    inputs: int
    outputs: int
    ops: int
    hz: int                      # ticks per second of the device's counter, 0 unknown


@dataclass
class Reply:
    """The device's reply to one inference request `seq` (ticks counted at `hz` per second)."""
    seq: int
    status: int                  # <name>_invoke's return value
    ticks: int
    hz: int
    layers: list[int] | None     # ticks per op, None when not measured
    outputs: np.ndarray          # float32, bit-exact copy of what the device computed


def crc32_words(words: np.ndarray) -> int:
    """zlib CRC-32 of uint32 words as little-endian bytes (what the device computes)."""
    return zlib.crc32(np.asarray(words, dtype="<u4").tobytes()) & 0xFFFFFFFF


def encode_sample(seq: int, x: np.ndarray) -> bytes:
    """The `I` command line for one sample (float32 values, bit-exact)."""
    w = np.ascontiguousarray(x, dtype=np.float32).reshape(-1).view(np.uint32)
    body = " ".join(f"{v:08x}" for v in w.tolist())
    return f"I {seq} {body} {crc32_words(w):08x}\n".encode("ascii")


def parse_sample(line: str) -> Reply | None:
    """A `L2M sample` line as a Reply; None when it is not one or its CRC does not match."""
    m = _SAMPLE.match(line)
    if not m:
        return None
    words = np.array([int(w, 16) for w in m.group(6).split(",")], dtype=np.uint32)
    if crc32_words(words) != int(m.group(7), 16):
        return None
    layers = None if m.group(5) == "-" else [int(v) for v in m.group(5).split(",")]
    return Reply(int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4)), layers,
                 words.view(np.float32))


class SerialLink:
    """See the module docstring."""

    def __init__(self, url: str, baudrate: int = 115200, timeout: float = 30.0, retries: int = 3):
        try:
            import serial
        except ImportError as e:   # pragma: no cover - pyserial is a dependency
            raise ToolchainMissingError("the serial link needs pyserial: pip install 'larq2mcu[boards]' "
                                        "(or pip install pyserial)") from e
        self.timeout, self.retries = timeout, retries
        try:
            self.port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.2)
        except (serial.SerialException, OSError, ValueError) as e:
            raise SerialLinkError(f"cannot open serial port {url}: {e}") from e
        self._buf = b""
        self.skipped: list[str] = []   # non-protocol lines seen (the human-readable output)

    def close(self) -> None:
        """Close the serial port."""
        self.port.close()

    def __enter__(self) -> SerialLink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _line(self, deadline: float) -> str | None:
        """Next protocol line, or None at the deadline."""
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                raw, self._buf = self._buf[:nl], self._buf[nl + 1:]
                text = raw.decode("ascii", "replace").rstrip("\r")
                if text.startswith("L2M "):
                    return text
                self.skipped.append(text)
                continue
            if time.monotonic() > deadline:
                return None
            self._buf += self.port.read(max(1, self.port.in_waiting))

    def hello(self, timeout: float | None = None) -> Ready:
        """Send H (after a newline, to end any half-received line) until `L2M ready` arrives."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            self.port.write(b"\nH\n")
            step = min(deadline, time.monotonic() + 1.0)
            while (line := self._line(step)) is not None:
                m = _READY.match(line)
                if m:
                    return Ready(*(int(g) for g in m.groups()))
        raise SerialLinkError(f"no 'L2M ready' from the board within {timeout or self.timeout:g} s: "
                              f"is the larq2mcu harness flashed and the port right? last output: "
                              f"{self.skipped[-3:]}")

    def infer(self, seq: int, x: np.ndarray) -> Reply:
        """Send one sample and return the device's answer; resend on nak or a corrupted answer."""
        frame = encode_sample(seq, x)
        problems = []
        for _ in range(self.retries + 1):
            self.port.write(frame)
            deadline = time.monotonic() + self.timeout
            while (line := self._line(deadline)) is not None:
                if line.startswith(f"L2M sample {seq} "):
                    reply = parse_sample(line)
                    if reply is not None:
                        return reply
                    problems.append("answer failed its CRC")
                    break
                m = _NAK.match(line)
                if m and m.group(1) in (str(seq), "-"):
                    problems.append(f"nak {m.group(2)}")
                    break
            else:
                problems.append(f"no answer within {self.timeout:g} s")
        raise SerialLinkError(f"sample {seq}: the board did not answer after {self.retries + 1} "
                              f"tries ({'; '.join(problems)})")

    def quit(self, timeout: float = 5.0) -> None:
        """Send `Q` and wait up to `timeout` s for the device's "L2M bye" line (no error on timeout)."""
        self.port.write(b"Q\n")
        deadline = time.monotonic() + timeout
        while (line := self._line(deadline)) is not None:
            if line.startswith("L2M bye"):
                return


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def emulated_command(elf: str | Path, board: Board, port: int) -> list[str]:
    """QEMU command line running `elf` on the board's uart_emulator, console UART on TCP `port`
    (QEMU waits for the client before starting the guest, so no output is lost)."""
    u = board.uart_emulator
    if u is None:
        from .profiles import load_boards
        can = [n for n, b in load_boards().items() if b.uart_emulator is not None]
        raise BoardError(f"board '{board.name}' has no 'uart_emulator' in boards.yaml, so it cannot "
                         f"be validated under emulation; boards with one: {', '.join(can)}")
    return [u.binary, "-M", u.machine, "-display", "none", "-monitor", "none",
            *(["-serial", "null"] * u.serial), "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on",
            "-chardev", "stdio,id=l2msh", "-semihosting-config", "enable=on,target=native,chardev=l2msh",
            "-kernel", str(elf)]


@contextlib.contextmanager
def emulated_uart(elf: str | Path, board: Board, extra_args: Sequence[str] = (),
                  start_timeout: float = 10.0) -> Iterator[tuple[str, subprocess.Popen]]:
    """See the module docstring. The process is killed on exit if it is still running."""
    import shutil
    port = _free_port()
    cmd = emulated_command(elf, board, port) + list(extra_args)
    if shutil.which(cmd[0]) is None:
        raise ToolchainMissingError(f"{cmd[0]} is not on PATH; install it with: apt-get install qemu-system-arm")
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + start_timeout
        while True:        # wait until QEMU listens (connecting would take the one client slot)
            if proc.poll() is not None:
                raise SerialLinkError(f"QEMU exited ({proc.returncode}) before the board started: "
                                      f"{proc.stderr.read().decode(errors='replace')[-400:]}")
            if _listening(port):
                break
            if time.monotonic() > deadline:
                raise SerialLinkError(f"QEMU did not open its UART socket within {start_timeout:g} s")
            time.sleep(0.05)
        yield f"socket://127.0.0.1:{port}", proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _listening(port: int) -> bool:
    """Whether a local TCP socket listens on `port` (from /proc/net/tcp, without connecting)."""
    try:
        text = Path("/proc/net/tcp").read_text()
    except OSError:
        time.sleep(0.3)     # no procfs: give QEMU a moment, pyserial then connects once
        return True
    return any(f":{port:04X} " in ln and ln.split()[3] == "0A" for ln in text.splitlines()[1:])
