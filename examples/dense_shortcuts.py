"""Train the shortcut models zoo.densenet_tiny (Concatenate) and zoo.bireal_tiny (Add) on MNIST,
export each to C and verify it on the host.

Data: the 10k MNIST test set split 8 000 train / 2 000 held-out (datasets.split, seed 0), as in
mnist_bnn.py; accuracies are on the 2 000 held-out images. Exports go to <out>/<model>.

    python examples/dense_shortcuts.py [--model {densenet_tiny,bireal_tiny,both}] [--epochs N]
        [--out DIR] [--distribute {none,mirrored}]
"""
from __future__ import annotations

import sys
from pathlib import Path

from _common import finish, parse_args, train

from larq2mcu import datasets
from larq2mcu.dev import zoo

MODELS = ("densenet_tiny", "bireal_tiny")


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    which = "both"
    if "--model" in argv:       # our own option; the rest goes to the shared parser
        i = argv.index("--model")
        which = argv[i + 1]
        del argv[i:i + 2]
        if which not in (*MODELS, "both"):
            print(f"--model must be one of {', '.join(MODELS)}, both", file=sys.stderr)
            return 2
    args = parse_args(__doc__.splitlines()[0], epochs=15, out="out/dense_shortcuts", lr=3e-3, argv=argv)
    ds = datasets.split(datasets.load_mnist(), n_train=8000, seed=0)
    x_train, x_test = ds.inputs("sym")
    rc = 0
    for name in MODELS if which == "both" else (which,):
        build = zoo.BUILDERS[name]
        model = train(lambda: build(ds.input_shape, ds.num_classes), x_train, ds.y_train, args, shift=2,
                      label=name)
        note = f"{name}: MNIST test set split 8 000 train / 2 000 held-out (seed 0)"
        rc = max(rc, finish(model, x_test, ds.y_test, Path(args.out) / name, name, note))
        print()
    return rc


if __name__ == "__main__":
    sys.exit(main())
