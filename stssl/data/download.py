"""Downloads checked by their MD5 before anything is extracted: ``python -m stssl download NAME``.

:func:`download` fetches a data set's files (the URLs and MD5 checksums of torchgeo's class: ``EuroSAT``,
``BigEarthNet(bands="s2")``, the Copernicus-Bench classes) and extracts its archives itself:

* a data set already extracted in ``root`` (its folder there) is neither downloaded nor extracted again;
* a file already in ``root`` (downloaded before, or by hand) has its MD5 checked first: a file that
  differs is one :class:`~stssl.data.geo.DataError` line naming it and the MD5 expected, and nothing
  is extracted from it (torchgeo's classes would extract it unchecked);
* a missing file is downloaded (torchvision's ``download_url``), its MD5 checked;
* an archive is extracted by :func:`extract`, which refuses a member that would land outside ``root``
  (``..``, an absolute path, a link out of it) in one line naming the archive and the member.

Only then is torchgeo's class opened, which finds its folders and so neither downloads nor extracts.
Offline, or with the server down, the error is one :class:`~stssl.data.geo.DataError` line naming the
server, the files and where to put them by hand. torchgeo is imported only when a download is asked for.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import shutil
import socket
import stat
import tarfile
import urllib.error
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from urllib.parse import urlparse

from stssl.data.geo import DataError


@dataclass(frozen=True)
class File:
    """One file of a data set: where it is downloaded from, its name in the root, its MD5 and, for an
    archive, the path (relative to the root) whose presence says that it has been extracted."""

    url: str
    name: str
    md5: str
    extracted: str | None = None  # None: not an archive, used as it is


@dataclass(frozen=True)
class Remote:
    """How torchgeo downloads one data set: its class, arguments, and the files it needs."""

    cls: str  # in torchgeo.datasets
    kwargs: dict
    files: Callable[[type], list[File]]  # the class -> its files


def _bigearthnet_files(c) -> list[File]:
    s2 = c.metadata["s2"]
    splits = [File(m["url"], m["filename"], m["md5"]) for m in c.splits_metadata.values()]
    return [File(s2["url"], s2["filename"], s2["md5"], s2["directory"]), *splits]


def _copernicus_files(c) -> list[File]:
    # torchgeo's class looks for its train split's table to decide whether the archive was extracted
    return [File(c.url, c.zipfile, c.md5, f"{c.directory}/{c.filename.format('train')}")]


REMOTES: dict[str, Remote] = {
    "EuroSAT": Remote(
        "EuroSAT",
        {},
        lambda c: [
            File(c.url + c.filename, c.filename, c.md5, c.base_dir),
            File(c.url + c.split_filenames["train"], c.split_filenames["train"], c.split_md5s["train"]),
        ],
    ),
    "BigEarthNet": Remote("BigEarthNet", {"bands": "s2"}, _bigearthnet_files),
    "CopernicusBenchBigEarthNetS2": Remote("CopernicusBenchBigEarthNetS2", {}, _copernicus_files),
    "CopernicusBenchEuroSATS2": Remote("CopernicusBenchEuroSATS2", {}, _copernicus_files),
}

# what urllib (torchvision's download_url) raises without a network or server
NETWORK_ERRORS = (
    urllib.error.URLError,
    ConnectionError,
    TimeoutError,
    socket.gaierror,
    socket.timeout,
    http.client.HTTPException,
)


@contextlib.contextmanager
def _explained(what: str, files: list[tuple[str, str]], root: Path) -> Iterator[None]:
    """A failed download of ``files`` (URL, file name in ``root``) as one :class:`DataError` line:
    the server's refusal, no network, or a file that fails its MD5 check, with what to do."""
    by_hand = "; ".join(f"{url} -> {root / file}" for url, file in files)
    try:
        yield
    except urllib.error.HTTPError as err:  # the server answered, but not with the file
        raise DataError(
            f"the server refused the download of {what} (HTTP {err.code} {err.reason}); download the file(s) by "
            f"hand ({by_hand}) and run this again: their MD5 is checked before anything is extracted"
        ) from None
    except NETWORK_ERRORS as err:
        hosts = ", ".join(dict.fromkeys(urlparse(url).netloc for url, _ in files))
        reason = " ".join(str(getattr(err, "reason", err) or type(err).__name__).split())
        raise DataError(
            f"could not reach {hosts} to download {what} ({reason}); when online run this again, or download the "
            f"file(s) by hand ({by_hand}) and run this again: their MD5 is checked before anything is extracted"
        ) from None
    except RuntimeError as err:
        if "corrupted" not in str(err) and "MD5" not in str(err).upper():
            raise
        raise DataError(
            f"a file of {what} in {root} failed its MD5 check ({err}); delete it and run this again (the files: "
            f"{by_hand})"
        ) from None


