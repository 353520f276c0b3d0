"""EuroSAT (the authors' ``semilearn/datasets/cv_datasets/eurosat.py``): 27,000 Sentinel-2
patches in 10 classes, with their locations.

Two layouts are read:

* multispectral, as torchgeo downloads it:
  ``<root>/ds/images/remote_sensing/otherDatasets/sentinel_2/tif/<Class>/<Class>_<n>.tif`` (13-band
  GeoTIFFs). The location is the centre of each GeoTIFF, from its CRS and transform, in WGS84.
  RGB = B04, B03, B02 scaled as ``clip(DN / 3000, 0, 1)`` (reflectance 0-0.3 -> 0-1, torchgeo's
  true-colour rendering of EuroSAT).
* RGB, as the authors used it: ``<root>/<Class>/<Class>_<n>.jpg`` (or ``<root>/2750/...``, the RGB
  zip's folder) plus a metadata table: the authors' YAML ``<stem>: [lng, lat, _]`` (longitude
  first), or a CSV/parquet with columns ``id`` (file stem), ``lat`` and ``lon``.

EuroSAT files carry no acquisition date, so the day of year is unknown (NaN). The authors feed
a constant dummy date (2000-01-01, doy 1); our encoding of a missing date is the honest
reading, and :func:`stssl.meta.encode_meta` turns NaN into ``sin = cos = 0`` ("no date"); pass
``unknown_doy=1`` there to reproduce the authors' constant exactly.

Images are resized to ``image_size`` (32: the authors' every view starts with Resize(32)) and
normalised with mean = std = 0.5. Split (USB): per class, the first 80 % of the files in sorted
order are train, the rest test; there is no validation set (the authors select on test).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from stssl.core.checks import BOOL, Kind, Number
from stssl.data.base import MetaDataset, TaskInfo
from stssl.data.download import download
from stssl.data.geo import DataError, check_location, raster_centre, read_bands, to_rgb8
from stssl.data.packed import Record, find_packed, is_packed, read_all, to_dataset
from stssl.data.registry import DatasetSpec, register

CLASSES: tuple[str, ...] = (
    "AnnualCrop",
    "Forest",
    "HerbaceousVegetation",
    "Highway",
    "Industrial",
    "Pasture",
    "PermanentCrop",
    "Residential",
    "River",
    "SeaLake",
)
MS_DIR = Path("ds/images/remote_sensing/otherDatasets/sentinel_2/tif")
RGB_BANDS = (4, 3, 2)  # B04, B03, B02 among B01..B12 (1-based)
DN_WHITE = 3000.0
MEAN, STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
TRAIN_FRACTION = 0.8
LAYOUTS = (
    f"<root>/{MS_DIR}/<Class>/<Class>_<n>.tif (torchgeo, multispectral) or "
    "<root>/<Class>/<Class>_<n>.jpg with <root>/eurosat_meta.yaml (RGB)"
)


def find_images(root: Path | str) -> tuple[list[Path], str]:
    """All image files in class-then-name order, and the layout (``"ms"`` or ``"rgb"``)."""
    root = Path(root)
    for folder, ext, layout in (
        (root / MS_DIR, ".tif", "ms"),
        (root, ".tif", "ms"),
        (root / "2750", ".jpg", "rgb"),
        (root, ".jpg", "rgb"),
    ):
        if (folder / CLASSES[0]).is_dir() and any((folder / CLASSES[0]).glob(f"*{ext}")):
            missing = [c for c in CLASSES if not (folder / c).is_dir()]
            if missing:
                raise DataError(f"{folder} lacks the class folder(s) {missing}; expected {LAYOUTS}")
            # lexicographic file order within a class, as torchvision's ImageFolder (as the authors')
            return [f for c in CLASSES for f in sorted((folder / c).glob(f"*{ext}"), key=lambda p: p.name)], layout
    raise DataError(
        f"no EuroSAT images under {root}: expected {LAYOUTS}. Download the multispectral version with "
        f"`python -m stssl download eurosat --root {root}` (torchgeo's files, MD5-checked before extraction)"
    )


def read_locations(path: Path | str) -> dict[str, tuple[float, float]]:
    """{file stem: (lat, lon)} from the authors' YAML (``stem: [lng, lat, _]``) or a CSV/parquet
    table with ``id``, ``lat`` and ``lon`` columns."""
    import yaml

    path = Path(path)
    try:
        if path.suffix in (".yaml", ".yml"):
            table = yaml.safe_load(path.read_text())
            if not isinstance(table, dict):
                raise ValueError("expected a mapping of file stem -> [lng, lat, ...]")
            return {str(k): check_location(v[1], v[0], f"{path} ({k})") for k, v in table.items()}
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        frame = frame.rename(columns={"lng": "lon", "image_id": "id", "stem": "id"})
        return {
            str(Path(str(i)).stem): check_location(a, o, f"{path} ({i})")
            for i, a, o in zip(frame["id"], frame["lat"], frame["lon"])
        }
    except DataError:
        raise
    except Exception as err:  # yaml/pandas raise many types for a bad file
        raise DataError(
            f"cannot read the EuroSAT metadata table {path}: {err!r} (expected YAML "
            "'<stem>: [lng, lat, _]' or a CSV/parquet with id, lat, lon)"
        ) from err


@dataclass
class EuroSATSource:
    """EuroSAT files in either layout, read one at a time."""

    files: list[Path]
    layout: str  # "ms" or "rgb"
    locations: dict[str, tuple[float, float]] | None = None  # RGB layout: from the metadata table
    image_size: int = 32
    task: TaskInfo = field(default=TaskInfo(CLASSES, multilabel=False))
    mean: tuple[float, ...] = MEAN
    std: tuple[float, ...] = STD

    @property
    def ids(self) -> list[str]:
        return [f.stem for f in self.files]

    def read(self, i: int) -> Record:
        path = self.files[i]
        label = CLASSES.index(path.parent.name)
        if self.layout == "ms":
            x01 = np.clip(read_bands(path, RGB_BANDS) / DN_WHITE, 0, 1)
            lat, lon = raster_centre(path)
        else:
            from PIL import Image

            try:
                with Image.open(path) as img:
                    x01 = np.asarray(img.convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / 255.0
            except OSError as err:
                raise DataError(f"cannot read the image {path}: {err}") from err
            lat, lon = self.locations[path.stem]
        return Record(to_rgb8(x01, self.image_size), label, lat, lon, float("nan"))

    def describe(self) -> dict:
        scaling = f"clip(DN / {DN_WHITE:g}, 0, 1) of B04, B03, B02" if self.layout == "ms" else "JPEG / 255"
        return {"dataset": "eurosat", "image_size": self.image_size, "layout": self.layout, "scaling": scaling}


def source(root: Path | str, image_size: int = 32, metadata: Path | str | None = None) -> EuroSATSource:
    """The EuroSAT files under ``root``; the RGB layout also needs its metadata table."""
    files, layout = find_images(root)
    if layout == "ms":
        return EuroSATSource(files, layout, None, image_size)
    root = Path(root)
    candidates = [Path(metadata)] if metadata else [root / "eurosat_meta.yaml", root.parent / "eurosat_meta.yaml"]
    table = next((p for p in candidates if p.is_file()), None)
    if table is None:
        raise DataError(
            f"the RGB layout of EuroSAT needs a metadata table with each image's location; looked "
            f"for {', '.join(map(str, candidates))}. Pass dataset parameter 'metadata' (YAML "
            "'<stem>: [lng, lat, _]' or CSV/parquet with id, lat, lon), or use the "
            "multispectral GeoTIFFs, which carry their georeferencing"
        )
    locations = read_locations(table)
    missing = [f.stem for f in files if f.stem not in locations]
    if missing:
        raise DataError(f"{table} has no location for {len(missing)} image(s), e.g. {missing[:5]}")
    return EuroSATSource(files, layout, locations, image_size)


def load_eurosat(
    root: Path | str, image_size: int = 32, metadata: Path | str | None = None, download: bool = False, workers: int = 0
) -> MetaDataset:
    """EuroSAT from its packed form when present (``root`` or ``root/stssl-packed-<size>``),
    else from the image files (about a minute for the 27,000 GeoTIFFs)."""
    root = Path(root)
    if download and not is_packed(root):
        download("EuroSAT", root)
    packed = find_packed(root, "eurosat", image_size)
    if packed is not None:
        return packed
    src = source(root, image_size, metadata)
    return to_dataset(src, read_all(src, workers))


def eurosat_splits(labels: np.ndarray) -> dict[str, np.ndarray]:
    """USB's split (as the authors'): per class, the first ``int(0.8 n_c)`` samples in file order are train,
    the rest test. ``val`` is the test set: EuroSAT has none, and the authors select on test."""
    labels = np.asarray(labels)
    train, test = [], []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        k = int(TRAIN_FRACTION * len(members))
        train.append(members[:k])
        test.append(members[k:])
    train, test = np.sort(np.concatenate(train)), np.sort(np.concatenate(test))
    return {"train": train, "val": test, "test": test}


# ----------------------------------------------------------------------------------------------- the registry's declaration
def _open_eurosat(root, params, split):
    ds = load_eurosat(root, **params)
    return ds, eurosat_splits(ds.labels)


def _eurosat_source(root, image_size, options):
    return source(root, image_size or 32, options.get("metadata"))


# The authors' config/eurosat/: EuroSAT at 32 px with ViT-S/2, on top of the paper profile.
EUROSAT_PAPER = dict(
    model="vit_small_patch2",
    image_size=32,
    steps=204_800,
    batch_lb=8,
    uratio=1,
    lr=5e-5,
    warmup_steps=5120,
    lambda_d=0.01,
    eval_every=2048,
    eval_batch_size=16,
    patience=32_768,
    num_labels=10,
)
EUROSAT_BUDGETS = {"num_labels": (10, 20, 40, 80)}  # Table 4

register(
    DatasetSpec(
        "eurosat",
        _open_eurosat,
        description="EuroSAT, 27 000 Sentinel-2 patches, 10 classes, locations, no dates",
        params=dict(
            image_size=Number(1, integer=True),
            metadata=Kind(str, "a path", optional=True),
            download=BOOL,
            workers=Number(0, integer=True),
        ),
        augmentation="usb",
        has_dates=False,
        single_label={},
        multilabel=False,
        profile_overrides={"paper": EUROSAT_PAPER},
        label_budgets=EUROSAT_BUDGETS,
        source=_eurosat_source,
        download=lambda root: download("EuroSAT", root),
    )
)
