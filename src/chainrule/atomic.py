"""Atomic file writes: the target holds the old file or the new one, never a part of either.

Every file chainrule writes (models, checkpoints, predictions, plots) goes through
:func:`write_bytes` or :func:`writing`: the data goes to a temporary file in the target's
folder (``.<name>.<pid>.<random>.chainrule.tmp``), is flushed and fsynced, gets the
target's permissions (the old file's, else ``0666`` less the umask, as ``open()`` would
give), and is renamed over the target; the rename is then made durable by fsyncing the
folder. The temporary file is removed when the write fails, on Ctrl-C, and on SIGTERM
or SIGHUP (turned into an exit with status 128 + the signal's number); temporary files
left by a process that was killed outright (SIGKILL, a power cut) are removed by the
next write to the same folder.

Destinations are checked before anything is opened (:func:`check_destination`): the
folder must exist, and an existing target must be a regular file, so a FIFO or a device
(``/dev/full``) is refused instead of blocking or filling. Operating-system errors
(a full disk, a read-only file system, no permission, a symlink loop, an over-long
name, a file where a folder should be) become a :class:`WriteError` naming the file and
the reason in one line.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import signal
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from chainrule.errors import ChainruleError

__all__ = ["WriteError", "write_bytes", "writing", "check_destination", "describe_os_error", "TEMP_SUFFIX"]

#: The suffix of chainrule's own temporary files; nothing else is ever cleaned up.
TEMP_SUFFIX = ".chainrule.tmp"

_REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ELOOP: "too many levels of symbolic links",
    errno.ENAMETOOLONG: "the file name is too long",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.ENOENT: "no such file or folder",
    errno.EISDIR: "it is a folder",
    errno.EFBIG: "the file is too large for the file system",
    errno.EIO: "an input/output error",
}


class WriteError(ChainruleError):
    """A file that cannot be written where asked (the reason is in the message)."""


def describe_os_error(error: OSError) -> str:
    """A short English reason for an operating-system error (``ENOSPC`` -> "no space left on the device")."""
    return _REASONS.get(error.errno) or error.strerror or str(error) or type(error).__name__


def check_destination(path: str | Path, error: type[ChainruleError] = WriteError) -> Path:
    """``path`` when a file can be written there: its folder exists and it is not a FIFO, device or folder.

    Nothing is opened or created; a FIFO or device is refused from its ``stat`` alone.
    """
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        info = None
    except OSError as problem:
        raise error(f"cannot write {path}: {describe_os_error(problem)}") from None
    if info is not None and not stat.S_ISREG(info.st_mode):
        what = "a folder" if stat.S_ISDIR(info.st_mode) else \
            "a FIFO (named pipe)" if stat.S_ISFIFO(info.st_mode) else "a device or other special file"
        raise error(f"cannot write {path}: it is {what}, not a regular file")
    parent = path.parent
    try:
        parent_info = os.stat(parent)
    except FileNotFoundError:
        raise error(f"cannot write {path}: the folder {parent} does not exist") from None
    except OSError as problem:
        raise error(f"cannot write {path}: {describe_os_error(problem)}") from None
    if not stat.S_ISDIR(parent_info.st_mode):
        raise error(f"cannot write {path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        try:
            read_only = bool(os.statvfs(parent).f_flag & getattr(os, "ST_RDONLY", 1))
        except (OSError, AttributeError):
            read_only = False
        reason = "the file system is read-only" if read_only else f"permission denied in the folder {parent}"
        raise error(f"cannot write {path}: {reason}")
    try:
        name_max = os.pathconf(parent, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        name_max = 255
    if len(path.name.encode()) + 48 > name_max:  # room for the temporary file's longer name
        raise error(f"cannot write {path}: the file name is too long")
    return path


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(folder: Path) -> int:
    """Remove temporary files of ours in ``folder`` whose writing process is gone; returns how many."""
    removed = 0
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    uid = os.getuid() if hasattr(os, "getuid") else None
    for name in names:
        if not (name.startswith(".") and name.endswith(TEMP_SUFFIX)):
            continue
        parts = name[: -len(TEMP_SUFFIX)].rsplit(".", 2)
        if len(parts) != 3 or not parts[1].isdigit():
            continue
        candidate = folder / name
        try:
            info = os.lstat(candidate)
            if not stat.S_ISREG(info.st_mode) or (uid is not None and info.st_uid != uid) \
                    or _pid_alive(int(parts[1])):
                continue
            os.unlink(candidate)
            removed += 1
        except OSError:
            continue
    return removed


class _Terminated(BaseException):
    """SIGTERM or SIGHUP arrived during a write: clean up, then exit with 128 + signum."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise so that ``finally`` clauses run (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None]
    previous = {}

    def handler(signum: int, frame: object) -> None:
        raise _Terminated(signum)

    for signum in wanted:
        old = signal.getsignal(signum)
        if old in (signal.SIG_DFL, None):  # leave handlers a program installed alone
            previous[signum] = old
            signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old if old is not None else signal.SIG_DFL)


@contextlib.contextmanager
def writing(path: str | Path, mode: str = "wb", error: type[ChainruleError] = WriteError,
            newline: str | None = None) -> Iterator[IO]:
    """A file object to write ``path`` through; the target changes only when the block ends normally.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     target = pathlib.Path(folder) / "out.csv"
    ...     with writing(target, "w") as handle:
    ...         _ = handle.write("label\\n1\\n")
    ...     print(target.read_text(), end="")
    label
    1
    """
    path = check_destination(path, error)
    parent = path.parent
    clean_stale(parent)
    try:
        mode_bits = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode_bits = 0o666 & ~_umask()
    tmp = parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
    try:
        with _signals_raise():
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
                with os.fdopen(fd, mode, newline=newline) as handle:
                    yield handle
                    handle.flush()
                    os.fsync(handle.fileno())
                os.chmod(tmp, mode_bits)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
    except _Terminated as signalled:
        raise SystemExit(128 + signalled.signum) from None
    except OSError as problem:
        raise error(f"cannot write {path}: {describe_os_error(problem)}") from None
    _sync_folder(parent)


def write_bytes(path: str | Path, data: bytes, error: type[ChainruleError] = WriteError) -> Path:
    """Write ``data`` to ``path`` atomically (see the module's docstring); returns the path."""
    with writing(path, "wb", error) as handle:
        handle.write(data)
    return Path(path)


def _sync_folder(folder: Path) -> None:
    """Make the rename durable (POSIX; not possible on every platform or file system)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
