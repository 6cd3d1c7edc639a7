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
from . import weights as wt

# kernel variant → the engine mode of l2m_binary_impl.h that its layer-specialized functions use
SPEC_MODES = {"hs": "L2M_MODE_HS", "usad8": "L2M_MODE_USAD8", "zbb": "L2M_MODE_ZBB", "hw": "L2M_MODE_HW",
              "builtin": "L2M_MODE_BUILTIN"}
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
    spec: dict | None = None     # a layer-specialized kernel function (see Lowering._spec)


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

    def _geom(self, s: Step, in_shape, out_shape, k, strides, pads) -> str:
        gname = f"{self.name}_g{s.index}"
        s.geom = {"name": gname, "init": self._geom_init(in_shape, out_shape, k, strides, pads)}
        return f"&{gname}"

    def _spec(self, s: Step, op, kind: str, sizes: str, w: str) -> bool:
        """With an optimized variant, a binary conv/dense becomes a call of a static function of
        the model (`<name>_op<i>_<kernel>_<variant>`) that runs the l2m_binary_impl.h engine with
        the layer's sizes as compile-time constants: `sizes` is the geometry initializer (conv)
        or "groups, c, out_n" (dense). Returns False (→ plain kernel call) for `ref`."""
        mode = SPEC_MODES.get(self.variant)
        if mode is None:
            return False
        i, o = self._io(op)
        out = "f32" if op.threshold is None else "b32"
        if op.threshold is None:
            param = self._arr(s, "bias", "float", op.bias) if op.bias is not None else "NULL"
            ptype, otype, tail = "float", "float", "NULL, param, NULL, out"
        else:
            param = self._arr(s, "thr", "int32_t", op.threshold.tau)
            ptype, otype, tail = "int32_t", "uint32_t", "param, NULL, out, NULL"
        if kind in ("conv2d_b32", "conv2d_rows_b32"):
            engine = "l2mi_conv2d" if kind == "conv2d_b32" else "l2mi_conv2d_rows"
            body = [f"const l2m_geom g = {{ {sizes} }};",
                    f"{engine}({mode}, &g, {1 if op.pad_one else 0}, in, w, {tail});"]
        else:
            body = [f"l2mi_dense({mode}, {sizes}, in, w, {tail});"]
        self._spec_fn(s, f"{kind}_{out}", f"const uint32_t *in, const uint32_t *w, const {ptype} *param, {otype} *out",
                      body, [i, w, param, o])
        return True

    def _spec_float(self, s: Step, op, kind: str, sizes: str, w: str) -> bool:
        """A float-input conv/dense as a layer-specialized function, for every optimized variant
        (False for `ref`): kind conv2d_w1 (1-bit weights, l2m_w1_impl.h), conv2d (float weights)
        or dense (l2m_float_impl.h). `sizes`: the geometry initializer, or "in_n, out_n"."""
        if self.variant not in SPEC_MODES:
            return False
        wtype = "uint32_t" if kind == "conv2d_w1" else "float"
        i, o = self._io(op)
        b = self._arr(s, "bias", "float", op.bias) if op.bias is not None else "NULL"
        pv = wt.c_float(getattr(op, "pad_value", 0.0))
        if op.threshold is None:
            params, args = f"const float *in, const {wtype} *w, const float *bias, float *out", [i, w, b, o]
            tail, out = "NULL, NULL, NULL, out", "f32"
        else:
            tau = self._arr(s, "tau", "float", op.threshold.tau)
            mode = self._arr(s, "mode", "int8_t", op.threshold.mode)
            params = (f"const float *in, const {wtype} *w, const float *bias, const float *tau, const int8_t *mode, "
                      "uint32_t *out")
            args, tail, out = [i, w, b, tau, mode, o], "tau, mode, out, NULL", "b32"
        if kind == "dense":
            body = [f"l2mi_dense_f32({sizes}, in, w, bias, {tail});"]
        else:
            engine = "l2mi_conv_w1" if kind == "conv2d_w1" else "l2mi_conv_f32"
            body = [f"const l2m_geom g = {{ {sizes} }};", f"{engine}(&g, {pv}, in, w, bias, {tail});"]
        self._spec_fn(s, f"{kind}_f32_{out}", params, body, args)
        return True

    def _spec_fn(self, s: Step, kernel: str, params: str, body: list, args: list) -> None:
        fname = f"{self.name}_op{s.index}_{kernel}_{self.variant}"
        s.spec = {"fname": fname, "params": params, "body": body}
        s.statements.append(f"{fname}({', '.join(args)});")

    def _io(self, op):
        return self.ptr(op.inputs[0], True), self.ptr(op.output, False)

    def _dot(self, s: Step, op, kind: str, lead: str, w: str) -> None:
        """One call of l2m_<kind>_f32_ref (sums + bias → floats) or, with a threshold,
        l2m_<kind>_b32_ref: integer thresholds (bias folded in) or float thresholds (after bias).
        `lead`: the geometry / size arguments before the input pointer."""
        i, o = self._io(op)
        b = self._arr(s, "bias", "float", op.bias) if op.bias is not None else "NULL"
        if op.threshold is None:
            args = f"{i}, {w}, {b}, {o}"
        elif isinstance(op.threshold, ir.Threshold):
            args = f"{i}, {w}, {self._arr(s, 'thr', 'int32_t', op.threshold.tau)}, {o}"
        else:
            tau = self._arr(s, "tau", "float", op.threshold.tau)
            mode = self._arr(s, "mode", "int8_t", op.threshold.mode)
            args = f"{i}, {w}, {b}, {tau}, {mode}, {o}"
        out = "f32" if op.threshold is None else "b32"
        s.statements.append(f"{self.kernel(f'l2m_{kind}_{out}_ref')}({lead}, {args});")

    # -- ops -------------------------------------------------------------------------------
    def _Quantize(self, op, s):
        groups, c = self.g.tensors[op.output].packing
        i, o = self._io(op)
        s.statements.append(f"{self.kernel('l2m_quantize_f32_b32_ref')}({groups}, {c}, {i}, {o});")

    def _Dequantize(self, op, s):
        groups, c = self.g.tensors[op.inputs[0]].packing
        i, o = self._io(op)
        s.statements.append(f"{self.kernel('l2m_dequantize_b32_f32_ref')}({groups}, {c}, {i}, {o});")

    def _BinaryConv2D(self, op, s):
        t_in, t_out = self.g.tensors[op.inputs[0]], self.g.tensors[op.output]
        kh, kw = op.weights.shape[:2]
        rows = wt.rows_layout(op.weights)      # few input channels: one word per kernel row
        w = self._arr(s, "w", "uint32_t", wt.pack_conv_rows(op.weights) if rows else wt.pack_conv(op.weights))
        kind = "conv2d_rows" if rows else "conv2d"
        if self._spec(s, op, f"{kind}_b32", self._geom_init(t_in.shape, t_out.shape, (kh, kw), op.strides, op.pads),
                      w):
            return
        geom = self._geom(s, t_in.shape, t_out.shape, (kh, kw), op.strides, op.pads)
        self._dot(s, op, f"{kind}_b32", f"{geom}, {1 if op.pad_one else 0}", w)

    def _BinaryDense(self, op, s):
        groups, c = self.g.tensors[op.inputs[0]].packing
        out_n = op.weights.shape[-1]
        w = self._arr(s, "w", "uint32_t", wt.pack_dense(op.weights, (groups, c)))
        if self._spec(s, op, "dense_b32", f"{groups}, {c}, {out_n}", w):
            return
        self._dot(s, op, "dense_b32", f"{groups}, {c}, {out_n}", w)

    def _Conv2D(self, op, s):
        t_in, t_out = self.g.tensors[op.inputs[0]], self.g.tensors[op.output]
        w1 = wt.is_binary(op.kernel)        # ±1 weights: stored as bits, signs flipped instead of multiplied
        w = (self._arr(s, "w", "uint32_t", wt.pack_w1_conv(op.kernel)) if w1
             else self._arr(s, "w", "float", op.kernel))
        sizes = self._geom_init(t_in.shape, t_out.shape, op.kernel.shape[:2], op.strides, op.pads)
        if self._spec_float(s, op, "conv2d_w1" if w1 else "conv2d", sizes, w):
            return
        geom = self._geom(s, t_in.shape, t_out.shape, op.kernel.shape[:2], op.strides, op.pads)
        kind = "conv2d_w1" if w1 else "conv2d"
        self._dot(s, op, f"{kind}_f32", f"{geom}, {wt.c_float(op.pad_value)}", w)

    def _Dense(self, op, s):
        n_in, n_out = op.kernel.shape
        w1 = wt.is_binary(op.kernel)
        w = (self._arr(s, "w", "uint32_t", wt.pack_w1_dense(op.kernel)) if w1
             else self._arr(s, "w", "float", op.kernel))
        kind = "dense_w1" if w1 else "dense"
        if not w1 and self._spec_float(s, op, "dense", f"{n_in}, {n_out}", w):
            return
        self._dot(s, op, f"{kind}_f32", f"{n_in}, {n_out}", w)

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
        geom = self._geom(s, t_in.shape, t_out.shape, op.pool, op.strides, op.pads)
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
