"""`python -m bench.layerchoice`: per-layer engine choice of the sliced variants (issue #14, "no
layer slower than the best variant available for it").

Two jobs, both from exact instruction counts under QEMU, each layer's count being the calls its
lowered step made (bench/opkinds.attribute):

  * `--fit`: a set of calibration layers (chains of bits-out binary convs and dense layers, and
    single float-out ones) on each sliced variant's board, exported with the bit-sliced engine
    forced and the plain XOR+popcount engine forced; a least-squares fit of
    instructions ≈ a·BMAC + b·outputs + c·pixels per (engine, kind, out) is written into
    larq2mcu/ops/engine_choice.py (COSTS), the cost model the exporter chooses by;
  * default: the bench models on those boards with the engine forced each way and chosen per layer
    ("auto"), and the per-layer table — chosen vs the best of sliced, plain, small, nib and `_builtin` — as
    JSON (bench/layerchoice.json) and markdown (bench/LAYERCHOICE.md), which `make bench` puts
    into RESULTS.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import tempfile
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from larq2mcu.layout import weights as wt  # noqa: E402
from larq2mcu.ops import engine_choice  # noqa: E402

from . import opkinds  # noqa: E402
from .__main__ import MODELS, run_variant  # noqa: E402

HERE = Path(__file__).resolve().parent
COSTS_FILE = HERE.parent / "larq2mcu" / "ops" / "engine_choice.py"
# one board per sliced variant: the cost model is keyed by variant (same instruction set; `hs`
# serves Cortex-M0 and rv32imc alike and is fitted on rv32imc: the calibration layers do not fit
# the 16 KiB of RAM of qemu_m0)
BOARD_OF = {"usad8": "qemu_m4", "zbb": "qemu_rv32_zbb", "clz": "qemu_lx106", "hs": "qemu_rv32"}
BINARY = ("BinaryConv2D", "BinaryDense")


def _calibration_models():
    """[(name, keras model)]: chains of bits-out layers (every layer a data point) and single
    float-out layers, at the sizes the sliced engine accepts (whole blocks of 32 filters)."""
    from larq2mcu._tf import tf_modules
    from larq2mcu.dev import zoo
    _, keras, lq = tf_modules()
    L, Q = keras.layers, lq.layers
    kw = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip",
              use_bias=False)
    conv = lambda f, k=3: Q.QuantConv2D(f, k, padding="same", pad_values=1.0, **kw)  # noqa: E731
    keras.utils.set_random_seed(0)
    out = []
    x = keras.Input((12, 12, 32))
    y = x
    for f in (64, 32, 128, 32, 96, 64):
        y = L.BatchNormalization()(conv(f)(y))
    out.append(("conv_bits", keras.Model(x, lq.quantizers.SteSign()(y))))
    x = keras.Input((256,))
    y = x
    for n in (512, 128, 1024, 256, 64, 384):
        y = L.BatchNormalization()(Q.QuantDense(n, **kw)(y))
    out.append(("dense_bits", keras.Model(x, lq.quantizers.SteSign()(y))))
    # float outputs, without and with a BatchNorm after (fused into the engine's float epilogue)
    bn = (("", lambda y: y), ("_bn", lambda y: L.BatchNormalization()(y)))
    for h, c, f in ((12, 32, 32), (10, 64, 64), (8, 128, 32), (14, 32, 128), (6, 256, 64), (7, 64, 256),
                    (4, 128, 64)):
        for tag, after in bn:
            x = keras.Input((h, h, c))
            out.append((f"conv_float{tag}_{h}x{c}x{f}", keras.Model(x, after(conv(f)(x)))))
    for n, m in ((256, 32), (512, 128), (1024, 64), (2048, 32), (384, 256), (1024, 512), (512, 256),
                 (2048, 128), (4096, 128), (4096, 32)):
        for tag, after in bn:
            x = keras.Input((n,))
            out.append((f"dense_float{tag}_{n}x{m}", keras.Model(x, after(Q.QuantDense(m, **kw)(x)))))
    return [(n, zoo.randomize_bn(m, seed=1)) for n, m in out]


def _layer_counts(exp, board, x, work: Path) -> list:
    """[{layer, kind, engine, bits_out, window_bits, pixels, filters, bmac, instructions}] for every
    binary conv/dense of a counted inference of `exp` on `board`."""
    r = run_variant(exp, board, x.reshape(1, -1), work)
    if "calls" not in r:
        raise RuntimeError(f"{exp.name} on {board.name}: {r.get('skipped')}")
    steps = opkinds.step_info(exp.lowered)
    per = {}
    for f, n, i in opkinds.attribute(r["calls"], steps):
        if i is not None:
            per[i] = per.get(i, 0) + n
    g, rows = exp.lowered.graph, []
    for i, st in enumerate(exp.lowered.steps):
        op = st.op
        if type(op).__name__ not in BINARY:
            continue
        if type(op).__name__ == "BinaryConv2D":      # words per output, as ops/dot.py lays them out
            words = wt.conv_layout(op.weights)[1].shape[1]
        else:
            words = wt.pack_dense(op.weights, g.tensors[op.inputs[0]].packing).size // op.weights.shape[-1]
        kind, wbits, pixels, filters = engine_choice.layer_dims(g, op, words)
        fn = st.calls[0].fn if st.calls else ""
        engine = ("sliced" if "_sliced_" in fn else "small" if "_small_" in fn else "nib" if "_nib_" in fn
                  else "plain")
        rows.append({"layer": op.layer, "kind": kind, "engine": engine,
                     "bits_out": op.threshold is not None, "out": engine_choice.out_kind(op),
                     "window_bits": wbits, "pixels": pixels, "filters": filters, "bmac": wbits * pixels * filters,
                     "instructions": per.get(i, 0), "fn": re.sub(r"^net_op\d+_", "", fn)})
    return rows


def _export(model, d: Path, variant: str, engines: str):
    import larq2mcu
    from larq2mcu.variants import get_variant
    v = dataclasses.replace(get_variant(variant), engines=engines)
    return larq2mcu.export(model, d, name="net", kernel_variant=v, force=True)


def fit(tmp: Path, variants=tuple(BOARD_OF)) -> dict:
    """{variant: {(engine, kind, out): (a, b, c)}} from the calibration layers (module docstring)."""
    from larq2mcu.board import profiles as boards
    res: dict = {}
    for v in variants:
        board = boards.get_board(BOARD_OF[v])
        pts: dict = {}
        for name, m in _calibration_models():
            x = np.random.default_rng(0).uniform(-1, 1, (1, *m.input_shape[1:])).astype(np.float32)
            for eng in ("sliced", "plain"):
                e = _export(m, tmp / v / name / eng, v, eng)
                for r in _layer_counts(e, board, x, tmp / "w" / v / name / eng):
                    key = (r["engine"], r["kind"], r["out"])
                    pts.setdefault(key, []).append(r)
            print(v, name, flush=True)
        res[v] = {}
        for key, rows in pts.items():
            if any(r["instructions"] <= 0 for r in rows):
                raise RuntimeError(f"{v} {key}: a layer's calls were not attributed (bench/opkinds.attribute)")
            a = np.array([[r["bmac"], r["pixels"] * r["filters"], r["pixels"]] for r in rows], np.float64)
            y = np.array([r["instructions"] for r in rows], np.float64)
            coef = _nnls(a, y)
            worst = float(np.max(np.abs(a @ coef - y) / y))
            res[v][key] = tuple(float(f"{c:.6g}") for c in coef)
            print(f"  {v} {key}: {res[v][key]} over {len(rows)} layers, worst relative error {worst:.1%}")
    return res


def _nnls(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least squares with coefficients ≥ 0 (a cost has no negative part), exactly: the best of the
    unconstrained fits on every subset of the columns whose coefficients all come out ≥ 0 (three
    columns: eight subsets). Relative residuals, so that large layers do not drown small ones."""
    best, best_r = np.zeros(a.shape[1]), np.inf
    aw, yw = a / y[:, None], np.ones_like(y)
    for mask in range(1, 1 << a.shape[1]):
        cols = [k for k in range(a.shape[1]) if mask >> k & 1]
        c, *_ = np.linalg.lstsq(aw[:, cols], yw, rcond=None)
        if (c < 0).any():
            continue
        full = np.zeros(a.shape[1])
        full[cols] = c
        r = float(np.sum((aw @ full - yw) ** 2))
        if r < best_r:
            best, best_r = full, r
    return best


