"""BigEarthNet-S2 v1.0 (the authors' ``semilearn/datasets/cv_datasets/bigearthnet.py``): RGB
patches with location, acquisition date and 43 labels.

Layout (as torchgeo downloads it): ``<root>/BigEarthNet-v1.0/<patch>/<patch>_B04.tif`` (and the
other bands) plus ``<patch>_labels_metadata.json``; ``<root>`` may also be the folder of patch
folders itself. Download: ``python -m stssl download bigearthnet --root DIR`` (torchgeo's
files, MD5-checked before extraction, about 66 GB, and SeCo's split lists), or ``load_data("bigearthnet", root, {"download": True})``.

* Location: the centre of the JSON's UTM box (``coordinates``) converted from its
  ``projection`` to WGS84. The authors ship only finished pickles, so this is the
  recipe their numbers imply, and it agrees with each band's GeoTIFF georeferencing.
* Date: ``acquisition_date`` -> day of year.
* Pixels: B04, B03, B02; ``x01 = clip((DN - min) / (max - min), 0, 1)`` with min/max = mean -/+ 2 std
  of ``bigearthnet_common``'s band statistics; resized to ``image_size`` (128) and stored as 8 bits.
  Normalisation afterwards: mean 0.5, std 0.25 per band, i.e. inputs in [-2, 2].
* Labels: the 43 CLC classes in the authors' order (:data:`CLASSES_43`), or the 19-class
  nomenclature (:data:`CLASSES_19`) through ``bigearthnet_common``'s mapping.
* Splits: ``standard``, the official recommended train/val/test (clouds, shadow and seasonal snow
  excluded; 269,695 / 123,723 / 125,866 patches) shipped with ``bigearthnet_common``; ``seco``, the
  paper's (:func:`seco_split_lists`); user lists (``split_files``), e.g. the authors' own pickles;
  or ``geographic``, Table 3 (e, f): Portugal and Ireland for test.
"""

from __future__ import annotations

import functools
import importlib.resources
import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from stssl.core.checks import BOOL, Kind, Number, OneOf
from stssl.data.base import MetaDataset, TaskInfo
from stssl.data.download import download, download_file
from stssl.data.geo import DataError, day_of_year, read_bands, read_json, resize, to_rgb8, to_wgs84
from stssl.data.packed import Record, find_packed, is_packed, read_all, to_dataset
from stssl.data.registry import DatasetSpec, register

# Spec 5.1, the authors' index order (by descending training frequency).
CLASSES_43: tuple[str, ...] = (
    "Mixed forest",
    "Coniferous forest",
    "Non-irrigated arable land",
    "Transitional woodland/shrub",
    "Broad-leaved forest",
    "Land principally occupied by agriculture, with significant areas of natural vegetation",
    "Complex cultivation patterns",
    "Pastures",
    "Water bodies",
    "Sea and ocean",
    "Discontinuous urban fabric",
    "Agro-forestry areas",
    "Peatbogs",
    "Permanently irrigated land",
    "Industrial or commercial units",
    "Natural grassland",
    "Olive groves",
    "Sclerophyllous vegetation",
    "Continuous urban fabric",
    "Water courses",
    "Vineyards",
    "Annual crops associated with permanent crops",
    "Inland marshes",
    "Moors and heathland",
    "Sport and leisure facilities",
    "Fruit trees and berry plantations",
    "Mineral extraction sites",
    "Rice fields",
    "Road and rail networks and associated land",
    "Bare rock",
    "Green urban areas",
    "Beaches, dunes, sands",
    "Sparsely vegetated areas",
    "Salt marshes",
    "Coastal lagoons",
    "Construction sites",
    "Estuaries",
    "Intertidal flats",
    "Airports",
    "Dump sites",
    "Port areas",
    "Salines",
    "Burnt areas",
)
# bigearthnet_common's NEW_LABELS_ORIGINAL_ORDER (a test checks they agree): spelled here, so that
# `import stssl` does not need bigearthnet_common, which a GPU machine's bare environment lacks
CLASSES_19: tuple[str, ...] = (
    "Urban fabric",
    "Industrial or commercial units",
    "Arable land",
    "Permanent crops",
    "Pastures",
    "Complex cultivation patterns",
    "Land principally occupied by agriculture, with significant areas of natural vegetation",
    "Agro-forestry areas",
    "Broad-leaved forest",
    "Coniferous forest",
    "Mixed forest",
    "Natural grassland and sparsely vegetated areas",
    "Moors, heathland and sclerophyllous vegetation",
    "Transitional woodland, shrub",
    "Beaches, dunes, sands",
    "Inland wetlands",
    "Coastal wetlands",
    "Inland waters",
    "Marine waters",
)
BANDS = ("B04", "B03", "B02")
NATIVE_SIZE = 120
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)  # of x01, for every band (as the authors')
HELD_OUT = ("Portugal", "Ireland")  # the geographic split of Table 3 (e, f)
SPLITS = ("standard", "geographic", "seco")
LAYOUT = "<root>/BigEarthNet-v1.0/<patch>/<patch>_B04.tif, _B03.tif, _B02.tif and <patch>_labels_metadata.json"