def md5sum(path: Path | str) -> str:
    """The MD5 of the file at ``path`` (read 1 MiB at a time)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_md5(path: Path, md5: str, url: str) -> None:
    """A :class:`DataError` line unless the file at ``path`` has the MD5 ``md5`` (``url``: where it comes from)."""
    got = md5sum(path)
    if got != md5:
        raise DataError(
            f"{path} is not the file expected (its MD5 is {got}, expected {md5}), so nothing was extracted from "
            f"it: delete it and run this again, or download it by hand ({url} -> {path})"
        )


# ----------------------------------------------------------------------------------------------- safe extraction
def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _absolute(name: str) -> bool:
    return PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute() or name.startswith("\\")


def _escape(name: str, dest: str, link: str | None = None, hard: bool = False) -> str | None:
    """Why the member ``name`` (a link to ``link`` if given; ``hard``: a hard link, relative to the
    top) would leave the folder ``dest`` (resolved), or ``None`` when it stays inside."""
    if _absolute(name):
        return "an absolute path"
    if not _inside(os.path.realpath(os.path.join(dest, name)), dest):
        return "a path out of the folder"
    if link is None:
        return None
    if _absolute(link):
        return f"a link to the absolute path {link!r}"
    start = dest if hard else os.path.dirname(os.path.join(dest, name))
    if not _inside(os.path.realpath(os.path.join(start, link)), dest):
        return f"a link out of the folder (to {link!r})"
    return None


def _refused(archive: Path, target: Path, member: str, why: str) -> DataError:
    return DataError(
        f"refused to extract the archive {archive}: its member {member!r} would be written outside {target} "
        f"({why}); nothing was extracted from it. Delete it and run this again"
    )


def _checked_tar_members(tar: tarfile.TarFile, archive: Path, target: Path, dest: str) -> Iterator[tarfile.TarInfo]:
    for member in tar:
        if member.issym() or member.islnk():
            why = _escape(member.name, dest, member.linkname, hard=member.islnk())
        elif member.isdev() or member.isfifo():
            why = "a device or special file"
        else:
            why = _escape(member.name, dest)
        if why:
            raise _refused(archive, target, member.name, why)
        yield member


def _extract_tar(archive: Path, target: Path, dest: Path) -> None:
    with tarfile.open(archive) as tar:
        members = _checked_tar_members(tar, archive, target, str(dest))
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: its own checks too
            try:
                tar.extractall(dest, members=members, filter="data")
            except tarfile.FilterError as err:
                raise _refused(archive, target, err.tarinfo.name, type(err).__name__) from None
        else:
            tar.extractall(dest, members=members)


def _extract_zip(archive: Path, target: Path, dest: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            link = zf.read(info).decode("utf-8", "replace") if stat.S_ISLNK(info.external_attr >> 16) else None
            why = _escape(info.filename, str(dest), link)
            if why:
                raise _refused(archive, target, info.filename, why)
        zf.extractall(dest)


def _move_into(src: Path, dst: Path) -> None:
    """Every entry of the folder ``src`` moved into the folder ``dst``, merging folders both hold."""
    for entry in sorted(src.iterdir()):
        there = dst / entry.name
        if entry.is_dir() and not entry.is_symlink() and there.is_dir():
            _move_into(entry, there)
            continue
        if there.is_dir() and not there.is_symlink():
            shutil.rmtree(there)
        os.replace(entry, there)


def extract(archive: Path | str, target: Path | str | None = None) -> Path:
    """The tar (any compression) or zip ``archive`` extracted into ``target`` (default: its folder);
    returns ``target``. A member that would be written outside ``target`` (a ``..`` path, an absolute
    path, a link out of it, a device file) is refused in one :class:`DataError` line naming the archive
    and the member, and then nothing is extracted: the members go to a hidden folder beside them first,
    moved into ``target`` only when every one was accepted."""
    archive = Path(archive)
    target = Path(target) if target is not None else archive.parent
    target.mkdir(parents=True, exist_ok=True)
    partial = target / f".{archive.name}.partial"
    if partial.exists():  # left by an interrupted extraction
        shutil.rmtree(partial)
    partial.mkdir()
    dest = Path(os.path.realpath(partial))
    try:
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, target, dest)
        elif tarfile.is_tarfile(archive):
            _extract_tar(archive, target, dest)
        else:
            raise DataError(f"{archive} is neither a tar nor a zip archive: delete it and run this again")
        _move_into(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


# ----------------------------------------------------------------------------------------------- downloads
def download(name: str, root: Path | str) -> Path:
    """Fetch torchgeo's data set ``name`` (a key of :data:`REMOTES`) into ``root``; returns ``root``.
    Every file there or downloaded has its MD5 checked before anything is extracted from it; a data
    set already extracted is kept as it is (see the module's description)."""
    if name not in REMOTES:
        raise ValueError(f"torchgeo download: unknown data set {name!r}; valid: {', '.join(REMOTES)}")
    remote, root = REMOTES[name], Path(root)
    try:
        import torchgeo.datasets as tgd
    except ImportError as err:
        raise DataError(f"downloading {name} needs torchgeo: pip install 'torchgeo>=0.7'") from err
    cls = getattr(tgd, remote.cls)
    root.mkdir(parents=True, exist_ok=True)
    needed = [f for f in remote.files(cls) if f.extracted is None or not (root / f.extracted).exists()]
    for f in needed:  # the files already there (by hand, or from before), checked before any download
        if (root / f.name).exists():
            check_md5(root / f.name, f.md5, f.url)
    missing = [(f.url, f.name) for f in needed if not (root / f.name).exists()]
    with _explained(name, missing, root):
        for f in needed:
            if not (root / f.name).exists():
                _fetch(f.url, root, f.name, f.md5)
            if f.extracted is not None:
                extract(root / f.name, root)
                if not (root / f.extracted).exists():
                    raise DataError(
                        f"the archive {root / f.name} held no {f.extracted}, which torchgeo's {remote.cls} "
                        "needs: delete it and run this again"
                    )
        # every file and folder is there: torchgeo's class neither downloads nor extracts
        cls(str(root), download=True, checksum=True, **remote.kwargs)
    return root


def _fetch(url: str, root: Path, filename: str, md5: str) -> None:
    """torchvision's download of ``url`` to ``root / filename``, its MD5 checked (a RuntimeError if not)."""
    from torchvision.datasets.utils import download_url

    download_url(url, str(root), filename, md5)


def download_file(url: str, root: Path | str, filename: str, md5: str) -> Path:
    """One file into ``root`` (kept if already there with this MD5), its MD5 checked; returns its path.
    Not an archive: nothing is extracted."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with _explained(filename, [(url, filename)], root):
        _fetch(url, root, filename, md5)
    return root / filename
