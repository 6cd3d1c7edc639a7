"""One trial: genome → model → exact cost of the UNTRAINED export (prune if it cannot fit) →
train with the fixed recipe → held-out accuracy and the trained model's exact cost.

Why the untrained export decides feasibility: flash, arena and stack depend only on the
architecture (the exporter writes the same arrays whatever the weights hold), so the export of
a freshly initialised model gives them to the byte before any training is spent. Instructions
depend slightly on the data the binary kernels see (counting loops run over set bits; ±1 % on
the examples), so a latency limit is checked twice: on the untrained model to prune, and on the
trained one exactly, as an NSGA-II constraint (`trial.set_constraint`, ≤ 0 = satisfied).

Objectives (Optuna directions maximize, minimize, minimize): validation accuracy (a split of
the training data; the test split is never seen by the search), instructions per inference,
flash bytes.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .latency import CLOCK_HZ, Cost, board_of, measure
from .space import Genome, Space, build_bnn

DIRECTIONS = ("maximize", "minimize", "minimize")
OBJECTIVES = ("accuracy", "instructions", "flash")


@dataclass(frozen=True)
class Recipe:
    """The training every candidate gets: Adam, learning rate cosine-decayed from `lr` to 0 over
    `epochs`, batch `batch_size`, `seed` for weights and shuffling (the examples' recipe);
    `distribute` as the examples' --distribute."""

    epochs: int = 1
    batch_size: int = 128
    lr: float = 5e-3
    seed: int = 0
    distribute: str = "none"     # or "mirrored"

    def __post_init__(self):
        if self.distribute not in ("none", "mirrored"):
            raise InputError(f"recipe: distribute={self.distribute!r} unknown; supported: 'none', 'mirrored'")


@dataclass(frozen=True)
class Limits:
    """Constraints; None = the board's own flash/RAM, no latency limit."""

    max_flash: int | None = None
    max_ram: int | None = None
    max_instructions: int | None = None
    max_ms: float | None = None

    def resolved(self, board) -> Limits:
        """These limits with unset flash/RAM taken from `board`; InputError: a ms limit, board clock unknown."""
        b = board_of(board)
        if self.max_ms is not None and b.name not in CLOCK_HZ:
            raise InputError(f"a latency limit in ms needs the clock of board '{b.name}', which is not "
                             f"known; known: {', '.join(sorted(CLOCK_HZ))} (use an instruction limit)")
        return Limits(self.max_flash or b.flash, self.max_ram or b.ram, self.max_instructions, self.max_ms)

    def violations(self, c: Cost) -> dict:
        """{name: amount over the limit} for every limit; > 0 means violated."""
        v = {"flash": c.flash - self.max_flash, "ram": c.ram - self.max_ram}
        if self.max_instructions is not None:
            v["instructions"] = c.instructions - self.max_instructions
        if self.max_ms is not None and c.ms is not None:
            v["ms"] = c.ms - self.max_ms
        return v


@dataclass
class Data:
    """Train / validation (for the search) / test (only for the final report), inputs in [-1, 1]."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str

    @classmethod
    def from_dataset(cls, ds, n_train: int | None = None, n_val: int | None = None, seed: int = 0):
        """Validation = the last `n_val` (default 1/6) of a fixed permutation of the training
        split; train = the first `n_train` of the rest (default all)."""
        x, xt = ds.inputs("sym")
        perm = np.random.default_rng(seed).permutation(len(x))
        n_val = n_val or len(x) // 6
        tr, va = perm[:-n_val], perm[-n_val:]
        tr = tr[:n_train] if n_train else tr
        return cls(x[tr], ds.y_train[tr], x[va], ds.y_train[va], xt, ds.y_test, ds.name)

    @property
    def input_shape(self):
        """Per-sample input shape of the training split."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        """1 + the largest label of the training and test splits."""
        return int(max(self.y_train.max(), self.y_test.max()) + 1)


def train(build, x, y, recipe: Recipe, label: str = "", progress: bool = False):
    """Build (`build()`), compile and fit a model with `recipe`; return it. With
    `recipe.distribute == "mirrored"` building and compiling happen inside
    tf.distribute.MirroredStrategy (the examples' --distribute). Module-level so tests can watch
    what is trained."""
    import contextlib

    from .._tf import tf_modules
    tf, keras = tf_modules()[:2]
    scope = tf.distribute.MirroredStrategy().scope() if recipe.distribute == "mirrored" \
        else contextlib.nullcontext()
    steps = -(-len(x) // recipe.batch_size)
    with scope:
        model = build()
        sched = keras.optimizers.schedules.CosineDecay(recipe.lr, decay_steps=max(1, steps * recipe.epochs))
        model.compile(optimizer=keras.optimizers.Adam(sched), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    cb = []
    if progress:
        from ..keras import RichProgress
        cb = [RichProgress(label, transient=True)]
    model.fit(x, y.astype(np.int32), batch_size=recipe.batch_size, epochs=recipe.epochs, verbose=0,
              shuffle=True, callbacks=cb)
    return model


def accuracy(model, x, y) -> float:
    """Fraction of `x` whose argmax prediction equals the label `y`."""
    return float(np.mean(model.predict(x, batch_size=512, verbose=0).argmax(1) == y))


def cost_of(model, board, sample, name: str = "net") -> Cost:
    """Export `model` with `board`'s kernel variant into a temporary folder and measure it."""
    from ..export import export
    with tempfile.TemporaryDirectory(prefix="l2m-search-") as tmp:
        exp = export(model, Path(tmp) / "lib", name=name, kernel_variant=board_of(board).kernel_variant)
        return measure(exp, board, sample, Path(tmp) / "build")


@dataclass
class Objective:
    """Callable for `study.optimize`; see the module docstring. `build(genome, input_shape,
    num_classes)` is the user's model-building function (default: the space's BNN family)."""

    data: Data
    board: str
    space: Space
    limits: Limits
    recipe: Recipe
    models_dir: Path | None = None
    build: object = build_bnn
    progress: bool = False

    def model_for(self, g: Genome):
        """The model of genome `g`, built after seeding with `recipe.seed` (same initial weights every time)."""
        from .._tf import tf_modules
        tf_modules()[1].utils.set_random_seed(self.recipe.seed)   # same init for a genome, always
        return self.build(g, self.data.input_shape, self.data.num_classes)

    def __call__(self, trial):
        """Evaluate one trial: (val accuracy, instructions, flash bytes); optuna.TrialPruned when the untrained
        model is already over a limit. A genome seen before reuses that trial's result."""
        import optuna
        limits = self.limits.resolved(self.board)
        g = self.space.suggest(trial)
        trial.set_user_attr("genome", g.label())
        trial.set_user_attr("genome_dict", g.as_dict())
        twin = _finished_twin(trial, g.label())
        if twin is not None:        # the sampler proposed a genome already evaluated: reuse it
            trial.set_user_attr("duplicate_of", twin.number)
            for k in ("cost", "model_file", "stage", "over"):
                if k in twin.user_attrs:
                    trial.set_user_attr(k, twin.user_attrs[k])
            _constrain(trial, twin.user_attrs.get("violations", {}))
            if twin.state == optuna.trial.TrialState.PRUNED:
                raise optuna.TrialPruned(f"same genome as trial {twin.number}, pruned")
            return tuple(twin.values)
        sample = self.data.x_val[0]
        t0 = time.time()
        pre = cost_of(self.model_for(g), self.board, sample)
        trial.set_user_attr("cost_untrained", pre.as_dict())
        over = {k: v for k, v in limits.violations(pre).items() if v > 0}
        if over:
            trial.set_user_attr("stage", "pruned before training")
            trial.set_user_attr("over", over)
            trial.set_user_attr("cost", pre.as_dict())
            _constrain(trial, limits.violations(pre))
            raise optuna.TrialPruned("over " + ", ".join(f"{k} by {v:g}" for k, v in over.items()))
        model = train(lambda: self.model_for(g), self.data.x_train, self.data.y_train, self.recipe,
                      f"trial {trial.number} {g.label()}", self.progress)
        acc = accuracy(model, self.data.x_val, self.data.y_val)
        post = cost_of(model, self.board, sample)
        viol = limits.violations(post)
        trial.set_user_attr("stage", "trained")
        trial.set_user_attr("cost", post.as_dict())
        _constrain(trial, viol)
        trial.set_user_attr("seconds", time.time() - t0)
        if self.models_dir is not None:
            p = Path(self.models_dir) / f"trial_{trial.number}.keras"
            p.parent.mkdir(parents=True, exist_ok=True)
            model.save(p)
            trial.set_user_attr("model_file", str(p))
        return acc, float(post.instructions), float(post.flash)


def _finished_twin(trial, label: str):
    """An earlier COMPLETE or PRUNED trial of the same study with the same genome, or None."""
    import optuna
    S = optuna.trial.TrialState
    study = getattr(trial, "study", None)
    if study is None:
        return None
    for t in study.get_trials(deepcopy=False, states=(S.COMPLETE, S.PRUNED)):
        if t.number != trial.number and t.user_attrs.get("genome") == label \
                and "duplicate_of" not in t.user_attrs and "stage" in t.user_attrs:
            return t
    return None


def _constrain(trial, violations: dict) -> None:
    """Record the violations as the trial's constraints (NSGA-II ranks a trial feasible when all
    are ≤ 0) and as the user attribute `violations` (read back by front.py and progress.py)."""
    for k, v in violations.items():
        trial.set_constraint(k, float(v))
    trial.set_user_attr("violations", {k: float(v) for k, v in violations.items()})


def feasible(t) -> bool:
    """Whether a finished trial's (trained) model meets every limit."""
    v = t.user_attrs.get("violations")
    return v is not None and all(x <= 0 for x in v.values())


def recipe_dict(r: Recipe) -> dict:
    """`r` as a plain dict (dataclasses.asdict)."""
    return asdict(r)
