"""The data sets stssl ships, declared through :mod:`stssl.data.registry`.

Each loader imports its module when called, so that importing this file (which every run
config does) costs nothing: no GeoTIFF reader, map library or torchgeo is loaded to ask which
data sets exist.
"""

from __future__ import annotations

from pathlib import Path

from stssl.checks import BOOL, Kind, Number, OneOf, Pattern, Rule
from stssl.data.registry import DatasetSpec, register

_SIZE, _WORKERS, _PATH = Number(1, integer=True), Number(0, integer=True), Kind(str, "a path", optional=True)


# ----------------------------------------------------------------------------- GeoSynth
def _open_geosynth(root, params, split):
    from stssl.data.synthetic import GeoSynthConfig, geographic_split, geosynth_splits, load_geosynth

    ds = load_geosynth(GeoSynthConfig(**params), cache_dir=root)
    return ds, geographic_split(ds) if split == "geographic" else geosynth_splits(ds)


def _geosynth_defaults():
    import dataclasses

    from stssl.data.synthetic import GeoSynthConfig

    return {f.name: f.default for f in dataclasses.fields(GeoSynthConfig)}


register(DatasetSpec(
    "geosynth", _open_geosynth, description="GeoSynth, generated on the spot (the cpu study's data; book page 'geosynth')",
    params=dict(n_samples=Number(1, integer=True), image_size=Number(8, integer=True), multilabel=BOOL,
                context_strength=Number(0, 1), seed=Number(0, integer=True)),
    augmentation="fused", needs_root=False, splits=("standard", "geographic"), single_label={"multilabel": False},
    context_param="context_strength", default_params=_geosynth_defaults,
))


# ----------------------------------------------------------------------------- EuroSAT
def _open_eurosat(root, params, split):
    from stssl.data.eurosat import eurosat_splits, load_eurosat

    ds = load_eurosat(root, **params)
    return ds, eurosat_splits(ds.labels)


def _eurosat_source(root, image_size, options):
    from stssl.data.eurosat import source

    return source(root, image_size or 32, options.get("metadata"))


def _download_eurosat(root: Path) -> None:
    from stssl.data.torchgeo import download

    download("EuroSAT", root)


# The authors' config/eurosat/: EuroSAT at 32 px with ViT-S/2, on top of the paper profile.
EUROSAT_PAPER = dict(model="vit_small_patch2", image_size=32, steps=204_800, batch_lb=8, uratio=1, lr=5e-5,
                     warmup_steps=5120, lambda_d=0.01, eval_every=2048, eval_batch_size=16, patience=32_768,
                     num_labels=10)
EUROSAT_BUDGETS = {"num_labels": (10, 20, 40, 80)}  # Table 4

register(DatasetSpec(
    "eurosat", _open_eurosat, description="EuroSAT, 27 000 Sentinel-2 patches, 10 classes, locations, no dates",
    params=dict(image_size=_SIZE, metadata=_PATH, download=BOOL, workers=_WORKERS),
    augmentation="usb", has_dates=False, single_label={}, profile_overrides={"paper": EUROSAT_PAPER},
    label_budgets=EUROSAT_BUDGETS, source=_eurosat_source, download=_download_eurosat,
))


# ----------------------------------------------------------------------------- BigEarthNet
def _open_bigearthnet(root, params, split):
    from stssl.data.bigearthnet import bigearthnet_splits, load_bigearthnet

    params = dict(params)
    split_files = params.pop("split_files", None)
    ds = load_bigearthnet(root, **params)
    return ds, bigearthnet_splits(ds.ids, split, split_files)


def _bigearthnet_source(root, image_size, options):
    from stssl.data.bigearthnet import source

    return source(root, image_size or 128)


def _download_bigearthnet(root: Path) -> None:
    from stssl.data.torchgeo import download

    download("BigEarthNet", root)


register(DatasetSpec(
    "bigearthnet", _open_bigearthnet,
    description="BigEarthNet v1.0, 590 326 Sentinel-2 patches, 43 (or 19) labels, locations and dates",
    params=dict(image_size=_SIZE, classes=OneOf((43, 19)), download=BOOL, workers=_WORKERS,
                split_files=Kind(dict, "a dict of train, val and test split lists", optional=True)),
    augmentation="randaugment", splits=("standard", "geographic"), stratified_labels=True,
    label_budgets={"label_fraction": (0.005, 0.01, 0.02, 0.04, 0.08)},  # Figure 3
    source=_bigearthnet_source, download=_download_bigearthnet,
))


