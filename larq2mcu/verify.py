"""Compare the exported C (host build) with Keras: intermediate bits, float outputs, classes.

Tolerance for float outputs (docs/MATH.md §5). Everything from the first binary-input layer to the
last threshold is integer arithmetic and must match bit for bit. Float layers (a float first conv,
float dense heads, BN without a following sign, softmax) sum in another order than TensorFlow and
use another expf, so they agree only to rounding: each float32 operation adds ≤ 2⁻²⁴ relative
error, and a dot product of n terms accumulates ≤ n·2⁻²⁴·Σ|xᵢwᵢ| (Higham, worst case) — for the
heads used here (n ≤ 4096 terms of magnitude ≤ 1) that bound is ≈ 2.4e-4 absolute on logits, and
softmax maps logit errors e to probability errors ≤ e/2. We therefore accept
|Δ| ≤ FLOAT_ATOL + FLOAT_RTOL·|keras| with both 2.5e-4, and report the measured maximum (typically
~1e-7). A sign taken right after a float layer can still flip where |y| is within rounding of 0;
such flips are counted and reported, never hidden.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import bits, ir

FLOAT_ATOL = 2.5e-4
FLOAT_RTOL = 2.5e-4


@dataclass
class Agreement:
    """Result of `compare` over n samples: per-tensor bit mismatches and float max |Δ|, the output's
    max |Δ| and tolerance check, argmax agreement (fraction), class mismatches and near-ties."""
    n: int
    bit_tensors: dict = field(default_factory=dict)     # tensor → (mismatching bits, total bits, origin)
    float_tensors: dict = field(default_factory=dict)   # tensor → (max |Δ|, origin)
    max_abs_diff: float = 0.0
    argmax_agreement: float = 1.0
    outputs_within_tol: bool = True
    class_mismatches: int = 0       # argmax differs where Keras' top two are further apart than tolerance
    ties: int = 0                   # argmax differs, but Keras' top two are within float tolerance
    issues: list | None = None      # every disagreeing sample, classified (see `classify`); None: not classified
    outputs: dict = field(default_factory=dict)         # Keras output name → (max |Δ|, within tolerance)

    @property
    def failures(self) -> list:
        """The disagreements no float rounding explains (issues of kind "failure")."""
        return [i for i in self.issues or () if i.kind == "failure"]

    @property
    def bit_mismatches(self) -> int:
        """Total mismatching bits over all compared BITS tensors and samples."""
        return sum(v[0] for v in self.bit_tensors.values())

    @property
    def ok(self) -> bool:
        """Agreement. Classified (`issues` set, as `compare` does): every disagreeing sample is
        explained by float rounding (a sign within rounding of zero, a near tie, an output within
        the derived bound) or by Keras itself (inf/NaN, flushed subnormal inputs). Unclassified:
        no bit mismatch, outputs within FLOAT_ATOL + FLOAT_RTOL·|keras|, no class mismatch
        outside near-ties."""
        raw_ok = self.bit_mismatches == 0 and self.outputs_within_tol and self.class_mismatches == 0
        if self.issues is not None:      # a raw disagreement is forgiven only where it was classified
            return not self.failures and (raw_ok or bool(self.issues))
        return raw_ok

    def summary(self) -> str:
        """Multi-line text: per-tensor results, output max |Δ|, argmax agreement, then AGREE or DISAGREE."""
        lines = [f"samples: {self.n}"]
        for t, (bad, tot, origin) in self.bit_tensors.items():
            lines.append(f"  bits  {origin:<40} {tot - bad:>10,}/{tot:,} identical")
        for t, (d, origin) in self.float_tensors.items():
            lines.append(f"  float {origin:<40} max |Δ| = {d:.3g}")
        if len(self.outputs) > 1:
            for name, (d, within) in self.outputs.items():
                lines.append(f"  output {name:<39} max |Δ| = {d:.3g}{'' if within else '  BEYOND TOLERANCE'}")
        lines.append(f"output max |Δ| = {self.max_abs_diff:.3g} (tolerance {FLOAT_ATOL:g} + {FLOAT_RTOL:g}·|y|)"
                     + (f" over all {len(self.outputs)} outputs" if len(self.outputs) > 1 else ""))
        lines.append(f"argmax agreement = {100 * self.argmax_agreement:.2f} %"
                     + (f" ({self.ties} near-ties: Keras' top two within float tolerance)" if self.ties else ""))
        if self.issues:
            kinds = {k: sum(i.kind == k for i in self.issues) for k in (*BENIGN, "failure")}
            lines.append(f"disagreeing samples: {len(self.issues)} = " + ", ".join(
                f"{k.replace('_', ' ')} {v}" for k, v in kinds.items() if v) + " (only failures count)")
            for i in self.failures[:5]:
                lines.append(f"  REAL MISMATCH sample {i.sample}: {i.detail}")
            if not self.failures:
                for i in self.issues[:5]:
                    lines.append(f"  note sample {i.sample}, {i.kind.replace('_', ' ')}: {i.detail}")
                if len(self.issues) > 5:
                    lines.append(f"  ... and {len(self.issues) - 5} more")
        lines.append(self.verdict)
        return "\n".join(lines)

    @property
    def verdict(self) -> str:
        """"AGREE", "AGREE with notes (…)" when every disagreement is explained by float rounding
        (`ok`, classified issues of benign kinds only: the output still passes), or "DISAGREE"."""
        if not self.ok:
            return "DISAGREE"
        if not self.issues:
            return "AGREE"
        worst = [i.magnitude for i in self.issues if i.kind == "rounding_flip" and i.magnitude is not None]
        mag = f", sign flips at |v| ≤ {max(worst):.3g}" if worst else ""
        return (f"AGREE with notes ({len(self.issues)} of {self.n} samples differ only by float rounding{mag}: "
                "either result is a correct float32 evaluation)")


def keras_outputs(model, layers, x, batch_size: int = 256, per_sample: bool = False) -> dict:
    """Outputs of the named Keras layers (plus the model output, key "__output__"; with several
    outputs also "__output<i>__" for each, "__output__" being output 0) on x: one probe
    model, called eagerly in batches (`per_sample`: batches of one — TF's CPU conv2d is wrong for
    some geometries when a batch holds ≥ 2 samples, see fuzz/check.py)."""
    from ._tf import tf_modules
    tf, keras, _ = tf_modules()
    names = list(dict.fromkeys(layers))
    outs = ["__output__"] + ([f"__output{i}__" for i in range(len(model.outputs))] if len(model.outputs) > 1 else [])
    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in names] + [model.outputs[0]]
                        + (list(model.outputs) if len(model.outputs) > 1 else []))
    step = 1 if per_sample else max(1, int(batch_size))
    parts = []
    for i in range(0, len(x), step):
        res = probe(tf.constant(np.asarray(x[i:i + step], np.float32)), training=False)
        parts.append([np.asarray(v) for v in (res if isinstance(res, (list, tuple)) else [res])])
    if not parts:
        raise ValueError("keras_outputs needs at least one sample")
    return dict(zip(names + outs, (np.concatenate([p[j] for p in parts]) for j in range(len(parts[0])))))


@dataclass
class Comparison:
    """Raw material of every C-vs-Keras check (verify and the fuzzer classify it differently).

    `tensors`: the compared tensors with a Keras origin, in execution order; `inter[t]` the C
    values (bits as ±1), `keras[t]` Keras' (bits: sign with subnormals flushed, as TF computes it),
    `mism[t]` (n, elements) bool of differing bits; `y_c`, `y_k` the outputs (several outputs: all
    of them flattened and concatenated per sample, (n, total); `segments` gives each output's
    (Keras name, start, stop, shape) in that row — one output: (name, 0, numel, shape))."""
    n: int
    tensors: list
    inter: dict
    keras: dict
    mism: dict
    y_c: np.ndarray
    y_k: np.ndarray
    keras_raw: dict
    segments: list = field(default_factory=list)

    def class_segments(self) -> list:
        """(start, stop) of the outputs whose argmax is a class: the output of a single-output model
        when it has > 1 value; with several outputs each rank-1 output of > 1 value."""
        if len(self.segments) == 1:
            return [(0, self.segments[0][2])] if self.segments[0][2] > 1 else []
        return [(a, b) for _, a, b, shape in self.segments if len(shape) == 1 and b - a > 1]


def run_comparison(exp, host, x, check_intermediates: bool = True, bits_only: bool = False,
                   per_sample_keras: bool = False) -> Comparison:
    """Run the C (host library) and Keras on x and line up every comparable tensor."""
    g = exp.graph
    x = np.asarray(x, np.float32)
    layer_names = {layer.name for layer in exp.model.layers}
    step = {op.output: i for i, op in enumerate(g.ops)}
    tensors = sorted((t for t, tt in g.tensors.items() if tt.origin is not None and t not in g.inputs
                      and tt.origin.layer in layer_names and (tt.dtype == ir.BITS or not bits_only)
                      and (tt.dtype == ir.BITS or tt.origin.transform == "identity")),
                     key=lambda t: step[t]) if check_intermediates else []
    ko = keras_outputs(exp.model, [g.tensors[t].origin.layer for t in tensors], x, per_sample=per_sample_keras)
    y_c = host.predict(x, check_finite=False)
    segments, start = [], 0
    for i, o in enumerate(g.outputs):
        shape = tuple(g.tensors[o].shape)
        numel = int(np.prod(shape, dtype=np.int64))
        segments.append((g.output_name(i), start, start + numel, shape))
        start += numel
    if len(g.outputs) == 1:
        y_k = np.asarray(ko["__output__"], np.float32).reshape(y_c.shape)
    else:       # every output, flattened and concatenated per sample
        y_k = np.concatenate([np.asarray(ko[f"__output{i}__"], np.float32).reshape(len(x), -1)
                              for i in range(len(g.outputs))], axis=1)
        y_c = np.concatenate([np.asarray(y, np.float32).reshape(len(x), -1) for y in y_c], axis=1)
    inter = host.intermediates(x, tensors) if tensors else {}
    kv, mism = {}, {}
    for t in tensors:
        k = np.asarray(ko[g.tensors[t].origin.layer]).reshape(inter[t].shape)
        if g.tensors[t].dtype == ir.BITS:
            k = bits.to_pm1(bits.sign_bits(k))     # Keras' sign, subnormals flushed
            mism[t] = (inter[t] != k).reshape(len(x), -1)
        kv[t] = k
    return Comparison(len(x), tensors, inter, kv, mism, y_c, y_k, ko, segments)


def compare(exp, host, x, check_intermediates: bool = True) -> Agreement:
    """Host C vs Keras on x: bits identical at every binary tensor, outputs within the float
    tolerance, classes equal except near ties (see the module docstring); every disagreeing sample
    classified (`classify`), so that only real mismatches fail."""
    c = run_comparison(exp, host, x, check_intermediates)
    g = exp.graph
    y_c, y_k = c.y_c, c.y_k
    ag = Agreement(n=c.n, issues=classify(exp, c, x))
    d = np.abs(y_c.astype(np.float64) - y_k)
    ag.max_abs_diff = float(d.max()) if d.size else 0.0
    within = d <= FLOAT_ATOL + FLOAT_RTOL * np.abs(y_k)
    ag.outputs_within_tol = bool(np.all(within))
    d2, w2 = d.reshape(c.n, -1), within.reshape(c.n, -1)
    for name, a, b, _ in c.segments:
        ag.outputs[name] = (float(d2[:, a:b].max()) if d2[:, a:b].size else 0.0, bool(np.all(w2[:, a:b])))
    single = len(c.segments) <= 1
    if (y_c.ndim >= 2 and y_c.shape[-1] > 1) if single else c.class_segments():
        yc2, yk2 = y_c.reshape(c.n, -1), y_k.reshape(c.n, -1)
        for a, b in ([(0, yc2.shape[1])] if single else c.class_segments()):   # each class output
            differ = yc2[:, a:b].argmax(1) != yk2[:, a:b].argmax(1)
            ag.argmax_agreement = min(ag.argmax_agreement, float(1.0 - np.mean(differ)))
            top2 = np.sort(yk2[:, a:b], axis=1)[:, -2:]
            tie = (top2[:, 1] - top2[:, 0]) <= FLOAT_ATOL + FLOAT_RTOL * np.abs(top2[:, 1])
            ag.ties += int(np.sum(differ & tie))
            ag.class_mismatches += int(np.sum(differ & ~tie))
    for t in c.tensors:
        o = g.tensors[t].origin
        label = f"{o.layer} ({o.transform})"
        if t in c.mism:
            ag.bit_tensors[t] = (int(c.mism[t].sum()), int(c.mism[t].size), label)
        else:
            k = c.keras[t]
            ag.float_tensors[t] = (float(np.max(np.abs(c.inter[t] - k))) if k.size else 0.0, label)
    return ag


# ------------------------------------------------------------------ classifying disagreements
@dataclass
class SampleIssue:
    """One sample that disagrees, and why: rounding_flip (a sign within float rounding of 0),
    near_tie (argmax of two logits closer than rounding), float_rounding (output beyond the fixed
    tolerance but within the derived bound), nonfinite (Keras computed inf/NaN), known_subnormal
    (TF flushes subnormal inputs), or failure (a real mismatch)."""
    sample: int
    kind: str
    detail: str
    magnitude: float | None = None      # rounding_flip: the largest |exact pre-sign value| that flipped


BENIGN = ("rounding_flip", "near_tie", "float_rounding", "nonfinite", "known_subnormal")


def _presign_sources(src: ir.Graph) -> dict:
    """Keras layer → the frontend F32 tensor whose sign Keras takes for that layer's bits."""
    ident, presign = {}, {}
    for t, tt in src.tensors.items():
        if tt.origin is None:
            continue
        if tt.dtype == ir.F32 and tt.origin.transform == "identity":
            ident[tt.origin.layer] = t
        elif tt.dtype == ir.BITS:
            p = src.producer(t)
            while isinstance(p, ir.Reshape) and src.tensors[p.inputs[0]].dtype == ir.BITS:
                p = src.producer(p.inputs[0])   # Flatten of a sign: same elements, same order
            if isinstance(p, ir.Quantize) and src.tensors[p.inputs[0]].dtype == ir.F32:
                presign[tt.origin.layer] = p.inputs[0]
    return {**presign, **ident}


