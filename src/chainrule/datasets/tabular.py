"""Tables of numbers: CSV files, the embedded 8x8 digits, and a seeded train/test split."""

from __future__ import annotations

import csv
import gzip
import os
import stat
import warnings
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from chainrule._display import printable
from chainrule.errors import ConfigError, DataError, for_cli
from chainrule.init import make_rng

__all__ = ["load_csv", "load_digits", "split_data"]


def _target_index(target: str | int, names: list[str] | None, n_cols: int, path: Path) -> int:
    if isinstance(target, str):
        if names is None:
            raise for_cli(ConfigError(f"target={printable(target)!r} names a column, but header=False so columns "
                                      "have no names; give the column's index (0 is the first, -1 the last)"),
                          f"--target {printable(target)} names a column, but with --no-header the columns have no "
                          "names; give the column's index (0 is the first, -1 the last)")
        if target not in names:
            shown = ", ".join(printable(n, 40) for n in names[:20]) + (f", ... ({len(names):,} columns)"
                                                                        if len(names) > 20 else "")
            raise DataError(f"{_name(path)}: no column named '{printable(target)}'; the columns are: {shown}")
        return names.index(target)
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)):
        raise ConfigError(f"target must be a column name, a column index or None, got {target!r}")
    if not -n_cols <= target < n_cols:
        raise DataError(f"{_name(path)}: target column index {target} is out of range for {n_cols} columns")
    return int(target) % n_cols


def _name(path: Path) -> str:
    """A file name as messages show it: control characters escaped, at most 200 characters."""
    return printable(path, 200)


def _column_label(names: list[str] | None, col: int) -> str:
    return f"'{printable(names[col], 40)}'" if names is not None else str(col)


def _not_text(path: Path, error: UnicodeDecodeError) -> DataError:
    return DataError(f"{_name(path)}: expected a UTF-8 text table, found the byte 0x{error.object[error.start]:02x}, "
                     "which is not UTF-8; the file is binary or in another encoding (save it as UTF-8 CSV)")


def _csv_error(path: Path, line: int, error: csv.Error) -> DataError:
    """A line the csv module cannot read: a field over its size limit, a stray quote, a NUL byte."""
    if "field limit" in str(error):
        return DataError(f"{_name(path)}, line {line}: a field longer than {csv.field_size_limit():,} characters; "
                         "a table of numbers has no such field (is this the right file?)")
    return DataError(f"{_name(path)}, line {line}: not readable as CSV ({printable(error, 100)})")


def _diagnose(path: Path, delimiter: str, header: bool, names: list[str] | None) -> DataError | None:
    """Find the first ragged row or non-numeric cell, with its line number, for the error message."""
    with open(path, newline="", encoding="utf-8-sig") as stream:
        rows = csv.reader(stream, delimiter=delimiter)
        try:
            return _first_defect(path, rows, delimiter, header, names)
        except csv.Error as error:
            return _csv_error(path, rows.line_num, error)


def _first_defect(path: Path, rows: Any, delimiter: str, header: bool, names: list[str] | None) -> DataError | None:
    """The first ragged row or non-numeric cell of ``rows`` (csv.reader), as a DataError; None when none."""
    width = len(names) if names is not None else None
    for line, row in enumerate(rows, start=1):
        if line == 1 and header or not row:
            continue
        if width is None:
            width = len(row)
        if len(row) != width:
            source = "the header" if names is not None else "the first row"
            return DataError(f"{_name(path)}, line {line}: {len(row)} fields, expected {width} as in {source} "
                             f"(delimiter {delimiter!r}); every row needs the same number of columns")
        for col, cell in enumerate(row):
            column = _column_label(names, col)
            try:
                float(cell)
            except ValueError:
                what = "an empty value (missing data)" if not cell.strip() else \
                    f"'{printable(cell, 40)}', not a number"
                return DataError(f"{_name(path)}, line {line}, column {column}: expected a number, found {what}; "
                                 "load_csv reads numeric tables only (encode categories as numbers first)")
    return None


