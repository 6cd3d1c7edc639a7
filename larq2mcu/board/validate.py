"""`larq2mcu validate`: run samples on the target over its serial console and compare every
output with the host library bit for bit, and the classes with the labels.

Contract:
  * `on_target(model_dir, name, board, x, y_host, labels=None, *, port=None, project=None,
    flash=True, emulated=False, workdir, count=True, progress=None)` -> Validation.
      - emulated=True: builds the board's own console firmware (targets.build: the harness with
        the board's UART glue and the serial link, the board's flags) and runs it on the board's
        `uart_emulator` QEMU machine (nucleo_f446re: netduinoplus2, same USART2); with `count`
        the qcount plugin also counts the instructions of the first inference per layer.
      - otherwise: `pio run -e <board> -t upload` in `project` (a `larq2mcu export --board`
        folder) unless flash=False, then talks to `port` (any pyserial URL).
    Every sample of x is streamed (serial_link protocol v1); outputs come back bit-exact.
  * `Validation.ok`: every invoke returned 0 and every output is bit-identical to y_host.
  * `Validation.table()` -> rich renderables (per-sample and per-layer tables, summary lines);
    `Validation.to_dict()` -> JSON-ready dict for reports.
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .profiles import Board
from ..errors import BoardError
from .serial_link import Ready, Reply, SerialLink, SerialLinkError, emulated_command, emulated_uart


@dataclass
class Validation:
    """Result of a serial validation: the device's replies beside the host library's outputs."""
    board: str
    emulated: bool
    ready: Ready
    replies: list[Reply]
    y_host: np.ndarray
    labels: np.ndarray | None
    layer_names: list[tuple[int, str, str]]          # (index, layer, op) per op
    instructions: list[int] | None = None            # per op, first inference (emulated + count)
    total_instructions: int | None = None
    clock_hz: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def identical(self) -> np.ndarray:
        """Per reply: every output float bit for bit equal to the host library's."""
        return np.array([np.array_equal(r.outputs.view(np.uint32), h.reshape(-1).view(np.uint32))
                         for r, h in zip(self.replies, self.y_host)], dtype=bool)

    @property
    def ok(self) -> bool:
        """True when there is a reply, every invoke returned 0 and every output is bit-identical."""
        return bool(self.replies) and all(r.status == 0 for r in self.replies) and bool(self.identical.all())

    def _ms(self, ticks: float, hz: int) -> float | None:
        return ticks * 1000.0 / hz if hz else None

    def mean_layer_ticks(self) -> list[float] | None:
        """Mean ticks per op over the replies that measured ops; None when none did."""
        rows = [r.layers for r in self.replies if r.layers is not None]
        return list(np.mean(np.array(rows, dtype=np.float64), axis=0)) if rows else None

    def to_dict(self) -> dict:
        """JSON-ready summary: totals, mean ticks/ms, accuracy, and per op its ticks and instructions."""
        per = self.mean_layer_ticks()
        hz = self.ready.hz
        ticks = [r.ticks for r in self.replies]
        return dict(
            board=self.board, emulated=self.emulated, samples=len(self.replies),
            bit_identical=int(self.identical.sum()), ok=self.ok, tick_hz=hz,
            mean_ticks=float(np.mean(ticks)) if ticks else None,
            mean_ms=self._ms(float(np.mean(ticks)), hz) if ticks else None,
            accuracy=self._accuracy(),
            layers=[dict(index=i, layer=layer, op=op,
                         ticks=None if per is None else per[k],
                         instructions=None if self.instructions is None else self.instructions[k])
                    for k, (i, layer, op) in enumerate(self.layer_names)],
            total_instructions=self.total_instructions, clock_hz=self.clock_hz, notes=list(self.notes))

    def _accuracy(self) -> dict | None:
        if self.labels is None or self.y_host.ndim < 2 or self.y_host.reshape(len(self.y_host), -1).shape[1] < 2:
            return None
        board = np.array([int(np.argmax(r.outputs)) for r in self.replies])
        host = self.y_host.reshape(len(self.y_host), -1).argmax(1)
        return dict(board=float(np.mean(board == self.labels)), host=float(np.mean(host == self.labels)))

    def table(self) -> list:
        """rich renderables: per-sample table, per-layer table, summary lines."""
        from rich.table import Table
        hz = self.ready.hz
        s = Table(title=f"validation on {self.board}{' (emulated UART)' if self.emulated else ''}",
                  title_justify="left")
        for col in ("#", "label", "host class", "board class", "bit-identical", "status", "ticks", "ms"):
            s.add_column(col, justify="left" if col == "bit-identical" else "right")
        ident = self.identical
        host_cls = self.y_host.reshape(len(self.y_host), -1).argmax(1)
        for k, r in enumerate(self.replies):
            ms = self._ms(r.ticks, hz)
            s.add_row(str(r.seq), "-" if self.labels is None else str(int(self.labels[k])),
                      str(int(host_cls[k])), str(int(np.argmax(r.outputs))),
                      "yes" if ident[k] else "[bold red]NO[/]", str(r.status), f"{r.ticks:,}",
                      "-" if ms is None else f"{ms:.3f}")
        layer = Table(title="per layer (ticks: mean over samples, measured by the board)", title_justify="left")
        for col in ("#", "layer", "op", "ticks", "ms", "instructions (QEMU, exact)"):
            layer.add_column(col, justify="left" if col in ("layer", "op") else "right")
        per = self.mean_layer_ticks()
        for k, (i, name, op) in enumerate(self.layer_names):
            t = None if per is None else per[k]
            ms = None if t is None else self._ms(t, hz)
            layer.add_row(str(i), name, op, "-" if t is None else f"{t:,.0f}",
                          "-" if ms is None else f"{ms:.3f}",
                          "-" if self.instructions is None else f"{self.instructions[k]:,}")
        lines = [f"{int(ident.sum())}/{len(ident)} outputs bit-identical to the host library"]
        acc = self._accuracy()
        if acc:
            lines.append(f"accuracy vs labels: board {100 * acc['board']:.2f} %, host {100 * acc['host']:.2f} %")
        if self.total_instructions is not None:
            ms = (f" = {self.total_instructions * 1000 / self.clock_hz:.3f} ms at {self.clock_hz / 1e6:g} MHz "
                  f"(1 instruction per cycle)" if self.clock_hz else "")
            lines.append(f"instructions per inference (QEMU, exact): {self.total_instructions:,}{ms}")
        lines += self.notes
        return [s, layer, *lines]


