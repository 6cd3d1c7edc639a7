"""IR → IR passes, one per file, applied in this order (each preserves reference outputs; see
tests/test_passes.py)."""
from __future__ import annotations

from .. import ir
from .concat_packing import concat_packing
from .dedupe_quantize import dedupe_quantize
from .fold_binary_avgpool import fold_binary_avgpool
from .flatten_concat import flatten_concat
from .flatten_packing import flatten_packing
from .fold_pad import fold_pad
from .fold_threshold import fold_threshold
from .fuse_batchnorm import fuse_batchnorm
from .fuse_conv_avgpool_sign import fuse_conv_avgpool_sign
from .fuse_dequantize_dense import fuse_dequantize_dense
from .hoist_quantize import hoist_quantize
from .push_through_concat import push_through_concat
from .split_concat_bn import split_concat_bn

PIPELINE = (
    fold_pad,              # pad(v ≥ 0) → sign → binary conv  ⇒  the conv's +1 padding (pad_one)
    hoist_quantize,        # sign(reshape/maxpool(x)) → reshape/AND-pool(sign x); drop sign∘dequantize
    dedupe_quantize,       # pack each tensor once
    flatten_concat,        # Concat(Concat(a, b), c) → Concat(a, b, c) (float maps)
    split_concat_bn,       # sign(BN(Concat(xᵢ))) → Concat(sign(BNᵢ(xᵢ))): bits are concatenated
    push_through_concat,   # BN / MaxPool / ReLU (Concat(xᵢ)) → Concat(opᵢ(xᵢ)): no full-size float concat
    fold_threshold,        # dot → [maxpool] → [BN] → sign  ⇒  integer thresholds
    fuse_batchnorm,        # float dot → BN  ⇒  the BN in the dot's float epilogue (same float32 ops)
    fuse_conv_avgpool_sign,  # binary conv + bias → avgpool → sign  ⇒  integer window sums vs ⌈−n·b⌉
    fold_binary_avgpool,   # dequantize → avgpool → sign  ⇒  popcount majority
    fuse_dequantize_dense,  # dequantize → float dense  ⇒  the dense reads the bits (± each weight)
    concat_packing,        # bit maps entering a Concat get the (pixels, channels) packing
    flatten_packing,       # a flattened few-channel bit map is packed densely (1, N)
)


def run_pipeline(g: ir.Graph, passes=PIPELINE) -> ir.Graph:
    """Apply `passes` (IR → IR functions) to `g` in order and return the result."""
    for p in passes:
        g = p(g)
    return g
