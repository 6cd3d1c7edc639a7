"""Export one model, build it on the host, run it against Keras, and classify every disagreement
(the classifier is verify.classify, shared with `larq2mcu verify`).

Pass criteria (per input sample), as in verify.compare: every binary intermediate that has a Keras
origin is bit-identical, the output is within verify's FLOAT_ATOL + FLOAT_RTOL·|y|, and the argmax
agrees. A sample that breaks them is classified:

  * rounding flip — the FIRST mismatching bit tensor (in execution order) mismatches only where
    the exact pre-sign value v satisfies |v| ≤ e, e the float32 rounding bound of larq2mcu/rounding.py
    (docs/MATH.md §5): a sign after a float layer may legitimately go either way there, and every
    later mismatch of that sample is its consequence. Counted, not a failure.
  * near tie — bits identical, outputs within tolerance, argmax differs, and both differences are
    within the output's rounding bound (two logits closer than rounding). Counted, not a failure.
  * float rounding — bits identical, but a float output misses verify's fixed tolerance while
    staying within the derived per-element bound 2e (both sides within e of the exact value).
    Happens with catastrophic cancellation, e.g. BN with |μ·s| ≫ |y| (never-crossing channels of
    huge scale): Keras computes x·s + (β − μ·s), the C (x − μ)·s + β. Counted, not a failure; it
    says verify's tolerance is not justified there, not that the C computes something else.
  * non-finite — Keras produced inf/NaN in that sample (e.g. ±1e30 inputs overflowing a float
    head); TF's sign(NaN) is NaN while the C binarizes NaN to +1, so agreement is undefined there.
    Counted, not a failure, unless the C output is non-finite where Keras' is finite.
  * known bug "subnormal" — the sample's input holds subnormal floats (0 < |x| < FLT_MIN).
    TensorFlow's CPU kernels flush subnormal inputs to zero. Since f30b2ee the C binarizes them
    like TF, but a float conv/dense followed by a sign still sees them (Dense(1) of
    [−1e-38, −1e-38] → sign: Keras +1, C −1; tests/test_fuzz_regressions.py). Counted separately
    so that this open bug does not mask other failures.
  * failure — anything else (including export/build crashes).

Building: the runtime files of an export are identical across models, so they are compiled once per
process (keyed by their content hash) with the host flags of larq2mcu.host, and each model only
compiles its own two .c files and links; the result is loaded as a larq2mcu.host.HostModel.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ... import host as _host
from ... import ir
from ...layout import fixed
from ...layout import weights as wt
from ...ops import dot
from ...verify import SampleIssue, classify, run_comparison


@dataclass
class ModelResult:
    """Outcome of one generated model: status, bit counters, classified issues, coverage counts,
    max output |Δ| over agreeing samples, seconds taken, the model's description and any error."""
    seed: int
    status: str = "pass"                # pass | fail | crash | generator-error (set by fuzz/__init__.py)
    n_inputs: int = 0
    bit_tensors: int = 0
    bits_compared: int = 0
    mismatched_bits: int = 0
    issues: list = field(default_factory=list)
    coverage: Counter = field(default_factory=Counter)
    max_abs_diff: float = 0.0
    seconds: float = 0.0
    description: list = field(default_factory=list)
    error: str = ""

    def count(self, kind: str) -> int:
        """Number of issues of `kind`."""
        return sum(1 for i in self.issues if i.kind == kind)


