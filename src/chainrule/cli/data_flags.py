"""Command-line flags that say where data comes from, shared by ``train``, ``evaluate`` and ``predict``.

Exactly one of ``--data DIR`` (MNIST or Fashion-MNIST IDX files, ``--kind``), ``--csv FILE``
(a numeric table, ``--target`` column) or ``--dataset NAME`` (the embedded 8x8 digits or a
seeded toy set). A CSV without ``--test-csv`` and the built-in sets are split into training
and test parts with ``--test-fraction`` and ``--seed``, the same way on every run.

``train`` records how it split the data in the model file (:func:`split_record`: the
source, seed, test fraction and rows, and a CSV's SHA-256); ``evaluate`` and
``predict`` read it back (:func:`resolve_split`), score the same test part without
being told the seed again, say which rows they scored, and refuse a ``--seed`` or
``--test-fraction`` that contradicts the record (it would score training rows).
"""

from __future__ import annotations

import argparse
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainrule._display import printable
from chainrule.errors import ConfigError, DataError

__all__ = ["add_data_arguments", "Data", "load_data", "resolve_split", "BUILT_IN", "DEFAULT_SEED",
           "DEFAULT_TEST_FRACTION", "DEFAULT_SAMPLES"]

#: Names accepted by ``--dataset``.
BUILT_IN = ("digits", "xor", "circles", "moons", "spirals", "gaussians")
#: Defaults of --seed, --test-fraction and --samples when neither the flags nor a model file's record give them.
DEFAULT_SEED, DEFAULT_TEST_FRACTION, DEFAULT_SAMPLES = 0, 0.2, 500


def add_data_arguments(parser: argparse.ArgumentParser, predict: bool = False) -> None:
    """Add the data flags; ``predict=True`` words --target as a column to drop and leaves out --test-csv."""
    group = parser.add_argument_group("data (one of --data, --csv, --dataset)")
    source = group.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", metavar="DIR", help="folder with the MNIST / Fashion-MNIST .gz files "
                        "(or with mnist/ and fashion-mnist/ subfolders)")
    source.add_argument("--csv", metavar="FILE", help="a numeric CSV table")
    source.add_argument("--dataset", choices=BUILT_IN, help="the embedded 8x8 digits or a seeded toy 2-D set")
    group.add_argument("--kind", choices=("mnist", "fashion"), default=None,
                       help="with --data (default mnist" + ("" if not predict and parser.prog.endswith("train") else
                                                           ", or the set the model file records") + ")")
    group.add_argument("--download", action="store_true", help="with --data: fetch missing files into DIR")
    what = "a column to drop before predicting" if predict else "the target column (default: the last)"
    group.add_argument("--target", metavar="COL", help=f"with --csv: {what}, by name or 0-based index")
    group.add_argument("--delimiter", default=",", help="with --csv: field separator (default ',')")
    group.add_argument("--no-header", action="store_true", help="with --csv: the first line is data")
    if not predict:
        group.add_argument("--test-csv", metavar="FILE", help="with --csv: a separate test table")
    recorded = "" if not predict and parser.prog.endswith("train") else "; default: as the model file records"
    group.add_argument("--test-fraction", type=float, default=None,
                       help=f"with --csv or --dataset: share held out for testing (default 0.2{recorded})")
    group.add_argument("--samples", type=int, default=None, help="with a toy --dataset: points (default 500)")
    group.add_argument("--noise", type=float, default=None, help="with a toy --dataset: noise (its default)")
    group.add_argument("--seed", type=int, default=None,
                       help=f"seed for the weights, batches and data split (default 0{recorded})")


@dataclass
class Data:
    """A data set as the commands use it: optional training part, a test part, and what y is."""

    name: str
    train: tuple[np.ndarray, np.ndarray] | None
    test: tuple[np.ndarray, np.ndarray | None]
    n_classes: int | None  # None: regression targets
    split: dict[str, Any] | None = None  # how train and test were made, as the model file records it
    rows: str = ""  # which rows the test part holds, in words, for evaluate's report

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


