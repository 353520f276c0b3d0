"""torchgeo both ways: its downloaders fetch our data sets, and our data sets are torchgeo data sets.

**Downloading.** :func:`download` fetches a data set through torchgeo's own class and its MD5
checksums (``EuroSAT(root, download=True, checksum=True)``, ``BigEarthNet(root, bands="s2", ...)``,
the Copernicus-Bench classes), which is what ``python -m stssl download NAME --root DIR`` runs.
Anything torchgeo already finds in ``root`` (the extracted folders, or the archives, which it
then extracts) is not downloaded again. Offline, or with the server down, the error is one
:class:`~stssl.data.geo.DataError` line naming the server, the files and where to put them by
hand.

**Adapting.** :func:`as_torchgeo` turns a :class:`~stssl.data.base.MetaDataset` (or one split of
a :class:`~stssl.data.DataSplits`) into :class:`STSSLDataset`, a
``torchgeo.datasets.NonGeoDataset`` whose samples follow torchgeo's convention::

    tg = as_torchgeo(load_data("geosynth"), "train")
    sample = tg[0]   # {"image": float32 3 x H x W in [0, 1], "label", "lat", "lon", "doy"}
    tg.plot(sample)  # the image, its label names, its place on a small map, its date

``image`` is the un-normalised RGB in [0, 1] (torchgeo's transforms and ``plot`` expect that;
normalise with ``tg.dataset.normalize``). ``label`` is a class index (int64, 0-d) or a
multi-hot vector (float32, C). ``lat``/``lon`` are degrees WGS84 (float32, 0-d). The date:
torchgeo's Copernicus-Bench samples carry ``time``, a POSIX timestamp; stssl keeps only the day
of year (1..366, NaN when unknown; the year is not part of :class:`MetaDataset`), so the key is
``doy``, not ``time``. :meth:`STSSLDataset.plot` reads ``time`` too when a sample has it.

Importing this module imports ``torchgeo.datasets`` (a few seconds); :mod:`stssl.data.base` never
does. Without torchgeo installed, :class:`STSSLDataset` derives from torch's ``Dataset`` instead
(everything else, ``plot`` included, works the same) and :func:`download` says to install it.
"""

from __future__ import annotations

import http.client
import math
import socket
import textwrap
import urllib.error
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

import numpy as np
import torch

from stssl.data.base import MetaDataset
from stssl.data.geo import DataError

try:
    from torchgeo.datasets import NonGeoDataset

    HAVE_TORCHGEO = True
except ImportError:  # the adapter still works (and plots); it is just not a torchgeo class
    from torch.utils.data import Dataset as NonGeoDataset

    HAVE_TORCHGEO = False


# --------------------------------------------------------------------------------------- download
@dataclass(frozen=True)
class Remote:
    """How torchgeo downloads one data set: its class, arguments, and the files it fetches."""

    cls: str  # in torchgeo.datasets
    kwargs: dict
    files: Callable[[type], list[tuple[str, str]]]  # the class -> (URL, file name in root) of each file


REMOTES: dict[str, Remote] = {
    "EuroSAT": Remote("EuroSAT", {}, lambda c: [(c.url + c.filename, c.filename),
                                                (c.url + c.split_filenames["train"], c.split_filenames["train"])]),
    "BigEarthNet": Remote("BigEarthNet", {"bands": "s2"},
                          lambda c: [(c.metadata["s2"]["url"], c.metadata["s2"]["filename"])]
                          + [(m["url"], m["filename"]) for m in c.splits_metadata.values()]),
    "CopernicusBenchBigEarthNetS2": Remote("CopernicusBenchBigEarthNetS2", {}, lambda c: [(c.url, c.zipfile)]),
    "CopernicusBenchEuroSATS2": Remote("CopernicusBenchEuroSATS2", {}, lambda c: [(c.url, c.zipfile)]),
}

# what urllib (torchvision's download_url, which torchgeo calls) raises without a network or server
NETWORK_ERRORS = (urllib.error.URLError, ConnectionError, TimeoutError, socket.gaierror, socket.timeout,
                  http.client.HTTPException)


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
        raise DataError(f"the server refused torchgeo's download of {name} (HTTP {err.code} {err.reason}); "
                        f"download the file(s) by hand ({by_hand}) and run this again: torchgeo checks and "
                        "extracts them") from None
    except NETWORK_ERRORS as err:
        hosts = ", ".join(dict.fromkeys(urlparse(url).netloc for url, _ in files))
        reason = " ".join(str(getattr(err, "reason", err) or type(err).__name__).split())
        raise DataError(f"could not reach {hosts} to download {name} through torchgeo ({reason}); when online run "
                        f"this again, or download the file(s) by hand ({by_hand}) and run this again: torchgeo "
                        "checks and extracts them") from None
    except RuntimeError as err:
        if "corrupted" not in str(err) and "MD5" not in str(err).upper():
            raise
        raise DataError(f"a file of {name} in {root} failed torchgeo's MD5 check ({err}); delete it and run this "
                        f"again (the files: {by_hand})") from None
    return root


