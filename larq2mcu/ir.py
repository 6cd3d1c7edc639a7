"""The intermediate representation: a graph of frozen op dataclasses over named tensors.

Tensors are per-sample (no batch axis), NHWC. Two dtypes:
  * F32  — float32 values;
  * BITS — ±1 values packed per `bits.py`. `packing = (groups, channels)`: the tensor is `groups`
    runs of `channels` bits, each run starting a new 32-bit word. A (H, W, C) tensor has packing
    (H·W, C); a Flatten of it keeps that packing (a view) while its shape becomes (H·W·C,).

Ops list their input tensor names and one output. Arrays inside ops are never mutated; passes
build new ops with `dataclasses.replace`. Weight conventions (logical, before packing):
  * binary conv kernels are int8 ±1 in HWIO (Keras layout); binary dense kernels int8 ±1 (in, out);
  * float kernels are float32 HWIO / (in, out).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from . import bits as _bits

F32 = "f32"
BITS = "bits"
U8 = "u8"      # raw unsigned bytes (a graph input under input_dtype="uint8"; frontend/integer_input.py)
I8 = "i8"      # raw signed bytes (input_dtype="int8")


@dataclass(frozen=True)
class Origin:
    """What Keras computes for this tensor: `transform` of the output of Keras layer `layer`.

    transform is "identity" (same values) or "sign" (the bits of sign(output), sign(0)=+1).
    Verification compares tensors that have an origin against Keras' intermediate outputs.
    """
    layer: str
    transform: str = "identity"


@dataclass(frozen=True)
class Tensor:
    """A named per-sample tensor: `shape` (no batch axis, NHWC), `dtype` F32 or BITS, `packing`
    (groups, channels) for BITS (None for F32), and the Keras `origin` verification compares it to."""
    name: str
    shape: tuple
    dtype: str
    packing: Optional[tuple] = None
    origin: Optional[Origin] = None

    @property
    def numel(self) -> int:
        """Number of logical elements: Π shape (1 for a scalar shape ())."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        """Bytes of storage: 4 per float, 4 per packed word."""
        if self.dtype == F32:
            return 4 * self.numel
        if self.dtype in (U8, I8):
            return self.numel
        groups, ch = self.packing
        return 4 * groups * _bits.words(ch)


def default_packing(shape: tuple) -> tuple:
    """Packing of a freshly produced bits tensor: channels = last axis."""
    if len(shape) == 0:
        return (1, 1)
    return (int(np.prod(shape[:-1], dtype=np.int64)), int(shape[-1]))


@dataclass(frozen=True, eq=False)
class Op:
    """Base of every op: its `name`, input tensor names, one output tensor name, and the Keras
    `layer` it came from. Subclasses are frozen; passes derive new ops with `dataclasses.replace`."""
    name: str
    inputs: tuple
    output: str
    layer: str = ""          # Keras layer this op came from (reporting, error messages)


@dataclass(frozen=True, eq=False)
class Quantize(Op):
    """F32 → BITS: bit = (x < 0) (sign with sign(0) = +1)."""


@dataclass(frozen=True, eq=False)
class Dequantize(Op):
    """BITS → F32: −1.0 / +1.0."""


@dataclass(frozen=True, eq=False)
class Threshold:
    """Per output channel: bit = (acc < tau). acc is the integer dot product (bias excluded)."""
    tau: np.ndarray            # int32 [C]


@dataclass(frozen=True, eq=False)
class FloatThreshold:
    """Per output channel, on a float accumulator x: mode 0: bit = x < tau; 1: bit = −x < tau;
    2: bit = 0; 3: bit = 1 (see frontend/float_threshold.py)."""
    tau: np.ndarray            # float32 [C]
    mode: np.ndarray           # int8 [C]


@dataclass(frozen=True, eq=False)
class FoldedBatchNorm:
    """A BatchNorm computed in a dot's float epilogue (passes/fuse_batchnorm.py): per output channel
    y = (x − mean)·scale + offset in float32, x the dot's F32 output (sum + bias) — the operations
    and order of the BatchNorm op it replaces, so the values are the same bit for bit."""
    mean: np.ndarray           # float32 [C]
    scale: np.ndarray          # float32 [C]
    offset: np.ndarray         # float32 [C]


@dataclass(frozen=True, eq=False)
class BinaryConv2D(Op):
    """BITS (H, W, Cin) → F32 acc(+bias) or, with `threshold`, BITS.

    acc = Σ over taps inside the image of Σ_c a·w, plus, when pad_one, Σ over taps outside of
    Σ_c (+1)·w (Larq pad_values=1.0); with pad_values=0.0 outside taps contribute 0.
    """
    weights: np.ndarray = None          # int8 ±1, HWIO
    strides: tuple = (1, 1)
    pads: tuple = (0, 0, 0, 0)          # top, bottom, left, right
    pad_one: bool = False
    bias: Optional[np.ndarray] = None   # float32 [Cout], added in float32 after the dot
    threshold: Optional[Threshold] = None
    scale: Optional[np.ndarray] = None  # float32 [Cout] > 0: F32 out = float32(acc)·scale + bias
    bn: Optional[FoldedBatchNorm] = None   # F32 output only, unscaled: then the BatchNorm


@dataclass(frozen=True, eq=False)
class BinaryDense(Op):
    """BITS (N,) → F32 acc(+bias) or, with `threshold`, BITS (units,)."""
    weights: np.ndarray = None          # int8 ±1, (in, out)
    bias: Optional[np.ndarray] = None
    threshold: Optional[Threshold] = None
    scale: Optional[np.ndarray] = None  # float32 [out] > 0: F32 out = float32(acc)·scale + bias
    bn: Optional[FoldedBatchNorm] = None   # F32 output only, unscaled: then the BatchNorm


@dataclass(frozen=True, eq=False)
class Conv2D(Op):
    """F32 conv: out = Σ x·k + bias; outside taps read `pad_value` (0.0 = Keras 'same')."""
    kernel: np.ndarray = None           # float32 HWIO
    strides: tuple = (1, 1)
    pads: tuple = (0, 0, 0, 0)
    pad_value: float = 0.0
    bias: Optional[np.ndarray] = None
    threshold: Optional[FloatThreshold] = None    # set: output BITS of the thresholded sum
    bn: Optional[FoldedBatchNorm] = None          # F32 output only: then the BatchNorm


@dataclass(frozen=True, eq=False)
class Dense(Op):
    """F32 (in,) → (units,): out = x·kernel + bias; with `threshold`, BITS of the thresholded sum."""
    kernel: np.ndarray = None           # float32 (in, out)
    bias: Optional[np.ndarray] = None
    threshold: Optional[FloatThreshold] = None
    bn: Optional[FoldedBatchNorm] = None          # F32 output only: then the BatchNorm


@dataclass(frozen=True, eq=False)
class BitDense(Dense):
    """BITS (in,) → F32 / BITS: the Dense of the ±1.0 floats its input bits stand for (a float
    Dense on sign(x); passes/fuse_dequantize_dense.py): out = Σ ±kernel + bias, summed in input order."""


@dataclass(frozen=True, eq=False)
class BatchNorm(Op):
    """y = (x − mean)·scale + offset per channel (last axis), scale = γ/√(σ²+ε), offset = β.

    `probe` (set by the frontend when the input is a binary dot's output) holds the model's own
    float32 BN outputs for every feasible accumulator: probe[i, c] = BN(float32(probe_lo + i) +
    bias_c) as Keras computes it; passes/fold_threshold.py reads thresholds off it.
    `float_threshold` is the same information for a float input (found by bisection).
    """
    mean: np.ndarray = None
    scale: np.ndarray = None
    offset: np.ndarray = None
    probe: Optional[np.ndarray] = None
    probe_lo: int = 0
    float_threshold: Optional[FloatThreshold] = None   # set when the input is a float conv/dense
    parts: Optional[tuple] = None       # input is a float Concat: a BnPart | None per member (nested Concats expanded)


@dataclass(frozen=True, eq=False)
class BnPart:
    """A BatchNorm's `probe`/`probe_lo`/`float_threshold` restricted to one Concat input's channels
    (frontend/concat_bn.py; used by passes/split_concat_bn.py)."""
    probe: Optional[np.ndarray] = None
    probe_lo: int = 0
    float_threshold: Optional[FloatThreshold] = None


@dataclass(frozen=True, eq=False)
class Pool2D(Op):
    """Geometry shared by the pooling ops; padded taps are ignored (Keras semantics)."""
    pool: tuple = (2, 2)
    strides: tuple = (2, 2)
    pads: tuple = (0, 0, 0, 0)


@dataclass(frozen=True, eq=False)
class MaxPool2D(Pool2D):
    """F32 max pooling."""


@dataclass(frozen=True, eq=False)
class AvgPool2D(Pool2D):
    """F32 average over the taps inside the image."""


@dataclass(frozen=True, eq=False)
class BinaryMaxPool2D(Pool2D):
    """BITS → BITS: per channel AND of the window's bits (max of ±1), or OR (min) where
    `or_mask[c]` — used when a max pool before a decreasing BN was moved after the threshold."""
    or_mask: Optional[np.ndarray] = None   # bool [C]


@dataclass(frozen=True, eq=False)
class BinaryAvgPool2D(Pool2D):
    """BITS → BITS: sign(mean of the window's ±1 values), 0 → +1: bit = (2·m > n),
    m = number of −1 among the n taps inside the image (docs/MATH.md §4)."""


@dataclass(frozen=True, eq=False)
class SumPoolSign(Pool2D):
    """F32 → BITS: the sign of an average pool of x + bias, for x exact integers (a binary conv's
    accumulators, its bias left out; passes/fuse_conv_avgpool_sign.py, docs/MATH.md §12):
    bit = (S < tau[n − 1, c]) with S = Σ x over the n taps inside the image, tau = ⌈−n·bias_c⌉."""
    tau: np.ndarray = None        # int32 [k_h·k_w, C]


@dataclass(frozen=True, eq=False)
class GlobalAvgPool(Op):
    """F32 (H, W, C) → (C,) or (1, 1, C) mean over H·W."""


@dataclass(frozen=True, eq=False)
class Reshape(Op):
    """Same elements in the same (row-major) order, new shape. For BITS the codegen aliases
    (view) when the packing is unchanged and repacks otherwise."""


@dataclass(frozen=True, eq=False)
class Activation(Op):
    """F32 → F32 element-wise `fn` (linear | relu | sigmoid | tanh), or softmax over the last axis."""
    fn: str = "linear"                  # linear | relu | sigmoid | tanh | softmax


@dataclass(frozen=True, eq=False)
class Add(Op):
    """Element-wise sum of ≥ 2 F32 tensors of one shape."""


@dataclass(frozen=True, eq=False)
class Concat(Op):
    """Concatenation along the last axis (F32, or BITS with default packing)."""


@dataclass(frozen=True, eq=False)
class Rescale(Op):
    """F32 → F32, Keras `Rescaling`: y = x·scale + offset per channel (last axis), one float32
    multiply then one float32 add, as Keras computes it (ops/affine.py)."""
    scale: np.ndarray = None            # float32 [C] (a scalar broadcast)
    offset: np.ndarray = None           # float32 [C]


@dataclass(frozen=True, eq=False)
class Normalize(Op):
    """F32 → F32, Keras `Normalization` (axis −1): y = (x − mean) / denom per channel, one float32
    subtraction then one float32 division; denom = max(√variance, ε) as Keras computes it."""
    mean: np.ndarray = None             # float32 [C]
    denom: np.ndarray = None            # float32 [C]


@dataclass(frozen=True, eq=False)
class IntConv2D(Op):
    """U8/I8 (H, W, Cin) raw bytes → BITS: a 1-bit-weight conv accumulated exactly in integers,
    acc = Σ over taps inside the image of Σ_c u·w (taps outside add nothing), bit = (acc <
    tau[cls_y[oy], cls_x[ox], oc]). The border class (cls_y, cls_x) carries the rescale's offset
    over the taps inside (frontend/integer_input.py, docs/MATH.md §8)."""
    weights: np.ndarray = None          # int8 ±1, HWIO (per-channel flips already applied)
    strides: tuple = (1, 1)
    pads: tuple = (0, 0, 0, 0)
    cls_y: np.ndarray = None            # uint8 [OH]: border class of each output row
    cls_x: np.ndarray = None            # uint8 [OW]
    tau: np.ndarray = None              # int32 [NY, NX, Cout]
    exact: bool = False                 # bit-identical to Keras for every input (docs/MATH.md §8)


@dataclass(frozen=True, eq=False)
class IntDense(Op):
    """U8/I8 (N,) raw bytes → BITS (units,): acc = Σ u·w exactly in integers, bit = (acc < tau)."""
    weights: np.ndarray = None          # int8 ±1, (in, out)
    tau: np.ndarray = None              # int32 [units]
    exact: bool = False


@dataclass(frozen=True, eq=False)
class BinaryGroupConv2D(Op):
    """BITS (H, W, Cin) → F32 acc(+bias) or, with `threshold`, BITS: a grouped, dilated binary conv
    (depthwise: groups = Cin); a (W, Cin) tensor is the map (1, W, Cin) (1-D convs). Output
    channel o reads the input channels of its group
    g = o // (Cout/groups), i.e. the contiguous slice [g·Cin/groups, (g+1)·Cin/groups); tap
    (ky, kx) reads input row oy·s_h − pad_top + ky·dilation_h (columns alike). Padding as
    BinaryConv2D (pad_one: outside taps read +1)."""
    weights: np.ndarray = None          # int8 ±1, (kh, kw, Cin/groups, Cout) — Keras grouped HWIO
    strides: tuple = (1, 1)
    pads: tuple = (0, 0, 0, 0)
    dilation: tuple = (1, 1)
    groups: int = 1
    pad_one: bool = False
    bias: Optional[np.ndarray] = None
    threshold: Optional[Threshold] = None


@dataclass(frozen=True, eq=False)
class GroupConv2D(Op):
    """F32 grouped, dilated conv (depthwise: groups = Cin), channel slices as BinaryGroupConv2D:
    out = Σ x·k + bias; outside taps read `pad_value`."""
    kernel: np.ndarray = None           # float32 (kh, kw, Cin/groups, Cout)
    strides: tuple = (1, 1)
    pads: tuple = (0, 0, 0, 0)
    dilation: tuple = (1, 1)
    groups: int = 1
    pad_value: float = 0.0
    bias: Optional[np.ndarray] = None
    threshold: Optional[FloatThreshold] = None    # set: output BITS of the thresholded sum


@dataclass(frozen=True, eq=False)
class StepQuantize(Op):
    """F32 → F32 element-wise step function (a multi-level quantizer, frontend/step_fn.py):
    out = levels[#{j: breakpoints[j] ≤ x}]; breakpoints float32 ascending, len(levels) = n + 1."""
    breakpoints: np.ndarray = None
    levels: np.ndarray = None


@dataclass(frozen=True, eq=False)
class Clip(Op):
    """F32 → F32 element-wise clip to [lo, hi] as TensorFlow computes it (step_fn.clip_eval):
    with `flush` a subnormal x is first ±0.0; strict: x < lo → lo, x > hi → hi, else x ≤ lo → lo,
    x ≥ hi → hi (which decides what ±0.0 become)."""
    lo: float = 0.0
    hi: float = 1.0
    strict: bool = True
    flush: bool = False


@dataclass(frozen=True, eq=False)
class Pad(Op):
    """F32 (H, W, C) → (H + top + bottom, W + left + right, C): the input surrounded by `value`
    (ZeroPadding2D, tf.pad CONSTANT). Bit maps are never padded by an op: a sign after a
    non-negative pad becomes a binary conv's pad_one (passes/fold_pad.py)."""
    pads: tuple = (0, 0, 0, 0)          # top, bottom, left, right
    value: float = 0.0


@dataclass(frozen=True, eq=False)
class ChannelWindow(Op):
    """F32 (..., Cin) → (..., Cout): a window of the last axis, out[p, i] = in[p, begin + i] where
    0 ≤ begin + i < Cin, else `value` — a channel slice (tf.split, x[..., a:b]; begin ≥ 0) or a
    channel pad (tf.pad on the last axis; begin = −front). Values are copied, never rounded."""
    begin: int = 0
    value: float = 0.0


@dataclass(frozen=True, eq=False)
class Relu(Op):
    """F32 element-wise, the tf-keras backend.relu(x, alpha, max_value, threshold) formula step by
    step in float32 (ops/glue.py `keras_relu`): ReLU(max_value, threshold, negative_slope),
    LeakyReLU, relu6, leaky_relu, tf.nn.relu6/leaky_relu. `theta` is Keras' `threshold` (named
    apart from the binary ops' output `threshold`)."""
    alpha: float = 0.0
    theta: float = 0.0
    max_value: Optional[float] = None


@dataclass(frozen=True, eq=False)
class PRelu(Op):
    """F32 element-wise Keras PReLU: y = relu(x) + (−α)·relu(−x), α broadcast over the tensor:
    `alpha` holds 1, C (last axis) or numel float32 values (flat index i reads alpha[i mod len])."""
    alpha: np.ndarray = None


@dataclass(frozen=True, eq=False)
class Arith(Op):
    """F32 y = a `fn` b, fn ∈ add | sub | mul | div | max | min, one float32 rounding; per-sample
    shapes broadcast as numpy does (shorter shapes padded with 1 on the left). With `const` (a
    float32 scalar) the op has one input x and computes x fn c, or c fn x when `const_first`."""
    fn: str = "add"
    const: Optional[float] = None
    const_first: bool = False


@dataclass(frozen=True)
class Graph:
    """The whole model: tensors by name, ops in a topological (execution) order, and the graph's
    input and output tensor names. Immutable: `replace` and `prune` return new graphs.
    `outputs` lists the model's outputs in Keras order (a tensor may appear twice: a model that
    returns the same tensor twice); `output_names` the Keras output names, one per output (empty
    for graphs built by hand: `output_name` then says "output" / "output<i>")."""
    tensors: dict = field(default_factory=dict)   # name → Tensor (treated as read-only)
    ops: tuple = ()
    inputs: tuple = ()
    outputs: tuple = ()
    name: str = "model"
    output_names: tuple = ()

    def output_name(self, i: int) -> str:
        """The Keras name of output i (model.output_names), or "output"/"output<i>" without one."""
        if i < len(self.output_names):
            return self.output_names[i]
        return "output" if len(self.outputs) == 1 else f"output{i}"

    def tensor(self, name: str) -> Tensor:
        """The tensor called `name`; KeyError if there is none."""
        return self.tensors[name]

    def producer(self, tensor: str) -> Optional[Op]:
        """The op whose output is `tensor`, or None (a graph input or an unknown name)."""
        for op in self.ops:
            if op.output == tensor:
                return op
        return None

    def consumers(self, tensor: str) -> list:
        """The ops that read `tensor`, in op order (each op once, however often it reads it)."""
        return [op for op in self.ops if tensor in op.inputs]

    def replace(self, **kw) -> "Graph":
        """A copy with the given fields replaced (`dataclasses.replace`); no pruning or checks."""
        return dataclasses.replace(self, **kw)

    def prune(self) -> "Graph":
        """Drop ops (and tensors) whose outputs reach no graph output."""
        live = set(self.outputs)
        keep = []
        for op in reversed(self.ops):
            if op.output in live:
                keep.append(op)
                live.update(op.inputs)
        keep.reverse()
        used = set(self.inputs) | set(self.outputs)
        for op in keep:
            used.update(op.inputs)
            used.add(op.output)
        return self.replace(ops=tuple(keep),
                            tensors={k: v for k, v in self.tensors.items() if k in used})


def is_view(g: Graph, op: Op) -> bool:
    """A Reshape whose output can alias its input buffer: F32, or BITS with unchanged packing."""
    if not isinstance(op, Reshape):
        return False
    src, dst = g.tensors[op.inputs[0]], g.tensors[op.output]
    return src.dtype == F32 or src.packing == dst.packing


def conv_out_size(n: int, k: int, s: int, pad_lo: int, pad_hi: int) -> int:
    """Output length of a window k with stride s over n padded by pad_lo + pad_hi:
    ⌊(n + pad_lo + pad_hi − k) / s⌋ + 1."""
    return (n + pad_lo + pad_hi - k) // s + 1


def same_pads(n: int, k: int, s: int) -> tuple:
    """TensorFlow 'same' padding: total = max((ceil(n/s) − 1)·s + k − n, 0), top gets ⌊total/2⌋."""
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2
