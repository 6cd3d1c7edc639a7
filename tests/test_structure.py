"""The import structure: edges point one way. Read from the source (tests/import_graph.py): no
import circle, no module importing one of a higher layer, and no user-facing module importing the
dev-only code (fuzz generator, model zoo). To see the graph: python tests/import_graph.py."""
from __future__ import annotations

import import_graph

# lowest first; a module may import its own layer (acyclically) and the layers below it
LAYERS = [
    ("version", "errors", "paths", "bits", "_tf", "objcache"),
    ("ir", "variants", "templating", "board.profiles", "layout"),
    ("ops",),
    ("reference", "rounding", "passes", "planner"),
    ("frontend", "codegen", "outdir", "datasets", "host", "outdir_legacy"),
    ("report", "library", "latency_report"),
    ("html_report", "export"),
    ("verify", "board.toolchain", "board.build", "board.run", "board.counter", "board.latency"),
    ("keras", "board.platformio", "board.runs", "board.project", "board.serial_link", "board"),
    ("board.validate", "search"),
    ("demo", "cli", "cli_util", "__main__", ""),
]
DEV = ("dev",)                 # dev-only: may import anything; only the CLI may import it


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def rank(module: str) -> int | None:
    """The layer of the longest entry that names `module` or a package above it."""
    rel = module.split(".", 1)[1] if "." in module else ""
    best = None
    for i, layer in enumerate(LAYERS):
        for entry in layer:
            if (rel == entry or rel.startswith(entry + ".") or (entry == "" and rel == "")) and \
                    (best is None or len(entry) > best[0]):
                best = (len(entry), i)
    return None if best is None else best[1]


def test_every_module_has_a_layer():
    g = import_graph.graph()
    missing = sorted(m for m in g if rank(m) is None and _top(m) not in DEV)
    assert not missing, f"add these modules to a layer of tests/test_structure.py: {missing}"


def test_no_upward_import():
    bad = []
    for m, targets in import_graph.graph().items():
        if _top(m) in DEV:
            continue
        for t in targets:
            if _top(t) in DEV:
                if _top(m) != "cli":
                    bad.append(f"{m} -> {t} (dev-only code)")
            elif rank(t) > rank(m):
                bad.append(f"{m} (layer {rank(m)}) -> {t} (layer {rank(t)})")
    assert not bad, "imports against the layering:\n" + "\n".join(bad)


def test_no_import_circle():
    g = import_graph.graph()
    state: dict = {}
    stack: list = []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for t in sorted(g.get(m, ())):
            if state.get(t) == "open":
                raise AssertionError("import circle: " + " -> ".join(stack[stack.index(t):] + [t]))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = "done"
    for m in sorted(g):
        if m not in state:
            visit(m)