# ---------------------------------------------------------------------------------------- adapter
class STSSLDataset(NonGeoDataset):
    """A :class:`MetaDataset` (all of it, or the samples at ``indices``) as a torchgeo
    ``NonGeoDataset``; see the module's documentation for the sample keys.

    ``transforms`` (a function of a sample dict, as torchgeo's) is applied to every sample.
    ``classes`` are the class names (torchgeo's attribute name); ``dataset`` and ``indices`` are
    what it was made from, so that ``dataset.ids[indices[i]]`` names sample ``i``.
    """

    def __init__(self, dataset: MetaDataset, indices: np.ndarray | None = None,
                 transforms: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None) -> None:
        self.dataset = dataset
        self.indices = np.arange(len(dataset)) if indices is None else np.asarray(indices, dtype=np.int64)
        self.transforms = transforms
        self.classes = tuple(dataset.task.class_names)
        self.multilabel = dataset.task.multilabel

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} samples")
        j = int(self.indices[index])
        raw = self.dataset.raw_batch(np.array([j]))
        sample = {
            "image": raw["pixels"][0].float() / 255.0,
            "label": raw["label"][0],
            "lat": raw["lat"][0],
            "lon": raw["lon"][0],
            "doy": raw["doy"][0],
        }
        return self.transforms(sample) if self.transforms is not None else sample

    def label_names(self, label: torch.Tensor | np.ndarray) -> list[str]:
        """The class names of a label: one for a class index, every positive one for a multi-hot vector."""
        label = np.asarray(label.detach().cpu() if isinstance(label, torch.Tensor) else label)
        if label.ndim == 0:
            return [self.classes[int(label)]]
        return [self.classes[k] for k in np.flatnonzero(label > 0.5)]

    def plot(self, sample: dict[str, Any], show_titles: bool = True, suptitle: str | None = None):
        """A figure of one sample: the image titled with its label names (and ``prediction``'s,
        when given), and a small map with its location, titled with the coordinates and marked
        with its date ("day of year N", the date itself for a torchgeo ``time``, or "date unknown").
        Returns the matplotlib ``Figure``."""
        import matplotlib.pyplot as plt

        from stssl.plots import base_map, map_region

        image = sample["image"]
        image = np.asarray(image.detach().cpu() if isinstance(image, torch.Tensor) else image, dtype=np.float32)
        lat, lon = _number(sample.get("lat")), _number(sample.get("lon"))
        known = math.isfinite(lat) and math.isfinite(lon)
        region = map_region([lat], [lon])  # Europe, or the country around the point

        fig = plt.figure(figsize=(7.5, 3.8))
        ax_img = fig.add_subplot(1, 2, 1)
        ax_img.imshow(np.clip(image[:3].transpose(1, 2, 0), 0, 1), interpolation="nearest")
        ax_img.axis("off")
        ax_map = base_map(fig.add_subplot(1, 2, 2, projection=region.projection()), region)
        if known:
            import cartopy.crs as ccrs

            ax_map.plot(lon, lat, marker="o", ms=7, mfc="#d7191c", mec="white", mew=1.2, ls="",
                        transform=ccrs.PlateCarree(), zorder=4)
        ax_map.text(0.03, 0.03, _date_text(sample), transform=ax_map.transAxes, fontsize=9, zorder=5,
                    bbox={"boxstyle": "round,pad=0.25", "facecolor": "white", "alpha": 0.85, "edgecolor": "none"})
        if show_titles:
            lines = ["labels: " + (", ".join(self.label_names(sample["label"])) or "none")]
            if "prediction" in sample:
                lines.append("predicted: " + (", ".join(self.label_names(sample["prediction"])) or "none"))
            ax_img.set_title("\n".join(textwrap.fill(line, 42, break_on_hyphens=False) for line in lines), fontsize=9)
            ax_map.set_title(f"{abs(lat):.3f}°{'N' if lat >= 0 else 'S'}, {abs(lon):.3f}°{'E' if lon >= 0 else 'W'}"
                             if known else "location unknown", fontsize=9)
        if suptitle is not None:
            fig.suptitle(suptitle)
        fig.tight_layout()
        return fig

    def __str__(self) -> str:
        return (f"STSSLDataset Dataset\n    type: NonGeoDataset\n    size: {len(self)}\n"
                f"    classes: {len(self.classes)} ({'multi-label' if self.multilabel else 'single-label'})")


def _number(value) -> float:
    if value is None:
        return float("nan")
    return float(value.item() if isinstance(value, (torch.Tensor, np.ndarray)) else value)


def _date_text(sample: dict[str, Any]) -> str:
    """"day of year N" from ``doy``, the UTC date from torchgeo's ``time`` (POSIX seconds), or "date unknown"."""
    doy = _number(sample.get("doy"))
    if math.isfinite(doy):
        return f"day of year {int(round(doy))}"
    time = _number(sample.get("time"))
    if math.isfinite(time):
        date = datetime.fromtimestamp(time, timezone.utc)
        return f"{date:%Y-%m-%d} (day of year {date.timetuple().tm_yday})"
    return "date unknown"


def as_torchgeo(data, split: str | None = None,
                transforms: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None) -> STSSLDataset:
    """``data`` as a torchgeo ``NonGeoDataset`` (:class:`STSSLDataset`).

    ``data`` is a :class:`MetaDataset` (every sample) or the :class:`~stssl.data.DataSplits` of
    :func:`~stssl.data.load_data`, of which ``split`` picks ``"train"``, ``"val"``, ``"test"``,
    ``"labelled"`` or ``"unlabelled"`` (``None``: every sample of its data set).
    """
    parts = ("train", "val", "test", "labelled", "unlabelled")
    if isinstance(data, MetaDataset):
        if split is not None:
            raise ValueError(f"split={split!r} needs the DataSplits of load_data, not a bare MetaDataset")
        return STSSLDataset(data, None, transforms)
    if not hasattr(data, "dataset") or not isinstance(data.dataset, MetaDataset):
        raise TypeError(f"as_torchgeo takes a MetaDataset or the DataSplits of load_data, not {type(data).__name__}")
    if split is not None and split not in parts:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(parts)} (or None: every sample)")
    return STSSLDataset(data.dataset, None if split is None else getattr(data, split), transforms)


__all__ = ["HAVE_TORCHGEO", "NETWORK_ERRORS", "REMOTES", "STSSLDataset", "as_torchgeo", "download"]
