"""Copernicus-Bench's BigEarthNet-S2 and EuroSAT-S2 (torchgeo 0.7+), read through torchgeo's own classes.

Layouts (as ``python -m stssl download copernicus-bigearthnet|copernicus-eurosat --root DIR``,
i.e. torchgeo, leaves them):

* ``copernicus-bigearthnet`` (``CopernicusBenchBigEarthNetS2``, 5 % of BigEarthNet v2):
  ``<root>/bigearthnet_s1s2/multilabel-{train,val,test}.csv`` (a header row; columns: the S1 file,
  the S2 file, 19 zeros and ones) and the 12-band GeoTIFFs
  ``<root>/bigearthnet_s1s2/BigEarthNet-S2-5%/<S2 file>``. 19 labels (torchgeo's order, the
  BigEarthNet 19-class nomenclature), multi-label. The date is in the file name
  (``S2A_MSIL2A_20170613T101031_...``), which torchgeo turns into ``time``.
* ``copernicus-eurosat`` (``CopernicusBenchEuroSATS2``): ``<root>/eurosat_s2/eurosat-{train,val,test}.txt``
  (one ``<Class>_<n>.jpg`` a line) and the 13-band GeoTIFFs
  ``<root>/eurosat_s2/all_imgs/<Class>/<Class>_<n>.tif``. 10 classes, single-label; labels are
  numbered in stssl's EuroSAT order (:data:`stssl.data.eurosat.CLASSES`, alphabetical, the
  original EuroSAT's), not torchgeo's, so that ``eurosat`` and ``copernicus-eurosat`` agree.
  EuroSAT files carry no date: the day of year is NaN, as for ``eurosat``.

Every sample is read by torchgeo's ``__getitem__`` (only bands B04, B03, B02), which also gives
``lat``/``lon`` (the centre of the GeoTIFF, from its CRS and transform, in WGS84) and ``time``
(POSIX seconds, held as float32 by torchgeo: about two minutes of resolution, harmless for a
day of year at Sentinel-2's late-morning overpass), from which the day of year (UTC) is taken.

Pixels: RGB = B04, B03, B02 scaled as ``clip(DN / 3000, 0, 1)`` for both, EuroSAT's scaling
(:data:`stssl.data.eurosat.DN_WHITE`): both hold Sentinel-2 reflectance x 10 000 (EuroSAT L1C,
BigEarthNet v2 L2A), so reflectance 0-0.3 maps to 0-1 either way; BigEarthNet v1's band-statistics
scaling (:mod:`stssl.data.bigearthnet`) is tied to v1's statistics, so it is not reused.
Images are resized to ``image_size`` (default 128 for BigEarthNet-S2, as ``bigearthnet``; 32 for
EuroSAT-S2, as ``eurosat``), stored as 8 bits and normalised with mean = std = 0.5.

Splits: torchgeo's train/val/test files, unchanged. Sample ids are ``<split>/<file stem>`` so that
the packed form (``python -m stssl prepare-data NAME --root DIR``, which :func:`open_copernicus`
finds first) carries the split with it.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from stssl.core.checks import BOOL, Number
from stssl.data import eurosat
from stssl.data.base import MetaDataset, TaskInfo
from stssl.data.download import download as torchgeo_download
from stssl.data.geo import DataError, check_location, to_rgb8
from stssl.data.packed import Record, find_packed, is_packed, read_all, to_dataset
from stssl.data.registry import DatasetSpec, register

SPLITS = ("train", "val", "test")
RGB_BANDS = ("B04", "B03", "B02")
DN_WHITE = eurosat.DN_WHITE  # 3000: clip(DN / 3000, 0, 1)
MEAN, STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class Layout:
    """One Copernicus-Bench data set: torchgeo's class and where its files are."""

    name: str  # stssl's name
    torchgeo_class: str  # in torchgeo.datasets
    directory: str  # under root
    split_file: str  # under directory, {} = the split
    images: str  # under directory, how each image's path is made
    image_size: int  # default
    multilabel: bool

    def expected(self, root: Path | str) -> str:
        base = Path(root) / self.directory
        return f"{base / self.split_file.format('{train,val,test}')} and the images {base / self.images}"


LAYOUTS: dict[str, Layout] = {
    "copernicus-bigearthnet": Layout(
        "copernicus-bigearthnet",
        "CopernicusBenchBigEarthNetS2",
        "bigearthnet_s1s2",
        "multilabel-{}.csv",
        "BigEarthNet-S2-5%/<S2 file of the CSV>",
        128,
        True,
    ),
    "copernicus-eurosat": Layout(
        "copernicus-eurosat",
        "CopernicusBenchEuroSATS2",
        "eurosat_s2",
        "eurosat-{}.txt",
        "all_imgs/<Class>/<Class>_<n>.tif",
        32,
        False,
    ),
}


