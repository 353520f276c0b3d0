"""Tiny EuroSAT and BigEarthNet trees in their real layouts, with real UTM georeferencing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS

# Real patch names from bigearthnet_common's official lists, so that the splits can be checked:
# train: Ireland, Portugal, Finland; val: Serbia, Ireland; test: Austria.
BEN_PATCHES = {
    "S2A_MSIL2A_20170617T113321_36_85": dict(
        epsg=32629,
        ulx=643200,
        uly=5798040,
        date="2017-06-17 11:33:21",
        labels=["Non-irrigated arable land", "Pastures"],
    ),
    "S2A_MSIL2A_20171221T112501_56_35": dict(
        epsg=32629,
        ulx=567180,
        uly=4358040,
        date="2017-12-21 11:25:01",
        labels=["Complex cultivation patterns", "Broad-leaved forest"],
    ),
    "S2A_MSIL2A_20170905T095031_0_1": dict(
        epsg=32635, ulx=600000, uly=7000000, date="2017-09-05 09:50:31", labels=["Coniferous forest", "Peatbogs"]
    ),
    "S2A_MSIL2A_20171002T094031_42_86": dict(
        epsg=32634, ulx=400000, uly=4900000, date="2017-10-02 09:40:31", labels=["Pastures", "Mixed forest"]
    ),
    "S2A_MSIL2A_20170717T113321_28_89": dict(
        epsg=32629, ulx=500000, uly=6000000, date="2017-07-17 11:33:21", labels=["Sea and ocean"]
    ),
    "S2A_MSIL2A_20170613T101031_87_48": dict(
        epsg=32633,
        ulx=404400,
        uly=5342400,
        date="2017-06-13 10:10:31",
        labels=["Non-irrigated arable land", "Mixed forest"],
    ),
}
BEN_SPLITS = {
    "train": ["S2A_MSIL2A_20170617T113321_36_85", "S2A_MSIL2A_20171221T112501_56_35", "S2A_MSIL2A_20170905T095031_0_1"],
    "val": ["S2A_MSIL2A_20171002T094031_42_86", "S2A_MSIL2A_20170717T113321_28_89"],
    "test": ["S2A_MSIL2A_20170613T101031_87_48"],
}


def write_geotiff(path: Path, bands: np.ndarray, epsg: int, ulx: float, uly: float, res: float = 10.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=bands.shape[1],
        width=bands.shape[2],
        count=len(bands),
        dtype=bands.dtype,
        crs=CRS.from_epsg(epsg),
        transform=Affine(res, 0, ulx, 0, -res, uly),
    ) as dst:
        dst.write(bands)


def write_ben_patch(
    folder: Path,
    name: str,
    epsg: int,
    ulx: float,
    uly: float,
    date: str,
    labels: list[str],
    seed: int = 0,
    bands=("B02", "B03", "B04"),
) -> Path:
    """One patch: 120 x 120 uint16 bands covering 1.2 km from (ulx, uly), and its JSON."""
    patch = folder / name
    rng = np.random.default_rng(seed)
    for band in bands:
        write_geotiff(
            patch / f"{name}_{band}.tif", rng.integers(0, 3000, (1, 120, 120), dtype=np.uint16), epsg, ulx, uly
        )
    meta = {
        "labels": labels,
        "coordinates": {"ulx": ulx, "uly": uly, "lrx": ulx + 1200, "lry": uly - 1200},
        "projection": CRS.from_epsg(epsg).to_wkt(),
        "tile_source": "fixture",
        "acquisition_date": date,
    }
    (patch / f"{name}_labels_metadata.json").write_text(json.dumps(meta))
    return patch


def make_ben_root(root: Path, torchgeo_layout: bool = True) -> Path:
    """A BigEarthNet root with the :data:`BEN_PATCHES`; returns the folder of patch folders."""
    folder = root / "BigEarthNet-v1.0" if torchgeo_layout else root
    for seed, (name, spec) in enumerate(BEN_PATCHES.items()):
        write_ben_patch(folder, name, seed=seed, **spec)
    return folder


EUROSAT_CLASSES = (
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


def eurosat_location(c: int, n: int) -> tuple[int, float, float]:
    """(EPSG, upper-left x, upper-left y) of image ``n`` of class ``c``: spread over UTM zones 31-34."""
    return 32631 + (c % 4), 300_000 + 1000 * n, 5_500_000 + 20_000 * c


def make_eurosat_ms(root: Path, per_class: int = 5, size: int = 16) -> Path:
    """torchgeo's multispectral layout: 13-band GeoTIFFs ``<Class>/<Class>_<n>.tif``, n = 1..per_class."""
    folder = root / "ds/images/remote_sensing/otherDatasets/sentinel_2/tif"
    rng = np.random.default_rng(0)
    for c, name in enumerate(EUROSAT_CLASSES):
        for n in range(1, per_class + 1):
            epsg, ulx, uly = eurosat_location(c, n)
            write_geotiff(
                folder / name / f"{name}_{n}.tif",
                rng.integers(0, 4000, (13, size, size), dtype=np.uint16),
                epsg,
                ulx,
                uly,
            )
    return folder


def make_eurosat_rgb(root: Path, per_class: int = 5, size: int = 16) -> dict[str, tuple[float, float]]:
    """The RGB layout ``<Class>/<Class>_<n>.jpg``; returns {stem: (lat, lon)} for a metadata table."""
    from PIL import Image

    rng = np.random.default_rng(1)
    locations = {}
    for c, name in enumerate(EUROSAT_CLASSES):
        (root / name).mkdir(parents=True, exist_ok=True)
        for n in range(1, per_class + 1):
            Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(root / name / f"{name}_{n}.jpg")
            locations[f"{name}_{n}"] = (40.0 + c + n / 100, -5.0 + c + n / 100)
    return locations