def _within_rounding(v, e) -> np.ndarray:
    """|v| ≤ e, with a relative slack for the float64 evaluation of v and e themselves."""
    return np.abs(v) <= e * (1 + 1e-6)


def _overflow_possible(src: ir.Graph, bnd: dict, n: int) -> list:
    """Per bounded sample: the first float tensor whose value may leave the float32 range
    (|v| + e > FLT_MAX, or a bound that is not finite), else "". There either implementation may
    compute ±inf, and what inf − inf or 0·inf then gives depends on the formula (Keras' BN is
    x·s + (β − μ·s), the C's (x − μ)·s + β), so agreement is undefined, as with Keras' own inf/NaN
    (fuzz seed 2040006130: x − mean(x) at |x| = 1e30 keeps only rounding error, then overflows)."""
    out = [""] * n
    big = float(np.finfo(np.float32).max)
    for t in src.tensors:
        if src.tensors[t].dtype != ir.F32 or t not in bnd:
            continue
        v, e = (np.asarray(a, np.float64).reshape(n, -1) for a in bnd[t])
        with np.errstate(invalid="ignore", over="ignore"):
            hit = (~np.isfinite(np.abs(v) + e) | (np.abs(v) + e > big)).any(axis=1)
        for j in np.flatnonzero(hit):
            out[j] = out[j] or t
    return out