class FastBuilder:
    """Host builds that compile the shared runtime once (see the module docstring)."""

    def __init__(self, cflags=()):
        """`cflags`: extra C flags for every compile (runtime and model), e.g. -DL2M_W1_FIXED=1 to
        run the FPU-less cores' integer first layer (firmware/runtime/l2m_w1fix_impl.h) on the host."""
        self.cflags = list(cflags)
        self.root = Path(tempfile.mkdtemp(prefix="l2m-fuzz-"))
        self._objs: dict = {}
        self._n = 0

    def _runtime_objects(self, out_dir: Path, runtime: list) -> list:
        h = hashlib.sha256(" ".join(self.cflags).encode())
        for p in sorted(runtime):
            h.update(p.name.encode() + p.read_bytes())
        key = h.hexdigest()[:16]
        if key not in self._objs:
            d = self.root / f"rt_{key}"
            d.mkdir(exist_ok=True)
            for p in runtime:
                shutil.copy(p, d / p.name)
            flags = [f for f in _host.CFLAGS if f != "-shared"]
            objs = []
            for c in sorted(d.glob("*.c")):
                o = c.with_suffix(".o")
                self._run([_host.compiler(), *flags, *self.cflags, "-c", "-I", str(d), str(c), "-o", str(o)])
                objs.append(str(o))
            self._objs[key] = objs
        return self._objs[key]

    @staticmethod
    def _run(cmd):
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"cc failed: {' '.join(cmd)}\n{r.stderr.strip()[:2000]}")

    def build(self, exp) -> "_host.HostModel":
        """Compile the export's own two .c files, link them with the runtime objects (compiled once
        per runtime content hash) into a fresh shared library and load it as a HostModel;
        RuntimeError with cc's stderr if a compile or link fails."""
        out = Path(exp.out_dir)
        own = [out / f"{exp.name}.c", out / f"{exp.name}_weights.c"]
        runtime = [p for p in out.iterdir() if p.suffix in (".c", ".h") and p not in own
                   and not p.name.startswith(exp.name)]
        objs = self._runtime_objects(out, runtime)
        self._n += 1
        work = self.root / f"m{self._n}"
        work.mkdir()
        so = work / f"lib{exp.name}.so"
        self._run([_host.compiler(), *_host.CFLAGS, *self.cflags, "-I", str(out), *map(str, own), *objs, "-o", str(so),
                   "-lm"])
        return _host.HostModel(so, exp.name, exp.graph, exp.plan, work)

    def close(self):
        """Delete the builder's temporary folder (runtime objects and every built model)."""
        shutil.rmtree(self.root, ignore_errors=True)


def release(host) -> None:
    """Unload the model's library and its build folder (thousands of models run in one process)."""
    host.close()


def ir_coverage(g: ir.Graph) -> Counter:
    """Count of ops per kind as "ir:<Kind>", with +threshold / +or_mask / +pad_one / +groups /
    +depthwise (groups = input channels) / +dilation / +small (a binary conv of at most 9 window
    bits) / +fixed (a BitDense on fixed-point weights, layout/fixed.py) and [fn] for Activation
    appended where they apply."""
    c = Counter()
    for op in g.ops:
        name = type(op).__name__
        if getattr(op, "threshold", None) is not None:
            name += "+threshold"
        if getattr(op, "or_mask", None) is not None:
            name += "+or_mask"
        if getattr(op, "pad_one", False):
            name += "+pad_one"
        if getattr(op, "groups", 1) > 1:
            cin = g.tensors[op.inputs[0]].shape[-1]
            name += "+depthwise" if op.groups == cin else "+groups"
        if max(getattr(op, "dilation", (1, 1))) > 1:
            name += "+dilation"
        if isinstance(op, ir.BinaryConv2D) and int(np.prod(op.weights.shape[:3])) <= 9:
            name += "+small"      # a window of at most 9 bits: the small-window engine's (l2m_small_impl.h)
        elif (isinstance(op, ir.BinaryConv2D) and wt.packed_layout(op.weights)
              and dot.nib_fits(int(np.prod(op.weights.shape[:3])), op.weights.shape[-1])):
            name += "+nib"        # fits the nibble-table engine (l2m_nib_impl.h; where its cost estimate wins)
        if isinstance(op, ir.BitDense) and fixed.quantize(op.kernel) is not None:
            name += "+fixed"      # integer sums (l2mi_dense_qw), else the float sums
        if isinstance(op, ir.Activation):
            name += f"[{op.fn}]"
        c["ir:" + name] += 1
    return c


def compare(exp, host, x, per_sample_keras: bool = False) -> tuple:
    """Return (issues, stats) for batch x; see the module docstring for the classification.
    The C-vs-Keras material comes from verify.run_comparison and the classification from
    verify.classify (the one comparison path, shared with `larq2mcu verify`); this adds the
    campaign's counters."""
    c = run_comparison(exp, host, x, bits_only=True, per_sample_keras=per_sample_keras)
    tensors, mism, y_c, y_k, n = c.tensors, c.mism, c.y_c, c.y_k, c.n
    stats = Counter(bit_tensors=len(tensors))
    for t in tensors:
        stats["bits_compared"] += mism[t].size
        stats["mismatched_bits"] += int(mism[t].sum())
    issues = classify(exp, c, x)
    with np.errstate(invalid="ignore"):
        d = np.abs(y_c.reshape(n, -1).astype(np.float64) - y_k.reshape(n, -1).astype(np.float64))
    clean = np.ones(n, bool)
    clean[[i.sample for i in issues]] = False
    dc = d[clean]
    fin = np.isfinite(dc)
    stats["max_abs_diff"] = float(dc[fin].max()) if fin.any() else 0.0     # over agreeing samples
    return issues, stats


