"""MNIST and Fashion-MNIST from their four published IDX files.

Both sets have 60,000 training and 10,000 test images of 28x28 unsigned bytes with a
label 0..9. The files are looked for (see :func:`chainrule.datasets.files.search_roots`)
in a folder given by the caller, else ``$CHAINRULE_DATA``, else the user cache; in each
of those, in a subfolder named after the set (``mnist/``, ``fashion-mnist/``, or
torchvision's ``MNIST/raw``, ``FashionMNIST/raw``) and in the folder itself.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainrule._display import printable
from chainrule.datasets import files
from chainrule.datasets.files import KnownFile, check_known_file, search_roots
from chainrule.datasets.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx
from chainrule.errors import ConfigError, DataError, for_cli

__all__ = ["load_mnist", "MNIST_FILES", "FASHION_FILES", "MIRRORS", "FASHION_LABELS"]

_NAMES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

#: The published MNIST files (LeCun, Cortes, Burges): name -> size, MD5, SHA-256.
MNIST_FILES = {f.name: f for f in (
    KnownFile("train-images-idx3-ubyte.gz", 9912422, "f68b3c2dcbeaaa9fbdd348bbdeb94873",
              "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    KnownFile("train-labels-idx1-ubyte.gz", 28881, "d53e105ee54ea40749a09fcbcd1e9432",
              "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    KnownFile("t10k-images-idx3-ubyte.gz", 1648877, "9fb629c4189551a2d022fa330f9573f3",
              "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    KnownFile("t10k-labels-idx1-ubyte.gz", 4542, "ec29112dd5afa0611ce80d1b7f02629c",
              "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
)}

#: The published Fashion-MNIST files (Xiao, Rasul, Vollgraf, 2017).
FASHION_FILES = {f.name: f for f in (
    KnownFile("train-images-idx3-ubyte.gz", 26421880, "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
              "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
    KnownFile("train-labels-idx1-ubyte.gz", 29515, "25c81989df183df01b3e8a0aad5dffbe",
              "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
    KnownFile("t10k-images-idx3-ubyte.gz", 4422102, "bef4ecab320f06d8554ea6380940ec79",
              "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
    KnownFile("t10k-labels-idx1-ubyte.gz", 5148, "bb300cfdad3c16e7a12a480ee83cd310",
              "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
)}

#: Base URLs tried in order by ``download=True``.
MIRRORS = {
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    "fashion": ("https://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
}

#: Fashion-MNIST's class names, by label.
FASHION_LABELS = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                  "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

_KINDS = {
    "mnist": ("MNIST", MNIST_FILES, ("mnist", "MNIST/raw")),
    "fashion": ("Fashion-MNIST", FASHION_FILES, ("fashion-mnist", "fashion", "FashionMNIST/raw")),
}
_ALIASES = {"mnist": "mnist", "fashion": "fashion", "fashion-mnist": "fashion",
            "fashion_mnist": "fashion"}


def _kind(kind: str) -> str:
    try:
        return _ALIASES[str(kind).lower()]
    except KeyError:
        raise ConfigError(f"kind must be 'mnist' or 'fashion', got {kind!r}") from None


def _candidates(root: Path, kind: str) -> list[Path]:
    return [root / sub for sub in _KINDS[kind][2]] + [root]


def _find(path: str | os.PathLike[str] | None, kind: str, names: Sequence[str]) -> Path | None:
    """The first candidate folder holding every one of ``names`` (or its uncompressed twin)."""
    for root in search_roots(path):
        for folder in _candidates(root, kind):
            if all(_file_in(folder, name) is not None for name in names):
                return folder
    return None


def _file_in(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def _not_found(path: str | os.PathLike[str] | None, kind: str, names: Sequence[str]) -> DataError:
    """Files missing: the folders searched, and what to do, worded for Python and (``cli_message``) the CLI."""
    title = _KINDS[kind][0]
    other = "fashion" if kind == "mnist" else "mnist"
    looked, other_there = [], None
    for root in search_roots(path):
        for folder in _candidates(root, kind):
            have = [n for n in names if _file_in(folder, n) is not None]
            note = f" (has {len(have)} of {len(names)})" if have else ""
            looked.append(f"{printable(folder, 200)}{note}")
        for folder in _candidates(root, other):
            if other_there is None and all(_file_in(folder, n) is not None for n in names):
                other_there = folder
    head = f"{title} files {', '.join(names)} not found; looked in: {'; '.join(looked[:8])}. "
    if other_there is not None:
        other_title = _KINDS[other][0]
        python = (f"{printable(other_there, 200)} holds files of these names, perhaps {other_title}'s: pass "
                  f"kind={other!r} to read {other_title}")
        cli = (f"{printable(other_there, 200)} holds files of these names, perhaps {other_title}'s: add "
               f"--kind {other} to read {other_title}")
    else:
        python = (f"Put the files in one of these folders, set $CHAINRULE_DATA to the folder that holds them, "
                  f"pass path=..., or call load_mnist(kind={kind!r}, download=True) to fetch them")
        cli = ("Put the files in one of these folders, name their folder with --data DIR, or add --download to "
               "fetch them")
    return for_cli(DataError(head + python), head + cli)


def _other_kind(file: Path, kind: str, name: str) -> DataError | None:
    """The error for a published file of the other data set found where this one's was expected, else None."""
    title = _KINDS[kind][0]
    other = "fashion" if kind == "mnist" else "mnist"
    other_title, other_known = _KINDS[other][0], _KINDS[other][1].get(name)
    if other_known is None or file.stat().st_size != other_known.size or files.file_md5(file) != other_known.md5:
        return None
    head = f"{printable(file, 200)}: expected {title}'s {name}, found {other_title}'s file of that name; "
    return for_cli(DataError(head + f"to read {other_title}, pass kind={other!r}"),
                   head + f"to read {other_title}, add --kind {other}")