def _unobserved_flip(src: ir.Graph, bnd: dict, obs: dict, before, j: int) -> str:
    """The first sign of the source graph, ahead of the tensor `before`, that Keras does not
    report (no compared tensor: e.g. the unpadded bits the exporter makes of tf.pad → sign) and
    where bounded sample j has an element within rounding of 0 (|v| ≤ e), else "". A flip there is
    legitimate and invisible, and every later bit may follow from it (fuzz seed 2050006931: the
    ±1e30 sample through conv → BN → tf.pad → sign)."""
    stop = next((k for k, op in enumerate(src.ops) if op.output == before), len(src.ops))
    for op in src.ops[:stop]:
        if isinstance(op, ir.Quantize) and op.output not in obs and src.tensors[op.inputs[0]].dtype == ir.F32:
            v, e = (np.asarray(a)[j].reshape(-1) for a in bnd[op.inputs[0]])
            if _within_rounding(v, e).any():
                return op.output
    return ""


def _observed_bits(src: ir.Graph, c: Comparison, rows) -> dict:
    """Source bits tensors → Keras' bits (±1) on samples `rows`, for every one whose layer Keras
    reported: the values both sides computed up to the first mismatch, which the float64
    propagation must follow (rounding.propagate, `fixed`)."""
    out = {}
    for t, tt in src.tensors.items():
        if tt.dtype == ir.BITS and tt.origin is not None and tt.origin.layer in c.keras_raw and t not in src.inputs:
            k = np.asarray(c.keras_raw[tt.origin.layer])
            if k.size == c.n * int(np.prod(tt.shape, dtype=np.int64)):
                out[t] = bits.to_pm1(bits.sign_bits(k.reshape((c.n,) + tuple(tt.shape))[rows]))
    return out