# ----------------------------------------------------------------------------- your own folder

def _open_folder(root, params, split):
    from stssl.data.folder import open_folder

    return open_folder(root, params, split)


def _folder_source(root, image_size, options):
    from stssl.data.folder import source

    return source(root, image_size, options)


def _folder_augmentation(params) -> str:
    return params.get("augment", _folder_defaults()["augment"])


def _folder_fingerprint(root, params):
    from stssl.data.folder import fingerprint

    return fingerprint(root, params)


def _folder_defaults():
    return {"table": None, "bands": None, "scale": None, "classes": None, "augment": "randaugment", "workers": 0}


class _Bands(Rule):
    """GeoTIFF bands: 1 or 3 band names (the file's band descriptions) or 1-based indices, or None."""

    def __contains__(self, value) -> bool:
        if value is None:
            return True
        return isinstance(value, (list, tuple)) and len(value) in (1, 3) and all(
            (isinstance(b, str) and b) or (isinstance(b, int) and not isinstance(b, bool) and b >= 1) for b in value)

    def __str__(self) -> str:
        return "a list of 1 or 3 band names or 1-based band indices (red, green, blue), or None"


class _Names(Rule):
    """A list of distinct class names, or None."""

    def __contains__(self, value) -> bool:
        return value is None or (isinstance(value, (list, tuple)) and len(value) >= 2
                                 and all(isinstance(n, (str, int)) and not isinstance(n, bool) for n in value)
                                 and len({str(n) for n in value}) == len(value))

    def __str__(self) -> str:
        return "a list of two or more distinct class names, or None"


register(DatasetSpec(
    "folder", _open_folder,
    description="your own images (GeoTIFF, PNG, JPEG) in a folder, with a table (CSV or parquet) of image paths, "
                "locations, dates, one or several labels and an optional split (stssl.data.folder)",
    params=dict(image_size=_SIZE, table=_PATH, bands=_Bands(), scale=Number(0, open_low=True, optional=True),
                classes=_Names(), augment=OneOf(("randaugment", "usb", "fused")), workers=_WORKERS,
                table_sha1=Pattern(r"[0-9a-f]{40}", "the SHA-1 of the table (set by resolve)")),
    augmentation=_folder_augmentation, single_label={}, source=_folder_source, default_params=_folder_defaults,
    fingerprint=_folder_fingerprint,
))


# ----------------------------------------------------------------------------- Copernicus-Bench (torchgeo)
def _open_copernicus(name):
    def open_(root, params, split):
        from stssl.data.copernicus import open_copernicus

        return open_copernicus(name, root, params, split)

    return open_


def _copernicus_source(name):
    def source_(root, image_size, options):
        from stssl.data.copernicus import source

        return source(name, root, image_size, options)

    return source_


def _download_copernicus(name):
    def download_(root: Path) -> None:
        from stssl.data.copernicus import download

        download(name, root)

    return download_


register(DatasetSpec(
    "copernicus-bigearthnet", _open_copernicus("copernicus-bigearthnet"),
    description="Copernicus-Bench BigEarthNet-S2 (torchgeo): 5 % of BigEarthNet v2, 19 labels, locations and dates; "
                "torchgeo's train/val/test",
    params=dict(image_size=_SIZE, workers=_WORKERS, download=BOOL), augmentation="randaugment", stratified_labels=True,
    source=_copernicus_source("copernicus-bigearthnet"), download=_download_copernicus("copernicus-bigearthnet"),
))
register(DatasetSpec(
    "copernicus-eurosat", _open_copernicus("copernicus-eurosat"),
    description="Copernicus-Bench EuroSAT-S2 (torchgeo): EuroSAT's 13-band GeoTIFFs, 10 classes, locations, no dates; "
                "torchgeo's train/val/test",
    params=dict(image_size=_SIZE, workers=_WORKERS, download=BOOL), augmentation="usb", has_dates=False,
    single_label={},
    profile_overrides={"paper": EUROSAT_PAPER}, label_budgets=EUROSAT_BUDGETS,
    source=_copernicus_source("copernicus-eurosat"), download=_download_copernicus("copernicus-eurosat"),
))
