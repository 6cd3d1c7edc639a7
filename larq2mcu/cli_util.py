"""Helpers of the command line that need no TensorFlow: the model-path check, the kernel-variant
choice, the board table, progress display and the report of any export folder."""
from __future__ import annotations

import contextlib
import dataclasses
import zipfile
from pathlib import Path

from .errors import ModelLoadError, OutputDirError
from .variants import VARIANTS

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

# --kernels: what each variant is for (the one variant table, larq2mcu/variants.py); all are bit-identical.
KERNELS = {v.name: v.summary for v in VARIANTS.values()}


def kernels_help() -> str:
    """Help text of the kernel option: the default rule and every KERNELS variant with its description."""
    return ("kernel variant of a library export (default: from --cpu, else ref). "
            + "; ".join(f"{k}: {v}" for k, v in KERNELS.items()))


def check_model_path(path) -> Path:
    """Reject a missing, misnamed or non-model file before TensorFlow is imported (that import
    takes seconds): a .keras file is a zip archive, a .h5 file starts with the HDF5 signature."""
    p = Path(path)
    if not p.exists():
        raise ModelLoadError(f"model file not found: {p}")
    if p.is_dir():
        raise ModelLoadError(f"{p} is a folder; expected a .keras or .h5 model file "
                             "(save the model with model.save('model.keras'))")
    suffix = p.suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise ModelLoadError(f"{p} is not a model file: expected a .keras or .h5 file, got '{p.suffix or 'no suffix'}'")
    try:
        with open(p, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise ModelLoadError(f"cannot read {p}: {e.strerror or e}") from None
    if suffix == ".keras" and not zipfile.is_zipfile(p):
        raise ModelLoadError(f"{p} is not a .keras file (a .keras model is a zip archive; this file "
                             f"starts with {head[:4]!r}); re-save it with model.save('{p.name}')")
    if suffix in (".h5", ".hdf5") and not head.startswith(_HDF5_MAGIC):
        raise ModelLoadError(f"{p} is not an HDF5 file (bad signature {head!r}); re-save it with "
                             f"model.save('{p.name}')")
    return p


def choose_variant(kernels: str | None, cpu: str | None) -> tuple[str, str | None]:
    """(variant, hint line or None): --kernels wins, else the variant of --cpu (variants.CPU_VARIANTS),
    else ref with a hint naming the faster choice."""
    if kernels is not None:
        return kernels, None
    if cpu is not None:
        from .variants import variant_for_cpu
        return variant_for_cpu(cpu), None
    return "ref", ("hint: using the portable ref kernels; pass --cpu <core> (e.g. --cpu cortex-m4 -> "
                   "usad8; `larq2mcu boards` lists them) or --kernels for faster, bit-identical kernels")


def boards_table(boards):
    """A rich Table of the boards: name, CPU, kernel variant, flash, RAM, framework, kind."""
    from rich.table import Table
    t = Table(title="boards (boards.yaml)", title_justify="left")
    for col, kw in (("board", {}), ("cpu", {}), ("kernels", {}), ("flash", {"justify": "right"}),
                    ("RAM", {"justify": "right"}), ("framework", {}), ("kind", {}), ("description", {})):
        t.add_column(col, **kw)
    for b in boards.values():
        t.add_row(b.name, b.cpu, b.kernel_variant, _size(b.flash), _size(b.ram), b.framework or "bare metal",
                  "emulated (QEMU)" if b.emulated else "real board", b.description)
    return t


def _size(n: int) -> str:
    return f"{n // 1024} KiB" if n % 1024 == 0 else f"{n:,} B"


@contextlib.contextmanager
def progress(transient: bool = True):
    """A rich Progress on stderr (stdout stays machine-readable); silent when not a terminal."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=transient) as p:
        yield p


def _header_shapes(header: Path, name: str) -> dict:
    """{"input_shape": [...], "output_shape": [...]} from the <NAME>_INPUT_SHAPE / _OUTPUT_SHAPE
    macros of the generated header (templates/model.h.j2)."""
    import re
    text = header.read_text(encoding="utf-8") if header.is_file() else ""
    out = {}
    for key, macro in (("input_shape", "INPUT_SHAPE"), ("output_shape", "OUTPUT_SHAPE")):
        m = re.search(rf"#define {name.upper()}_{macro} \{{([^}}]*)\}}", text)
        if m:
            out[key] = [int(v) for v in m.group(1).split(",") if v.strip()]
    return out


def report_data(out_dir) -> tuple[dict, str]:
    """(report data, note) for any export folder: a library export (the manifest's "report"
    entry), or a board project (its library in lib/<name>/). Raises OutputDirError for a folder
    larq2mcu did not write."""
    from . import report
    from .outdir import MANIFEST, read_manifest
    out = Path(out_dir)
    m = read_manifest(out)
    if m is None or "name" not in m:
        raise OutputDirError(f"{out} holds no larq2mcu export ({MANIFEST} missing or unreadable)")
    if isinstance(m.get("report"), dict):
        return report.with_latency(dict(m["report"], name=m["name"], model_hash=m.get("model_hash", "?")), out), ""
    lib = out / "lib" / m["name"]
    src = lib if (lib / f"{m['name']}.c").is_file() else out
    if not (src / f"{m['name']}.c").is_file():
        raise OutputDirError(f"{out}: {MANIFEST} names model '{m['name']}' but neither {out / (m['name'] + '.c')} "
                             f"nor {lib / (m['name'] + '.c')} exists; re-export")
    where = f" (board project for {m['board']})" if m.get("board") else ""
    data = report._from_c(src, m)
    for key, shape in _header_shapes(src / f"{m['name']}.h", m["name"]).items():
        if data.get(key) is None:
            data[key] = shape
    return data, (f"\n{src}{where}: shapes, bit widths, MACs and the arena timeline are not "
                                         f"recorded in {MANIFEST}; re-export to get them")


def report_text(out_dir) -> str:
    """The text report of any export folder, in the one layout `export` also prints."""
    from . import report
    from .outdir import read_manifest
    m = read_manifest(Path(out_dir)) or {}
    if isinstance(m.get("report"), dict) or (Path(out_dir) / f"{m.get('name', '')}.c").is_file():
        return report.report_dir(out_dir)      # adds accuracy/agreement from report.json
    data, note = report_data(out_dir)
    return report.format_text(data) + note


def merge_agreements(parts):
    """One verify.Agreement from the Agreements of consecutive chunks of the samples: counts add
    up, maxima are the maximum, argmax agreement is weighted by chunk size."""
    from .verify import Agreement
    n = sum(a.n for a in parts)
    ag = Agreement(n=n)
    for a in parts:
        for t, (bad, tot, origin) in a.bit_tensors.items():
            b0, t0, _ = ag.bit_tensors.get(t, (0, 0, origin))
            ag.bit_tensors[t] = (b0 + bad, t0 + tot, origin)
        for t, (d, origin) in a.float_tensors.items():
            ag.float_tensors[t] = (max(d, ag.float_tensors.get(t, (0.0, origin))[0]), origin)
        ag.max_abs_diff = max(ag.max_abs_diff, a.max_abs_diff)
        ag.outputs_within_tol = ag.outputs_within_tol and a.outputs_within_tol
        ag.class_mismatches += a.class_mismatches
        ag.ties += a.ties
        for name, (d, within) in a.outputs.items():          # per model output
            d0, w0 = ag.outputs.get(name, (0.0, True))
            ag.outputs[name] = (max(d0, d), w0 and within)
    ag.argmax_agreement = sum(a.argmax_agreement * a.n for a in parts) / n if n else 1.0
    if all(a.issues is not None for a in parts):        # classified: sample numbers across chunks
        start, ag.issues = 0, []
        for a in parts:
            ag.issues += [dataclasses.replace(i, sample=i.sample + start) for i in a.issues]
            start += a.n
    return ag
