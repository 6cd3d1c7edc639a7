"""The whole run: open (or resume) the study, work until N trials, then verify the front, place
a reference model on the same axes, write front.html / front.json and the chosen point's
PlatformIO project.

Output folder layout: study.db (the default SQLite storage), models/trial_<n>.keras (trained
candidates), front/trial_<n>/ (verified C exports of the front), reference/ (the reference
model's export), front.html, front.json, project/ (PlatformIO project of the chosen point).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .front import choose, model_of, plot_points, point, table, verify_front, write_html
from .objective import Data, Limits, Objective, Recipe, accuracy, cost_of, recipe_dict, train
from .progress import Progress
from .space import Space, build_bnn
from .study import counts, default_storage, open_study, run_worker


@dataclass
class SearchResult:
    """What `search` returns: the study, the verified front rows, the chosen row and the written paths."""
    study: object
    rows: list = field(default_factory=list)       # verified front rows (see front.point)
    chosen: dict | None = None
    project: Path | None = None
    html: Path | None = None
    reference: dict | None = None


def as_data(data, n_train=None, n_val=None, seed: int = 0) -> Data:
    """A Data from a Data, a datasets.Dataset, or a spec string (datasets.load)."""
    if isinstance(data, Data):
        return data
    if isinstance(data, (str, Path)):
        from .. import datasets
        data = datasets.load(data)
    return Data.from_dataset(data, n_train, n_val, seed)


def make_objective(data, board: str, *, space: Space | None = None, limits: Limits | None = None,
                   recipe: Recipe | None = None, build=None, out_dir=None, n_train=None,
                   n_val=None, progress: bool = False) -> Objective:
    """An Objective for `data` on `board`; defaults Space(), Limits(), Recipe(), build_bnn; trained models
    are saved under out_dir/models when `out_dir` is given."""
    return Objective(as_data(data, n_train, n_val), board, space or Space(), limits or Limits(),
                     recipe or Recipe(), None if out_dir is None else Path(out_dir) / "models",
                     build or build_bnn, progress)


def search(data, board: str, n_trials: int, out_dir, *, build=None, space=None, limits=None,
           recipe=None, storage: str | None = None, study_name: str = "larq2mcu-search",
           seed: int = 0, population: int = 8, n_train=None, n_val=None,
           heartbeat_interval: int = 10, grace_period: int = 30, export_front: bool = True,
           reference=None, data_spec: str | None = None, console=None,
           train_progress: bool = False) -> SearchResult:
    """Run (or resume) a study of `n_trials` trials and, with `export_front`, `finish` it.
    `reference` = (label, build()) of a hand-designed model to place on the same axes."""
    import optuna

    from .latency import board_of, twin_of
    twin_of(board_of(board))      # BoardError now, not inside the first trial
    (limits or Limits()).resolved(board)     # and InputError for a limit the board cannot take
    optuna.logging.set_verbosity(optuna.logging.WARNING)   # progress.py prints one line per trial
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    obj = make_objective(data, board, space=space, limits=limits, recipe=recipe, build=build,
                         out_dir=out, n_train=n_train, n_val=n_val, progress=train_progress)
    study = open_study(storage or default_storage(out), study_name, seed, population,
                       heartbeat_interval=heartbeat_interval, grace_period=grace_period)
    for k, v in {"board": board, "recipe": recipe_dict(obj.recipe), "data": obj.data.name,
                 "n_train": len(obj.data.x_train), "n_val": len(obj.data.x_val)}.items():
        if k not in study.user_attrs:
            study.set_user_attr(k, v)
    run_worker(study, obj, n_trials, callbacks=[Progress(n_trials, console)])
    if not export_front:
        return SearchResult(study)
    return finish(study, obj, out, reference=reference, data_spec=data_spec, console=console)


def reference_point(label: str, build_ref, objective: Objective, out_dir) -> dict:
    """Train `build_ref()` with the objective's recipe and seed; export, verify and cost it."""
    from .._tf import tf_modules
    d = objective.data
    tf_modules()[1].utils.set_random_seed(objective.recipe.seed)
    model = train(build_ref, d.x_train, d.y_train, objective.recipe)
    return point(label, model, objective, Path(out_dir) / "reference",
                 cost=cost_of(model, objective.board, d.x_val[0]), val_acc=accuracy(model, d.x_val, d.y_val))


def finish(study, objective: Objective, out_dir, *, reference=None, data_spec=None,
           project: bool = True, n_verify: int = 1000, console=None) -> SearchResult:
    """Verify the front, add the reference, write front.html/front.json and the project."""
    from rich.console import Console
    console = console or Console(highlight=False)
    out = Path(out_dir)
    rows = verify_front(study, objective, out, n_verify)
    ref = reference_point(reference[0], reference[1], objective, out) if reference else None
    console.print(table(rows + ([ref] if ref else [])))
    res = SearchResult(study, rows, choose(rows), reference=ref)
    if res.chosen is not None and project:
        from ..board.project import export_project
        t = next(t for t in study.get_trials(deepcopy=False) if t.number == res.chosen["trial"])
        export_project(model_of(t, objective), out / "project", "net", objective.board, data_spec, True)
        res.project = out / "project"
        console.print(f"chosen: trial {t.number} {res.chosen['label']} → PlatformIO project {res.project}")
    note = (f"board {objective.board}; data {objective.data.name} ({len(objective.data.x_train):,} train, "
            f"{len(objective.data.x_val):,} validation, {len(objective.data.x_test):,} test); recipe "
            f"{recipe_dict(objective.recipe)}; trials {counts(study)}")
    res.html = write_html(out / "front.html", "larq2mcu search: Pareto front", note,
                          plot_points(study, rows, ref))
    (out / "front.json").write_text(json.dumps({"note": note, "front": rows, "reference": ref,
                                                "chosen": res.chosen}, indent=1, default=str))
    return res
