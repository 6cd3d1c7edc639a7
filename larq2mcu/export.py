"""`export()`: Keras/Larq model → IR → passes → arena plan → lowering (once) → C files, written
atomically. The `Lowered` record feeds the files, the header's size macros, the reports, the
manifest and the board-fit check alike."""
from __future__ import annotations

from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

from . import codegen, frontend, ir, library, outdir, passes, planner, report
from .errors import OutputDirError
from .frontend import size_check
from .variants import get_variant, variant_for_cpu
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


def lower(model, name: str, kernel_variant: str = "ref", max_weight_bytes: int | None = None, board=None,
          input_dtype: str = "float32", imports=(), custom_objects=None, trust_lambda: bool = False):
    """Return (keras model, source graph, lowered graph, plan, files, Lowered) without writing.
    Before any weight array is built, lower bounds from shapes (frontend/size_check.py) are held
    against `max_weight_bytes` and, given a `board` (board.profiles.Board), its flash and RAM.
    `input_dtype` uint8/int8: passes/integer_input.py after the pipeline. `imports`/`custom_objects`:
    frontend/user_code.py."""
    name = codegen.validate_name(name)
    variant = get_variant(kernel_variant)
    if isinstance(model, (str, PathLike)) and Path(model).is_file():     # before Keras loads the file
        size_check.check(size_check.file_sizes(Path(model), size_check.read_config(Path(model))),
                         max_weight_bytes, board, "weight shapes in the model file")
    model = frontend.load_model(model, imports, custom_objects, trust_lambda)
    size_check.check(size_check.model_sizes(model), max_weight_bytes, board, "Keras layer shapes")
    src = frontend.to_ir(model, name)
    g = passes.run_pipeline(src)
    if input_dtype not in (None, "float32"):     # raw bytes in: passes/integer_input.py
        from .passes.integer_input import integer_input
        g = integer_input(g, input_dtype, {la.name: type(la).__name__ for la in model.layers})
    plan = planner.plan(g)
    low = codegen.lower(g, plan, name, variant)
    files = codegen.render(low)
    return model, src, g, plan, files, low


def export(model, out_dir, name: str = "model", force: bool = False, kernel_variant: str | None = None,
           cpu: str | None = None, max_weight_bytes: int | None = None, board=None,
           input_dtype: str = "float32", imports=(), custom_objects=None, trust_lambda: bool = False) -> Export:
    """Export `model` (tf.keras Model or .keras/.h5 path) as a self-contained C library in
    `out_dir`. Nothing is written unless the whole export succeeds; see outdir.py.
    `kernel_variant` picks optimized kernels (larq2mcu.variants; boards.yaml names one per
    board); every variant is bit-identical to the reference kernels. Without it, `cpu` (the
    target core as boards.yaml spells it: cortex-m4, esp32, rv32imc, … — the CLI's --cpu) picks
    the variant for that core (variants.CPU_VARIANTS, which boards.yaml agrees with; BoardError for an
    unknown core), else "ref". An explicit `kernel_variant` wins over `cpu`, as --kernels does.
    `max_weight_bytes` and `board` set the limits checked from shapes before the slow part (see
    `lower`). `input_dtype` "uint8" / "int8" makes the C take raw bytes and sum the first layer in
    integers (passes/integer_input.py; the model must start with [Rescaling | Normalization] → a
    1-bit-weight conv/dense → BN + sign). `imports` (module names or .py paths) and
    `custom_objects` let a model file whose classes live in user code load (frontend/user_code.py);
    `trust_lambda` lets a file with Lambda layers load (running their code; frontend/safe_load.py)."""
    if kernel_variant is None:
        kernel_variant = variant_for_cpu(cpu) if cpu is not None else "ref"
    if out_dir is None or str(out_dir) == "":
        raise OutputDirError("no output folder given")
    get_variant(kernel_variant)                           # a misspelt variant fails before the slow part
    out = Path(out_dir)
    outdir.check_destination(out.absolute(), force)      # fail early, before the slow part
    model, src, g, plan, files, low = lower(model, name, kernel_variant, max_weight_bytes, board, input_dtype,
                                            imports, custom_objects, trust_lambda)
    manifest = {"larq2mcu": __version__, "name": name, "model_hash": low.model_hash,
                "arena_size": plan.arena_size, "kernel_variant": low.variant.name,
                "weight_bytes": low.weight_bytes, "input_shape": list(g.tensors[g.inputs[0]].shape),
                "output_shape": list(g.tensors[g.outputs[0]].shape),     # the first output's
                "outputs": report.output_entries(low),                   # every output, model order
                "report": report.report_entry(low)}     # what `larq2mcu report` shows
    if input_dtype not in (None, "float32"):
        manifest["input_dtype"] = input_dtype
    files = dict(files, **library.library_files(name, files, low.variant.name))   # build files: library.py
    path = outdir.write_atomic(out, files, manifest, force=force)
    return Export(name, path, g, src, plan, files, model, low)