def _read_pair(folder: Path, kind: str, split: str, verify: bool) -> tuple[np.ndarray, np.ndarray]:
    title, known, _ = _KINDS[kind]
    arrays = []
    for name, magic in zip(_NAMES[split], (IMAGES_MAGIC, LABELS_MAGIC)):
        file = _file_in(folder, name)
        if file is None:
            raise _not_found(folder, kind, _NAMES[split])
        if verify and file.name == name:
            mistaken = _other_kind(file, kind, name)
            if mistaken is not None:
                raise mistaken
            check_known_file(file, known[name])
        arrays.append(read_idx(file, expected_magic=magic))
    images, labels = arrays
    if images.shape[0] == 0 or images.ndim != 3 or 0 in images.shape:
        raise DataError(f"{title} {split} images in {folder}: the file declares shape {images.shape}, no images of "
                        "at least 1x1 pixels; the file is damaged or not the published one: delete it and copy "
                        "or download it again")
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{title} {split} files in {folder} disagree: {images.shape[0]:,} images but "
                        f"{labels.shape[0]:,} labels; the two files must come from the same release")
    if labels.size and labels.max() > 9:
        raise DataError(f"{title} {split} labels in {folder}: expected classes 0..9, found {int(labels.max())}")
    return images, labels


def load_mnist(path: str | os.PathLike[str] | None = None, kind: str = "mnist", split: str = "both", *,
               dtype: Any = np.float32, flatten: bool = True, download: bool = False, verify: bool = True,
               mirrors: Sequence[str] | None = None) -> Any:
    """Load MNIST or Fashion-MNIST as arrays, from local files or (when asked) a download.

    Parameters
    ----------
    path : str or path-like, optional
        A folder holding the four ``*-ubyte.gz`` files, or holding a ``mnist/`` or
        ``fashion-mnist/`` subfolder with them. When omitted: ``$CHAINRULE_DATA``, then
        the user cache ``~/.cache/chainrule``.
    kind : {"mnist", "fashion"}
        Handwritten digits, or Zalando's article images (labels in :data:`FASHION_LABELS`).
    split : {"both", "train", "test"}
        Which part to return (see Returns).
    dtype : numpy dtype
        A float dtype (default float32) gives pixels scaled to [0, 1] (byte / 255);
        ``numpy.uint8`` gives the raw bytes 0..255.
    flatten : bool
        ``x`` of shape (n, 784) (default) or (n, 28, 28).
    download : bool
        Fetch missing files into the first search folder (``path``, else
        ``$CHAINRULE_DATA``, else the cache), checked against the published checksums.
    verify : bool
        Check each published file's size and MD5 (once per process for an unchanged
        file). ``False`` reads any well-formed IDX files of these names.
    mirrors : sequence of str, optional
        Base URLs to download from instead of :data:`MIRRORS`.

    Returns
    -------
    ``((x_train, y_train), (x_test, y_test))`` for ``split="both"``, else ``(x, y)``.
    ``x``: (n, 784) or (n, 28, 28) of ``dtype``; ``y``: (n,) int64 labels 0..9.

    Raises
    ------
    DataError
        Files missing (the message lists the folders searched and how to fix it), or a
        file that is truncated, not IDX, not the published one, or whose image and
        label counts disagree; the message names the file and what was expected.

    Examples
    --------
    >>> from chainrule.datasets import load_mnist
    >>> (x_train, y_train), (x_test, y_test) = load_mnist("/data")        # doctest: +SKIP
    >>> x_train.shape, x_train.dtype, y_train[:5]                         # doctest: +SKIP
    ((60000, 784), dtype('float32'), array([5, 0, 4, 1, 9]))
    """
    kind = _kind(kind)
    if split not in ("both", "train", "test"):
        raise ConfigError(f"split must be 'both', 'train' or 'test', got {split!r}")
    dtype = np.dtype(dtype)
    if dtype != np.uint8 and dtype.kind != "f":
        raise ConfigError(f"dtype must be a float dtype (pixels in [0, 1]) or uint8 (raw bytes), got {dtype}")
    parts = ("train", "test") if split == "both" else (split,)
    names = [name for part in parts for name in _NAMES[part]]
    folder = _find(path, kind, names)
    if folder is None:
        if not download:
            raise _not_found(path, kind, names)
        folder = search_roots(path)[0] / _KINDS[kind][2][0]
        for name in names:
            if _file_in(folder, name) is None:
                files.download(_KINDS[kind][1][name], folder, mirrors or MIRRORS[kind])
    result = []
    for part in parts:
        images, labels = _read_pair(folder, kind, part, verify)
        x = images.reshape(len(images), -1) if flatten else images
        if dtype != np.uint8:
            x = x.astype(dtype)
            x /= dtype.type(255)
        result.append((x, labels.astype(np.int64)))
    return tuple(result) if split == "both" else result[0]
