"""Train the seed paper's mixed binary/float CNN (zoo.seed_mixed_cnn) on MNIST, export, verify.

The paper trained on 10 000 MNIST images and reports 82.1 % test accuracy. Offline we only have
the 10k MNIST *test* set (../shared/datasets/mnist), so we train on 8 000 of those images and
hold out the other 2 000 (datasets.split, fixed seed 0): the printed accuracy is on the 2 000
held-out images, i.e. 2 000 fewer training images than the paper used.

    python examples/seed_mixed_cnn.py [--epochs N] [--out DIR] [--distribute {none,mirrored}]
"""
from __future__ import annotations

import sys

from _common import finish, parse_args, train

from larq2mcu import datasets
from larq2mcu.dev import zoo


def main(argv=None) -> int:
    args = parse_args(__doc__.splitlines()[0], epochs=40, out="out/seed_mixed_cnn", lr=3e-3, argv=argv)
    ds = datasets.split(datasets.load_mnist(), n_train=8000, seed=0)
    x_train, x_test = ds.inputs("sym")
    model = train(lambda: zoo.seed_mixed_cnn(ds.input_shape, ds.num_classes), x_train, ds.y_train, args,
                  shift=2, label="seed_mixed_cnn")
    note = ("data: MNIST test set split 8 000 train / 2 000 held-out (seed 0); the paper trained on "
            "10 000 images (82.1 %)")
    return finish(model, x_test, ds.y_test, args.out, "seed_mixed_cnn", note)


if __name__ == "__main__":
    sys.exit(main())
