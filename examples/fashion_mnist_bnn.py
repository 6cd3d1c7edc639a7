"""Train zoo.mnist_bnn on Fashion-MNIST (full 60k train, 10k test), export to C, verify, report.

Data: the Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist) or the Keras
cache (datasets.load_fashion_mnist). When neither is there the script says how to get it and
exits 0 without training (a skip, not a failure). Augmentation: random horizontal flips only
(in tf.data, so the exported model is the plain network); ±2 px shifts made this small BNN
underfit (87.25 % vs 88.88 %, see docs/ACCURACY.md).

    python examples/fashion_mnist_bnn.py [--epochs N] [--out DIR] [--distribute {none,mirrored}]
"""
from __future__ import annotations

import sys

from _common import finish, parse_args, train

from larq2mcu import datasets
from larq2mcu.dev import zoo
from larq2mcu.errors import DataError


def main(argv=None) -> int:
    args = parse_args(__doc__.splitlines()[0], epochs=25, out="out/fashion_mnist_bnn", lr=5e-3,
                      batch_size=128, argv=argv)
    try:
        ds = datasets.load_fashion_mnist()
    except DataError as e:
        print(f"SKIPPED: {e}")
        return 0
    x_train, x_test = ds.inputs("sym")
    model = train(lambda: zoo.mnist_bnn(ds.input_shape, ds.num_classes), x_train, ds.y_train, args,
                  shift=0, flip=True, label="fashion_mnist_bnn")
    note = f"data: Fashion-MNIST {len(x_train):,} train / {len(x_test):,} test ({ds.source})"
    return finish(model, x_test, ds.y_test, args.out, "fashion_mnist_bnn", note)


if __name__ == "__main__":
    sys.exit(main())
