"""`export()`: Keras/Larq model → IR → passes → arena plan → C files, written atomically."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import __version__, codegen, frontend, html_report, ir, library, outdir, passes, planner, report
from .errors import OutputDirError


@dataclass
class Export:
    name: str
    out_dir: Path
    graph: ir.Graph                 # after the pass pipeline (what the C computes)
    source_graph: ir.Graph          # straight from the frontend
    plan: planner.Plan
    files: dict
    model: object = field(repr=False, default=None)

    @property
    def model_hash(self) -> str:
        return codegen.model_hash(self.graph)

    def build_host(self):
        """Compile the exported C with the host cc and load it (see larq2mcu.host)."""
        from . import host
        return host.build(self.out_dir, self.name, self.graph, self.plan)

    def rows(self):
        return report.rows(self.graph, self.plan, self.name)

    def report(self, **extra) -> str:
        return report.format_table(self.graph, self.plan, self.name, extra or None)


def lower(model, name: str, kernel_variant: str = "ref"):
    """Return (keras model, source graph, lowered graph, plan, files) without writing anything."""
    name = codegen.validate_name(name)
    model = frontend.load_model(model)
    src = frontend.to_ir(model, name)
    g = passes.run_pipeline(src)
    plan = planner.plan(g)
    files = codegen.render(g, plan, name, kernel_variant)
    return model, src, g, plan, files


def export(model, out_dir, name: str = "model", force: bool = False, kernel_variant: str = "ref") -> Export:
    """Export `model` (tf.keras Model or .keras/.h5 path) as a self-contained C library in
    `out_dir`. Nothing is written unless the whole export succeeds; see outdir.py.
    `kernel_variant` picks optimized kernels where the runtime has them (boards.yaml names one per
    board); every variant is bit-identical to the reference kernels."""
    if out_dir is None or str(out_dir) == "":
        raise OutputDirError("no output folder given")
    out = Path(out_dir)
    outdir.check_destination(out.absolute(), force)      # fail early, before the slow part
    model, src, g, plan, files = lower(model, name, kernel_variant)
    manifest = {"larq2mcu": __version__, "name": name, "model_hash": codegen.model_hash(g),
                "arena_size": plan.arena_size, "kernel_variant": kernel_variant, "input_shape": list(g.tensors[g.inputs[0]].shape),
                "output_shape": list(g.tensors[g.outputs[0]].shape),
                "report": html_report.report_entry(g, plan, name)}     # what `larq2mcu report` shows
    files = dict(files, **library.library_files(name, files, kernel_variant))   # build files: library.py
    path = outdir.write_atomic(out, files, manifest, force=force)
    return Export(name, path, g, src, plan, files, model)