def load_csv(path: str | os.PathLike[str], target: str | int | None = -1, delimiter: str = ",",
             header: bool = True, dtype: Any = np.float64) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a numeric CSV table into features ``x`` and a target column ``y``.

    Parameters
    ----------
    path : str or path-like
        The CSV file; every field must be a finite number.
    target : str, int or None
        The target column by name (needs ``header=True``) or index (default -1, the
        last column). ``None`` reads every column as a feature and returns ``y = None``.
    delimiter : str
        The field separator.
    header : bool
        Whether the first line holds the column names.
    dtype : numpy dtype
        The dtype of ``x`` (and of ``y`` when it is not whole numbers).

    Returns
    -------
    x : numpy.ndarray, shape (n_samples, n_features)
    y : numpy.ndarray, shape (n_samples,), or None
        int64 when every target value is a whole number (class labels), else ``dtype``.

    Raises
    ------
    DataError
        A missing target column, a row with the wrong number of fields, or a value that
        is empty, not a number, NaN or infinite; the message gives the line and column.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "table.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("x1,x2,label\\n0.5,1.0,1\\n-2,0,0\\n")
    >>> x, y = load_csv(path, target="label")
    >>> x
    array([[ 0.5,  1. ],
           [-2. ,  0. ]])
    >>> y
    array([1, 0])
    """
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise DataError(f"{_name(path)}: CSV file not found") from None
    except OSError as error:  # a symlink loop, an over-long name, a file where a folder should be
        from chainrule.atomic import describe_os_error

        raise DataError(f"{_name(path)}: cannot read it: {describe_os_error(error)}") from None
    if not stat.S_ISREG(info.st_mode):
        what = "a folder" if stat.S_ISDIR(info.st_mode) else "a FIFO, socket or device"
        raise DataError(f"{_name(path)}: not a file but {what}; give a CSV file")
    names = None
    if not header and isinstance(target, str):
        _target_index(target, None, 0, path)  # a column name needs a header: say so before reading
    if header:
        try:
            with open(path, newline="", encoding="utf-8-sig") as stream:
                names = [name.strip() for name in next(csv.reader(stream, delimiter=delimiter), [])]
        except UnicodeDecodeError as error:
            raise _not_text(path, error) from None
        except csv.Error as error:
            raise _csv_error(path, 1, error) from None
        if not names:
            raise DataError(f"{_name(path)}: empty file, expected a header line with column names")
    try:
        with warnings.catch_warnings():  # a table without rows is reported below, as a DataError
            warnings.filterwarnings("ignore", "loadtxt: input contained no data", UserWarning)
            table = np.loadtxt(path, delimiter=delimiter, skiprows=int(header), dtype=np.float64, ndmin=2,
                               comments=None, quotechar='"', encoding="utf-8-sig")
    except ValueError as error:
        if isinstance(error, UnicodeDecodeError):
            raise _not_text(path, error) from None
        diagnosis = _diagnose(path, delimiter, header, names)
        raise diagnosis or DataError(f"{_name(path)}: cannot read as numbers: {printable(error, 200)}") from None
    if table.size == 0:
        raise DataError(f"{_name(path)}: no data rows")
    n_cols = table.shape[1]
    if names is not None and len(names) != n_cols:
        raise DataError(f"{_name(path)}: the header has {len(names)} names but the rows have {n_cols} fields")
    bad = ~np.isfinite(table)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        column = _column_label(names, col)
        raise DataError(f"{_name(path)}, line {row + 1 + int(header)}, column {column}: expected a finite number, "
                        f"found {table[row, col]}; drop or fill missing values first")
    if target is None:
        return table.astype(dtype), None
    index = _target_index(target, names, n_cols, path)
    if n_cols < 2:
        raise DataError(f"{_name(path)}: only the target column is present, expected at least one feature column")
    y = table[:, index]
    x = np.delete(table, index, axis=1).astype(dtype)
    if np.all(y == np.round(y)):  # whole numbers: class labels, which must fit an int64
        too_large = np.flatnonzero(np.abs(y) >= 2.0**63)
        if too_large.size:
            row = int(too_large[0])
            raise DataError(f"{_name(path)}, line {row + 1 + int(header)}, column {_column_label(names, index)}: "
                            f"the label {y[row]:.17g} is too large (class labels are whole numbers below 2**63 "
                            "and should be 0, 1, 2, ...); for regression, give targets that are not whole numbers")
        return x, y.astype(np.int64)
    return x, y.astype(dtype)


def load_digits(dtype: Any = np.float64, scale: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 handwritten digits of 8x8 pixels that ship with chainrule (no download).

    The test part of the UCI "Optical Recognition of Handwritten Digits" data
    (Alpaydin and Kaynak, 1998; CC BY 4.0): each pixel counts the inked cells of a
    4x4 block of a 32x32 bitmap, 0..16. See ``chainrule/data/README.md``.

    Parameters
    ----------
    dtype : numpy dtype
        dtype of ``x``.
    scale : bool
        Divide by 16 so pixels lie in [0, 1] (default); ``False`` keeps the counts 0..16.

    Returns
    -------
    x : numpy.ndarray, shape (1797, 64)
        Row-major 8x8 images.
    y : numpy.ndarray of int64, shape (1797,)
        Digits 0..9.

    Examples
    --------
    >>> from chainrule.datasets import load_digits
    >>> x, y = load_digits()
    >>> x.shape, y.shape, float(x.max()), sorted(set(y.tolist())) == list(range(10))
    ((1797, 64), (1797,), 1.0, True)
    """
    with resources.as_file(resources.files("chainrule") / "data" / "digits.csv.gz") as file:
        with gzip.open(file, "rt") as stream:
            table = np.loadtxt(stream, delimiter=",", dtype=np.float64, ndmin=2)
    x, y = table[:, :-1], table[:, -1].astype(np.int64)
    if scale:
        x = x / 16.0
    return x.astype(dtype), y


