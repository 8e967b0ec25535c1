"""The playground's points: TensorFlow Playground's four sets with 2-5 classes, and uploaded CSV tables.

Two classes use :mod:`chainrule.datasets.toy` as it is (circles, xor, gaussians, spirals).
More classes extend each shape: circle becomes concentric rings, xor a 3x3 checkerboard
coloured (row + column) mod K, gauss and spiral take ``n_classes`` directly. ``noise``
is the standard deviation added to each coordinate (the Gaussian blobs get 0.25 + noise,
so they stay blobs at noise 0).

An uploaded table goes through :func:`chainrule.datasets.load_csv` (its errors name the
line and column) and is kept whole as a :class:`Table`; any two of its columns become x1
and x2, standardised to mean 0 and standard deviation 1, and a third holds the labels
(2-5 distinct whole numbers). The learner may choose other columns of the same table
at any time without sending it again.
"""

from __future__ import annotations

import csv
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.errors import DataError

__all__ = ["Points", "Table", "make_points", "read_csv_table", "MAX_UPLOAD_BYTES", "MAX_ROWS"]

MAX_UPLOAD_BYTES = 1 << 20
MAX_ROWS = 5000


@dataclass
class Points:
    """Labelled 2-D points: x (n, 2), y (n,) in 0..classes-1, and where they came from."""

    x: np.ndarray
    y: np.ndarray
    classes: int
    source: str
    columns: tuple[str, str] = ("x1", "x2")
    chosen: tuple[int, ...] = ()  #: an uploaded table's columns x1, x2, label (0-based)
    table: Any = None  #: the Table they came from


def _rings(n: int, classes: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    y = np.arange(n) % classes
    radius = (y + 0.5 + 0.35 * (rng.random(n) - 0.5)) / classes
    angle = rng.uniform(0, 2 * np.pi, n)
    x = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)]) + rng.normal(scale=noise, size=(n, 2))
    return x, y


def _checkerboard(n: int, classes: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.uniform(-1, 1, size=(n, 2))
    cells = np.minimum(((x + 1) * 1.5).astype(int), 2)
    y = (cells[:, 0] + cells[:, 1]) % classes
    return x + rng.normal(scale=noise, size=(n, 2)), y


def make_points(data: dict[str, Any]) -> Points:
    """The toy set a validated ``setup["data"]`` names (not "csv")."""
    from chainrule import datasets

    kind, k, n, noise, seed = data["kind"], data["classes"], data["samples"], data["noise"], data["seed"]
    if kind == "gauss":
        x, y = datasets.gaussians(n, n_classes=k, noise=0.25 + noise, seed=seed)
    elif kind == "spiral":
        x, y = datasets.spirals(n, noise=noise, n_classes=k, turns=1.0 if k <= 3 else 0.75, seed=seed)
    elif k == 2:
        x, y = (datasets.circles if kind == "circle" else datasets.xor)(n, noise=noise, seed=seed)
    else:
        rng = np.random.default_rng(seed)
        x, y = (_rings if kind == "circle" else _checkerboard)(n, k, noise, rng)
    return Points(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.int64), k, kind)


@dataclass
class Table:
    """An uploaded CSV table: every column's values (rows, columns) and names (the header's,
    else "column 0", "column 1", ...); :meth:`points` plots two of them, labelled by a third."""

    values: np.ndarray
    names: tuple[str, ...]
    header: bool

    def column(self, spec: str) -> int:
        """A column by name (with a header) or 0-based index (negative from the end)."""
        spec = spec.strip()
        if spec in self.names:
            return self.names.index(spec)
        try:
            index = int(spec)
        except ValueError:
            raise DataError(f"no column {spec!r}; the columns are {', '.join(self.names)}") from None
        n_cols = len(self.names)
        if not -n_cols <= index < n_cols:
            raise DataError(f"column index {index} is out of range: the table has {n_cols} columns")
        return index % n_cols

    def points(self, x1: str = "0", x2: str = "1", label: str = "-1") -> Points:
        """Columns ``x1`` and ``x2`` standardised to mean 0 and standard deviation 1, the
        classes 0..K-1 from column ``label`` (2-5 distinct whole numbers, in increasing order)."""
        columns = [self.column(c) for c in (x1, x2, label)]
        if len(set(columns)) != 3:
            raise DataError("x1, x2 and the label must be three different columns")
        labels = self.values[:, columns[2]]
        where = f"the label column {self.names[columns[2]]!r}"
        if not np.all(labels == np.round(labels)):
            raise DataError(f"{where} must hold whole numbers (class labels); choose another label column")
        values, y = np.unique(labels.astype(np.int64), return_inverse=True)
        if not 2 <= len(values) <= 5:
            raise DataError(f"{where} holds {len(values)} distinct classes; the playground shows 2 to 5")
        x = self.values[:, columns[:2]]
        spread = x.std(axis=0)
        if np.any(spread == 0):
            raise DataError("a plotted column holds one value only; choose columns that vary")
        x = (x - x.mean(axis=0)) / spread
        shown = (self.names[columns[0]], self.names[columns[1]])
        return Points(x, y.astype(np.int64), len(values), "csv", shown, tuple(columns), self)


def read_csv_table(raw: bytes) -> Table:
    """The table in the bytes of an uploaded CSV file, every column a finite number.

    The bytes are parsed by :func:`chainrule.datasets.load_csv` from a private temporary
    file, removed at once; a first row that is not all numbers is taken as the header.
    Raises DataError with the loader's message (line and column) or the reason here.
    """
    from chainrule.datasets import load_csv

    if len(raw) > MAX_UPLOAD_BYTES:
        raise DataError(f"the upload has {len(raw)} bytes; the playground takes tables up to "
                        f"{MAX_UPLOAD_BYTES} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError("the upload is not UTF-8 text; save the table as CSV") from None
    first = next(csv.reader(io.StringIO(text)), None)
    if not first:
        raise DataError("the upload is empty; a CSV table with a row per point is expected")

    def is_number(field: str) -> bool:
        try:
            float(field)
        except ValueError:
            return False
        return True

    header = not all(is_number(f) for f in first)
    if len(first) < 3:
        raise DataError(f"the table has {len(first)} column{'s' if len(first) != 1 else ''}; two plotted "
                        "columns and a label column are needed")
    names = tuple(f.strip() for f in first) if header else tuple(f"column {c}" for c in range(len(first)))
    with tempfile.TemporaryDirectory(prefix="chainrule-upload-") as folder:
        path = Path(folder) / "upload.csv"
        path.write_text(text, encoding="utf-8")
        values, _ = load_csv(path, target=None, header=header)
    if len(values) > MAX_ROWS:
        raise DataError(f"the table has {len(values)} rows; the playground takes up to {MAX_ROWS}")
    if len(values) < 10:
        raise DataError(f"the table has {len(values)} rows; at least 10 points are needed to train and test")
    return Table(np.asarray(values, dtype=np.float64), names, header)

