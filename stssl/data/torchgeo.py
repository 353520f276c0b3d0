"""Our data sets as torchgeo data sets (torchgeo's downloaders fetching ours: :mod:`stssl.data.download`).

:func:`as_torchgeo` turns a :class:`~stssl.data.base.MetaDataset` (or one split of
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
(everything else, ``plot`` included, works the same).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import torch

from stssl.cartography import base_map, map_region
from stssl.data.base import MetaDataset

try:
    from torchgeo.datasets import NonGeoDataset

    HAVE_TORCHGEO = True
except ImportError:  # the adapter still works (and plots); it is just not a torchgeo class
    from torch.utils.data import Dataset as NonGeoDataset

    HAVE_TORCHGEO = False


class STSSLDataset(NonGeoDataset):
    """A :class:`MetaDataset` (all of it, or the samples at ``indices``) as a torchgeo
    ``NonGeoDataset``; see the module's documentation for the sample keys.

    ``transforms`` (a function of a sample dict, as torchgeo's) is applied to every sample.
    ``classes`` are the class names (torchgeo's attribute name); ``dataset`` and ``indices`` are
    what it was made from, so that ``dataset.ids[indices[i]]`` names sample ``i``.
    """

    def __init__(
        self,
        dataset: MetaDataset,
        indices: np.ndarray | None = None,
        transforms: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None,
    ) -> None:
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

            ax_map.plot(
                lon,
                lat,
                marker="o",
                ms=7,
                mfc="#d7191c",
                mec="white",
                mew=1.2,
                ls="",
                transform=ccrs.PlateCarree(),
                zorder=4,
            )
        ax_map.text(
            0.03,
            0.03,
            _date_text(sample),
            transform=ax_map.transAxes,
            fontsize=9,
            zorder=5,
            bbox={"boxstyle": "round,pad=0.25", "facecolor": "white", "alpha": 0.85, "edgecolor": "none"},
        )
        if show_titles:
            lines = ["labels: " + (", ".join(self.label_names(sample["label"])) or "none")]
            if "prediction" in sample:
                lines.append("predicted: " + (", ".join(self.label_names(sample["prediction"])) or "none"))
            ax_img.set_title("\n".join(textwrap.fill(line, 42, break_on_hyphens=False) for line in lines), fontsize=9)
            ax_map.set_title(
                f"{abs(lat):.3f}°{'N' if lat >= 0 else 'S'}, {abs(lon):.3f}°{'E' if lon >= 0 else 'W'}"
                if known
                else "location unknown",
                fontsize=9,
            )
        if suptitle is not None:
            fig.suptitle(suptitle)
        fig.tight_layout()
        return fig

    def __str__(self) -> str:
        return (
            f"STSSLDataset Dataset\n    type: NonGeoDataset\n    size: {len(self)}\n"
            f"    classes: {len(self.classes)} ({'multi-label' if self.multilabel else 'single-label'})"
        )


def _number(value) -> float:
    if value is None:
        return float("nan")
    return float(value.item() if isinstance(value, (torch.Tensor, np.ndarray)) else value)


def _date_text(sample: dict[str, Any]) -> str:
    """ "day of year N" from ``doy``, the UTC date from torchgeo's ``time`` (POSIX seconds), or "date unknown"."""
    doy = _number(sample.get("doy"))
    if math.isfinite(doy):
        return f"day of year {int(round(doy))}"
    time = _number(sample.get("time"))
    if math.isfinite(time):
        date = datetime.fromtimestamp(time, UTC)
        return f"{date:%Y-%m-%d} (day of year {date.timetuple().tm_yday})"
    return "date unknown"


def as_torchgeo(
    data,
    split: str | None = None,
    transforms: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None,
) -> STSSLDataset:
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


__all__ = ["HAVE_TORCHGEO", "STSSLDataset", "as_torchgeo"]
