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
    n: int
    bit_tensors: dict = field(default_factory=dict)     # tensor → (mismatching bits, total bits, origin)
    float_tensors: dict = field(default_factory=dict)   # tensor → max |Δ|
    max_abs_diff: float = 0.0
    argmax_agreement: float = 1.0
    outputs_within_tol: bool = True
    class_mismatches: int = 0       # argmax differs where Keras' top two are further apart than tolerance
    ties: int = 0                   # argmax differs, but Keras' top two are within float tolerance

    @property
    def bit_mismatches(self) -> int:
        return sum(v[0] for v in self.bit_tensors.values())

    @property
    def ok(self) -> bool:
        return self.bit_mismatches == 0 and self.outputs_within_tol and self.class_mismatches == 0

    def summary(self) -> str:
        lines = [f"samples: {self.n}"]
        for t, (bad, tot, origin) in self.bit_tensors.items():
            lines.append(f"  bits  {origin:<40} {tot - bad:>10,}/{tot:,} identical")
        for t, (d, origin) in self.float_tensors.items():
            lines.append(f"  float {origin:<40} max |Δ| = {d:.3g}")
        lines.append(f"output max |Δ| = {self.max_abs_diff:.3g} (tolerance {FLOAT_ATOL:g} + {FLOAT_RTOL:g}·|y|)")
        lines.append(f"argmax agreement = {100 * self.argmax_agreement:.2f} %"
                     + (f" ({self.ties} near-ties: Keras' top two within float tolerance)" if self.ties else ""))
        lines.append("AGREE" if self.ok else "DISAGREE")
        return "\n".join(lines)


def keras_outputs(model, layers, x, batch_size=256) -> dict:
    """Outputs of the named Keras layers (plus the model output) on x."""
    from ._tf import tf_modules
    _, keras, _ = tf_modules()
    names = list(dict.fromkeys(layers))
    outs = [model.get_layer(n).output for n in names]
    probe = keras.Model(model.inputs, outs + [model.outputs[0]])
    res = probe.predict(x, batch_size=batch_size, verbose=0)
    if not isinstance(res, list):          # a single-output Model returns the bare array
        res = [res]
    return dict(zip(names + ["__output__"], res))


def compare(exp, host, x, check_intermediates: bool = True) -> Agreement:
    g = exp.graph
    x = np.asarray(x, np.float32)
    tensors = [t for t, tt in g.tensors.items()
               if tt.origin is not None and t not in g.inputs and tt.origin.layer in
               {l.name for l in exp.model.layers}] if check_intermediates else []
    ko = keras_outputs(exp.model, [g.tensors[t].origin.layer for t in tensors], x)
    y_c = host.predict(x, check_finite=False)
    y_k = np.asarray(ko["__output__"], np.float32).reshape(y_c.shape)
    ag = Agreement(n=len(x))
    d = np.abs(y_c.astype(np.float64) - y_k)
    ag.max_abs_diff = float(d.max()) if d.size else 0.0
    ag.outputs_within_tol = bool(np.all(d <= FLOAT_ATOL + FLOAT_RTOL * np.abs(y_k)))
    if y_c.ndim >= 2 and y_c.shape[-1] > 1:
        yc2, yk2 = y_c.reshape(len(x), -1), y_k.reshape(len(x), -1)
        differ = yc2.argmax(1) != yk2.argmax(1)
        ag.argmax_agreement = float(1.0 - np.mean(differ))
        top2 = np.sort(yk2, axis=1)[:, -2:]
        tie = (top2[:, 1] - top2[:, 0]) <= FLOAT_ATOL + FLOAT_RTOL * np.abs(top2[:, 1])
        ag.ties = int(np.sum(differ & tie))
        ag.class_mismatches = int(np.sum(differ & ~tie))
    if tensors:
        inter = host.intermediates(x, tensors)
        for t in tensors:
            o = g.tensors[t].origin
            k = np.asarray(ko[o.layer]).reshape(inter[t].shape)
            label = f"{o.layer} ({o.transform})"
            if g.tensors[t].dtype == ir.BITS:
                want = bits.to_pm1(bits.sign_bits(k))     # Keras' sign, subnormals flushed
                ag.bit_tensors[t] = (int(np.sum(inter[t] != want)), int(want.size), label)
            elif o.transform == "identity":
                ag.float_tensors[t] = (float(np.max(np.abs(inter[t] - k))) if k.size else 0.0, label)
    return ag