# Optimized variants exported next to `ref` (by seed mod 3: hs, the carry-save engine; builtin,
# popcount per word, filter pairs; clz, hs plus the bit-sliced engine on thresholded layers):
# their layer-specialized functions (the engines of l2m_*_impl.h) must give every tensor bit for
# bit as the _ref kernels.
VARIANTS = ("hs", "builtin", "clz")


def _same_floats(a, b) -> bool:
    """Bit for bit, except that any NaN equals any NaN: the sign and payload of a NaN made by an
    invalid operation (inf − inf) depend on the operand order and the FPU (x86 gives the negative
    default NaN), so two evaluation orders of one formula may differ only there (fuzz seed
    2050006831: a BatchNorm fused into a conv's epilogue on a ±1e30 sample)."""
    if a.shape != b.shape:
        return False
    return bool(np.all((a.view(np.uint32) == b.view(np.uint32)) | (np.isnan(a) & np.isnan(b))))


def _compare_variant(model, exp, host, builder, x, out_dir: Path, variant: str,
                     input_dtype: str = "float32") -> list:
    """[] when the `variant` export computes every op output exactly as the ref export; else one
    failure naming the first tensor that differs."""
    import larq2mcu
    vexp = larq2mcu.export(model, out_dir, name="fz", force=True, kernel_variant=variant, input_dtype=input_dtype)
    vhost = builder.build(vexp)
    try:
        names = [op.output for op in exp.graph.ops]
        want = host.intermediates(x, names)
        got = vhost.intermediates(x, names)
        for t in names:
            a, b = np.asarray(want[t]), np.asarray(got[t])
            same = _same_floats(a, b) if a.dtype == np.float32 else np.array_equal(a, b)
            if not same:
                return [SampleIssue(-1, "failure", f"kernel variant {variant} differs from ref at tensor {t}")]
        return []
    finally:
        release(vhost)
        shutil.rmtree(out_dir, ignore_errors=True)


def check_model(gen, builder: FastBuilder, x, workdir: Path) -> ModelResult:
    """Export + build + compare one generated model; never raises (crashes become results)."""
    import larq2mcu
    import traceback
    t0 = time.perf_counter()
    res = ModelResult(seed=gen.seed, n_inputs=len(x), coverage=Counter(gen.coverage),
                      description=list(gen.description))
    host = None
    try:
        dtype = getattr(gen, "input_dtype", "float32")
        exp = larq2mcu.export(gen.model, workdir / f"s{gen.seed}", name="fz", force=True, input_dtype=dtype)
        if dtype != "float32":
            res.coverage[f"export input_dtype={dtype}"] += 1
        res.coverage.update(ir_coverage(exp.graph))
        host = builder.build(exp)
        issues, stats = compare(exp, host, x)
        if any(i.kind == "failure" for i in issues):
            # TF's CPU conv2d is wrong for some geometries when the batch has ≥ 2 samples (e.g.
            # 1 input channel, strides (1, 2), 'same', kernel wider than a 1–2 pixel input: garbage,
            # even NaN, differing between calls). Re-run Keras one sample at a time; if that
            # clears the failures, Keras was wrong, not the C (counted as keras_batch_bug).
            issues2, stats2 = compare(exp, host, x, per_sample_keras=True)
            if not any(i.kind == "failure" for i in issues2):
                res.coverage["keras batch bug (rechecked per sample)"] += 1
                issues, stats = issues2, stats2
        variant = VARIANTS[gen.seed % len(VARIANTS)]
        issues += _compare_variant(gen.model, exp, host, builder, x, workdir / f"s{gen.seed}{variant}", variant,
                                   dtype)
        res.issues = issues
        res.bit_tensors = stats["bit_tensors"]
        res.bits_compared = stats["bits_compared"]
        res.mismatched_bits = stats["mismatched_bits"]
        res.max_abs_diff = stats["max_abs_diff"]
        if any(i.kind == "failure" for i in issues):
            res.status = "fail"
        shutil.rmtree(exp.out_dir, ignore_errors=True)
    except Exception as e:  # noqa: BLE001 — a crash on a supported model is itself a finding
        res.status = "crash"
        res.error = f"{type(e).__name__}: {e}"[:1500] + "\n" + "".join(traceback.format_exc(limit=4))[-1500:]
    finally:
        if host is not None:
            release(host)
    res.seconds = time.perf_counter() - t0
    return res