def _classes(*ys: np.ndarray | None, source: str = "", check_outputs: bool = False) -> int | None:
    ys = tuple(y for y in ys if y is not None)
    if not ys or any(y.dtype.kind not in "iu" for y in ys):
        return None
    if min(int(y.min()) for y in ys) < 0:
        raise DataError("class labels must be 0, 1, 2, ...; found a negative label")
    largest = max(int(y.max()) for y in ys)
    if check_outputs:
        from chainrule.cli.limits import check_classes

        distinct = len(np.unique(np.concatenate([np.unique(y) for y in ys])))
        check_classes(largest + 1, distinct, largest, source)
    return largest + 1


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return ""
    return digest.hexdigest()


def _given(args: argparse.Namespace, name: str) -> bool:
    return getattr(args, name, None) is not None


def resolve_split(args: argparse.Namespace, recorded: dict[str, Any] | None = None) -> str | None:
    """Fill in --seed, --test-fraction and --samples: the flags, else the model file's record, else the defaults.

    Returns a note for the report when the record was used, and raises a one-line
    :class:`ConfigError` when a flag contradicts a record of the same data (scoring
    with another seed or fraction would count training rows as test rows).
    """
    note = None
    same = recorded is not None and _same_source(args, recorded)
    if same and "seed" in recorded:
        for flag, key in (("seed", "seed"), ("test_fraction", "test_fraction"), ("samples", "samples"),
                          ("noise", "noise")):
            if key not in recorded:
                continue
            if _given(args, flag) and getattr(args, flag) != recorded[key]:
                raise ConfigError(
                    f"--{flag.replace('_', '-')} {getattr(args, flag)} contradicts the model file: train split "
                    f"{_describe_source(recorded)} with seed {recorded['seed']} and test fraction "
                    f"{recorded['test_fraction']:g}, so other values would score rows the model was trained on; "
                    f"leave out --{flag.replace('_', '-')} to score the test part train held out")
            setattr(args, flag, recorded[key])
        note = f"the test part train held out (seed {args.seed}, test fraction {args.test_fraction:g})"
    if args.seed is None:
        args.seed = DEFAULT_SEED
    if args.test_fraction is None:
        args.test_fraction = DEFAULT_TEST_FRACTION
    if getattr(args, "samples", 0) is None:
        args.samples = DEFAULT_SAMPLES
    return note


def _same_source(args: argparse.Namespace, recorded: dict[str, Any]) -> bool:
    source = recorded.get("source")
    if source == "dataset":
        return args.dataset is not None and recorded.get("name") == args.dataset
    if source == "csv":
        return args.csv is not None and recorded.get("sha256") == _sha256(args.csv)
    return False


def _describe_source(recorded: dict[str, Any]) -> str:
    if recorded.get("source") == "dataset":
        return f"the {recorded.get('name')} set ({recorded.get('rows', 0):,} rows)"
    return f"{printable(recorded.get('file', 'the table'))} ({recorded.get('rows', 0):,} rows)"


