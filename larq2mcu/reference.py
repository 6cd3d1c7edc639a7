"""numpy oracle: executes an IR graph on a batch, op by op, on *logical* values.

BITS tensors are int8 arrays of ±1 with the tensor's logical shape (never packed words), so the
oracle is independent of the bit tricks it checks: binary convolutions are plain integer
convolutions of ±1 values with explicit padding (0 for pad_values=0.0, +1 for 1.0).
F32 tensors are float32 arrays. Every C kernel is tested against the function here.
"""
from __future__ import annotations

import numpy as np

from . import bits, ir


def _pad_nhwc(x: np.ndarray, pads, value) -> np.ndarray:
    t, b, l, r = pads
    return np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), constant_values=value)


def _patches(x: np.ndarray, kh: int, kw: int, sh: int, sw: int) -> np.ndarray:
    """(N, H, W, C) already padded → (N, OH, OW, kh·kw·C) in HWC tap order (matches HWIO)."""
    n, h, w, c = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    s = x.strides
    view = np.lib.stride_tricks.as_strided(
        x, (n, oh, ow, kh, kw, c), (s[0], s[1] * sh, s[2] * sw, s[1], s[2], s[3]), writeable=False)
    return view.reshape(n, oh, ow, kh * kw * c)


def binary_conv_acc(x_pm1, weights, strides, pads, pad_one) -> np.ndarray:
    """Integer accumulator of a binary conv: int32 (N, OH, OW, Cout)."""
    kh, kw, cin, cout = weights.shape
    xp = _pad_nhwc(np.asarray(x_pm1, np.int32), pads, 1 if pad_one else 0)
    p = _patches(xp, kh, kw, *strides)
    return p @ weights.reshape(-1, cout).astype(np.int32)


def binary_dense_acc(x_pm1, weights) -> np.ndarray:
    return np.asarray(x_pm1, np.int32) @ weights.astype(np.int32)


def _dot_output(op, acc):
    if op.threshold is not None:
        return np.where(acc < op.threshold.tau, -1, 1).astype(np.int8)
    out = acc.astype(np.float32)
    if op.bias is not None:
        out = out + op.bias.astype(np.float32)     # one float32 add, as tf.nn.bias_add
    return out


def float_threshold_bits(acc, thr) -> np.ndarray:
    """±1 values of a float accumulator under ir.FloatThreshold (modes 0–3)."""
    acc = np.asarray(acc, np.float32)
    bit = np.select([thr.mode == 0, thr.mode == 1, thr.mode == 2],
                    [acc < thr.tau, -acc < thr.tau, np.zeros_like(acc, bool)], np.ones_like(acc, bool))
    return np.where(bit, -1, 1).astype(np.int8)


def conv2d_f32(x, kernel, strides, pads, pad_value, bias):
    kh, kw, cin, cout = kernel.shape
    xp = _pad_nhwc(np.asarray(x, np.float32), pads, np.float32(pad_value))
    out = _patches(xp, kh, kw, *strides) @ kernel.reshape(-1, cout).astype(np.float32)
    return out + bias if bias is not None else out


def conv2d_w1_grouped(x, signs, strides, pads, pad_value) -> np.ndarray:
    """A float conv with ±1 weights summed exactly as the 1-bit-weight C kernels do (order in
    firmware/runtime/l2m_w1_impl.h): the (ky, kx, c) terms in groups of four, each group summed
    from +0.0 in order, the group sums added to +0.0 in order, all in float32 round-to-nearest.
    x: (N, H, W, C) float32; signs: HWIO ±1 → float32 (N, OH, OW, Cout), bit for bit."""
    kh, kw, cin, cout = signs.shape
    p = _patches(_pad_nhwc(np.asarray(x, np.float32), pads, np.float32(pad_value)), kh, kw, *strides)
    terms = p[..., :, None] * signs.reshape(-1, cout).astype(np.float32)        # exact: ±a
    acc = np.zeros(terms.shape[:-2] + (cout,), np.float32)
    for t0 in range(0, terms.shape[-2], 4):
        grp = np.zeros_like(acc)
        for t in range(t0, min(t0 + 4, terms.shape[-2])):
            grp = grp + terms[..., t, :]
        acc = acc + grp
    return acc


def _pool_windows(x, op, fill):
    xp = _pad_nhwc(x, op.pads, fill)
    kh, kw = op.pool
    n, h, w, c = xp.shape
    sh, sw = op.strides
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    s = xp.strides
    return np.lib.stride_tricks.as_strided(
        xp, (n, oh, ow, kh, kw, c), (s[0], s[1] * sh, s[2] * sw, s[1], s[2], s[3]), writeable=False)


