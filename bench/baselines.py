"""Float32 and int8 baselines of an exported graph, as C under the same harness and counting.

Contract: `write(g, kind, out_dir, name="net")` (kind "f32" or "i8") writes `<name>.h`, `<name>.c`
and `<name>_weights.h` into `out_dir`, with the same API as a larq2mcu export (`<name>_invoke`,
`<NAME>_ARENA_SIZE`, `<NAME>_INPUT_LEN`, `<NAME>_OUTPUT_LEN`), so targets.build and trace.count
treat it like the real thing, and returns {"flash_params": bytes of constant data, "arena": bytes}.

What it is: the same network with every binary layer replaced by ordinary arithmetic — every
tensor is float32 (f32) or int8 with one scale per tensor (i8), binary weights become ±1 floats /
int8, thresholds become a per-channel multiply-add and sign, and each op is a straightforward
scalar C loop (TFLM reference-kernel style: OHWI weights, contiguous inner loop). It is a *cost
model*: the i8 version's scales are arbitrary constants, its outputs are not meaningful. It uses
the larq2mcu runtime only for l2m_expf / l2m_tanhf (no libm on the riscv/xtensa targets).
Build with targets.build(..., extra_cflags=CFLAGS): the loops index with int32_t, which the
project's -Wconversion -Werror rejects; warnings say nothing about cost here.
Arena: larq2mcu's own planner on the graph with every tensor made float32 (i8: offsets / 4, plus
one int8 copy of the input), so all three builds get the same placement rules.
"""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np

from larq2mcu import ir, planner
from larq2mcu.paths import runtime_dir