def write_costs(costs: dict) -> None:
    """Replace the COSTS table of larq2mcu/ops/engine_choice.py with `costs`."""
    lines = ["COSTS: dict = {"]
    for v in sorted(costs):
        lines.append(f"    {v!r}: {{")
        for k in sorted(costs[v]):
            lines.append(f"        {k!r}: {costs[v][k]!r},")
        lines.append("    },")
    lines.append("}")
    src = COSTS_FILE.read_text()
    src = re.sub(r"^COSTS: dict = \{(\}|.*?^\})$", lambda _: "\n".join(lines), src, count=1, flags=re.S | re.M)
    COSTS_FILE.write_text(src)


def per_layer(tmp: Path, mnames=tuple(MODELS), variants=tuple(BOARD_OF)) -> dict:
    """{model: {board: [row per binary layer: sliced, plain, builtin, chosen (auto), best]}}."""
    from larq2mcu._tf import tf_modules
    from larq2mcu.board import profiles as boards
    from larq2mcu.dev import zoo
    _, keras, _ = tf_modules()
    res: dict = {}
    for mname in mnames:
        keras.utils.set_random_seed(0)
        model = zoo.randomize_bn(getattr(zoo, mname)(input_shape=MODELS[mname]), seed=1)
        x = np.random.default_rng(0).uniform(-1, 1, (1, *MODELS[mname])).astype(np.float32)
        for v in variants:
            board = boards.get_board(BOARD_OF[v])
            got = {}
            for eng in ("auto", "sliced", "plain", "small", "nib"):
                got[eng] = _layer_counts(_export(model, tmp / mname / v / eng, v, eng), board, x,
                                         tmp / "w" / mname / v / eng)
            got["builtin"] = _layer_counts(_export(model, tmp / mname / v / "builtin", "builtin", "auto"), board, x,
                                           tmp / "w" / mname / v / "builtin")
            rows = []
            for k, r in enumerate(got["auto"]):
                cand = {e: got[e][k]["instructions"] for e in ("sliced", "plain", "small", "nib", "builtin")}
                for e in ("sliced", "small", "nib"):
                    if got[e][k]["engine"] != e:     # that engine does not take this layer
                        cand[e] = None
                avail = {e: n for e, n in cand.items() if n is not None}
                best = min(avail, key=lambda e: (avail[e], e != r["engine"]))   # a tie goes to the chosen one
                rows.append({"layer": r["layer"], "kind": r["kind"], "bits_out": r["bits_out"], "out": r["out"],
                             "bmac": r["bmac"], "chosen_engine": r["engine"], "chosen": r["instructions"],
                             **cand, "best": best, "ratio": r["instructions"] / max(1, avail[best])})
            res.setdefault(mname, {})[board.name] = {"variant": v, "layers": rows}
            print(mname, board.name, [(r["layer"], r["chosen_engine"], round(r["ratio"], 3)) for r in rows],
                  flush=True)
    return res


