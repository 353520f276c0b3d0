"""Downloads through torchgeo's own classes and their MD5 checksums: ``python -m stssl download NAME``.

:func:`download` fetches a data set through torchgeo's class (``EuroSAT(root, download=True,
checksum=True)``, ``BigEarthNet(root, bands="s2", ...)``, the Copernicus-Bench classes). Anything
torchgeo already finds in ``root`` (the extracted folders, or the archives, which it then
extracts) is not downloaded again. Offline, or with the server down, the error is one
:class:`~stssl.data.geo.DataError` line naming the server, the files and where to put them by hand.
torchgeo is imported only when a download is asked for (a few seconds).
"""

from __future__ import annotations

import http.client
import socket
import urllib.error
from collections.abc import Callable
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
    files = remote.files(cls)
    by_hand = "; ".join(f"{url} -> {root / file}" for url, file in files)
    root.mkdir(parents=True, exist_ok=True)
    try:
        cls(str(root), download=True, checksum=True, **remote.kwargs)
    except urllib.error.HTTPError as err:  # the server answered, but not with the file
        raise DataError(
            f"the server refused torchgeo's download of {name} (HTTP {err.code} {err.reason}); "
            f"download the file(s) by hand ({by_hand}) and run this again: torchgeo checks and "
            "extracts them"
        ) from None
    except NETWORK_ERRORS as err:
        hosts = ", ".join(dict.fromkeys(urlparse(url).netloc for url, _ in files))
        reason = " ".join(str(getattr(err, "reason", err) or type(err).__name__).split())
        raise DataError(
            f"could not reach {hosts} to download {name} through torchgeo ({reason}); when online run "
            f"this again, or download the file(s) by hand ({by_hand}) and run this again: torchgeo "
            "checks and extracts them"
        ) from None
    except RuntimeError as err:
        if "corrupted" not in str(err) and "MD5" not in str(err).upper():
            raise
        raise DataError(
            f"a file of {name} in {root} failed torchgeo's MD5 check ({err}); delete it and run this "
            f"again (the files: {by_hand})"
        ) from None
    return root