def band_range(band: str) -> tuple[float, float]:
    """(min, max) = mean -/+ 2 std of a band's digital numbers (as the authors')."""
    from bigearthnet_common.constants import BAND_STATS_S2

    mean, std = BAND_STATS_S2["mean"][band], BAND_STATS_S2["std"][band]
    return mean - 2 * std, mean + 2 * std


def patch_root(root: Path | str) -> Path:
    """The folder holding the patch folders, or a :class:`DataError` saying what was expected."""
    root = Path(root)
    for cand in (root / "BigEarthNet-v1.0", root):
        if cand.is_dir() and any(p.name.startswith("S2") and p.is_dir() for p in cand.iterdir()):
            return cand
    raise DataError(
        f"no BigEarthNet-S2 v1.0 patches under {root}: expected {LAYOUT}. Download it with "
        f"`python -m stssl download bigearthnet --root {root}` (torchgeo's files, MD5-checked before extraction; "
        "~66 GB), or from https://bigearthnet.net"
    )


def find_patches(root: Path | str) -> list[str]:
    """Names of every patch folder (``S2A_...``/``S2B_...``) under ``root``, sorted."""
    return sorted(p.name for p in patch_root(root).iterdir() if p.name.startswith("S2") and p.is_dir())


def patch_metadata(folder: Path) -> dict:
    """Location (WGS84 centre of the UTM box), day of year and label names of one patch."""
    path = folder / f"{folder.name}_labels_metadata.json"
    if not path.exists():
        raise DataError(f"patch folder {folder} has no {path.name}")
    meta = read_json(path)
    try:
        box, projection, labels, date = (
            meta["coordinates"],
            meta["projection"],
            meta["labels"],
            meta["acquisition_date"],
        )
        x, y = (box["ulx"] + box["lrx"]) / 2, (box["uly"] + box["lry"]) / 2
    except (KeyError, TypeError) as err:
        raise DataError(
            f"{path}: missing or malformed field {err} (expected labels, coordinates "
            "{ulx, uly, lrx, lry}, projection, acquisition_date)"
        ) from err
    lat, lon = to_wgs84(x, y, projection, path)
    unknown = sorted(set(labels) - set(CLASSES_43))
    if unknown:
        raise DataError(f"{path}: unknown label(s) {unknown}")
    return {"lat": lat, "lon": lon, "doy": day_of_year(date, path), "date": date, "labels": labels}


def patch_rgb(folder: Path, image_size: int | None = 128) -> np.ndarray:
    """B04/B03/B02 of one patch, radiometrically scaled to [0, 1], as uint8 S x S x 3."""
    planes = []
    for band in BANDS:
        path = folder / f"{folder.name}_{band}.tif"
        if not path.exists():
            raise DataError(f"patch folder {folder} is missing band {band} ({path.name})")
        dn = read_bands(path)[0]
        if dn.shape != (NATIVE_SIZE, NATIVE_SIZE):  # as the authors': a band of another size is resized
            dn = resize(dn[None], NATIVE_SIZE)[0]
        lo, hi = band_range(band)
        planes.append(np.clip((dn - lo) / (hi - lo), 0, 1))
    return to_rgb8(np.stack(planes), image_size)


