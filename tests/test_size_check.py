"""Size before work (issue #15): a model far too large is refused from shapes, in seconds, with one
`error:` line naming the layer and the bytes — before Keras builds its weights, under a memory limit
that the export itself would not survive; the bounds never exceed what an export really needs."""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import pytest

import larq2mcu
import model_cases as mc
from larq2mcu import codegen, frontend, passes, planner
from larq2mcu.board.profiles import get_board
from larq2mcu.frontend import size_check
from larq2mcu.variants import get_variant

UNITS = 100_000
MEM_LIMIT = 3 * 2 ** 30        # Keras alone needs more to rebuild the 784×100000 model


def _huge_h5(path):
    """Flatten(28×28×1) → QuantDense(100000) as a real .h5 file (the issue's model), written cheaply:
    a small model is saved, then its config says 100000 units and its kernel becomes a lazily
    allocated (784, 100000) dataset — Keras would load 313 MB of float weights from it."""
    import h5py
    m = mc._seq((28, 28, 1), [mc.L.Flatten(), mc.lq.layers.QuantDense(8, use_bias=False, **mc.BIN)])
    m.save(path)
    with h5py.File(path, "r+") as f:
        cfg = json.loads(f.attrs["model_config"])
        dense = [lay for lay in cfg["config"]["layers"] if lay["class_name"] == "QuantDense"][0]
        dense["config"]["units"] = UNITS
        f.attrs["model_config"] = json.dumps(cfg)
        grp = f["model_weights"][dense["config"]["name"]][dense["config"]["name"]]
        del grp["kernel:0"]
        grp.create_dataset("kernel:0", shape=(784, UNITS), dtype="float32", chunks=(784, 1000), fillvalue=1.0)
    return path


def _cli(*args, env=None):
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (MEM_LIMIT, MEM_LIMIT))
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "larq2mcu.cli", *map(str, args)], capture_output=True, text=True,
                       preexec_fn=limit, env=dict(os.environ, **(env or {})), timeout=300)
    return r, time.monotonic() - t0


@pytest.fixture(scope="module")
def huge(tmp_path_factory):
    return _huge_h5(tmp_path_factory.mktemp("huge") / "huge.h5")


@pytest.mark.parametrize("how", ["limit", "env", "board"])
def test_huge_model_refused_from_file_shapes(huge, tmp_path, how):
    args = {"limit": ["--max-weight-bytes", 1_000_000], "env": [], "board": ["--board", "qemu_m4"]}[how]
    env = {"L2M_MAX_WEIGHT_BYTES": "2000000"} if how == "env" else None
    r, secs = _cli("export", huge, "-o", tmp_path / "out", *args, env=env)
    assert r.returncode == 2, r.stderr[-2000:]
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "quant_dense" in lines[0] and "9,800,000 B" in lines[0], lines[0]
    if how == "board":
        assert "qemu_m4" in lines[0] and "flash" in lines[0]
    else:
        assert ("1,000,000" if how == "limit" else "2,000,000") in lines[0]
    assert secs < 60, secs              # the export itself took 65 s and 22.9 GB
    assert not (tmp_path / "out").exists()


def test_api_refuses_from_keras_shapes(tmp_path):
    m = mc._seq((28, 28, 1), [mc.L.Flatten(), mc.lq.layers.QuantDense(3000, use_bias=False, **mc.BIN),
                              mc.L.Dense(500)])
    with pytest.raises(larq2mcu.ModelTooLargeError, match=r"layer 'dense\S*' \(Dense\): 3000×500 float") as e:
        larq2mcu.export(m, tmp_path / "o", max_weight_bytes=1_000_000)
    assert e.value.need == 4 * 3000 * 500 + 784 * 3000 // 8 and e.value.limit == 1_000_000
    with pytest.raises(larq2mcu.BoardError, match="qemu_m0"):
        larq2mcu.export(m, tmp_path / "o", board=get_board("qemu_m0"))


@pytest.mark.parametrize("case", sorted(mc.CASES))
def test_bounds_never_exceed_the_export(case, tmp_path):
    """The refusals are justified: weight and arena bounds ≤ what the lowered model takes, for the
    Keras-level bounds and (saved as .h5) the file-level ones."""
    m = mc.build(case, seed=1)
    g = passes.run_pipeline(frontend.to_ir(m, "b"))
    plan = planner.plan(g)
    low = codegen.lower(g, plan, "b", get_variant("ref"))
    sizes = size_check.model_sizes(m)
    assert 0 < sum(s.weight_bytes for s in sizes) <= low.weight_bytes
    assert 0 < max(s.arena_bytes for s in sizes) <= plan.arena_size
    for f in ("m.h5", "m.keras"):
        m.save(tmp_path / f)
        fs = size_check.file_sizes(tmp_path / f, size_check.read_config(tmp_path / f))
        kernels = [s for s in sizes if s.weight_bytes]
        assert len(fs) == len(kernels) and sum(s.weight_bytes for s in fs) <= low.weight_bytes, f
        assert {s.layer for s in fs} == {s.layer for s in kernels}, f


def test_limit_parsing(monkeypatch):
    monkeypatch.delenv("L2M_MAX_WEIGHT_BYTES", raising=False)
    assert size_check.max_weight_bytes() == 256 * 2 ** 20
    monkeypatch.setenv("L2M_MAX_WEIGHT_BYTES", "12")
    assert size_check.max_weight_bytes() == 12 and size_check.max_weight_bytes(5) == 5
    monkeypatch.setenv("L2M_MAX_WEIGHT_BYTES", "lots")
    with pytest.raises(larq2mcu.ModelTooLargeError, match="lots"):
        size_check.max_weight_bytes()


def test_pack_memory_is_linear():
    """bits.pack of the issue's old layout (one word per pixel per unit) took ~16 B per padded bit
    (22.9 GB); now one byte per padded bit: 4000 units × 784 pixels under a 1.5 GB ru_maxrss rise."""
    from larq2mcu import bits
    w = np.where(np.random.default_rng(0).random((4000, 784, 1)) < 0.5, -1, 1).astype(np.int8)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    p = bits.pack(w)
    rise_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert p.shape == (4000, 784, 1) and np.array_equal(bits.unpack(p, 1), w)
    assert rise_kb < 600_000, rise_kb      # old: 4000·784·32·16 B ≈ 1.6 GB
