"""Shared plumbing of the example scripts: arguments, (distributed) training, export + verify.

Every example does: parse `--epochs --out --distribute --batch-size --lr --seed`, build and
compile the model inside the strategy scope, train with a cosine-decayed Adam (optionally with
random shifts / flips done in tf.data, so the exported model stays augmentation-free), then
`finish()`: Keras test accuracy, `larq2mcu.export` (no force: an earlier export of ours is
replaced, a foreign folder is refused), host build, exact-agreement check on the held-out split,
the text report and the HTML report. `finish` returns the process exit code (1 on disagreement).
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import numpy as np

# Runnable as `python examples/x.py` from a checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from larq2mcu._tf import tf_modules  # noqa: E402

tf, keras, lq = tf_modules()

import larq2mcu  # noqa: E402
from larq2mcu.keras import RichProgress  # noqa: E402


def parse_args(description: str, epochs: int, out: str, lr: float = 3e-3, batch_size: int = 64,
               argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--epochs", type=int, default=epochs, help=f"training epochs (default {epochs})")
    p.add_argument("--out", default=out, help=f"export folder (default {out})")
    p.add_argument("--distribute", choices=("none", "mirrored"), default="none",
                   help="build+compile inside tf.distribute.MirroredStrategy (works on CPU)")
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--lr", type=float, default=lr, help="initial Adam learning rate (cosine decay)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shift", type=int, default=None,
                   help="random shift in pixels for augmentation (default: the example's own)")
    p.add_argument("--no-augment", action="store_true", help="train without random shifts or flips")
    return p.parse_args(argv)


def strategy_scope(distribute: str):
    """Context for building/compiling: MirroredStrategy over the local devices (CPU here), or a
    no-op. Returns (context manager, number of replicas)."""
    if distribute == "mirrored":
        s = tf.distribute.MirroredStrategy()
        return s.scope(), s.num_replicas_in_sync
    return contextlib.nullcontext(), 1


def _dataset(x, y, batch_size: int, seed: int, shift: int, flip: bool):
    """Shuffled, batched tf.data pipeline; random shifts (background -1 = black in "sym" scaling)
    and horizontal flips per sample."""
    h, w, c = x.shape[1:]
    ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int32)))
    ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)

    def aug(img, label):
        if shift:
            img = tf.pad(img, [[shift, shift], [shift, shift], [0, 0]], constant_values=-1.0)
            img = tf.image.random_crop(img, [h, w, c])
        if flip:
            img = tf.image.random_flip_left_right(img)
        return img, label

    if shift or flip:
        ds = ds.map(aug, num_parallel_calls=tf.data.AUTOTUNE)
    opts = tf.data.Options()
    # Data sets built from in-memory arrays cannot be auto-sharded by file; shard by data.
    opts.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE).with_options(opts)


def train(build, x, y, args, shift: int = 0, flip: bool = False, label: str = "training"):
    """Build (via `build()`), compile and fit inside the chosen strategy; returns the model.

    Adam with cosine decay from `args.lr` to 0 over all steps; fixed seed; no validation data
    (the held-out split is only used once, after training, so the reported accuracy is honest)."""
    keras.utils.set_random_seed(args.seed)
    scope, replicas = strategy_scope(args.distribute)
    if getattr(args, "shift", None) is not None:
        shift = args.shift
    if args.no_augment:
        shift, flip = 0, False
    steps = -(-len(x) // args.batch_size)
    with scope:
        model = build()
        sched = keras.optimizers.schedules.CosineDecay(args.lr, decay_steps=max(1, steps * args.epochs))
        model.compile(optimizer=keras.optimizers.Adam(sched), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    print(f"{label}: {len(x):,} images, {args.epochs} epochs, batch {args.batch_size}, lr {args.lr:g} "
          f"cosine, shift ±{shift}{', flips' if flip else ''}, distribute={args.distribute} "
          f"({replicas} replica{'s' if replicas > 1 else ''})")
    t = time.time()
    model.fit(_dataset(x, y, args.batch_size, args.seed, shift, flip), epochs=args.epochs, verbose=0,
              callbacks=[RichProgress(label)])
    print(f"{label}: {time.time() - t:.1f} s")
    return model


def finish(model, x_test, y_test, out, name: str, data_note: str = "", board=None) -> int:
    """Evaluate, export, verify and report `model`; return the exit code (0 = exact agreement)."""
    from larq2mcu.html_report import write_html
    from larq2mcu.verify import compare

    y_k = model.predict(x_test, batch_size=512, verbose=0)
    acc_k = float(np.mean(y_k.argmax(1) == y_test))
    exp = larq2mcu.export(model, out, name=name)
    host = exp.build_host()
    ag = compare(exp, host, x_test)
    acc_c = float(np.mean(host.predict(x_test, check_finite=False).argmax(1) == y_test))
    print()
    print(exp.report())
    print()
    print(f"agreement of the C library with Keras on the {len(x_test):,} held-out samples:")
    print(ag.summary())
    html = write_html(exp, Path(exp.out_dir) / "report.html", accuracy=acc_c, agreement=ag, board=board)
    print()
    if data_note:
        print(data_note)
    print(f"test accuracy: Keras {100 * acc_k:.2f} %, C {100 * acc_c:.2f} % on {len(x_test):,} held-out images")
    print(f"export: {exp.out_dir}   HTML report: {html}")
    return 0 if ag.ok else 1