@dataclass
class BigEarthNetSource:
    """Patches in their GeoTIFF/JSON layout, read one at a time (43-class multi-hot labels)."""

    root: Path
    ids: list[str]
    image_size: int = 128
    task: TaskInfo = field(default=TaskInfo(CLASSES_43, multilabel=True))
    mean: tuple[float, ...] = MEAN
    std: tuple[float, ...] = STD

    def read(self, i: int) -> Record:
        folder = self.root / self.ids[i]
        meta = patch_metadata(folder)
        label = np.zeros(len(CLASSES_43), np.float32)
        label[[CLASSES_43.index(name) for name in meta["labels"]]] = 1
        return Record(patch_rgb(folder, self.image_size), label, meta["lat"], meta["lon"], meta["doy"])

    def describe(self) -> dict:
        return {
            "dataset": "bigearthnet",
            "image_size": self.image_size,
            "bands": list(BANDS),
            "scaling": "clip((DN - (mean - 2 std)) / (4 std), 0, 1), bigearthnet_common BAND_STATS_S2",
            "classes": len(CLASSES_43),
        }


def source(root: Path | str, image_size: int = 128) -> BigEarthNetSource:
    return BigEarthNetSource(patch_root(root), find_patches(root), image_size)


def load_bigearthnet(
    root: Path | str, image_size: int = 128, classes: int = 43, download: bool = False, workers: int = 0
) -> MetaDataset:
    """BigEarthNet from its packed form when present (``root`` itself or ``root/stssl-packed-<size>``),
    else from the GeoTIFFs (slow: run ``python -m stssl prepare-data bigearthnet`` first)."""
    if classes not in (43, 19):
        raise ValueError(f"BigEarthNet has the 43- or the 19-class nomenclature, not {classes}")
    root = Path(root)
    if download and not is_packed(root):
        download("BigEarthNet", root)
    ds = find_packed(root, "bigearthnet", image_size)
    if ds is None:
        src = source(root, image_size)
        ds = to_dataset(src, read_all(src, workers))
    return to_19_classes(ds) if classes == 19 else ds


def to_19_classes(ds: MetaDataset) -> MetaDataset:
    """The same patches with the 19-class nomenclature (a 43-class label mapped to None is dropped)."""
    from bigearthnet_common.constants import OLD2NEW_LABELS_DICT

    mapping = np.zeros((len(CLASSES_43), len(CLASSES_19)), np.float32)
    for i, name in enumerate(CLASSES_43):
        new = OLD2NEW_LABELS_DICT[name]
        if new is not None:
            mapping[i, CLASSES_19.index(new)] = 1
    labels = (np.asarray(ds.labels) @ mapping > 0).astype(np.float32)
    return MetaDataset(
        ds.pixels, labels, ds.lat, ds.lon, ds.doy, ds.ids, TaskInfo(CLASSES_19, True), *ds.normalisation()
    )


# ----------------------------------------------------------------------------------------- splits


def _resource(name: str):
    return importlib.resources.files("bigearthnet_common") / name


@functools.lru_cache(maxsize=1)
def official_split_lists() -> dict[str, list[str]]:
    """The recommended train/val/test patch names shipped with ``bigearthnet_common``."""
    return {s: pd.read_csv(_resource(f"{s}.csv.bz2"), header=None)[0].tolist() for s in ("train", "val", "test")}


@functools.lru_cache(maxsize=1)
def patch_countries() -> dict[str, str]:
    """Country of every S2 patch (``bigearthnet_common``'s table)."""
    table = pd.read_csv(_resource("s1_s2_name_country_season.csv.bz2"), usecols=["s2_name", "country"])
    return dict(zip(table["s2_name"], table["country"]))


