"""Keras callbacks: export (and verify) a model when training ends, and a rich progress display.

* `ExportOnTrainEnd(out_dir, name="model", board=None, verify_data=None, force=False)` exports
  `self.model` in `on_train_end` with `larq2mcu.export`, optionally builds the host library and
  compares it with Keras on `verify_data` (x, or (x, y) — y is then used for the C accuracy).
  Afterwards `.export` holds the Export, `.agreement` the verify.Agreement (None without
  verify_data), `.accuracy` the C accuracy on (x, y) (None without labels). A disagreement raises
  `VerificationError` from `fit()` (on_failure="raise", the default) or is logged as an error
  (on_failure="log"); export errors (unsupported layers, foreign folder, ...) always propagate.
* `RichProgress(description="training")`: one rich progress bar over all batches of all epochs,
  with the latest loss/accuracy in the description; use it with `fit(..., verbose=0)`.

Importing this module imports TensorFlow (the callbacks subclass tf_keras' Callback).
"""
from __future__ import annotations

import logging

import numpy as np

from ._tf import tf_modules
from .errors import BoardError, VerificationError

_tf, _keras, _lq = tf_modules()
log = logging.getLogger("larq2mcu")


def _resolve_board(board):
    """(name, Board or None) for `board` (a name or a boards.Board), validated against
    boards.yaml when larq2mcu.board.profiles is importable; without it the name is kept unchecked."""
    if board is None:
        return None, None
    name = getattr(board, "name", board)
    if not isinstance(name, str):
        raise BoardError(f"board must be a board name or a Board, got {board!r}")
    try:
        from .board import profiles as boards
    except ImportError:      # the boards work is optional; keep the name as given
        return name, None
    if isinstance(board, boards.Board):
        return name, board
    return name, boards.get_board(name)   # raises BoardError listing close names


def _export_kwargs(board_obj) -> dict:
    """Pass the board's kernel variant on where export() takes one."""
    import inspect

    from .export import export as do_export
    variant = getattr(board_obj, "kernel_variant", None)
    if variant and "kernel_variant" in inspect.signature(do_export).parameters:
        return {"kernel_variant": variant}
    return {}


def _split_verify_data(data):
    """verify_data → (x, y or None). A 2-tuple/list whose first item is an array is (x, y)."""
    if data is None:
        return None, None
    if isinstance(data, (tuple, list)) and len(data) == 2 and np.ndim(data[0]) >= 2:
        return np.asarray(data[0], np.float32), np.asarray(data[1])
    return np.asarray(data, np.float32), None