KERNELS = r"""
#define NI __attribute__((noinline, unused))
typedef struct { int32_t h, w, c, oh, ow, oc, kh, kw, sh, sw, pt, pl; } bl_geom;
#if BL_I8
typedef int8_t T;
static T bl_sat(int32_t v) { return (T)(v > 127 ? 127 : v < -128 ? -128 : v); }
static T bl_rq(int32_t acc, int32_t m) { return bl_sat((int32_t)(((int64_t)acc * m + (1 << 30)) >> 31)); }
static float bl_f(T v) { return (float)v * (1.0f / 64.0f); }
static T bl_q(float v) { return bl_sat((int32_t)(v * 64.0f)); }
#else
typedef float T;
#endif
/* out = conv(in, k) (+bias); with s: sign(acc*s + o) (BN + sign); i8: requantized by m. */
static NI void bl_conv(const bl_geom *g, T padv, const T *in, const T *k, const void *bias,
                       const void *s, const void *o, T *out) {
    for (int32_t y = 0; y < g->oh; y++) for (int32_t x = 0; x < g->ow; x++) for (int32_t n = 0; n < g->oc; n++) {
#if BL_I8
        int32_t acc = bias ? ((const int32_t *)bias)[n] : 0;
#else
        float acc = bias ? ((const float *)bias)[n] : 0.0f;
#endif
        const T *kk = k + (size_t)n * (size_t)(g->kh * g->kw * g->c);
        for (int32_t i = 0; i < g->kh; i++) for (int32_t j = 0; j < g->kw; j++, kk += g->c) {
            int32_t iy = y * g->sh - g->pt + i, ix = x * g->sw - g->pl + j;
            if (iy < 0 || ix < 0 || iy >= g->h || ix >= g->w) {
                for (int32_t c = 0; c < g->c; c++) acc += padv * kk[c];
                continue;
            }
            const T *p = in + ((size_t)iy * (size_t)g->w + (size_t)ix) * (size_t)g->c;
            for (int32_t c = 0; c < g->c; c++) acc += p[c] * kk[c];
        }
        T *q = out + ((size_t)y * (size_t)g->ow + (size_t)x) * (size_t)g->oc + n;
#if BL_I8
        if (s) *q = (T)((acc * ((const int32_t *)s)[n] + ((const int32_t *)o)[n]) < 0 ? -1 : 1);
        else *q = bl_rq(acc, ((const int32_t *)o)[n]);
#else
        if (s) *q = (acc * ((const float *)s)[n] + ((const float *)o)[n]) < 0.0f ? -1.0f : 1.0f;
        else *q = acc;
#endif
    }
}
static NI void bl_maxpool(const bl_geom *g, const T *in, T *out) {
    for (int32_t y = 0; y < g->oh; y++) for (int32_t x = 0; x < g->ow; x++) for (int32_t n = 0; n < g->oc; n++) {
        T m = in[n];
        int first = 1;
        for (int32_t i = 0; i < g->kh; i++) for (int32_t j = 0; j < g->kw; j++) {
            int32_t iy = y * g->sh - g->pt + i, ix = x * g->sw - g->pl + j;
            if (iy < 0 || ix < 0 || iy >= g->h || ix >= g->w) continue;
            T v = in[((size_t)iy * (size_t)g->w + (size_t)ix) * (size_t)g->c + n];
            if (first || v > m) m = v;
            first = 0;
        }
        out[((size_t)y * (size_t)g->ow + (size_t)x) * (size_t)g->oc + n] = m;
    }
}
/* Average over the taps inside the image; sign_out: sign of the mean (binary avg pool). */
static NI void bl_avgpool(const bl_geom *g, int sign_out, const T *in, T *out) {
    for (int32_t y = 0; y < g->oh; y++) for (int32_t x = 0; x < g->ow; x++) for (int32_t n = 0; n < g->oc; n++) {
#if BL_I8
        int32_t acc = 0;
#else
        float acc = 0.0f;
#endif
        int32_t cnt = 0;
        for (int32_t i = 0; i < g->kh; i++) for (int32_t j = 0; j < g->kw; j++) {
            int32_t iy = y * g->sh - g->pt + i, ix = x * g->sw - g->pl + j;
            if (iy < 0 || ix < 0 || iy >= g->h || ix >= g->w) continue;
            acc += in[((size_t)iy * (size_t)g->w + (size_t)ix) * (size_t)g->c + n];
            cnt++;
        }
        T *q = out + ((size_t)y * (size_t)g->ow + (size_t)x) * (size_t)g->oc + n;
#if BL_I8
        *q = sign_out ? (T)(acc < 0 ? -1 : 1) : bl_sat(acc / cnt);
#else
        *q = sign_out ? (acc < 0.0f ? -1.0f : 1.0f) : acc / (float)cnt;
#endif
    }
}
static NI void bl_gap(int32_t hw, int32_t c, const T *in, T *out) {
    for (int32_t n = 0; n < c; n++) {
#if BL_I8
        int32_t acc = 0;
        for (int32_t i = 0; i < hw; i++) acc += in[(size_t)i * (size_t)c + (size_t)n];
        out[n] = bl_sat(acc / hw);
#else
        float acc = 0.0f;
        for (int32_t i = 0; i < hw; i++) acc += in[(size_t)i * (size_t)c + (size_t)n];
        out[n] = acc / (float)hw;
#endif
    }
}
/* BatchNorm (f32: (x-mean)*scale+offset; i8: requantize + offset), sign_out: then sign. */
static NI void bl_bn(int32_t n, int32_t c, const void *m, const void *s, const void *o, int sign_out,
                     const T *in, T *out) {
    for (int32_t i = 0; i < n; i++) for (int32_t k = 0; k < c; k++) {
        size_t j = (size_t)i * (size_t)c + (size_t)k;
#if BL_I8
        T v = bl_sat((int32_t)bl_rq(in[j] - ((const int32_t *)m)[k], ((const int32_t *)s)[k]) + ((const int32_t *)o)[k]);
        out[j] = sign_out ? (T)(v < 0 ? -1 : 1) : v;
#else
        float v = (in[j] - ((const float *)m)[k]) * ((const float *)s)[k] + ((const float *)o)[k];
        out[j] = sign_out ? (v < 0.0f ? -1.0f : 1.0f) : v;
#endif
    }
}
static NI void bl_sign(int32_t n, const T *in, T *out) {
    for (int32_t i = 0; i < n; i++) out[i] = (T)(in[i] < 0 ? -1 : 1);
}
static NI void bl_copy(int32_t n, const T *in, T *out) {
    for (int32_t i = 0; i < n; i++) out[i] = in[i];
}
static NI void bl_add(int32_t n, const T *a, const T *b, T *out) {
#if BL_I8
    for (int32_t i = 0; i < n; i++) out[i] = bl_sat(a[i] + b[i]);
#else
    for (int32_t i = 0; i < n; i++) out[i] = a[i] + b[i];
#endif
}
static NI void bl_concat(int32_t n, int32_t ca, int32_t cb, const T *a, const T *b, T *out) {
    for (int32_t i = 0; i < n; i++) {
        for (int32_t k = 0; k < ca; k++) *out++ = a[(size_t)i * (size_t)ca + (size_t)k];
        for (int32_t k = 0; k < cb; k++) *out++ = b[(size_t)i * (size_t)cb + (size_t)k];
    }
}
/* fn: 0 relu, 1 sigmoid, 2 tanh, 3 softmax (over the last axis of c values). */
static NI void bl_act(int32_t n, int32_t c, int fn, const T *in, T *out) {
#if BL_I8
#define LD(v) bl_f(v)
#define ST(v) bl_q(v)
#else
#define LD(v) (v)
#define ST(v) (v)
#endif
    for (int32_t i = 0; i < n; i += c) {
        if (fn == 3) {
            float mx = LD(in[i]), sum = 0.0f;
            for (int32_t k = 1; k < c; k++) if (LD(in[i + k]) > mx) mx = LD(in[i + k]);
            for (int32_t k = 0; k < c; k++) sum += l2m_expf(LD(in[i + k]) - mx);
            for (int32_t k = 0; k < c; k++) out[i + k] = ST(l2m_expf(LD(in[i + k]) - mx) / sum);
            continue;
        }
        for (int32_t k = 0; k < c; k++) {
            float v = LD(in[i + k]);
            out[i + k] = ST(fn == 0 ? (v > 0.0f ? v : 0.0f) : fn == 1 ? 1.0f / (1.0f + l2m_expf(-v)) : l2m_tanhf(v));
        }
    }
}
"""