def load_data(args: argparse.Namespace, need_train: bool, need_target: bool = True,
              recorded: dict[str, Any] | None = None, whole_csv: bool = False) -> Data:
    """The data the flags name; ``need_train`` False keeps only the test part.

    ``recorded`` is the split a model file records (``evaluate``, ``predict``): a CSV whose
    SHA-256 matches, or the same built-in set, is split as train split it. ``whole_csv``
    (``predict``) keeps every row of a CSV, one prediction per row of the file.
    """
    from chainrule import datasets

    asked = _given(args, "test_fraction") or _given(args, "seed")  # before resolve_split fills them in
    note = resolve_split(args, recorded if not need_train else None)
    if not 0 < args.test_fraction < 1:
        raise ConfigError(f"--test-fraction must lie between 0 and 1, got {args.test_fraction}")
    dtype = np.dtype(getattr(args, "dtype", "float32"))
    if args.data is not None:
        split = "both" if need_train else "test"
        trained_on = recorded.get("source") if recorded is not None and not need_train else None
        kind = args.kind or (trained_on if trained_on in ("mnist", "fashion") else "mnist")
        loaded = datasets.load_mnist(args.data, kind=kind, split=split, dtype=dtype, download=args.download)
        train, test = loaded if need_train else (None, loaded)
        title = "Fashion-MNIST" if kind == "fashion" else "MNIST"
        record = {"source": kind, "test": "the published test set",
                  "rows": len(test[0]) + (len(train[0]) if train is not None else 0)}
        rows = f"the published test set, {len(test[0]):,} images"
        if trained_on in ("mnist", "fashion") and trained_on != kind:
            rows += f" (the model was trained on {'Fashion-MNIST' if trained_on == 'fashion' else 'MNIST'})"
        return Data(title, train, test, 10, record, rows)
    if args.csv is not None:
        name = printable(args.csv, 200)
        target = _column(args.target) if args.target is not None else (-1 if need_target else None)
        x, y = datasets.load_csv(args.csv, target=target, delimiter=args.delimiter, header=not args.no_header,
                                 dtype=dtype)
        record = {"source": "csv", "file": Path(args.csv).name[:200], "sha256": _sha256(args.csv), "rows": len(x)}
        if not need_target or whole_csv:
            return Data(name, None, (x, y), _classes(y) if y is not None else None, record, f"all {len(x):,} rows")
        if not need_train:
            if note is None and not asked:
                rows = f"all {len(x):,} rows"
                if recorded is not None and _same_source(args, recorded) and "test_file" in recorded:
                    rows += (f", every one a training row (train tested on "
                             f"{printable(recorded['test_file'])}; evaluate that table for a test score)")
                return Data(name, None, (x, y), _classes(y), record, rows)
            _, test = datasets.split_data(x, y, args.test_fraction, seed=args.seed)
            rows = f"{len(test[0]):,} of {len(x):,} rows: " + (note or f"held out with seed {args.seed} and test "
                                                                        f"fraction {args.test_fraction:g}")
            return Data(name, None, test, _classes(y), record, rows)
        if getattr(args, "test_csv", None):
            test = datasets.load_csv(args.test_csv, target=target, delimiter=args.delimiter,
                                     header=not args.no_header, dtype=dtype)
            if test[0].shape[1] != x.shape[1]:
                raise DataError(f"{printable(args.test_csv, 200)} has {test[0].shape[1]} feature columns, {name} "
                                f"has {x.shape[1]}; the two tables must have the same columns")
            record.update(test_file=Path(args.test_csv).name[:200], test_sha256=_sha256(args.test_csv),
                          test_rows=len(test[0]))
        else:
            (x, y), test = datasets.split_data(x, y, args.test_fraction, seed=args.seed)
            record.update(seed=args.seed, test_fraction=args.test_fraction)
        n_classes = _classes(y, test[1], source=name, check_outputs=True)
        return Data(name, (x, y), test, n_classes, record)
    if args.dataset == "digits":
        x, y = datasets.load_digits(dtype=dtype)
    else:
        options = {} if args.noise is None else {"noise": args.noise}
        x, y = datasets.TOY_SETS[args.dataset](args.samples, seed=args.seed, dtype=dtype, **options)
    train, test = datasets.split_data(x, y, args.test_fraction, seed=args.seed, stratify=True)
    record = {"source": "dataset", "name": args.dataset, "rows": len(x), "seed": args.seed,
              "test_fraction": args.test_fraction}
    if args.dataset != "digits":
        record.update(samples=args.samples, noise=args.noise)
    rows = f"{len(test[0]):,} of {len(x):,} rows: " + (note or f"held out with seed {args.seed} and test fraction "
                                                                f"{args.test_fraction:g}")
    return Data(args.dataset, train if need_train else None, test, _classes(y), record, rows)