def split_data(x: Any, y: Any, test_fraction: float = 0.2, seed: Any = None,
               stratify: bool = False) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Shuffle the rows with ``seed`` and hold out ``test_fraction`` of them for testing.

    Parameters
    ----------
    x : array, shape (n_samples, ...)
    y : array, shape (n_samples, ...)
    test_fraction : float
        Share of the rows in the test part, 0 < test_fraction < 1 (rounded up to whole rows).
    seed : int or numpy.random.Generator, optional
    stratify : bool
        Hold out the same share of every class of ``y`` (class labels only).

    Returns
    -------
    ``((x_train, y_train), (x_test, y_test))``

    Examples
    --------
    >>> import numpy as np
    >>> (x_train, y_train), (x_test, y_test) = split_data(np.arange(10)[:, None], np.arange(10), 0.3, seed=0)
    >>> len(x_train), len(x_test), sorted(np.concatenate([y_train, y_test]).tolist()) == list(range(10))
    (7, 3, True)
    """
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise DataError(f"x has {len(x)} rows but y has {len(y)}; they must have one row per sample")
    if not 0 < test_fraction < 1:
        raise ConfigError(f"test_fraction must be between 0 and 1, got {test_fraction!r}")
    rng = make_rng(seed)
    if stratify:
        test = []
        for label in np.unique(y):
            rows = rng.permutation(np.flatnonzero(y == label))
            test.append(rows[:int(np.ceil(test_fraction * len(rows)))])
        test_rows = rng.permutation(np.concatenate(test))
        train_rows = rng.permutation(np.setdiff1d(np.arange(len(y)), test_rows))
    else:
        order = rng.permutation(len(y))
        n_test = int(np.ceil(test_fraction * len(y)))
        test_rows, train_rows = order[:n_test], order[n_test:]
    if len(train_rows) == 0:
        raise DataError(f"{len(y)} rows leave no training rows after holding out {test_fraction:.0%}")
    return (x[train_rows], y[train_rows]), (x[test_rows], y[test_rows])