class ExportOnTrainEnd(_keras.callbacks.Callback):
    """Export `self.model` to `out_dir` when training ends; verify against Keras when asked.

    `board` (name or Board) is validated when larq2mcu.board.profiles exists; its name is kept in
    `.board`, the Board in `.board_info`; its kernel_variant is passed to export(), and its
    flash/RAM sizes appear in the HTML report. `force` is passed to `larq2mcu.export`.
    `html` (optional path) also writes the HTML report there.
    """

    def __init__(self, out_dir, name: str = "model", board=None, verify_data=None,
                 force: bool = False, on_failure: str = "raise", html=None, quiet: bool = False):
        super().__init__()
        if on_failure not in ("raise", "log"):
            raise ValueError(f"on_failure must be 'raise' or 'log', got {on_failure!r}")
        self.out_dir, self.name, self.force = out_dir, name, force
        # validated at construction, so a typo fails before training, not after
        self.board, self.board_info = _resolve_board(board)
        self.verify_x, self.verify_y = _split_verify_data(verify_data)
        self.on_failure, self.html, self.quiet = on_failure, html, quiet
        self.export = None
        self.agreement = None
        self.accuracy = None
        self.host = None

    def _say(self, text: str) -> None:
        if not self.quiet:
            print(text)

    def on_train_end(self, logs=None):
        """Export the trained model; with verify data, build the host C, compare it with Keras (and
        measure accuracy with labels); write the HTML report if asked. On disagreement raise
        VerificationError (on_failure="raise") or log an error."""
        from .export import export as do_export
        self.export = exp = do_export(self.model, self.out_dir, name=self.name, force=self.force,
                                      **_export_kwargs(self.board_info))
        self._say(f"larq2mcu: exported '{self.name}' to {exp.out_dir} "
                  f"(arena {exp.plan.arena_size:,} B)")
        if self.verify_x is not None:
            from .verify import compare
            self.host = exp.build_host()
            self.agreement = ag = compare(exp, self.host, self.verify_x)
            if self.verify_y is not None:
                y = self.host.predict(self.verify_x, check_finite=False)
                y = y[0] if isinstance(y, list) else y          # several outputs: classes from output 0
                if y.ndim == 2 and y.shape[1] > 1:
                    self.accuracy = float(np.mean(y.argmax(1) == self.verify_y.reshape(-1)))
            self._say(ag.summary())
            if self.accuracy is not None:
                self._say(f"accuracy (C) on {len(self.verify_x)} samples: {100 * self.accuracy:.2f} %")
        if self.html is not None:
            from .html_report import write_html
            write_html(exp, self.html, accuracy=self.accuracy, agreement=self.agreement,
                       board=self.board_info or None)
        if self.agreement is not None and not self.agreement.ok:
            msg = (f"exported C model '{self.name}' disagrees with Keras on {self.agreement.n} samples "
                   f"(bit mismatches {self.agreement.bit_mismatches}, argmax agreement "
                   f"{100 * self.agreement.argmax_agreement:.2f} %, max |Δ| {self.agreement.max_abs_diff:.3g})")
            if self.on_failure == "raise":
                raise VerificationError(msg)
            log.error(msg)


class RichProgress(_keras.callbacks.Callback):
    """A rich progress bar over every training batch (epochs × steps), showing epoch and metrics.

    Pass `console` to share a rich Console; `transient=True` removes the bar when done. Keras'
    own printing should be off (fit(..., verbose=0)). Works without a known step count (bar
    then pulses)."""

    def __init__(self, description: str = "training", console=None, transient: bool = False):
        super().__init__()
        self.description, self.console, self.transient = description, console, transient
        self._progress = None
        self._task = None
        self._epoch = 0
        self.last_logs: dict = {}

    def _label(self) -> str:
        parts = [f"{self.description} epoch {self._epoch + 1}/{self.params.get('epochs', '?')}"]
        for k in ("loss", "accuracy", "val_accuracy"):
            if k in self.last_logs:
                parts.append(f"{k} {self.last_logs[k]:.4f}")
        return "  ".join(parts)

    def on_train_begin(self, logs=None):
        """Start the bar: total = steps × epochs, or indeterminate when Keras knows no step count."""
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)
        steps, epochs = self.params.get("steps"), self.params.get("epochs") or 1
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), TimeRemainingColumn(), console=self.console,
                                  transient=self.transient)
        self._progress.start()
        self._task = self._progress.add_task(self._label(), total=steps * epochs if steps else None)

    def on_epoch_begin(self, epoch, logs=None):
        """Show the new epoch number in the bar's label."""
        self._epoch = epoch
        if self._progress is not None:
            self._progress.update(self._task, description=self._label())

    def on_train_batch_end(self, batch, logs=None):
        """Advance the bar by one batch."""
        if self._progress is not None:
            self._progress.advance(self._task)

    def on_epoch_end(self, epoch, logs=None):
        """Keep the epoch's scalar metrics (last_logs) and show loss/accuracy/val_accuracy in the label."""
        self.last_logs = {k: float(v) for k, v in (logs or {}).items() if np.ndim(v) == 0}
        if self._progress is not None:
            self._progress.update(self._task, description=self._label())

    def on_train_end(self, logs=None):
        """Stop the bar, first filling it when training ended early (e.g. early stopping)."""
        if self._progress is not None:
            steps, epochs = self.params.get("steps"), self.params.get("epochs") or 1
            if steps:      # early stopping: show the bar as finished, not stuck part-way
                self._progress.update(self._task, completed=steps * epochs)
            self._progress.stop()
            self._progress = None