def _valid_counts(op, h, w):
    """Number of taps inside the image per output position: (1, OH, OW, 1)."""
    ones = np.ones((1, h, w, 1), np.float32)
    return _pool_windows(ones, op, np.float32(0)).sum(axis=(3, 4))


def maxpool_f32(x, op):
    return _pool_windows(np.asarray(x, np.float32), op, np.float32(-np.inf)).max(axis=(3, 4))


def avgpool_f32(x, op):
    x = np.asarray(x, np.float32)
    s = _pool_windows(x, op, np.float32(0)).sum(axis=(3, 4), dtype=np.float32)
    return (s / _valid_counts(op, x.shape[1], x.shape[2])).astype(np.float32)


def binary_maxpool(x_pm1, op):
    x = np.asarray(x_pm1, np.int8)
    mx = _pool_windows(x, op, np.int8(-2)).max(axis=(3, 4))        # −2: below any value
    if op.or_mask is None:
        return mx.astype(np.int8)
    mn = _pool_windows(x, op, np.int8(2)).min(axis=(3, 4))
    return np.where(op.or_mask, mn, mx).astype(np.int8)


def binary_avgpool(x_pm1, op):
    x = np.asarray(x_pm1, np.int32)
    s = _pool_windows(x, op, 0).sum(axis=(3, 4))                  # p − m over inside taps
    return np.where(s < 0, -1, 1).astype(np.int8)


def activation(x, fn):
    x = np.asarray(x, np.float32)
    if fn == "linear":
        return x
    if fn == "relu":
        return np.maximum(x, np.float32(0))
    if fn == "sigmoid":
        return (1.0 / (1.0 + np.exp(-x.astype(np.float64)))).astype(np.float32)
    if fn == "tanh":
        return np.tanh(x)
    if fn == "softmax":
        e = np.exp(x.astype(np.float64) - x.max(axis=-1, keepdims=True))
        return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
    raise ValueError(fn)


def run_op(op: ir.Op, args: list, out_t: ir.Tensor) -> np.ndarray:
    """Apply one op to batched logical inputs."""
    x = args[0]
    n = x.shape[0]
    if isinstance(op, ir.Quantize):
        return bits.to_pm1(bits.sign_bits(x))
    if isinstance(op, ir.Dequantize):
        return np.asarray(x, np.float32)
    if isinstance(op, ir.BinaryConv2D):
        return _dot_output(op, binary_conv_acc(x, op.weights, op.strides, op.pads, op.pad_one))
    if isinstance(op, ir.BinaryDense):
        return _dot_output(op, binary_dense_acc(x, op.weights))
    if isinstance(op, (ir.Conv2D, ir.Dense)):
        if isinstance(op, ir.Conv2D):
            out = conv2d_f32(x, op.kernel, op.strides, op.pads, op.pad_value, op.bias)
        else:
            out = np.asarray(x, np.float32) @ op.kernel.astype(np.float32)
            out = out + op.bias if op.bias is not None else out
        return out if op.threshold is None else float_threshold_bits(out, op.threshold)
    if isinstance(op, ir.BatchNorm):
        return ((np.asarray(x, np.float32) - op.mean) * op.scale + op.offset).astype(np.float32)
    if isinstance(op, ir.MaxPool2D):
        return maxpool_f32(x, op)
    if isinstance(op, ir.AvgPool2D):
        return avgpool_f32(x, op)
    if isinstance(op, ir.BinaryMaxPool2D):
        return binary_maxpool(x, op)
    if isinstance(op, ir.BinaryAvgPool2D):
        return binary_avgpool(x, op)
    if isinstance(op, ir.GlobalAvgPool):
        return np.asarray(x, np.float32).mean(axis=(1, 2), dtype=np.float32).reshape((n,) + out_t.shape)
    if isinstance(op, ir.Reshape):
        return np.asarray(x).reshape((n,) + out_t.shape)
    if isinstance(op, ir.Activation):
        return activation(x, op.fn)
    if isinstance(op, ir.Add):
        out = np.asarray(args[0], np.float32)
        for a in args[1:]:
            out = out + np.asarray(a, np.float32)
        return out
    if isinstance(op, ir.Concat):
        return np.concatenate(args, axis=-1)
    raise NotImplementedError(type(op).__name__)


def run(graph: ir.Graph, x: np.ndarray, keep_all: bool = False):
    """Run `graph` on batch `x` (N, *input shape). Returns the output array, or with `keep_all`
    a dict of every tensor's logical value."""
    vals = {graph.inputs[0]: np.asarray(x, np.float32)}
    for op in graph.ops:
        vals[op.output] = run_op(op, [vals[i] for i in op.inputs], graph.tensors[op.output])
    if keep_all:
        return vals
    out = vals[graph.outputs[0]]
    return np.asarray(out, np.float32)