def _layer_names(n_ops: int, rows=None) -> list[tuple[int, str, str]]:
    if rows is not None:
        return [(r.index, r.layer, r.op) for r in rows]
    return [(k, f"op {k}", "?") for k in range(n_ops)]


def _stream(link: SerialLink, x: np.ndarray, inputs: int,
            progress: Callable[[int], None] | None) -> tuple[Ready, list[Reply]]:
    ready = link.hello()
    if ready.inputs != inputs:
        raise SerialLinkError(f"the board runs a model with {ready.inputs} inputs, this one has {inputs}: "
                              f"flash the matching firmware")
    replies = []
    for i, xi in enumerate(x):
        replies.append(link.infer(i, xi))
        if progress is not None:
            progress(i + 1)
    return ready, replies


def on_target(model_dir, name: str, board: Board, x, y_host, labels=None, *, port: str | None = None,
              project=None, flash: bool = True, emulated: bool = False, workdir=None, count: bool = True,
              rows=None, progress: Callable[[int], None] | None = None, timeout: float = 60.0) -> Validation:
    """See the module docstring."""
    from .. import board as targets
    model_dir = Path(model_dir)
    x = np.asarray(x, np.float32).reshape(len(x), -1)
    y_host = np.asarray(y_host, np.float32).reshape(len(x), -1)
    labels = None if labels is None else np.asarray(labels).astype(int)
    notes: list[str] = []
    instructions = total = None
    if emulated:
        with tempfile.TemporaryDirectory(prefix=f"l2m-validate-{board.name}-") as tmp:
            wd = Path(workdir or tmp)
            if board.uart_emulator is None:
                emulated_command("-", board, 0)     # raises the BoardError naming the boards that can
            elf = targets.build(model_dir, board, x[:1], y_host[:1], wd / "fw",
                                console=board.uart_emulator.console)
            extra, sym_info = [], None
            if count:
                from . import counter
                try:
                    extra, sym, stack = counter.plugin_option(elf, name, wd / "count.txt")
                    sym_info = (sym, stack)
                except (RuntimeError, OSError, ImportError) as e:
                    notes.append(f"no instruction counts: {e}")
            with emulated_uart(elf, board, extra) as (url, proc):
                with SerialLink(url, timeout=timeout) as link:
                    ready, replies = _stream(link, x, x.shape[1], progress)
                    link.quit()
                rc = proc.wait(timeout=30)
            if rc != 0:
                notes.append(f"the emulated board exited with status {rc} (1: an embedded sample differed)")
            if sym_info is not None and (wd / "count.txt").is_file():
                from . import counter, latency
                c = counter.parse_counts((wd / "count.txt").read_text(), *sym_info, rc == 0)
                model_c = model_dir / f"{name}.c"
                if c.ok and model_c.is_file():
                    n = len(rows) if rows is not None else ready.ops
                    instructions = latency.attribute(c.calls, latency.op_calls(model_c.read_text(), name), n)
                    total = c.total
        notes.append("ticks are 0 under QEMU (no cycle model); the instruction counts stand in")
    else:
        if port is None:
            raise BoardError(f"validating on a real {board.name} needs --port (e.g. /dev/ttyACM0); "
                             f"or pass --emulated" + (" (runs on QEMU's "
                             f"{board.uart_emulator.machine})" if board.uart_emulator else ""))
        if flash:
            from . import platformio
            if project is None:
                raise BoardError("flashing needs the PlatformIO project (--project, from export --board)")
            res = platformio.run_pio(project, board.name, "upload")
            if res.returncode != 0:
                raise BoardError(f"pio run -e {board.name} -t upload failed (exit {res.returncode})")
        with SerialLink(port, timeout=timeout) as link:
            ready, replies = _stream(link, x, x.shape[1], progress)
    return Validation(board.name, emulated, ready, replies, y_host, labels,
                      _layer_names(ready.ops, rows), instructions, total, board.clock_hz, notes)