def _layout(name: str) -> Layout:
    if name not in LAYOUTS:
        raise ValueError(f"unknown Copernicus-Bench data set {name!r}; valid: {', '.join(LAYOUTS)}")
    return LAYOUTS[name]


def _not_found(layout: Layout, root: Path | str, what: str) -> DataError:
    return DataError(
        f"{what}: expected torchgeo's {layout.torchgeo_class} layout, {layout.expected(root)}; "
        f"download it with `python -m stssl download {layout.name} --root {root}`"
    )


def open_split(name: str, root: Path | str, split: str):
    """torchgeo's data set for one split, reading only B04, B03, B02 (a :class:`DataError` naming
    the expected layout when its files are missing)."""
    layout = _layout(name)
    try:
        import torchgeo.datasets as tgd
        from torchgeo.datasets import DatasetNotFoundError
    except ImportError as err:
        raise DataError(f"reading {name} needs torchgeo: pip install 'torchgeo>=0.7'") from err
    try:
        return getattr(tgd, layout.torchgeo_class)(str(root), split=split, bands=RGB_BANDS)
    except (DatasetNotFoundError, FileNotFoundError) as err:
        raise _not_found(layout, root, f"no {split} split of {name} under {root}") from err
    except (ValueError, IndexError, KeyError) as err:  # pandas on a malformed split file
        path = Path(root) / layout.directory / layout.split_file.format(split)
        raise DataError(f"cannot read the split file {path}: {err} (expected {layout.expected(root)})") from err


def _image_paths(layout: Layout, root: Path, ds) -> list[str]:
    """The image torchgeo reads for each row of ``ds`` (its ``files``), by torchgeo's own rule."""
    base = root / layout.directory
    if layout.multilabel:
        return [str(base / "BigEarthNet-S2-5%" / f) for f in ds.files.iloc[:, 1]]
    files = [str(f).replace(".jpg", ".tif") for f in ds.files]
    return [str(base / "all_imgs" / f.split("_")[0] / f) for f in files]


def _stem(path: str) -> str:
    return Path(path).stem.removesuffix("_allbands")


def day_of_year_utc(time: float) -> float:
    """Day of year (UTC) of a POSIX timestamp (torchgeo's ``time``); NaN stays NaN."""
    if not np.isfinite(time):
        return float("nan")
    return float(datetime.fromtimestamp(float(time), UTC).timetuple().tm_yday)


@dataclass
class CopernicusSource:
    """A Copernicus-Bench data set in torchgeo's layout, read one sample at a time by torchgeo."""

    name: str
    root: Path
    splits: list[str]  # per sample: train, val or test
    rows: list[int]  # per sample: its row in torchgeo's split
    paths: list[str]  # per sample: its GeoTIFF (for error messages)
    image_size: int
    task: TaskInfo
    mean: tuple[float, ...] = MEAN
    std: tuple[float, ...] = STD
    _datasets: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def ids(self) -> list[str]:
        return [f"{s}/{_stem(p)}" for s, p in zip(self.splits, self.paths)]

    def __getstate__(self) -> dict:  # reader processes open torchgeo's data sets themselves
        return {**self.__dict__, "_datasets": {}}

    def _split(self, split: str):
        if split not in self._datasets:
            self._datasets[split] = open_split(self.name, self.root, split)
        return self._datasets[split]

    def read(self, i: int) -> Record:
        import rasterio

        path = self.paths[i]
        try:
            sample = self._split(self.splits[i])[self.rows[i]]
        except (rasterio.errors.RasterioError, OSError) as err:
            raise DataError(f"cannot read the GeoTIFF {path}: {err}") from err
        if "lat" not in sample:
            raise DataError(
                f"{path}: the GeoTIFF has no georeferencing (identity transform), so its location is unknown"
            )
        lat, lon = check_location(sample["lat"].item(), sample["lon"].item(), path)
        x01 = np.clip(sample["image"].numpy().astype(np.float32) / DN_WHITE, 0, 1)
        label = sample["label"].numpy()
        if self.task.multilabel:
            label = label.astype(np.float32)
        else:  # torchgeo's class order -> stssl's EuroSAT order
            label = eurosat.CLASSES.index(self._split(self.splits[i]).classes[int(label)])
        doy = day_of_year_utc(sample["time"].item()) if "time" in sample else float("nan")
        return Record(to_rgb8(x01, self.image_size), label, lat, lon, doy)

    def describe(self) -> dict:
        return {
            "dataset": self.name,
            "image_size": self.image_size,
            "bands": list(RGB_BANDS),
            "scaling": f"clip(DN / {DN_WHITE:g}, 0, 1)",
            "classes": self.task.num_classes,
            "reader": f"torchgeo {LAYOUTS[self.name].torchgeo_class}",
        }


