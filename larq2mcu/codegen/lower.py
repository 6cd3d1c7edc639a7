"""Lower each IR op to kernel calls: C statements plus the constant arrays they use.

The result feeds the Jinja templates; this module decides *which* kernel and *which* arguments,
the templates decide the file structure.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .. import ir
from ..planner import Plan, is_view
from . import sliced
from . import weights as wt

# kernel variant → the engine mode of l2m_binary_impl.h that its layer-specialized functions use
SPEC_MODES = {"hs": "L2M_MODE_HS", "clz": "L2M_MODE_HS", "usad8": "L2M_MODE_USAD8", "zbb": "L2M_MODE_ZBB", "hw": "L2M_MODE_HW",
              "builtin": "L2M_MODE_BUILTIN"}
# dot kind → (always-inline engine of firmware/runtime/l2m_*_impl.h, takes the variant's mode,
# its parameter slots between the weights and the two outputs (obits, of))
ENGINES = {
    "conv2d_b32": ("l2mi_conv2d", True, ("thr", "bias")),
    "conv2d_packed_b32": ("l2mi_conv2d_packed", True, ("thr", "bias")),
    "dense_b32": ("l2mi_dense", True, ("thr", "bias")),
    "conv2d_w1_f32": ("l2mi_conv_w1", False, ("bias", "tau", "mode")),
    "conv2d_f32": ("l2mi_conv_f32", False, ("bias", "tau", "mode")),
    "dense_f32": ("l2mi_dense_f32", False, ("bias", "tau", "mode")),
}
ACT = {"relu": "L2M_ACT_RELU", "sigmoid": "L2M_ACT_SIGMOID", "tanh": "L2M_ACT_TANH"}


@dataclass
class Array:
    name: str          # member of <name>_weights_t
    ctype: str
    values: np.ndarray

    @property
    def body(self) -> str:
        return wt.format_array(self.values, self.ctype)

    @property
    def length(self) -> int:
        return int(np.asarray(self.values).size)

    @property
    def nbytes(self) -> int:
        return (1 if self.ctype == "int8_t" else 4) * self.length


@dataclass
class Step:
    index: int
    op: ir.Op
    comment: str
    statements: list = field(default_factory=list)
    arrays: list = field(default_factory=list)
    geom: dict | None = None     # name, initializer
    spec: dict | None = None     # a layer-specialized kernel function (see Lowering._dot)


def runtime_kernels() -> frozenset:
    """Every l2m_* function declared in the runtime headers (firmware/runtime/*.h)."""
    from .. import paths
    found = set()
    for h in paths.runtime_dir().glob("*.h"):
        found.update(re.findall(r"\b(l2m_[a-z0-9_]+)\s*\(", h.read_text()))
    return frozenset(found)


class Lowering:
    """`variant` selects optimized kernels: a call to l2m_X_ref becomes l2m_X_<variant> wherever
    the runtime declares that function (each variant is tested bit-identical to its _ref twin)."""

    def __init__(self, g: ir.Graph, plan: Plan, name: str, variant: str = "ref"):
        self.g, self.plan, self.name, self.variant = g, plan, name, variant
        self._kernels = runtime_kernels() if variant != "ref" else frozenset()

    def kernel(self, ref_name: str) -> str:
        assert ref_name.endswith("_ref")
        alt = ref_name[:-4] + "_" + self.variant
        return alt if alt in self._kernels else ref_name

    def ptr(self, t: str, const: bool) -> str:
        tt = self.g.tensors[t]
        off = self.plan.offset(t)
        ctype = "float" if tt.dtype == ir.F32 else "uint32_t"
        if off is None:           # lives in the caller's input buffer (always float)
            return "input"
        q = "const " if const else ""
        # via void*: the arena is untyped storage, not an array of uint8_t values
        return f"({q}{ctype} *)({q}void *)(a + {off})"

    def lower(self) -> list:
        steps = []
        for i, op in enumerate(self.g.ops):
            s = Step(i, op, f"{type(op).__name__} ({op.layer})")
            getattr(self, "_" + type(op).__name__)(op, s)
            steps.append(s)
        return steps

    # -- helpers ---------------------------------------------------------------------------
    def _arr(self, s: Step, suffix: str, ctype: str, values) -> str:
        a = Array(f"op{s.index}_{suffix}", ctype, np.asarray(values))
        s.arrays.append(a)
        return f"W->{a.name}"

    @staticmethod
    def _geom_init(in_shape, out_shape, k, strides, pads) -> str:
        h, w, c = in_shape
        oh, ow, oc = out_shape
        vals = [h, w, c, oh, ow, oc, k[0], k[1], strides[0], strides[1], pads[0], pads[2]]
        return ", ".join(str(int(v)) for v in vals)

    def _geom(self, s: Step, init: str) -> str:
        gname = f"{self.name}_g{s.index}"
        s.geom = {"name": gname, "init": init}
        return f"&{gname}"

    def _io(self, op):
        return self.ptr(op.inputs[0], True), self.ptr(op.output, False)

    def _dot(self, s: Step, op, kind: str, w: str, sizes: str, extra: str | None = None) -> None:
        """One call of l2m_<kind>_f32_ref (sums + bias → floats) or, with a threshold,
        l2m_<kind>_b32_ref: integer thresholds (bias folded in) or float thresholds (after bias).
        `sizes`: a conv's geometry initializer, or a dense layer's size arguments; `extra`: the
        argument after them (pad_one / pad value), if any.

        With an optimized variant and an engine for `kind` (ENGINES), the call goes instead to a
        static function of the model, `<name>_op<i>_<kind>_<out>_<variant>`, that takes the same
        pointers and runs the engine with the sizes and `extra` as compile-time constants."""
        i, o = self._io(op)
        b = self._arr(s, "bias", "float", op.bias) if op.bias is not None else "NULL"
        if op.threshold is None:
            params = [("bias", "float", b)]
        elif isinstance(op.threshold, ir.Threshold):
            params = [("thr", "int32_t", self._arr(s, "thr", "int32_t", op.threshold.tau))]
        else:
            params = [("bias", "float", b), ("tau", "float", self._arr(s, "tau", "float", op.threshold.tau)),
                      ("mode", "int8_t", self._arr(s, "mode", "int8_t", op.threshold.mode))]
        bits = op.threshold is not None
        out = "b32" if bits else "f32"
        args = ", ".join([i, w, *(v for _, _, v in params), o])
        conv = kind.startswith("conv2d")
        tail = [] if extra is None else [extra]
        engine = ENGINES.get(kind) if self.variant in SPEC_MODES else None
        if engine is None:
            lead = ", ".join([self._geom(s, sizes) if conv else sizes, *tail])
            s.statements.append(f"{self.kernel(f'l2m_{kind}_{out}_ref')}({lead}, {args});")
            return
        fn, moded, slots = engine
        have = {n for n, _, _ in params}
        desc = ("l2m_out_bits(out, thr)" if "thr" in have else "l2m_out_bits_float(out, bias, tau, mode)"
                if "tau" in have else "l2m_out_float(out, bias)")   # the output descriptor (l2m_types.h)
        call = [*([SPEC_MODES[self.variant]] if moded else []), "&g" if conv else sizes, *tail, "in", "w", desc]
        wtype = next(a.ctype for a in s.arrays if a.name == f"op{s.index}_w")
        sig = [f"const {'uint32_t' if kind.endswith('_b32') else 'float'} *in", f"const {wtype} *w",
               *(f"const {t} *{n}" for n, t, _ in params), f"{'uint32_t' if bits else 'float'} *out"]
        fname = f"{self.name}_op{s.index}_{kind}_{out}_{self.variant}"
        s.spec = {"fname": fname, "params": ", ".join(sig),
                  "body": ([f"const l2m_geom g = {{ {sizes} }};"] if conv else []) + [f"{fn}({', '.join(call)});"]}
        s.statements.append(f"{fname}({args});")

    # -- ops -------------------------------------------------------------------------------
    def _Quantize(self, op, s):
        groups, c = self.g.tensors[op.output].packing
        i, o = self._io(op)
        s.statements.append(f"{self.kernel('l2m_quantize_f32_b32_ref')}({groups}, {c}, {i}, {o});")

    def _Dequantize(self, op, s):
        groups, c = self.g.tensors[op.inputs[0]].packing
        i, o = self._io(op)
        s.statements.append(f"{self.kernel('l2m_dequantize_b32_f32_ref')}({groups}, {c}, {i}, {o});")

    def _sliced(self, op) -> bool:
        """The bit-sliced engine for this dot: a variant whose target has clz, and integer
        thresholds or plain sums + bias (a float threshold after a binary dot does not occur)."""
        return self.variant in sliced.VARIANTS and (op.threshold is None or isinstance(op.threshold, ir.Threshold))

    def _sliced_dot(self, s: Step, op, kind: str, std: np.ndarray, k: int, sizes: str, extra: str | None) -> None:
        """The layer-specialized call of l2mi_<kind>_sliced: transposed rows and counter planes
        (thresholds) or per-filter bit counts (+ bias, floats) — codegen/sliced.py — instead of
        weights and thresholds."""
        i, o = self._io(op)
        w = self._arr(s, "w", "uint32_t", sliced.rows(std))
        conv = kind.startswith("conv2d")
        lead = [SPEC_MODES[self.variant], *(["&g", extra] if conv else [sizes]), "in", "w"]
        if op.threshold is not None:
            pl = self._arr(s, "planes", "uint32_t", sliced.planes(std, op.threshold.tau, k))
            fname = f"{self.name}_op{s.index}_{kind}_sliced_b32_b32_{self.variant}"
            params = "const uint32_t *in, const uint32_t *w, const uint32_t *planes, uint32_t *out"
            call, args = [*lead, "NULL", "l2m_out_bits_planes(out, planes)"], [i, w, pl, o]
        else:
            kc = self._arr(s, "kc", "int32_t", sliced.popcounts(std))
            b = self._arr(s, "bias", "float", op.bias) if op.bias is not None else "NULL"
            fname = f"{self.name}_op{s.index}_{kind}_sliced_b32_f32_{self.variant}"
            params = "const uint32_t *in, const uint32_t *w, const int32_t *kc, const float *bias, float *out"
            call, args = [*lead, "kc", "l2m_out_float(out, bias)"], [i, w, kc, b, o]
        s.spec = {"fname": fname, "params": params,
                  "body": ([f"const l2m_geom g = {{ {sizes} }};"] if conv else [])
                  + [f"l2mi_{kind}_sliced({', '.join(call)});"]}
        s.statements.append(f"{fname}({', '.join(args)});")

    def _BinaryConv2D(self, op, s):
        t_in, t_out = self.g.tensors[op.inputs[0]], self.g.tensors[op.output]
        dense, std = wt.conv_layout(op.weights)   # few input channels: window bits packed densely
        sizes = self._geom_init(t_in.shape, t_out.shape, op.weights.shape[:2], op.strides, op.pads)
        if self._sliced(op) and sliced.eligible_conv(t_out.shape[-1], std.shape[1], any(op.pads), op.pad_one):
            k = int(np.prod(op.weights.shape[:3]))
            self._sliced_dot(s, op, "conv2d", std, k, sizes, str(int(dense)))
            return
        w = self._arr(s, "w", "uint32_t", std.reshape(-1))
        self._dot(s, op, "conv2d_packed_b32" if dense else "conv2d_b32", w, sizes, str(1 if op.pad_one else 0))

    def _BinaryDense(self, op, s):
        groups, c = self.g.tensors[op.inputs[0]].packing
        std = wt.pack_dense(op.weights, (groups, c))
        n = op.weights.shape[-1]
        if self._sliced(op) and sliced.eligible_dense(n, std.size // n):
            self._sliced_dot(s, op, "dense", std.reshape(n, -1), groups * c, f"{groups}, {c}, {n}", None)
            return
        w = self._arr(s, "w", "uint32_t", std)
        self._dot(s, op, "dense_b32", w, f"{groups}, {c}, {n}")

    def _Conv2D(self, op, s):
        t_in, t_out = self.g.tensors[op.inputs[0]], self.g.tensors[op.output]
        w1 = wt.is_binary(op.kernel)        # ±1 weights: stored as bits, signs flipped instead of multiplied
        w = (self._arr(s, "w", "uint32_t", wt.pack_w1_conv(op.kernel)) if w1
             else self._arr(s, "w", "float", op.kernel))
        sizes = self._geom_init(t_in.shape, t_out.shape, op.kernel.shape[:2], op.strides, op.pads)
        self._dot(s, op, "conv2d_w1_f32" if w1 else "conv2d_f32", w, sizes, wt.c_float(op.pad_value))

    def _Dense(self, op, s):
        n_in, n_out = op.kernel.shape
        w1 = wt.is_binary(op.kernel)
        w = (self._arr(s, "w", "uint32_t", wt.pack_w1_dense(op.kernel)) if w1
             else self._arr(s, "w", "float", op.kernel))
        self._dot(s, op, "dense_w1_f32" if w1 else "dense_f32", w, f"{n_in}, {n_out}")

    def _BatchNorm(self, op, s):
        t = self.g.tensors[op.output]
        c = t.shape[-1]
        m = self._arr(s, "mean", "float", op.mean)
        sc = self._arr(s, "scale", "float", op.scale)
        of = self._arr(s, "offset", "float", op.offset)
        i, o = self._io(op)
        s.statements.append(f"{self.kernel('l2m_batchnorm_f32_ref')}({t.numel // c}, {c}, {i}, {m}, {sc}, {of}, {o});")

    def _pool(self, op, s, kernel, extra=""):
        t_in, t_out = self.g.tensors[op.inputs[0]], self.g.tensors[op.output]
        geom = self._geom(s, self._geom_init(t_in.shape, t_out.shape, op.pool, op.strides, op.pads))
        i, o = self._io(op)
        s.statements.append(f"{kernel}({geom}, {extra}{i}, {o});")

    def _MaxPool2D(self, op, s):
        self._pool(op, s, self.kernel("l2m_maxpool_f32_f32_ref"))

    def _AvgPool2D(self, op, s):
        self._pool(op, s, self.kernel("l2m_avgpool_f32_f32_ref"))

    def _BinaryMaxPool2D(self, op, s):
        mask = self._arr(s, "or_mask", "uint32_t", wt.pack_mask(op.or_mask)) if op.or_mask is not None else "NULL"
        self._pool(op, s, self.kernel("l2m_maxpool_b32_b32_ref"), extra=f"{mask}, ")

    def _BinaryAvgPool2D(self, op, s):
        self._pool(op, s, self.kernel("l2m_avgpool_b32_b32_ref"))

    def _GlobalAvgPool(self, op, s):
        h, w, c = self.g.tensors[op.inputs[0]].shape
        i, o = self._io(op)
        s.statements.append(f"{self.kernel('l2m_global_avgpool_f32_f32_ref')}({h * w}, {c}, {i}, {o});")

    def _Reshape(self, op, s):
        if is_view(self.g, op):
            s.statements.append("/* view: same buffer, nothing to do */")
            return
        t_in, t_out = self.g.tensors[op.inputs[0]], self.g.tensors[op.output]
        i, o = self._io(op)
        s.statements.append(f"{self.kernel('l2m_repack_b32_ref')}({t_in.packing[1]}, {t_out.packing[0]}, {t_out.packing[1]}, {i}, {o});")

    def _Activation(self, op, s):
        t = self.g.tensors[op.output]
        i, o = self._io(op)
        if op.fn == "softmax":
            c = t.shape[-1]
            s.statements.append(f"{self.kernel('l2m_softmax_f32_f32_ref')}({t.numel // c}, {c}, {i}, {o});")
        else:
            s.statements.append(f"{self.kernel('l2m_activation_f32_f32_ref')}({t.numel}, {ACT[op.fn]}, {i}, {o});")

    def _Add(self, op, s):
        n = self.g.tensors[op.output].numel
        o = self.ptr(op.output, False)
        first = self.ptr(op.inputs[0], True)
        for t in op.inputs[1:]:
            s.statements.append(f"{self.kernel('l2m_add_f32_f32_ref')}({n}, {first}, {self.ptr(t, True)}, {o});")
            first = self.ptr(op.output, True)

    def _Concat(self, op, s):
        t_out = self.g.tensors[op.output]
        out_c = t_out.shape[-1]
        pixels = t_out.numel // out_c
        o = self.ptr(op.output, False)
        off = 0
        if t_out.dtype == ir.BITS:
            s.statements.append(f"memset({o}, 0, {t_out.nbytes});")
        for t in op.inputs:
            c = self.g.tensors[t].shape[-1]
            kern = self.kernel("l2m_bitcopy_b32_ref" if t_out.dtype == ir.BITS else "l2m_chancopy_f32_ref")
            s.statements.append(f"{kern}({pixels}, {c}, {out_c}, {off}, {self.ptr(t, True)}, {o});")
            off += c