# What a split pickle refers to: a pandas DataFrame of patch names and the authors' other columns
# (numbers, texts, label arrays), as pandas 1.5 with numpy 1 (the authors' time) and pandas 3 with
# numpy 2 write it, with or without pyarrow (whose strings pickle as an ArrowStringArray rebuilt from
# buffers by pyarrow's own constructors, which build data and call nothing else). Anything else is
# refused: unpickling calls whatever a pickle names.
_SPLIT_PICKLE_TYPES: dict[str, tuple[str, ...]] = {
    "pandas": ("DataFrame", "Index", "RangeIndex", "StringDtype", "NA"),
    "pandas.core.frame": ("DataFrame",),
    "pandas.core.indexes.base": ("Index", "_new_Index"),
    "pandas.core.indexes.range": ("RangeIndex",),
    "pandas.core.internals.managers": ("BlockManager",),
    "pandas._libs.internals": ("_unpickle_block",),
    "pandas._libs.arrays": ("__pyx_unpickle_NDArrayBacked",),
    "pandas.arrays": ("StringArray", "ArrowStringArray"),
    "pyarrow.lib": ("_restore_array", "py_buffer", "type_for_alias"),
    "numpy": ("ndarray", "dtype"),
    "numpy._core.multiarray": ("_reconstruct",),
    "numpy.core.multiarray": ("_reconstruct",),  # numpy 1's name of numpy._core
    "numpy._core.numeric": ("_frombuffer",),
    "numpy.core.numeric": ("_frombuffer",),
    "builtins": ("slice", "bytearray"),
}
_PANDAS_1_NAMES = {("pandas.core.indexes.numeric", "Int64Index"): ("pandas", "Index")}  # a subset's row index


