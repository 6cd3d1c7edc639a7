"""Run a harness ELF under QEMU with semihosting and parse what it printed.

Contract: `run(elf, board, timeout=...)` returns a RunResult whatever the guest's exit status
(`exit_code` is the guest's own code: 0 ok, 1 output mismatch, 2 invoke error, 254 fault); a
guest still running after `timeout` seconds raises EmulationError naming the timeout. stdin is
/dev/null, so QEMU never waits on the terminal. `RunResult.check()` raises EmulationError for
any non-zero status, describing a fault as a fault.
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .profiles import Board
from ..errors import EmulationError, ToolchainMissingError
from .toolchain import require_toolchain

FAULT_EXIT = 254
_OUT = re.compile(r"^out (\d+):((?: [0-9a-f]{8})*)\s*$")
_RES = re.compile(r"^res (\d+): status=(-?\d+) pred=(-?\d+) expected=(-?\d+) cycles=(\d+) (\S+)\s*$")


@dataclass
class SampleResult:
    """One sample's result as the guest printed it."""
    outputs: np.ndarray          # float32, bit-exact copy of what the guest computed
    status: int                  # return value of <name>_invoke
    predicted: int
    expected: int                # argmax of the expected outputs, -1 when none were given
    cycles: int                  # 0 where the board has no cycle counter
    ok: bool | None              # None when no expected outputs were embedded


@dataclass
class RunResult:
    """Outcome of one emulated run: exit code, captured output, command and per-sample results."""
    exit_code: int
    stdout: str
    stderr: str
    command: list[str] = field(default_factory=list)
    samples: list[SampleResult] = field(default_factory=list)
    complete: bool = False       # the closing "L2M end" line was seen

    @property
    def faulted(self) -> bool:
        """True when the guest exited through the fault handler (exit code FAULT_EXIT)."""
        return self.exit_code == FAULT_EXIT

    @property
    def outputs(self) -> list[np.ndarray]:
        """Each sample's outputs, in order."""
        return [s.outputs for s in self.samples]

    @property
    def ok(self) -> bool:
        """True when the guest exited 0 and printed the closing "L2M end" line."""
        return self.exit_code == 0 and self.complete

    def check(self) -> "RunResult":
        """Return self if the guest exited 0 after printing everything; else raise EmulationError."""
        if self.faulted:
            raise EmulationError(f"guest faulted (fault handler, exit {FAULT_EXIT}) after "
                                 f"{len(self.samples)} sample(s)\n{self._tail()}")
        if self.exit_code != 0:
            why = {1: "an output differs from the expected values", 2: "an invoke returned non-zero"}
            raise EmulationError(f"guest exited with status {self.exit_code}"
                                 f"{' (' + why[self.exit_code] + ')' if self.exit_code in why else ''}"
                                 f"\n{self._tail()}")
        if not self.complete:
            raise EmulationError(f"guest exited 0 but its output is incomplete\n{self._tail()}")
        return self

    def _tail(self) -> str:
        text = (self.stdout + self.stderr).strip().splitlines()
        return "\n".join(text[-15:])


def parse_output(text: str) -> tuple[list[SampleResult], bool]:
    """Parse the harness protocol (see templates/harness_main.c.j2) -> (samples, complete)."""
    words: dict[int, list[int]] = {}
    samples: list[SampleResult] = []
    complete = False
    for line in text.splitlines():
        m = _OUT.match(line)
        if m:
            words.setdefault(int(m.group(1)), []).extend(int(w, 16) for w in m.group(2).split())
            continue
        m = _RES.match(line)
        if m:
            i = int(m.group(1))
            out = np.array(words.get(i, []), dtype=np.uint32).view(np.float32)
            verdict = m.group(6)
            samples.append(SampleResult(out, int(m.group(2)), int(m.group(3)), int(m.group(4)),
                                        int(m.group(5)), None if verdict == "-" else verdict == "ok"))
        elif line.startswith("L2M end"):
            complete = True
    return samples, complete


def qemu_command(elf: str | Path, board: Board) -> list[str]:
    """The QEMU command line that runs `elf` on `board` with semihosting output on stdout."""
    q = board.qemu
    if q is None:
        raise EmulationError(f"board '{board.name}' is not emulated (no 'qemu' entry in boards.yaml)")
    cmd = [q.binary, "-M", q.machine]
    if q.cpu:
        cmd += ["-cpu", q.cpu]
    if board.arch == "riscv":
        cmd += ["-bios", "none"]
    cmd += ["-display", "none", "-monitor", "none", "-serial", "none"]
    if board.arch == "xtensa":
        cmd += ["-semihosting"]   # simcall writes go straight to QEMU's stdout
    else:
        cmd += ["-chardev", "stdio,id=l2msh",
                "-semihosting-config", "enable=on,target=native,chardev=l2msh"]
    return cmd + ["-kernel", str(elf)]


def run(elf: str | Path, board: Board, timeout: float = 30.0) -> RunResult:
    """Run `elf` on emulated `board`; see the module docstring for the contract."""
    cmd = qemu_command(elf, board)   # raises EmulationError for a board without 'qemu'
    require_toolchain(board, emulator=True)
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise EmulationError(f"{Path(elf).name} on {board.name} did not finish within {timeout:g} s "
                             f"(timeout; the guest probably hangs)") from e
    except FileNotFoundError as e:
        raise ToolchainMissingError(f"{cmd[0]} not found: {e}") from e
    stdout = proc.stdout.decode("utf-8", "replace")
    stderr = proc.stderr.decode("utf-8", "replace")
    samples, complete = parse_output(stdout)
    return RunResult(proc.returncode, stdout, stderr, cmd, samples, complete)
