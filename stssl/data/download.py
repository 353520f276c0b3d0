"""Downloads through torchgeo's own classes and their MD5 checksums: ``python -m stssl download NAME``.

:func:`download` fetches a data set through torchgeo's class (``EuroSAT(root, download=True,
checksum=True)``, ``BigEarthNet(root, bands="s2", ...)``, the Copernicus-Bench classes). Anything
torchgeo already finds in ``root`` (the extracted folders, or the archives, which it then
extracts) is not downloaded again. Offline, or with the server down, the error is one
:class:`~stssl.data.geo.DataError` line naming the server, the files and where to put them by hand.
torchgeo is imported only when a download is asked for (a few seconds).
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import urllib.error
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from stssl.data.geo import DataError


@dataclass(frozen=True)
class Remote:
    """How torchgeo downloads one data set: its class, arguments, and the files it fetches."""

    cls: str  # in torchgeo.datasets
    kwargs: dict
    files: Callable[[type], list[tuple[str, str]]]  # the class -> (URL, file name in root) of each file


REMOTES: dict[str, Remote] = {
    "EuroSAT": Remote(
        "EuroSAT",
        {},
        lambda c: [(c.url + c.filename, c.filename), (c.url + c.split_filenames["train"], c.split_filenames["train"])],
    ),
    "BigEarthNet": Remote(
        "BigEarthNet",
        {"bands": "s2"},
        lambda c: (
            [(c.metadata["s2"]["url"], c.metadata["s2"]["filename"])]
            + [(m["url"], m["filename"]) for m in c.splits_metadata.values()]
        ),
    ),
    "CopernicusBenchBigEarthNetS2": Remote("CopernicusBenchBigEarthNetS2", {}, lambda c: [(c.url, c.zipfile)]),
    "CopernicusBenchEuroSATS2": Remote("CopernicusBenchEuroSATS2", {}, lambda c: [(c.url, c.zipfile)]),
}

# what urllib (torchvision's download_url, which torchgeo calls) raises without a network or server
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
            f"hand ({by_hand}) and run this again: they are checked (MD5) before use"
        ) from None
    except NETWORK_ERRORS as err:
        hosts = ", ".join(dict.fromkeys(urlparse(url).netloc for url, _ in files))
        reason = " ".join(str(getattr(err, "reason", err) or type(err).__name__).split())
        raise DataError(
            f"could not reach {hosts} to download {what} ({reason}); when online run this again, or download the "
            f"file(s) by hand ({by_hand}) and run this again: they are checked (MD5) before use"
        ) from None
    except RuntimeError as err:
        if "corrupted" not in str(err) and "MD5" not in str(err).upper():
            raise
        raise DataError(
            f"a file of {what} in {root} failed its MD5 check ({err}); delete it and run this again (the files: "
            f"{by_hand})"
        ) from None


def download(name: str, root: Path | str) -> Path:
    """Fetch torchgeo's data set ``name`` (a key of :data:`REMOTES`) into ``root`` through its own
    downloader, checking every file's MD5; returns ``root``. Files already there are kept."""
    if name not in REMOTES:
        raise ValueError(f"torchgeo download: unknown data set {name!r}; valid: {', '.join(REMOTES)}")
    remote, root = REMOTES[name], Path(root)
    try:
        import torchgeo.datasets as tgd
    except ImportError as err:
        raise DataError(f"downloading {name} needs torchgeo: pip install 'torchgeo>=0.7'") from err
    cls = getattr(tgd, remote.cls)
    root.mkdir(parents=True, exist_ok=True)
    with _explained(f"{name} through torchgeo", remote.files(cls), root):
        cls(str(root), download=True, checksum=True, **remote.kwargs)
    return root


def download_file(url: str, root: Path | str, filename: str, md5: str) -> Path:
    """One file into ``root`` (kept if already there with this MD5), its MD5 checked; returns its path."""
    from torchvision.datasets.utils import download_url

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with _explained(filename, [(url, filename)], root):
        download_url(url, str(root), filename, md5)
    return root / filename
