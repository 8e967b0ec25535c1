"""Where data files live, how they are checked, and the one place that downloads.

Data is looked for in a folder the caller names, else in ``$CHAINRULE_DATA``, else in
the user cache (``$XDG_CACHE_HOME/chainrule`` or ``~/.cache/chainrule``). Nothing is
fetched unless the caller asks; a download goes to a temporary file beside its
destination, is checked against the published size and checksums, and only then is
renamed into place, so an interrupted or corrupt download never looks like data.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from chainrule.errors import DataError, for_cli

__all__ = ["KnownFile", "cache_dir", "search_roots", "file_md5", "check_known_file", "download"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class KnownFile:
    """A published file: its name, size in bytes and checksums."""

    name: str
    size: int
    md5: str
    sha256: str


def cache_dir() -> Path:
    """The user cache folder for chainrule data: ``$XDG_CACHE_HOME/chainrule`` or ``~/.cache/chainrule``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "chainrule"


def search_roots(path: str | os.PathLike[str] | None) -> list[Path]:
    """Folders to look in, in order: ``path`` alone if given, else ``$CHAINRULE_DATA``, then the cache."""
    if path is not None:
        return [Path(path).expanduser()]
    roots = []
    env = os.environ.get("CHAINRULE_DATA")
    if env:
        roots.append(Path(env).expanduser())
    roots.append(cache_dir())
    return roots


# (resolved path, size, mtime_ns) -> MD5 already computed in this process.
_MD5_SEEN: dict[tuple[str, int, int], str] = {}


def file_md5(path: Path) -> str:
    """MD5 of a file as hex; computed once per process for an unchanged file (same size and mtime)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _MD5_SEEN:
        digest = hashlib.md5(usedforsecurity=False)
        with open(path, "rb") as stream:
            for chunk in iter(lambda: stream.read(_CHUNK), b""):
                digest.update(chunk)
        _MD5_SEEN[key] = digest.hexdigest()
    return _MD5_SEEN[key]


def check_known_file(path: Path, known: KnownFile, others: dict[KnownFile, str] | None = None) -> None:
    """Refuse a file whose size or MD5 is not the published one.

    ``others`` maps look-alike files (e.g. the other data set's file of the same name)
    to a description, so the message can say what the file is instead.
    """
    size = path.stat().st_size
    if size == known.size and file_md5(path) == known.md5:
        return
    for other, what in (others or {}).items():
        if size == other.size and file_md5(path) == other.md5:
            raise DataError(f"{path}: expected {known.name} with MD5 {known.md5}, found {what}; "
                            "put each data set's files in its own folder")
    if size != known.size:
        hint = "truncated" if size < known.size else "not the published file"
        head = (f"{path}: expected the published {known.name} of {known.size:,} bytes (MD5 {known.md5}), found "
                f"{size:,} bytes, {hint}; delete it and copy or download it again")
    else:
        head = (f"{path}: expected MD5 {known.md5} for {known.name}, found {file_md5(path)}; the file is damaged "
                "or not the published one; delete it and copy or download it again")
    raise for_cli(DataError(f"{head}, or pass verify=False to read it as it is"),
                  f"{head} (after deleting it, --download fetches it)")


def download(known: KnownFile, folder: Path, mirrors: Sequence[str], timeout: float = 60.0) -> Path:
    """Fetch ``known`` from the first mirror that serves it intact into ``folder``.

    Each mirror is a base URL (``https://...``, ``file://...``) to which the file name is
    appended. The bytes are streamed to a temporary file in ``folder``, checked for size,
    MD5 and SHA-256, and renamed onto ``folder / known.name`` in one atomic step.

    Raises
    ------
    DataError
        No mirror served the file with the published size and checksums; the message
        lists what each mirror did.
    """
    import urllib.error
    import urllib.request

    folder.mkdir(parents=True, exist_ok=True)
    target = folder / known.name
    failures = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + known.name
        fd, tmp_name = tempfile.mkstemp(prefix=f".{known.name}.", suffix=".part", dir=folder)
        tmp = Path(tmp_name)
        try:
            md5, sha256, size = hashlib.md5(usedforsecurity=False), hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    out.write(chunk)
                    md5.update(chunk)
                    sha256.update(chunk)
                    size += len(chunk)
            if (size, md5.hexdigest(), sha256.hexdigest()) != (known.size, known.md5, known.sha256):
                failures.append(f"{url}: got {size:,} bytes with MD5 {md5.hexdigest()}, "
                                f"expected {known.size:,} bytes with MD5 {known.md5}")
                continue
            os.replace(tmp, target)
            return target
        except (urllib.error.URLError, OSError, ValueError) as error:
            failures.append(f"{url}: {getattr(error, 'reason', None) or error}")
        finally:
            tmp.unlink(missing_ok=True)
    raise DataError(f"could not download {known.name} into {folder}: " + "; ".join(failures))
