"""The search space: a BNN family whose genome is its channel counts (Shen et al., "Searching for
Accurate Binary Neural Architectures": the number of channels per layer is the gene).

Family (the MNIST/Fashion-MNIST example's architecture, `zoo.mnist_bnn`, generalised):

    conv 3×3 valid (float input, binary weights; float weights if `float_stem`) → BN → MaxPool 2
    → (depth − 1) × [sign → binary conv 3×3 same, pad 1.0 → BN → MaxPool 2 while H, W ≥ 4]
    → Flatten → n_dense × [sign → binary Dense → BN]
    → head: sign → binary Dense → BN → softmax, or a float Dense softmax if `float_head`

Widths are multiples of `unit` (32 by default: the bit-sliced engine counts 32 filters at once
and packs 32 channels per word, so a width of 32·k uses whole words and whole filter groups).
`depth` and `n_dense` pick how many of the genes are used; all genes are always suggested, so
NSGA-II's crossover sees fixed-length genomes (an unused gene is simply not expressed).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..errors import InputError


def parse_range(text: str, what: str) -> tuple[int, int]:
    """Parse "LO-HI" (or "N" for N-N) into (LO, HI); InputError naming `what` otherwise."""
    try:
        lo, _, hi = text.partition("-")
        return int(lo), int(hi or lo)
    except ValueError:
        raise InputError(f"{what}: expected LO-HI (e.g. 1-4), got {text!r}") from None


@dataclass(frozen=True)
class Genome:
    """One candidate: `convs[i]` channels of conv i, `dense[j]` units of hidden Dense j."""

    convs: tuple[int, ...]
    dense: tuple[int, ...] = ()
    float_stem: bool = False
    float_head: bool = False

    def label(self) -> str:
        """Short genome name `c<convs>[_d<dense>][_f<S><H>]`, e.g. c16-32_d64_fS."""
        edges = "".join(["S" if self.float_stem else "", "H" if self.float_head else ""])
        return "c" + "-".join(map(str, self.convs)) + ("_d" + "-".join(map(str, self.dense)) if self.dense else "") \
            + (f"_f{edges}" if edges else "")

    def as_dict(self) -> dict:
        """The genome's fields as a dict."""
        return asdict(self)


@dataclass(frozen=True)
class Space:
    """Bounds of the genome. A width gene is k ∈ [k_min, k_max], width = unit·k.

    `float_edges` lists which edges may stay float ("stem", "head"); an edge not listed is
    always binary."""

    conv_k: tuple[int, int] = (1, 4)
    dense_k: tuple[int, int] = (1, 8)
    depth: tuple[int, int] = (1, 3)
    n_dense: tuple[int, int] = (0, 1)
    unit: int = 32
    float_edges: tuple[str, ...] = ("head",)
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        for nm in ("conv_k", "dense_k", "depth", "n_dense"):
            lo, hi = getattr(self, nm)
            if not (0 <= lo <= hi) or (nm != "n_dense" and lo < 1):
                raise InputError(f"search space: {nm}={lo, hi} must be 0 < lo <= hi (n_dense may start at 0)")
        if self.unit < 1:
            raise InputError(f"search space: unit={self.unit} must be positive (32 suits the sliced engine)")
        bad = set(self.float_edges) - {"stem", "head"}
        if bad:
            raise InputError(f"search space: float_edges {sorted(bad)} unknown; supported: 'stem', 'head'")

    def suggest(self, trial) -> Genome:
        """Genome from an Optuna trial: params depth, n_dense, conv{i}_k, dense{j}_k, float_*."""
        depth = trial.suggest_int("depth", *self.depth)
        n_dense = trial.suggest_int("n_dense", *self.n_dense)
        convs = [self.unit * trial.suggest_int(f"conv{i}_k", *self.conv_k) for i in range(self.depth[1])]
        dense = [self.unit * trial.suggest_int(f"dense{j}_k", *self.dense_k) for j in range(self.n_dense[1])]
        fs = "stem" in self.float_edges and trial.suggest_categorical("float_stem", [False, True])
        fh = "head" in self.float_edges and trial.suggest_categorical("float_head", [False, True])
        return Genome(tuple(convs[:depth]), tuple(dense[:n_dense]), bool(fs), bool(fh))

    def params_of(self, g: Genome) -> dict:
        """Optuna params that express `g` (for `study.enqueue_trial`): unused genes at k_min."""
        p = {"depth": len(g.convs), "n_dense": len(g.dense)}
        for i in range(self.depth[1]):
            p[f"conv{i}_k"] = g.convs[i] // self.unit if i < len(g.convs) else self.conv_k[0]
        for j in range(self.n_dense[1]):
            p[f"dense{j}_k"] = g.dense[j] // self.unit if j < len(g.dense) else self.dense_k[0]
        if "stem" in self.float_edges:
            p["float_stem"] = g.float_stem
        if "head" in self.float_edges:
            p["float_head"] = g.float_head
        return p


def _binary_kwargs(lq, clip: float = 1.0) -> dict:
    """Sign input and kernel quantizers (input clip `clip`), weight clipping, no bias."""
    q = lq.quantizers.SteSign(clip_value=clip) if clip != 1.0 else "ste_sign"
    return dict(input_quantizer=q, kernel_quantizer="ste_sign", kernel_constraint="weight_clip", use_bias=False)


def build_bnn(g: Genome, input_shape, num_classes: int):
    """The family above as an uncompiled tf_keras Sequential model (see the module docstring)."""
    from .._tf import tf_modules
    tf, keras, lq = tf_modules()
    L = keras.layers
    _bin_kw = _binary_kwargs
    wq = dict(kernel_quantizer="ste_sign", kernel_constraint="weight_clip", use_bias=False)
    layers = [keras.Input(tuple(input_shape))]
    layers.append(L.Conv2D(g.convs[0], 3, use_bias=False) if g.float_stem
                  else lq.layers.QuantConv2D(g.convs[0], 3, **wq))
    h = int(input_shape[0]) - 2
    layers.append(L.BatchNormalization(scale=False))
    if h >= 4:
        layers.append(L.MaxPool2D(2))
        h //= 2
    for c in g.convs[1:]:
        layers += [lq.layers.QuantConv2D(c, 3, padding="same", pad_values=1.0, **_bin_kw(lq, 0.5)),
                   L.BatchNormalization(scale=False)]
        if h >= 4:
            layers.append(L.MaxPool2D(2))
            h //= 2
    layers.append(L.Flatten())
    for d in g.dense:
        layers += [lq.layers.QuantDense(d, **_bin_kw(lq)), L.BatchNormalization(scale=False)]
    if g.float_head:
        layers.append(L.Dense(num_classes, activation="softmax"))
    else:
        layers += [lq.layers.QuantDense(num_classes, **_bin_kw(lq)), L.BatchNormalization(scale=False),
                   L.Activation("softmax")]
    return keras.Sequential(layers, name="bnn_" + g.label().replace("-", "_"))