def markdown(res: dict) -> list:
    """The per-layer tables: chosen vs the best available engine, instructions per layer."""
    md = ["Each binary layer of the bench models on each sliced variant's board, counted with the bit-sliced "
          "engine forced, the plain XOR+popcount engine forced (the variant's popcount), `_builtin`, and as "
          "exported (*chosen*: larq2mcu/ops/engine_choice.py's cost model, fitted by "
          "`python -m bench.layerchoice --fit`, and the small-window table engine (l2m_small_impl.h) first for "
          "float outputs of at most 9 window bits), and with that engine forced (*small*), and with the nibble-table "
          "engine forced (*nib*, l2m_nib_impl.h; on Xtensa it runs the XOR+popcount engine); – where the sliced, "
          "small or nib engine does not take the layer. *ratio* = "
          "chosen / best (a tie counts for the chosen engine). `_builtin` is another popcount, not an engine the "
          "variant chooses from: it is shown so that no faster kernel goes unseen.", ""]
    worst = max((r["ratio"] for m in res.values() for b in m.values() for r in b["layers"]), default=1.0)
    md += [f"Worst layer: chosen / best = {worst:.3f}.", ""]
    for mname, per_board in res.items():
        for bname, b in per_board.items():
            md += [f"#### {mname} on {bname} (`{b['variant']}`)", "",
                   "| layer | kind | out | BMAC | sliced | plain | small | nib | `_builtin` | chosen | best | ratio |",
                   "|---|---|---|---:|---:|---:|---:|---:|---:|---|---|---:|"]
            for r in b["layers"]:
                opt = lambda e: '–' if r.get(e) is None else format(r[e], ',')  # noqa: E731
                md.append(f"| {r['layer']} | {r['kind']} | {r['out']} | {r['bmac']:,} | "
                          f"{opt('sliced')} | {r['plain']:,} | {opt('small')} | {opt('nib')} | "
                          f"{r['builtin']:,} | {r['chosen_engine']} | "
                          f"{r['best']} | {r['ratio']:.3f} |")
            md.append("")
    return md


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.layerchoice")
    ap.add_argument("--fit", action="store_true", help="fit the cost model and rewrite ops/engine_choice.py")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--variants", default=",".join(BOARD_OF))
    ap.add_argument("--out", default=str(HERE))
    a = ap.parse_args(argv)
    vs = tuple(a.variants.split(","))
    with tempfile.TemporaryDirectory(prefix="l2m-layerchoice-") as tmp:
        if a.fit:       # the variants not fitted now keep their costs
            from larq2mcu.ops.engine_choice import COSTS
            write_costs({**COSTS, **fit(Path(tmp), vs)})
            print(f"wrote {COSTS_FILE}")
            return 0
        res = per_layer(Path(tmp), tuple(a.models.split(",")), vs)
    out = Path(a.out)
    (out / "layerchoice.json").write_text(json.dumps(res, indent=1))
    (out / "LAYERCHOICE.md").write_text("\n".join(markdown(res)) + "\n")
    print(f"wrote {out / 'layerchoice.json'} and {out / 'LAYERCHOICE.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
