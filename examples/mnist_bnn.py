"""Train zoo.mnist_bnn on real MNIST, export it to C, verify the C on the host, print the report.

Only the 10k MNIST test set is available offline (../shared/datasets/mnist), so it is split by
a fixed permutation into 8 000 training and 2 000 held-out images (datasets.split); the accuracy
printed is on the 2 000 held-out images, which training never sees.

    python examples/mnist_bnn.py [--epochs N] [--out DIR] [--distribute {none,mirrored}]
"""
from __future__ import annotations

import sys

from _common import finish, parse_args, train

from larq2mcu import datasets
from larq2mcu.dev import zoo


def main(argv=None) -> int:
    args = parse_args(__doc__.splitlines()[0], epochs=80, out="out/mnist_bnn", lr=5e-3, argv=argv)
    ds = datasets.split(datasets.load_mnist(), n_train=8000, seed=0)
    x_train, x_test = ds.inputs("sym")
    model = train(lambda: zoo.mnist_bnn(ds.input_shape, ds.num_classes), x_train, ds.y_train, args,
                  shift=2, label="mnist_bnn")
    note = "data: MNIST test set split 8 000 train / 2 000 held-out (seed 0)"
    return finish(model, x_test, ds.y_test, args.out, "mnist_bnn", note)


if __name__ == "__main__":
    sys.exit(main())
