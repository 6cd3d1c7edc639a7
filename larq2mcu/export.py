"""`export()`: Keras/Larq model → IR → passes → arena plan → lowering (once) → C files, written
atomically. The `Lowered` record feeds the files, the header's size macros, the reports, the
manifest and the board-fit check alike."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import codegen, frontend, ir, library, outdir, passes, planner, report
from .errors import OutputDirError
from .variants import get_variant
from .version import __version__


@dataclass
class Export:
    """The result of `export()`: the C name, the folder written, the graphs before and after the
    passes, the arena plan, the generated files (file name → text), the Keras model and `Lowered`."""
    name: str
    out_dir: Path
    graph: ir.Graph                 # after the pass pipeline (what the C computes)
    source_graph: ir.Graph          # straight from the frontend
    plan: planner.Plan
    files: dict
    model: object = field(repr=False, default=None)
    lowered: codegen.Lowered = field(repr=False, default=None)

    @property
    def model_hash(self) -> str:
        """The lowered graph's hash (16 hex digits), as in the manifest."""
        return self.lowered.model_hash

    @property
    def kernel_variant(self) -> str:
        """Name of the kernel variant the C was generated for."""
        return self.lowered.variant.name

    @property
    def weight_bytes(self) -> int:
        """Constant data (flash) as written: what <NAME>_WEIGHT_BYTES says."""
        return self.lowered.weight_bytes

    def build_host(self):
        """Compile the exported C with the host cc and load it (see larq2mcu.host)."""
        from . import host
        return host.build(self.out_dir, self.name, self.graph, self.plan)

    def rows(self):
        """Per-layer `report.Row`s of the export (report.rows)."""
        return report.rows(self.lowered)

    def report(self, **extra) -> str:
        """The text layer table and totals (report.format_table); `extra` adds `key: value` lines."""
        return report.format_table(self.lowered, extra or None)


def lower(model, name: str, kernel_variant: str = "ref", imports=(), custom_objects=None):
    """Return (keras model, source graph, lowered graph, plan, files, Lowered) without writing."""
    name = codegen.validate_name(name)
    variant = get_variant(kernel_variant)
    model = frontend.load_model(model, imports, custom_objects)
    src = frontend.to_ir(model, name)
    g = passes.run_pipeline(src)
    plan = planner.plan(g)
    low = codegen.lower(g, plan, name, variant)
    files = codegen.render(low)
    return model, src, g, plan, files, low


def export(model, out_dir, name: str = "model", force: bool = False, kernel_variant: str = "ref",
           imports=(), custom_objects=None) -> Export:
    """Export `model` (tf.keras Model or .keras/.h5 path) as a self-contained C library in
    `out_dir`. Nothing is written unless the whole export succeeds; see outdir.py.
    `kernel_variant` picks optimized kernels (larq2mcu.variants; boards.yaml names one per
    board); every variant is bit-identical to the reference kernels. `imports` (module names or
    .py paths) and `custom_objects` let a model file whose classes live in user code load
    (frontend/user_code.py)."""
    if out_dir is None or str(out_dir) == "":
        raise OutputDirError("no output folder given")
    get_variant(kernel_variant)                           # a misspelt variant fails before the slow part
    out = Path(out_dir)
    outdir.check_destination(out.absolute(), force)      # fail early, before the slow part
    model, src, g, plan, files, low = lower(model, name, kernel_variant, imports, custom_objects)
    manifest = {"larq2mcu": __version__, "name": name, "model_hash": low.model_hash,
                "arena_size": plan.arena_size, "kernel_variant": low.variant.name,
                "weight_bytes": low.weight_bytes, "input_shape": list(g.tensors[g.inputs[0]].shape),
                "output_shape": list(g.tensors[g.outputs[0]].shape),
                "report": report.report_entry(low)}     # what `larq2mcu report` shows
    files = dict(files, **library.library_files(name, files, kernel_variant))   # build files: library.py
    path = outdir.write_atomic(out, files, manifest, force=force)
    return Export(name, path, g, src, plan, files, model, low)
