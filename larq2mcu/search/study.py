"""The Optuna study: NSGA-II over the genome, RDB storage as the record, exact trial budget.

Storage: an SQLAlchemy URL, `sqlite:///<out>/study.db` by default; `postgresql://user@host/db`
(driver psycopg 3, `pip install 'larq2mcu[search]'`) lets workers on several machines share one
study. Every worker runs the same `run_worker(…, n_trials=N)`; together they finish exactly N
trials (COMPLETE + PRUNED):

  * budget: a trial whose number comes after N live trials (any state but FAIL, numbers < its
    own) is surplus — it stops before doing anything and is recorded as FAIL ("surplus"). Trial
    numbers are handed out by the storage in one transaction, so two workers cannot both take
    the last slot;
  * Ctrl-C: the trial is recorded FAIL and a copy with the same params is enqueued at once;
  * crash / SIGKILL: the dead trial's heartbeat stops; after `grace_period` s any worker marks
    it FAIL and RetryHeartbeatStaleTrialCallback enqueues a copy with the same params, which
    the next free worker runs. Completed trials are kept; the dead one is re-run once
    from scratch (it had not finished), nothing else is.
"""
from __future__ import annotations

import time
from pathlib import Path

from .objective import DIRECTIONS, Objective


class SurplusTrial(Exception):
    """Raised inside a trial created after the study's budget was already taken."""


def default_storage(out_dir) -> str:
    """SQLite URL of the absolute path `out_dir`/study.db."""
    return f"sqlite:///{Path(out_dir).resolve() / 'study.db'}"


def storage(url: str, heartbeat_interval: int = 10, grace_period: int = 30, max_retry: int = 3):
    """RDBStorage with heartbeats and retry of stale trials (SQLite gets a 60 s lock timeout so
    concurrent workers wait instead of failing with 'database is locked')."""
    import warnings

    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
    if url.startswith(("postgresql://", "postgres://")):   # psycopg 3, whatever SQLAlchemy's default
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    kw = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
    for attempt in range(5):
        try:
            with warnings.catch_warnings():   # heartbeats are "experimental" in Optuna; we rely on them
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(url, engine_kwargs=kw, heartbeat_interval=heartbeat_interval,
                                  grace_period=grace_period,
                                  heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=max_retry))
        # workers started together on a new database race to create the schema: SQLite says
        # "locked"/unique, PostgreSQL "type studydirection already exists" (DuplicateObject, a
        # ProgrammingError); the loser retries and then finds the schema complete
        except (IntegrityError, OperationalError, ProgrammingError) as e:
            if attempt == 4 or (isinstance(e, ProgrammingError) and "already exists" not in str(e)):
                raise
            time.sleep(0.5 * (attempt + 1))


def open_study(url: str, name: str, seed: int = 0, population: int = 8, **storage_kw):
    """Create or load the study `name` (NSGA-II, three objectives; the constraints are what
    each trial sets with `trial.set_constraint`, see objective.py). Loading an existing study keeps
    every finished trial."""
    import optuna
    sampler = optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
    st = storage(url, **storage_kw)
    try:
        return optuna.create_study(storage=st, study_name=name, sampler=sampler,
                                   directions=list(DIRECTIONS), load_if_exists=True)
    except optuna.exceptions.DuplicatedStudyError:   # another worker created it just now
        return optuna.load_study(storage=st, study_name=name, sampler=sampler)


def counts(study) -> dict:
    """{trial state name: number of trials} of `study`."""
    from collections import Counter
    return dict(Counter(t.state.name for t in study.get_trials(deepcopy=False)))


def _done(study) -> int:
    import optuna
    S = optuna.trial.TrialState
    return len(study.get_trials(deepcopy=False, states=(S.COMPLETE, S.PRUNED)))


def _live_before(study, number: int) -> int:
    import optuna
    return sum(1 for t in study.get_trials(deepcopy=False)
               if t.number < number and t.state != optuna.trial.TrialState.FAIL)


def run_worker(study, objective: Objective, n_trials: int, callbacks=(), poll: float = 1.0) -> None:
    """Work on `study` until it holds `n_trials` finished (COMPLETE or PRUNED) trials."""
    import optuna
    S = optuna.trial.TrialState

    def guarded(trial):
        if _live_before(study, trial.number) >= n_trials:
            trial.set_user_attr("surplus", True)
            raise SurplusTrial(f"trial {trial.number}: the budget of {n_trials} trials is taken")
        try:
            return objective(trial)
        except KeyboardInterrupt:   # Ctrl-C: Optuna records FAIL; queue the same genome for the resume
            if trial.params:
                study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
            raise

    while _done(study) < n_trials:
        live = sum(1 for t in study.get_trials(deepcopy=False) if t.state != S.FAIL)
        if live >= n_trials and not study.get_trials(deepcopy=False, states=(S.WAITING,)):
            # The rest is running elsewhere, or died there: wait; a stale one is failed and a
            # copy enqueued (WAITING), which the next pass runs.
            optuna.storages.fail_stale_trials(study)
            time.sleep(poll)
            continue
        study.optimize(guarded, n_trials=1, catch=(SurplusTrial,), callbacks=list(callbacks),
                       gc_after_trial=True)