CFLAGS = ("-w",)
ACT = {"relu": 0, "sigmoid": 1, "tanh": 2, "softmax": 3}
RUNTIME = ("l2m_math.c", "l2m_math.h")


def float_graph(g: ir.Graph) -> ir.Graph:
    """`g` with every BITS tensor turned into a float32 tensor of the same shape."""
    ts = {k: dataclasses.replace(t, dtype=ir.F32, packing=None) for k, t in g.tensors.items()}
    return g.replace(tensors=ts)


class _Emitter:
    def __init__(self, g: ir.Graph, kind: str, name: str):
        self.src, self.g, self.kind, self.name = g, float_graph(g), kind, name
        self.i8 = kind == "i8"
        self.plan = planner.plan(self.g)
        self.div = 4 if self.i8 else 1
        self.arena = self.plan.arena_size // self.div
        self.in_off = None
        if self.i8:            # the int8 copy of the float input lives after the planned tensors
            self.in_off = self.arena
            self.arena += self.g.tensors[self.g.inputs[0]].numel
        self.arrays: list[str] = []
        self.flash = 0
        self.lines: list[str] = []

    def ptr(self, t: str) -> str:
        off = self.plan.offset(t)
        if off is None:
            return "bl_in" if self.i8 else "input"
        return f"(T *)(void *)(a + {off // self.div})"

    def arr(self, values, ctype: str | None = None) -> str:
        """A static const array; returns its name. ctype None: T (float or int8)."""
        v = np.asarray(values).ravel()
        ctype = ctype or ("int8_t" if self.i8 else "float")
        nm = f"bl_w{len(self.arrays)}"
        if ctype == "float":
            body = ",".join("1" if x == 1 else "-1" if x == -1 else f"{float(x)!r}f" for x in v.astype(np.float32))
        else:
            body = ",".join(str(int(x)) for x in v)
        self.arrays.append(f"static const {ctype} {nm}[{max(len(v), 1)}] = {{{body or '0'}}};")
        self.flash += len(v) * (1 if ctype == "int8_t" else 4)
        return nm

    def geom(self, ish, osh, k, strides, pads) -> str:
        h, w, c = ish
        oh, ow, oc = osh
        vals = [h, w, c, oh, ow, oc, k[0], k[1], strides[0], strides[1], pads[0], pads[2]]
        nm = f"bl_g{len(self.arrays)}"
        self.arrays.append(f"static const bl_geom {nm} = {{{', '.join(str(int(x)) for x in vals)}}};")
        return nm

    def weights(self, w_ohwi) -> str:
        w = np.asarray(w_ohwi, np.float32)
        return self.arr(np.clip(np.round(w * 64), -127, 127).astype(np.int8) if self.i8 else w)

    def conv(self, op, ish, osh, k_ohwi, k, strides, pads, padv, bias, thr_s, thr_o):
        """One conv/dense call: thr_s/thr_o None → plain (f32) or requantized (i8) output."""
        oc = osh[2]
        kk = self.weights(k_ohwi)
        g = self.geom(ish, osh, k, strides, pads)
        if self.i8:
            b = self.arr(np.zeros(oc) if bias is None else np.round(np.asarray(bias) * 64), "int32_t")
            if thr_s is not None:
                s = self.arr(np.sign(thr_s) + 0, "int32_t")
                o = self.arr(np.round(np.asarray(thr_o) * 64), "int32_t")
            else:
                s, o = "NULL", self.arr(np.full(oc, 1 << 24), "int32_t")
            pv = str(int(padv))
        else:
            b = "NULL" if bias is None else self.arr(bias)
            s, o = ("NULL", "NULL") if thr_s is None else (self.arr(thr_s), self.arr(thr_o))
            pv = f"{float(padv)!r}f"
        self.call(f"bl_conv(&{g}, {pv}, {self.ptr(op.inputs[0])}, {kk}, {b}, {s}, {o}, {self.ptr(op.output)});")

    def call(self, stmt: str):
        self.lines.append("    " + stmt)

    def thr(self, op, oc):
        """(scale, offset) making sign(acc*scale+offset) equal the op's threshold, or (None, None)."""
        t = getattr(op, "threshold", None)
        if t is None:
            return None, None
        if isinstance(t, ir.Threshold):             # bit = acc < tau
            return np.ones(oc, np.float32), -np.asarray(t.tau, np.float32)
        mode, tau = np.asarray(t.mode), np.asarray(t.tau, np.float32)
        s = np.select([mode == 0, mode == 1], [1.0, -1.0], 0.0).astype(np.float32)
        o = np.select([mode <= 1, mode == 2], [-tau, 1.0], -1.0).astype(np.float32)
        return s, o

    def op(self, op):
        T = self.g.tensors
        ish, osh = T[op.inputs[0]].shape, T[op.output].shape
        n = T[op.output].numel
        k = type(op).__name__
        if k in ("BinaryConv2D", "Conv2D"):
            w = op.weights if k == "BinaryConv2D" else op.kernel
            padv = (1.0 if op.pad_one else 0.0) if k == "BinaryConv2D" else op.pad_value
            s, o = self.thr(op, osh[2])
            self.conv(op, ish, osh, np.transpose(w, (3, 0, 1, 2)), w.shape[:2], op.strides, op.pads,
                      padv, op.bias, s, o)
        elif k in ("BinaryDense", "Dense", "BitDense"):     # BitDense: a Dense of the ±1 values
            w = op.weights if k == "BinaryDense" else op.kernel
            s, o = self.thr(op, w.shape[1])
            self.conv(op, (1, 1, w.shape[0]), (1, 1, w.shape[1]), np.asarray(w).T.reshape(w.shape[1], 1, 1, -1),
                      (1, 1), (1, 1), (0, 0, 0, 0), 0.0, op.bias, s, o)
        elif k == "BatchNorm":
            c = osh[-1]
            sign = int(op.float_threshold is not None and self.src.tensors[op.output].dtype == ir.BITS)
            if self.i8:
                m = self.arr(np.round(np.asarray(op.mean) * 64), "int32_t")
                sc = self.arr(np.round(np.clip(op.scale, -1, 1) * 2**31 * 0.999), "int32_t")
                of = self.arr(np.round(np.asarray(op.offset) * 64), "int32_t")
            else:
                m, sc, of = self.arr(op.mean), self.arr(op.scale), self.arr(op.offset)
            self.call(f"bl_bn({n // c}, {c}, {m}, {sc}, {of}, {sign}, {self.ptr(op.inputs[0])}, {self.ptr(op.output)});")
        elif k in ("MaxPool2D", "BinaryMaxPool2D", "AvgPool2D", "BinaryAvgPool2D", "SumPoolSign"):
            g = self.geom(ish, osh, op.pool, op.strides, op.pads)
            if "Max" in k:
                self.call(f"bl_maxpool(&{g}, {self.ptr(op.inputs[0])}, {self.ptr(op.output)});")
            else:
                # SumPoolSign (a conv's bias-free outputs → pool → sign): the pool with its sign; the
                # bias its thresholds hold is left out (one add per conv output)
                sign = int(k.startswith("Binary") or k == "SumPoolSign")
                self.call(f"bl_avgpool(&{g}, {sign}, {self.ptr(op.inputs[0])}, {self.ptr(op.output)});")
        elif k == "GlobalAvgPool":
            self.call(f"bl_gap({int(np.prod(ish[:-1]))}, {ish[-1]}, {self.ptr(op.inputs[0])}, {self.ptr(op.output)});")
        elif k == "Quantize":
            self.call(f"bl_sign({n}, {self.ptr(op.inputs[0])}, {self.ptr(op.output)});")
        elif k in ("Dequantize", "Reshape"):
            if self.plan.offset(op.inputs[0]) != self.plan.offset(op.output):
                self.call(f"bl_copy({n}, {self.ptr(op.inputs[0])}, {self.ptr(op.output)});")
        elif k == "Activation":
            if op.fn != "linear":
                self.call(f"bl_act({n}, {osh[-1]}, {ACT[op.fn]}, {self.ptr(op.inputs[0])}, {self.ptr(op.output)});")
        elif k == "Add":
            src = op.inputs
            self.call(f"bl_add({n}, {self.ptr(src[0])}, {self.ptr(src[1])}, {self.ptr(op.output)});")
            for extra in src[2:]:
                self.call(f"bl_add({n}, {self.ptr(op.output)}, {self.ptr(extra)}, {self.ptr(op.output)});")
        elif k == "Concat":
            a, b = (T[t] for t in op.inputs[:2])
            if len(op.inputs) != 2:
                raise NotImplementedError("baseline Concat of more than 2 tensors")
            self.call(f"bl_concat({n // osh[-1]}, {a.shape[-1]}, {b.shape[-1]}, {self.ptr(op.inputs[0])}, "
                      f"{self.ptr(op.inputs[1])}, {self.ptr(op.output)});")
        else:
            raise NotImplementedError(f"baseline for {k}")

    def render(self) -> dict:
        for op in self.g.ops:
            self.op(op)
        NAME, name = self.name.upper(), self.name
        nin = self.g.tensors[self.g.inputs[0]].numel
        nout = self.g.tensors[self.g.outputs[0]].numel
        out_ptr = self.ptr(self.g.outputs[0])
        pre = [f"    T *bl_in = (T *)(void *)(a + {self.in_off});",
               f"    for (int32_t i = 0; i < {nin}; i++) bl_in[i] = bl_q(input[i]);"] if self.i8 else []
        post = (f"    for (int32_t i = 0; i < {nout}; i++) output[i] = bl_f(({out_ptr})[i]);" if self.i8 else
                f"    for (int32_t i = 0; i < {nout}; i++) output[i] = ({out_ptr})[i];")
        h = (f"#ifndef {NAME}_H\n#define {NAME}_H\n#include <stdint.h>\n"
             f"#define {NAME}_ARENA_SIZE {self.arena}\n#define {NAME}_INPUT_LEN {nin}\n"
             f"#define {NAME}_OUTPUT_LEN {nout}\n#define {NAME}_NUM_OPS 1\n"
             f"int {name}_invoke(const float *input, float *output, void *arena);\n"
             f"int {name}_invoke_partial(const float *input, void *arena, int32_t n_ops);\n#endif\n")
        c = "\n".join([
            f"/* bench baseline ({self.kind}) generated by bench/baselines.py: a cost model, not an export. */",
            "#include <stddef.h>", "#include <stdint.h>", '#include "l2m_math.h"', f'#include "{name}.h"',
            f"#define BL_I8 {int(self.i8)}", KERNELS, *self.arrays, "",
            f"int {name}_invoke(const float *input, float *output, void *arena) {{",
            "    uint8_t *const a = (uint8_t *)arena;", "    (void)a;", *pre, *self.lines, post,
            "    return 0;", "}",
            "/* the harness's per-layer timing: the baseline is one block, nothing to stop at */",
            f"int {name}_invoke_partial(const float *input, void *arena, int32_t n_ops) {{",
            "    (void)input; (void)arena; (void)n_ops;", "    return 0;", "}", ""])
        return {f"{name}.h": h, f"{name}.c": c, f"{name}_weights.h": "/* baseline: weights are in the .c */\n"}


def write(g: ir.Graph, kind: str, out_dir: Path, name: str = "net") -> dict:
    """See the module docstring."""
    if kind not in ("f32", "i8"):
        raise ValueError(f"kind must be f32 or i8, not {kind!r}")
    e = _Emitter(g, kind, name)
    files = e.render()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for fn, text in files.items():
        (out_dir / fn).write_text(text)
    for fn in RUNTIME:
        shutil.copy(runtime_dir() / fn, out_dir / fn)
    return {"flash_params": e.flash, "arena": e.arena}