def validate_model(model, board: Board, data=None, n: int = 20, mode: str = "sym", *, name: str = "model",
                   port=None, project=None, flash: bool = True, emulated: bool = False,
                   progress: Callable[[int], None] | None = None, store_in=None, warn=None) -> Validation:
    """Export `model` for `board` into a temporary folder, take n samples (data set `data`, or
    random inputs), predict them with the host library and run `on_target` (when flashing, the
    project is `project` or a fresh `export --board` of this model). `store_in`: an export folder
    (library export or `export --board` project) of the same model and kernel variant; the
    results (per-layer ticks and ms at the board's tick rate) go to its latency.json, which the
    reports read (a folder of another model gets a note instead)."""
    from ..export import export as do_export
    from .project import demo_samples
    with tempfile.TemporaryDirectory(prefix="l2m-validate-") as tmp:
        exp = do_export(model, f"{tmp}/lib", name=name, kernel_variant=board.kernel_variant)
        x, labels = demo_samples(exp, data, n, mode, warn)
        y_host = exp.build_host().predict(np.asarray(x, np.float32), check_finite=False)
        if isinstance(y_host, list):     # several outputs: the harness replies with all, concatenated
            from .runs import flat_outputs
            y_host = flat_outputs(y_host, len(x))
        if not emulated and flash and project is None:
            from .project import export_project
            project = Path(tmp) / "project"
            export_project(model, project, name, board, None, force=False)
        v = on_target(exp.out_dir, name, board, x, y_host, labels, port=port, project=project, flash=flash,
                      emulated=emulated, workdir=Path(tmp) / "work", rows=exp.rows(), progress=progress)
        if store_in is not None:
            v.notes.append(store_result(v, store_in, exp.model_hash, exp.kernel_variant))
        return v


def store_result(v: Validation, folder, model_hash: str, kernel_variant: str) -> str:
    """Put `v.to_dict()` into `folder`'s latency.json when the folder's manifest is of this model
    hash and kernel variant; return the line saying what happened."""
    from .. import latency_report
    from ..outdir import read_manifest
    m = read_manifest(Path(folder)) or {}
    variant = m.get("kernel_variant") or (m.get("report") or {}).get("kernel_variant")
    if m.get("model_hash") != model_hash or variant not in (None, kernel_variant):
        return (f"not stored in {folder}: it holds another export (model {m.get('model_hash', 'none')}, "
                f"kernels {variant}) than the one validated ({model_hash}, {kernel_variant})")
    latency_report.store(folder, "target", v.to_dict(), model_hash, kernel_variant)
    return f"stored in {Path(folder) / latency_report.SIDECAR} (larq2mcu report {folder} shows it)"
