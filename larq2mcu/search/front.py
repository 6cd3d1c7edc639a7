"""The Pareto front of a study: table (rich), SVG plots + HTML page, exact verification of every
front point (host C == Keras on the test split), and the chosen point as a PlatformIO project.

Front = the study's Pareto-optimal trials (accuracy ↑, instructions ↓, flash ↓) among COMPLETE
trials whose trained model meets every limit (objective.feasible). The chosen point is the
front point of highest validation accuracy (ties: fewer instructions) — chosen on validation
data, so its test accuracy is an honest estimate.
"""
from __future__ import annotations

from pathlib import Path

import jinja2
import numpy as np

from .objective import Objective, accuracy, cost_of, feasible, train
from .space import Genome


def front_trials(study) -> list:
    """Pareto-optimal feasible COMPLETE trials, one per genome, by accuracy (best first)."""
    import optuna
    done = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if feasible(t) and "duplicate_of" not in t.user_attrs]

    def dominated(a, b):   # b dominates a
        ge = b.values[0] >= a.values[0] and b.values[1] <= a.values[1] and b.values[2] <= a.values[2]
        return ge and tuple(b.values) != tuple(a.values)
    front = [a for a in done if not any(dominated(a, b) for b in done)]
    return sorted(front, key=lambda t: (-t.values[0], t.values[1]))


def model_of(t, objective: Objective):
    """The trial's trained model: its saved file, else retrained with the same recipe and seed
    (a worker on another machine saved it elsewhere)."""
    from ..frontend import load_model
    p = t.user_attrs.get("model_file")
    if p and Path(p).is_file():
        return load_model(p)
    g = Genome(**{k: tuple(v) if isinstance(v, list) else v for k, v in t.user_attrs["genome_dict"].items()})
    d = objective.data
    return train(lambda: objective.model_for(g), d.x_train, d.y_train, objective.recipe)


def point(label: str, model, objective: Objective, out_dir: Path, n_verify: int = 1000, cost=None,
          val_acc=None) -> dict:
    """Export `model` for the board, verify host C == Keras on `n_verify` test samples, and
    return its row: accuracies (val, test by Keras and by the C library), cost, agreement."""
    from ..export import export
    from ..verify import compare
    from .latency import board_of
    d = objective.data
    exp = export(model, out_dir, name="net", force=True, kernel_variant=board_of(objective.board).kernel_variant)
    host = exp.build_host()
    x = d.x_test[:n_verify]
    ag = compare(exp, host, x)
    acc_c = float(np.mean(host.predict(d.x_test, check_finite=False).argmax(1) == d.y_test))
    cost = cost or cost_of(model, objective.board, d.x_val[0])
    return {"label": label, "val_acc": val_acc if val_acc is not None else accuracy(model, d.x_val, d.y_val),
            "test_acc_keras": accuracy(model, d.x_test, d.y_test), "test_acc_c": acc_c,
            "agree": bool(ag.ok), "agreement": ag.summary(), "n_verified": len(x),
            "export": str(exp.out_dir), **(cost if isinstance(cost, dict) else cost.as_dict())}


def verify_front(study, objective: Objective, out_dir, n_verify: int = 1000) -> list[dict]:
    """Rows of `point` for every front trial (exported under out_dir/front/trial_<n>)."""
    rows = []
    for t in front_trials(study):
        r = point(t.user_attrs["genome"], model_of(t, objective), objective,
                  Path(out_dir) / "front" / f"trial_{t.number}", n_verify,
                  cost=t.user_attrs["cost"], val_acc=t.values[0])
        rows.append({"trial": t.number, **r})
    return rows


def table(rows: list[dict], title: str = "Pareto front"):
    """A rich Table of `rows`, one line per front row."""
    from rich.table import Table
    tb = Table(title=title)
    for c in ("trial", "genome", "val acc", "test acc (C)", "instructions", "ms", "flash", "RAM",
              "weights", "C == Keras"):
        tb.add_column(c, justify="left" if c == "genome" else "right")
    for r in rows:
        tb.add_row(str(r.get("trial", "—")), r["label"], f"{100 * r['val_acc']:.2f} %",
                   f"{100 * r['test_acc_c']:.2f} %", f"{r['instructions']:,}",
                   "—" if r["ms"] is None else f"{r['ms']:.2f}", f"{r['flash']:,}", f"{r['ram']:,}",
                   f"{r['weights']:,}", "yes" if r["agree"] else "NO")
    return tb


def choose(rows: list[dict]) -> dict | None:
    """The front row (a row with a trial) of highest validation accuracy, ties to fewer instructions; None if none."""
    front = [r for r in rows if "trial" in r]
    return max(front, key=lambda r: (r["val_acc"], -r["instructions"])) if front else None