class _SplitUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        module, name = _PANDAS_1_NAMES.get((module, name), (module, name))
        if name not in _SPLIT_PICKLE_TYPES.get(module, ()):
            raise _Refused(f"{module}.{name}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # numpy 2 on numpy.core
            return super().find_class(module, name)


class _Refused(pickle.UnpicklingError):
    """A pickle names something a split list never holds."""


def read_split_pickle(path: Path) -> pd.DataFrame:
    """A split pickle's DataFrame, read with only the types such a file holds: a crafted pickle
    would run code on ``pd.read_pickle``. Refused: a :class:`DataError` saying how to convert a
    trusted file to CSV once."""
    with open(path, "rb") as f:
        try:
            return _SplitUnpickler(f).load()
        except _Refused as err:
            csv = path.with_suffix(".csv")
            raise DataError(
                f"refused to read the split list {path}: it asks for {err}, which a list of patch names never holds, "
                f"and a pickle runs what it names when read. If you trust the file, convert it to CSV once and pass "
                f"that: python -c \"import pandas as pd; pd.read_pickle('{path}')[['patch']].to_csv('{csv}', "
                f'index=False)"'
            ) from None


def read_split_list(path: Path | str) -> list[str]:
    """Patch names from a split file: the authors' pickles (``patch`` column; read by
    :func:`read_split_pickle`), a CSV whose first column holds names (with or without a header),
    or a text file with one name per line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"split list {path} does not exist")
    try:
        if path.suffix in (".pkl", ".pickle"):
            return read_split_pickle(path)["patch"].astype(str).tolist()
        names = pd.read_csv(path, header=None, usecols=[0], dtype=str)[0].str.strip().tolist()
    except DataError:
        raise
    except Exception as err:  # pandas raises many types for a bad file
        raise DataError(f"cannot read the split list {path}: {err}") from err
    return [n for n in names if n and n.lower() not in ("patch", "name", "patch_name")]


# SeCo's split (``datasets/bigearthnet_dataset.py`` of Seasonal Contrast, which the authors' README names
# as theirs): the 60/20/20 split of all 590,326 patches by Neumann et al. (2019), one patch name per
# line, less the patches with cloud and shadow or seasonal snow. (URL, MD5, lines) of each list.
_SECO_LISTS = "https://storage.googleapis.com/remote_sensing_representations/bigearthnet-{}.txt"
SECO_LISTS: dict[str, tuple[str, str, int]] = {
    "train": (_SECO_LISTS.format("train"), "343f7224951da0879cabcceae7b34a64", 354_196),
    "val": (_SECO_LISTS.format("val"), "8fe0292aa346c0833850a322e1c1e783", 118_065),
    "test": (_SECO_LISTS.format("test"), "efce8d370cf5f55afc415ace88605218", 118_065),
}


def excluded_patches() -> set[str]:
    """The patches BigEarthNet's authors list as covered by cloud and shadow or by seasonal snow."""
    names = ("patches_with_cloud_and_shadow", "patches_with_seasonal_snow")
    return {n for name in names for n in pd.read_csv(_resource(f"{name}.csv.bz2"), header=None)[0]}


def seco_split_lists(root: Path | str) -> dict[str, list[str]]:
    """SeCo's train/val/test patch names from ``<root>/bigearthnet-<split>.txt`` (fetched by ``python -m
    stssl download bigearthnet``, MD5-checked), less :func:`excluded_patches`, as SeCo reads them."""
    root, bad = Path(root), excluded_patches()
    missing = [s for s in SECO_LISTS if not (root / Path(SECO_LISTS[s][0]).name).is_file()]
    if missing:
        wanted = "; ".join(
            f"{url} ({lines:,} lines) -> {root / Path(url).name}" for url, _, lines in SECO_LISTS.values()
        )
        raise DataError(
            f"split='seco' reads SeCo's patch lists, and {', '.join(missing)} is missing in {root}: run python -m "
            f"stssl download bigearthnet --root {root} (it fetches and checks them), or place them by hand: {wanted}"
        )
    return {
        s: [n for n in read_split_list(root / Path(url).name) if n not in bad] for s, (url, _, _) in SECO_LISTS.items()
    }


def _download_bigearthnet(root: Path) -> None:
    """The patches through torchgeo, then SeCo's three lists (for ``split="seco"``)."""
    download("BigEarthNet", root)
    for url, md5, _ in SECO_LISTS.values():
        download_file(url, root, Path(url).name, md5)


def _positions(ids: np.ndarray, names: list[str], what: str, strict: bool) -> np.ndarray:
    index = {name: i for i, name in enumerate(ids)}
    missing = [n for n in names if n not in index]
    if missing and strict:
        raise DataError(f"{what} names {len(missing)} patch(es) not in the data set, e.g. {missing[:5]}")
    if missing:
        warnings.warn(
            f"{what}: {len(missing)} of its {len(names)} patches are not in the data set "
            f"(e.g. {missing[:3]}); using the {len(names) - len(missing)} present",
            stacklevel=3,
        )
    return np.sort(np.array([index[n] for n in names if n in index], dtype=np.int64))


def bigearthnet_splits(
    ids: np.ndarray, split: str = "standard", split_files: dict[str, str] | None = None, root: Path | str = "."
) -> dict[str, np.ndarray]:
    """Train/val/test positions into ``ids``.

    ``split_files`` (``{"train": path, "val": path, "test": path}``) replaces the official lists;
    every patch they name must be in the data set. ``split="seco"``: SeCo's lists in ``root``
    (:func:`seco_split_lists`). ``split="geographic"``: every Portugal and Ireland patch of the three
    official splits is the test set; train and val keep their other patches.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    if split_files:
        lists = {s: read_split_list(split_files[s]) for s in ("train", "val", "test")}
    elif split == "seco":
        lists = seco_split_lists(root)
    else:
        lists = official_split_lists()
    out = {s: _positions(ids, names, f"the {s} split list", strict=bool(split_files)) for s, names in lists.items()}
    if split == "geographic":
        countries = patch_countries()
        held = np.array([countries.get(str(name)) in HELD_OUT for name in ids])
        everything = np.concatenate(list(out.values()))
        out = {
            "train": out["train"][~held[out["train"]]],
            "val": out["val"][~held[out["val"]]],
            "test": np.sort(everything[held[everything]]),
        }
    return out


__all__ = [
    "CLASSES_19",
    "CLASSES_43",
    "BigEarthNetSource",
    "bigearthnet_splits",
    "load_bigearthnet",
    "patch_metadata",
    "patch_rgb",
    "read_split_list",
]


# ----------------------------------------------------------------------------------------------- the registry's declaration
def _open_bigearthnet(root, params, split):
    params = dict(params)
    split_files = params.pop("split_files", None)
    ds = load_bigearthnet(root, **params)
    return ds, bigearthnet_splits(ds.ids, split, split_files, root)


register(
    DatasetSpec(
        "bigearthnet",
        _open_bigearthnet,
        description="BigEarthNet v1.0, 590 326 Sentinel-2 patches, 43 (or 19) labels, locations and dates",
        params=dict(
            image_size=Number(1, integer=True),
            classes=OneOf((43, 19)),
            download=BOOL,
            workers=Number(0, integer=True),
            split_files=Kind(dict, "a dict of train, val and test split lists", optional=True),
        ),
        augmentation="randaugment",
        splits=SPLITS,
        stratified_labels=True,
        multilabel=True,
        label_budgets={"label_fraction": (0.005, 0.01, 0.02, 0.04, 0.08)},  # Figure 3
        source=lambda root, image_size, options: source(root, image_size or 128),
        download=_download_bigearthnet,
    )
)