def _classify_bits(g, bnd, pre, t, m_s, s, j) -> SampleIssue:
    layer = g.tensors[t].origin.layer
    idx = np.flatnonzero(m_s)
    src_t = pre.get(layer)
    where = f"{layer} ({len(idx)}/{m_s.size} bits)"
    if src_t is None or bnd[src_t][0][j].size != m_s.size:
        return SampleIssue(s, "failure", f"bits differ at {where}; no float pre-sign value to explain it")
    v = bnd[src_t][0][j].reshape(-1)[idx]
    e = bnd[src_t][1][j].reshape(-1)[idx]
    ok = _within_rounding(v, e)
    if ok.all():
        return SampleIssue(s, "rounding_flip", f"{where}: |v| ≤ e (max |v| {np.abs(v).max():.3g}, "
                                               f"bound {e.max():.3g})", float(np.abs(v).max()))
    k = int(np.argmin(ok))
    return SampleIssue(s, "failure", f"bits differ at {where}: exact pre-sign value {v[k]:.6g} is beyond "
                                     f"the rounding bound {e[k]:.3g}")


def classify(exp, c: Comparison, x) -> list:
    """Every disagreeing sample of comparison `c` (inputs x), classified (SampleIssue kinds).

    A bit mismatch is judged at the FIRST mismatching binary tensor in execution order: it is a
    rounding flip when the exact pre-sign value v of every differing bit satisfies |v| ≤ e, e the
    float32 rounding bound of larq2mcu/rounding.py (both sides lie within e of v, so either sign
    is right); later mismatches of that sample are its consequence. Outputs beyond the fixed
    tolerance are float rounding when within the derived bound 2e; an argmax difference is a near
    tie when Keras' two logits are within their bounds. Bounds are computed for the disagreeing
    samples only (the source graph in float64)."""
    n = c.n
    g, src = exp.graph, exp.source_graph
    tensors = [t for t in c.tensors if t in c.mism]
    yc, yk = c.y_c.reshape(n, -1).astype(np.float64), c.y_k.reshape(n, -1).astype(np.float64)
    with np.errstate(invalid="ignore"):
        d = np.abs(yc - yk)
        same_nonfinite = (np.isnan(yc) & np.isnan(yk)) | (np.isinf(yk) & (yc == yk))
        out_ok = ((d <= FLOAT_ATOL + FLOAT_RTOL * np.abs(yk)) | same_nonfinite).all(axis=1)
    segs = c.class_segments() if c.segments else ([(0, yc.shape[1])] if yc.shape[1] > 1 else [])
    arg_ok = np.ones(n, bool)
    for a, b in segs:
        arg_ok &= yc[:, a:b].argmax(1) == yk[:, a:b].argmax(1)
    bits_ok = np.ones(n, bool)
    for t in tensors:
        bits_ok &= ~c.mism[t].any(axis=1)
    bad = np.flatnonzero(~(bits_ok & out_ok & arg_ok))
    if not len(bad):
        return []
    x = np.asarray(x, np.float32)
    nonfinite_k = ~np.isfinite(yk).all(axis=1)
    for v in c.keras_raw.values():
        v = np.asarray(v)
        if v.dtype.kind == "f":
            nonfinite_k |= ~np.isfinite(v.reshape(n, -1)).all(axis=1)
    xa = np.abs(x.reshape(n, -1))
    subnormal = ((xa > 0) & (xa < np.finfo(np.float32).tiny)).any(axis=1)
    from . import rounding
    obs = _observed_bits(src, c, bad)
    bnd = rounding.propagate(src, x[bad], obs)
    pre = _presign_sources(src)
    e_out = np.concatenate([bnd[o][1].reshape(len(bad), -1) for o in src.outputs], axis=1)
    overflow = _overflow_possible(src, bnd, len(bad))
    issues = []
    for j, s in enumerate(bad):
        s = int(s)
        first = next((t for t in tensors if c.mism[t][s].any()), None)
        if subnormal[s]:
            issues.append(SampleIssue(s, "known_subnormal", "input holds subnormals (TF flushes them to 0)"))
        elif nonfinite_k[s] or overflow[j]:
            if (first is None and not out_ok[s] and not overflow[j]
                    and not np.isfinite(yc[s][np.isfinite(yk[s])]).all()):
                issues.append(SampleIssue(s, "failure", "C output non-finite where Keras' is finite"))
            elif overflow[j]:
                issues.append(SampleIssue(s, "nonfinite", f"float32 may overflow at {overflow[j]}: |v| + e > FLT_MAX "
                                                          "(inf/NaN then depend on the formula)"))
            else:
                issues.append(SampleIssue(s, "nonfinite", "Keras computed inf/NaN in this sample"))
        elif first is not None:
            issue = _classify_bits(g, bnd, pre, first, c.mism[first][s], s, j)
            if issue.kind == "failure":
                hidden = _unobserved_flip(src, bnd, obs, pre.get(g.tensors[first].origin.layer), j)
                if hidden:
                    issue = SampleIssue(s, "rounding_flip", f"after an unobserved sign within rounding at {hidden} "
                                                            f"(then: {issue.detail})")
            issues.append(issue)
        elif not out_ok[s]:
            within = bool(np.all(d[s] <= 2 * e_out[j] + 1e-30))
            k = int(np.argmax(d[s] - (FLOAT_ATOL + FLOAT_RTOL * np.abs(yk[s]))))
            seg = next((nm for nm, lo, hi, _ in c.segments if lo <= k < hi), None) if len(c.segments) > 1 else None
            what = ((f"output '{seg}': " if seg else "") +
                    f"output |Δ| = {d[s][k]:.3g} at |y| = {abs(yk[s][k]):.3g} > verify tolerance, "
                    f"{'within' if within else 'BEYOND'} the derived rounding bound {2 * e_out[j][k]:.3g}")
            issue = SampleIssue(s, "float_rounding" if within else "failure", what)
            issues.append(_after_hidden_flip(src, bnd, obs, j, issue))
        else:
            lo, hi = next((lo, hi) for lo, hi in segs if np.argmax(yc[s, lo:hi]) != np.argmax(yk[s, lo:hi]))
            a, b = lo + int(np.argmax(yc[s, lo:hi])), lo + int(np.argmax(yk[s, lo:hi]))
            gap = abs(yk[s][a] - yk[s][b])
            if gap <= 2 * (e_out[j][a] + e_out[j][b]) + 1e-30:
                issues.append(SampleIssue(s, "near_tie", f"argmax {a} vs {b}, Keras gap {gap:.3g}"))
            else:
                issue = SampleIssue(s, "failure", f"argmax {a} (C) vs {b} (Keras), Keras gap {gap:.3g} "
                                    f"> rounding bound {2 * (e_out[j][a] + e_out[j][b]):.3g}")
                issues.append(_after_hidden_flip(src, bnd, obs, j, issue))
    return issues


def _after_hidden_flip(src: ir.Graph, bnd: dict, obs: dict, j: int, issue: SampleIssue) -> SampleIssue:
    """`issue` (an output beyond its bound, with every compared bit equal), or a rounding flip when
    the graph has a sign Keras does not report where sample j lies within rounding of 0: a flip
    there changes every later value while no compared bit shows it (fuzz seed 2091008851: BN →
    ZeroPadding2D → sign, folded into the next conv's padding; one C bit differs from the sign of
    Keras' BN output, −0.056 in a tensor of values up to 1.2e7, and the float layers after it
    carry the difference to the output)."""
    if issue.kind != "failure":
        return issue
    hidden = _unobserved_flip(src, bnd, obs, None, j)
    if not hidden:
        return issue
    return SampleIssue(issue.sample, "rounding_flip",
                       f"after an unobserved sign within rounding at {hidden} (then: {issue.detail})")