_SVG = jinja2.Template("""\
<svg xmlns="http://www.w3.org/2000/svg" width="{{ W }}" height="{{ H }}" font-family="sans-serif" font-size="11">
<rect width="{{ W }}" height="{{ H }}" fill="white"/>
<line x1="{{ L }}" y1="{{ H - B }}" x2="{{ W - 10 }}" y2="{{ H - B }}" stroke="black"/>
<line x1="{{ L }}" y1="10" x2="{{ L }}" y2="{{ H - B }}" stroke="black"/>
{% for t in xticks %}<text x="{{ t.p }}" y="{{ H - B + 14 }}" text-anchor="middle">{{ t.s }}</text>
{% endfor %}{% for t in yticks %}<text x="{{ L - 4 }}" y="{{ t.p + 4 }}" text-anchor="end">{{ t.s }}</text>
{% endfor %}<text x="{{ (W + L) / 2 }}" y="{{ H - 4 }}" text-anchor="middle">{{ xlabel }}</text>
<text x="12" y="{{ (H - B) / 2 }}" transform="rotate(-90 12 {{ (H - B) / 2 }})" text-anchor="middle">{{ ylabel }}</text>
{% for p in points %}<circle cx="{{ p.x }}" cy="{{ p.y }}" r="{{ p.r }}" fill="{{ p.c }}"><title>{{ p.t }}</title></circle>
{% endfor %}{% for p in labels %}<text x="{{ p.x + 6 }}" y="{{ p.y - 6 }}" fill="{{ p.c }}">{{ p.t }}</text>
{% endfor %}</svg>
""", undefined=jinja2.StrictUndefined, autoescape=True)


def svg(points: list[dict], xkey: str, xlabel: str) -> str:
    """Scatter of validation accuracy (%) against `xkey`; points carry 'kind' in {trial, front,
    reference} (grey, blue, red; front and reference labelled)."""
    W, H, L, B = 460, 300, 52, 34
    xs = [p[xkey] for p in points]
    ys = [100 * p["val_acc"] for p in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
    def px(v):
        return L + 10 + (W - L - 50) * (v - x0) / (x1 - x0)

    def py(v):
        return 20 + (H - B - 30) * (y1 - v) / (y1 - y0)
    col = {"trial": "#aaaaaa", "front": "#1f5fbf", "reference": "#d62728"}
    pts = [{"x": f"{px(x):.1f}", "y": f"{py(y):.1f}", "r": 3 if p["kind"] == "trial" else 5,
            "c": col[p["kind"]], "t": f"{p['label']}: {y:.2f} %, {x:,}"} for p, x, y in zip(points, xs, ys)]
    labels = [{"x": px(x), "y": py(y), "c": col[p["kind"]], "t": p["label"]}
              for p, x, y in zip(points, xs, ys) if p["kind"] != "trial"]
    xt = [{"p": round(px(v), 1), "s": f"{v:,.0f}"} for v in np.linspace(x0, x1, 4)]
    yt = [{"p": round(py(v), 1), "s": f"{v:.1f}"} for v in np.linspace(y0, y1, 4)]
    return _SVG.render(W=W, H=H, L=L, B=B, xticks=xt, yticks=yt, xlabel=xlabel,
                       ylabel="validation accuracy (%)", points=pts, labels=labels)


_HTML = jinja2.Template("""\
<!doctype html><html><head><meta charset="utf-8"><title>{{ title }}</title>
<style>body{font-family:sans-serif;margin:2em} td,th{padding:2px 8px;text-align:right} td.l{text-align:left}</style>
</head><body><h1>{{ title }}</h1><p>{{ note }}</p>
{% for s in svgs %}{{ s | safe }}{% endfor %}
<table><tr>{% for h in head %}<th>{{ h }}</th>{% endfor %}</tr>
{% for r in rows %}<tr><td class="l">{{ r.label }}</td><td>{{ r.kind }}</td><td>{{ "%.2f" | format(100 * r.val_acc) }} %</td>
<td>{{ "%.2f" | format(100 * r.test_acc_c) if r.test_acc_c is not none else "—" }}</td><td>{{ "{:,}".format(r.instructions) }}</td>
<td>{{ "%.2f" | format(r.ms) if r.ms is not none else "—" }}</td><td>{{ "{:,}".format(r.flash) }}</td><td>{{ "{:,}".format(r.ram) }}</td></tr>
{% endfor %}</table></body></html>
""", undefined=jinja2.StrictUndefined, autoescape=True)


def plot_points(study, rows: list[dict], reference: dict | None = None) -> list[dict]:
    """Every trained feasible trial (grey), front rows (blue) and the reference (red)."""
    import optuna
    front = {r.get("trial") for r in rows}
    pts = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        if t.number in front or "duplicate_of" in t.user_attrs:
            continue
        c = t.user_attrs["cost"]
        pts.append({"kind": "trial", "label": t.user_attrs["genome"], "val_acc": t.values[0],
                    "test_acc_c": None, **c})
    pts += [{"kind": "front", **r} for r in rows]
    if reference:
        pts.append({"kind": "reference", **reference})
    return pts


def write_html(path, title: str, note: str, points: list[dict]) -> Path:
    """Write the HTML report to `path` (instructions and flash scatter plots, a table of `points`); return it."""
    svgs = [svg(points, "instructions", "instructions per inference"), svg(points, "flash", "flash bytes")]
    head = ["genome", "kind", "val acc", "test acc (C)", "instructions", "ms", "flash", "RAM"]
    Path(path).write_text(_HTML.render(title=title, note=note, svgs=svgs, head=head, rows=points),
                          encoding="utf-8")
    return Path(path)
