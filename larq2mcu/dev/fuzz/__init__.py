"""Differential fuzzing of the exporter: random valid Larq/Keras models, C vs Keras.

    python -m larq2mcu.dev.fuzz --models N --seed S [--out summary.json]

Model i of a campaign with seed S is `gen.generate(S * 1_000_003 + i)` (reproducible alone:
`larq2mcu.dev.fuzz.reproduce(model_seed)`). Each model is exported, built on the host and run on
`inputs.make_inputs` (100 inputs by default) against Keras; `check.py` states the pass criteria
and how disagreements are classified (rounding flips and near ties are counted separately, they
are not failures). `run_campaign` returns a `Summary`; `report.py` renders it as JSON/Markdown.
"""
from __future__ import annotations

import gc
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from .check import FastBuilder, ModelResult, check_model
from .gen import generate
from .inputs import make_byte_inputs, make_inputs
from .report import Summary

__all__ = ["run_campaign", "run_one", "reproduce", "model_seed", "Summary", "ModelResult", "generate"]


def model_seed(campaign_seed: int, i: int) -> int:
    """Seed of model `i` of a campaign: campaign_seed · 1 000 003 + i."""
    return campaign_seed * 1_000_003 + i


def run_one(seed: int, n_inputs: int = 100, builder: FastBuilder | None = None,
            workdir: Path | None = None) -> ModelResult:
    """Generate, export, build and check the model of `seed`."""
    from ..._tf import tf_modules
    _, keras, _ = tf_modules()
    own_b = builder is None
    builder = builder or FastBuilder()
    own_w = workdir is None
    workdir = Path(workdir or tempfile.mkdtemp(prefix="l2m-fuzz-w-"))
    try:
        keras.backend.clear_session()      # keeps layer-name counters and graph state small
        t0 = time.perf_counter()
        try:
            gen = generate(seed)
        except Exception as e:  # noqa: BLE001 — a generator bug must not stop a campaign
            return ModelResult(seed=seed, status="generator-error", error=f"{type(e).__name__}: {e}"[:1500],
                               seconds=time.perf_counter() - t0)
        shape = tuple(gen.model.inputs[0].shape[1:])
        if gen.input_dtype != "float32":      # raw bytes: integers over the whole range, extremes first
            x = make_byte_inputs(shape, n_inputs, gen.input_dtype, np.random.default_rng(seed))
        else:
            x = make_inputs(shape, n_inputs, np.random.default_rng(seed))
        return check_model(gen, builder, x, workdir)
    finally:
        if own_b:
            builder.close()
        if own_w:
            shutil.rmtree(workdir, ignore_errors=True)


def reproduce(seed: int):
    """The generated model of `seed` (for minimizing a failure by hand)."""
    return generate(seed).model


def run_campaign(models: int, seed: int = 0, n_inputs: int = 100, time_limit: float | None = None,
                 progress=None, cflags=()) -> Summary:
    """Run `models` models (or until `time_limit` seconds pass) and summarise; `cflags`: extra C
    flags of every host build (FastBuilder)."""
    summary = Summary(seed=seed, n_inputs=n_inputs)
    builder = FastBuilder(cflags)
    workdir = Path(tempfile.mkdtemp(prefix="l2m-fuzz-w-"))
    t0 = time.perf_counter()
    try:
        for i in range(models):
            if time_limit is not None and time.perf_counter() - t0 > time_limit:
                break
            res = run_one(model_seed(seed, i), n_inputs, builder, workdir)
            summary.add(res)
            if progress:
                progress(i, res, summary)
            if i % 50 == 49:
                gc.collect()
    finally:
        builder.close()
        shutil.rmtree(workdir, ignore_errors=True)
    summary.wall_seconds = time.perf_counter() - t0
    return summary

