"""Command-line flags that say where data comes from, shared by ``train``, ``evaluate`` and ``predict``.

Exactly one of ``--data DIR`` (MNIST or Fashion-MNIST IDX files, ``--kind``), ``--csv FILE``
(a numeric table, ``--target`` column) or ``--dataset NAME`` (the embedded 8x8 digits or a
seeded toy set). A CSV without ``--test-csv`` and the built-in sets are split into training
and test parts with ``--test-fraction`` and ``--seed``, the same way on every run, so
``evaluate`` and ``predict`` see the test part that ``train`` held out.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from chainrule.errors import ConfigError, DataError

__all__ = ["add_data_arguments", "Data", "load_data", "BUILT_IN"]

#: Names accepted by ``--dataset``.
BUILT_IN = ("digits", "xor", "circles", "moons", "spirals", "gaussians")


def add_data_arguments(parser: argparse.ArgumentParser, predict: bool = False) -> None:
    """Add the data flags; ``predict=True`` words --target as a column to drop and leaves out --test-csv."""
    group = parser.add_argument_group("data (one of --data, --csv, --dataset)")
    source = group.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", metavar="DIR", help="folder with the MNIST / Fashion-MNIST .gz files "
                        "(or with mnist/ and fashion-mnist/ subfolders)")
    source.add_argument("--csv", metavar="FILE", help="a numeric CSV table")
    source.add_argument("--dataset", choices=BUILT_IN, help="the embedded 8x8 digits or a seeded toy 2-D set")
    group.add_argument("--kind", choices=("mnist", "fashion"), default="mnist", help="with --data (default mnist)")
    group.add_argument("--download", action="store_true", help="with --data: fetch missing files into DIR")
    what = "a column to drop before predicting" if predict else "the target column (default: the last)"
    group.add_argument("--target", metavar="COL", help=f"with --csv: {what}, by name or 0-based index")
    group.add_argument("--delimiter", default=",", help="with --csv: field separator (default ',')")
    group.add_argument("--no-header", action="store_true", help="with --csv: the first line is data")
    if not predict:
        group.add_argument("--test-csv", metavar="FILE", help="with --csv: a separate test table")
    group.add_argument("--test-fraction", type=float, default=0.2,
                       help="with --csv or --dataset: share held out for testing (default 0.2)")
    group.add_argument("--samples", type=int, default=500, help="with a toy --dataset: points (default 500)")
    group.add_argument("--noise", type=float, default=None, help="with a toy --dataset: noise (its default)")
    group.add_argument("--seed", type=int, default=0, help="seed for the weights, batches and data split")


@dataclass
class Data:
    """A data set as the commands use it: optional training part, a test part, and what y is."""

    name: str
    train: tuple[np.ndarray, np.ndarray] | None
    test: tuple[np.ndarray, np.ndarray | None]
    n_classes: int | None  # None: regression targets

    @property
    def n_features(self) -> int:
        return self.test[0].shape[1]


def _column(text: str | None) -> str | int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return text


def _classes(*ys: np.ndarray | None) -> int | None:
    ys = tuple(y for y in ys if y is not None)
    if not ys or any(y.dtype.kind not in "iu" for y in ys):
        return None
    if min(int(y.min()) for y in ys) < 0:
        raise DataError("class labels must be 0, 1, 2, ...; found a negative label")
    return max(int(y.max()) for y in ys) + 1


def load_data(args: argparse.Namespace, need_train: bool, need_target: bool = True) -> Data:
    """The data the flags name; ``need_train`` False keeps only the test part."""
    from chainrule import datasets

    if not 0 < args.test_fraction < 1:
        raise ConfigError(f"--test-fraction must lie between 0 and 1, got {args.test_fraction}")
    dtype = np.dtype(getattr(args, "dtype", "float32"))
    if args.data is not None:
        split = "both" if need_train else "test"
        loaded = datasets.load_mnist(args.data, kind=args.kind, split=split, dtype=dtype, download=args.download)
        train, test = loaded if need_train else (None, loaded)
        title = "Fashion-MNIST" if args.kind == "fashion" else "MNIST"
        return Data(title, train, test, 10)
    if args.csv is not None:
        target = _column(args.target) if args.target is not None else (-1 if need_target else None)
        x, y = datasets.load_csv(args.csv, target=target, delimiter=args.delimiter, header=not args.no_header,
                                 dtype=dtype)
        if not need_target:
            return Data(args.csv, None, (x, None), None)
        if not need_train:
            return Data(args.csv, None, (x, y), _classes(y))
        if getattr(args, "test_csv", None):
            test = datasets.load_csv(args.test_csv, target=target, delimiter=args.delimiter,
                                     header=not args.no_header, dtype=dtype)
            if test[0].shape[1] != x.shape[1]:
                raise DataError(f"{args.test_csv} has {test[0].shape[1]} feature columns, {args.csv} has "
                                f"{x.shape[1]}; the two tables must have the same columns")
        else:
            (x, y), test = datasets.split_data(x, y, args.test_fraction, seed=args.seed)
        return Data(args.csv, (x, y), test, _classes(y, test[1]))
    if args.dataset == "digits":
        x, y = datasets.load_digits(dtype=dtype)
    else:
        options = {} if args.noise is None else {"noise": args.noise}
        x, y = datasets.TOY_SETS[args.dataset](args.samples, seed=args.seed, dtype=dtype, **options)
    train, test = datasets.split_data(x, y, args.test_fraction, seed=args.seed, stratify=True)
    return Data(args.dataset, train if need_train else None, test, _classes(y))