def source(name: str, root: Path | str, image_size: int | None = None, options: dict | None = None) -> CopernicusSource:
    """Every sample of the three splits of ``name`` under ``root`` (train, then val, then test, each in
    torchgeo's order); fails at once, naming a few, when any image is missing."""
    layout, root = _layout(name), Path(root)
    unknown = sorted(k for k, v in (options or {}).items() if v is not None)
    if unknown:
        raise ValueError(f"{name} takes no option {', '.join(unknown)}")
    splits, rows, paths, classes = [], [], [], None
    for split in SPLITS:
        ds = open_split(name, root, split)
        classes = tuple(ds.classes)
        split_paths = _image_paths(layout, root, ds)
        splits += [split] * len(split_paths)
        rows += range(len(split_paths))
        paths += split_paths
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise _not_found(
            layout, root, f"{len(missing)} of the {len(paths)} images of {name} are missing (e.g. {missing[0]})"
        )
    task = TaskInfo(classes, True) if layout.multilabel else TaskInfo(eurosat.CLASSES, False)
    return CopernicusSource(name, root, splits, rows, paths, image_size or layout.image_size, task)


def copernicus_splits(ids: np.ndarray) -> dict[str, np.ndarray]:
    """Train/val/test positions from the ``<split>/`` of each id."""
    prefixes = np.array([str(i).split("/", 1)[0] for i in ids])
    odd = sorted(set(prefixes) - set(SPLITS))
    if odd:
        raise DataError(
            f"sample ids must start with train/, val/ or test/; found {odd[:3]} (a data set packed by another reader?)"
        )
    out = {s: np.flatnonzero(prefixes == s) for s in SPLITS}
    if not len(out["train"]):
        raise DataError("the data set has no training samples (multilabel-train.csv / eurosat-train.txt is empty)")
    return out


def open_copernicus(name: str, root: Path | str, params: dict, split: str = "standard") -> tuple[MetaDataset, dict]:
    """The data set and torchgeo's train/val/test positions; its packed form first (``root`` itself or
    ``root/stssl-packed-<size>``), else the GeoTIFFs through torchgeo. ``params``: ``image_size``,
    ``workers`` (reader processes), ``download`` (fetch through torchgeo first when nothing is there)."""
    layout = _layout(name)
    if split != "standard":
        raise ValueError(f"{name} has only torchgeo's standard split, not {split!r}")
    params = dict(params)
    image_size = int(params.pop("image_size", layout.image_size))
    workers = int(params.pop("workers", 0) or 0)
    fetch = bool(params.pop("download", False))
    if params:
        raise ValueError(f"{name} takes no parameter {', '.join(sorted(params))}; valid: image_size, workers, download")
    root = Path(root)
    ds = find_packed(root, name, image_size)
    if ds is None:
        if fetch and not is_packed(root):
            download(name, root)
        src = source(name, root, image_size)
        ds = to_dataset(src, read_all(src, workers))
    return ds, copernicus_splits(ds.ids)


def download(name: str, root: Path | str) -> Path:
    """Fetch ``name`` into ``root`` through torchgeo (its URL and MD5 checksum)."""
    return torchgeo_download(_layout(name).torchgeo_class, root)


# ----------------------------------------------------------------------------------------------- the registry's declaration
def _declare(name: str, **spec) -> None:
    """One Copernicus-Bench data set: its reader, packing and download bound to ``name``."""
    register(
        DatasetSpec(
            name,
            functools.partial(open_copernicus, name),
            params=dict(image_size=Number(1, integer=True), workers=Number(0, integer=True), download=BOOL),
            source=functools.partial(source, name),
            download=functools.partial(download, name),
            **spec,
        )
    )


_declare(
    "copernicus-bigearthnet",
    augmentation="randaugment",
    stratified_labels=True,
    multilabel=True,
    description="Copernicus-Bench BigEarthNet-S2 (torchgeo): 5 % of BigEarthNet v2, 19 labels, locations and "
    "dates; torchgeo's train/val/test",
)
_declare(
    "copernicus-eurosat",
    augmentation="usb",
    has_dates=False,
    single_label={},
    multilabel=False,
    profile_overrides={"paper": eurosat.EUROSAT_PAPER},
    label_budgets=eurosat.EUROSAT_BUDGETS,
    description="Copernicus-Bench EuroSAT-S2 (torchgeo): EuroSAT's 13-band GeoTIFFs, 10 classes, locations, "
    "no dates; torchgeo's train/val/test",
)
