"""The import graph of the larq2mcu package, read from the source with `ast` (module-level and
function-level imports alike): {module: {imported larq2mcu modules}}. Used by test_structure.py;
`python tests/import_graph.py` prints it."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "larq2mcu"


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(mod: str, is_pkg: bool, level: int, name: str | None) -> str:
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def graph() -> dict:
    mods = {module_name(p): p for p in ROOT.rglob("*.py")}
    edges: dict = {m: set() for m in mods}
    for m, p in mods.items():
        is_pkg = p.name == "__init__.py"
        for node in ast.walk(ast.parse(p.read_text(), str(p))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(m, is_pkg, node.level, node.module) if node.level else (node.module or "")
                # `from x import name` imports the module x.name if there is one, else x itself
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for t in targets:
                while t and t not in mods:          # the longest existing module named by t
                    t = t.rpartition(".")[0]
                if t.startswith("larq2mcu") and t != m:
                    edges[m].add(t)
    return edges


if __name__ == "__main__":
    for m, ts in sorted(graph().items()):
        print(m, "->", ", ".join(sorted(ts)))
