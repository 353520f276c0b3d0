"""Writes that a crash or a concurrent reader never sees half done: one file (:func:`write_atomic`)
or a whole folder (:func:`publish_folder`)."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from stssl.core.checks import OneLineError


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable (the directory entry itself is flushed)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    """``write(tmp_path)``, flushed to disk, then renamed over ``path``: a reader (or a crash) sees
    the old file or the whole new one, never a part. The temporary name is this process's own
    (two processes writing one file never share it) and is removed if the write fails."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        refused = _os_error(err)
        if refused is not None and refused is not err:  # a writer (torch.save) wrapped the disk's refusal
            raise OSError(refused.errno, refused.strerror, str(path)) from err
        raise


def _os_error(err: BaseException | None) -> OSError | None:
    """The OSError in ``err``'s chain of causes, if any."""
    while err is not None and not isinstance(err, OSError):
        err = err.__cause__ or err.__context__
    return err


def save_torch_atomic(path: Path, obj: object) -> None:
    """``torch.save`` through :func:`write_atomic`, into a file object so that a refusal of the disk
    stays an OSError (written to a path, torch reports it as a bare RuntimeError)."""
    import torch

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            torch.save(obj, f)

    write_atomic(path, save)


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(text))


def partial_path(path: Path) -> Path:
    """Where a folder is written before :func:`publish_folder` renames it to ``path``."""
    return path.with_name(path.name + ".partial")


def publish_folder(partial: Path, final: Path) -> None:
    """The folder ``partial``, written completely, renamed to ``final`` (replacing an older one):
    a reader sees no folder or the whole one, and an interrupted writer leaves only ``partial``."""
    if final.exists():
        shutil.rmtree(final)
    os.replace(partial, final)
    fsync_dir(final.parent)


_REFUSED = {
    errno.ENOSPC: "free some space there",
    errno.EDQUOT: "free some of your quota there",
    errno.EROFS: "the file system is read-only: use a writable folder",
    errno.EACCES: "this user may not write there: use a writable folder",
    errno.EPERM: "the file cannot be changed (immutable?): use a writable folder",
}


class DiskError(OneLineError):
    """A write the disk refused (full, over quota, read-only, not permitted), in one line naming the path."""


def disk_error(err: OSError, then: str = "", action: str = "write") -> DiskError | None:
    """``err`` as a one-line :class:`DiskError` saying what could not be done (``action``) to which
    path, why, and what to do (``then``: what happens next, e.g. that a retry resumes), or None when
    it is not a refusal of the disk."""
    if err.errno not in _REFUSED:
        return None
    where = err.filename or "a file"
    return DiskError(f"cannot {action} {where}: {err.strerror} ({_REFUSED[err.errno]}{'; ' + then if then else ''})")
