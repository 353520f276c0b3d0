"""Data sets with spatiotemporal metadata, behind one sample contract (:mod:`stssl.data.base`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stssl.checks import BOOL, Kind, Number, OneOf, Rule, check_param_dict
from stssl.data.base import MetaDataset, TaskInfo
from stssl.data.geo import DataError
from stssl.data.splits import labelled_subset, per_class_subset, stratified_subset

DATASETS = ("geosynth", "eurosat", "bigearthnet")
SPLITS = ("standard", "geographic")

_WORKERS, _PATH = Number(0, integer=True), Kind(str, "a path", optional=True)
# The valid ``params`` of each data set (GeoSynthConfig's fields; the real loaders' options).
DATASET_PARAMS: dict[str, dict[str, Rule]] = {
    "geosynth": dict(n_samples=Number(1, integer=True), image_size=Number(8, integer=True), multilabel=BOOL,
                     context_strength=Number(0, 1), seed=Number(0, integer=True)),
    "eurosat": dict(image_size=Number(1, integer=True), metadata=_PATH, download=BOOL, workers=_WORKERS),
    "bigearthnet": dict(image_size=Number(1, integer=True), classes=OneOf((43, 19)), download=BOOL, workers=_WORKERS,
                        split_files=Kind(dict, "a dict of train, val and test split lists", optional=True)),
}


def check_dataset_params(dataset: str, params: dict) -> None:
    """Fail at once, naming what is valid, on a parameter ``dataset`` does not take or a value out of range."""
    check_param_dict(dataset, params, DATASET_PARAMS[dataset])


@dataclass
class DataSplits:
    """A data set and index arrays into it: train (= labelled + unlabelled), val, test."""

    dataset: MetaDataset
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    labelled: np.ndarray
    unlabelled: np.ndarray


def load_data(
    dataset: str,
    data_root: str | None = None,
    params: dict | None = None,
    label_fraction: float = 0.01,
    seed: int = 0,
    split: str = "standard",
    num_labels: int | None = None,
) -> DataSplits:
    """Load ``dataset`` with its splits; the labelled subset depends on ``seed``.

    ``split="standard"`` is the data set's usual split (GeoSynth: random; BigEarthNet: the
    official recommended one, or ``params["split_files"]``; EuroSAT: USB's 80/20 per class);
    ``"geographic"`` holds out Portugal and Ireland for test (GeoSynth, BigEarthNet).
    The labelled subset is ``label_fraction`` of train (BigEarthNet: iteratively stratified), or
    ``num_labels`` spread evenly over the classes (EuroSAT: 10/20/40/80 labels). The unlabelled
    set is the whole training split (labelled images included), as in the authors' code.
    ``params`` are the data set's own options (``image_size``, ``classes``, ``metadata``,
    ``download``, ``workers``, ``split_files`` for the real data sets).
    """
    params = dict(params or {})
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    if dataset not in DATASETS:
        raise ValueError(f"unknown data set {dataset!r}; valid: {', '.join(DATASETS)}")
    if dataset != "geosynth" and not data_root:
        raise ValueError(f"data set {dataset!r} needs data_root (the folder it was downloaded to); "
                         "see the book's data page")
    if dataset == "geosynth":
        from stssl.data.synthetic import GeoSynthConfig, geographic_split, geosynth_splits, load_geosynth

        ds = load_geosynth(GeoSynthConfig(**params), cache_dir=data_root)
        splits = geographic_split(ds) if split == "geographic" else geosynth_splits(ds)
    elif dataset == "eurosat":
        from stssl.data.eurosat import eurosat_splits, load_eurosat

        if split == "geographic":
            raise ValueError("EuroSAT has no geographic split (its files carry no country)")
        ds = load_eurosat(data_root, **params)
        splits = eurosat_splits(ds.labels)
    else:
        from stssl.data.bigearthnet import bigearthnet_splits, load_bigearthnet

        split_files = params.pop("split_files", None)
        ds = load_bigearthnet(data_root, **params)
        splits = bigearthnet_splits(ds.ids, split, split_files)
    train = np.asarray(splits["train"])
    return DataSplits(ds, train, np.asarray(splits["val"]), np.asarray(splits["test"]),
                      train[_labelled(dataset, ds, train, label_fraction, num_labels, seed)], train)


def canonical_params(dataset: str, params: dict) -> dict:
    """``params`` without the entries that equal the data set's own defaults (GeoSynth's
    :class:`~stssl.data.synthetic.GeoSynthConfig`), so that two spellings of the same data
    (``{}`` and ``{"context_strength": 1.0}``) make one run config and one cache key.
    ``image_size`` is kept: it overrides the run's own."""
    if dataset != "geosynth":
        return dict(params)
    import dataclasses

    from stssl.data.synthetic import GeoSynthConfig

    defaults = {f.name: f.default for f in dataclasses.fields(GeoSynthConfig) if f.name != "image_size"}
    return {k: v for k, v in params.items() if k not in defaults or v != defaults[k]}


def _labelled(dataset: str, ds: MetaDataset, train: np.ndarray, fraction: float, num_labels: int | None,
              seed: int) -> np.ndarray:
    """Positions into ``train`` of the labelled subset."""
    if num_labels is not None:
        classes = ds.task.num_classes
        if ds.task.multilabel or num_labels % classes:
            raise ValueError(f"num_labels needs a single-label data set and a multiple of its {classes} classes, "
                             f"got {num_labels}; use label_fraction otherwise")
        return per_class_subset(np.asarray(ds.labels)[train], num_labels // classes, seed)
    if dataset == "bigearthnet":
        return stratified_subset(ds.label_matrix()[train], fraction, seed)
    return labelled_subset(ds.label_matrix()[train], fraction, seed)


def prepare_data(dataset: str, root: str, out: str | None = None, image_size: int | None = None,
                 workers: int = 0, metadata: str | None = None) -> Path:
    """Pack a real data set for fast loading (see :mod:`stssl.data.packed`); returns the folder.

    ``out`` defaults to ``<root>/stssl-packed-<image_size>``, where :func:`load_data` looks first.
    """
    from stssl.data import bigearthnet, eurosat
    from stssl.data.packed import pack, packed_dir

    if dataset == "bigearthnet":
        size = image_size or 128
        src = bigearthnet.source(root, size)
    elif dataset == "eurosat":
        size = image_size or 32
        src = eurosat.source(root, size, metadata)
    else:
        raise ValueError(f"prepare-data packs eurosat or bigearthnet, not {dataset!r}")
    return pack(src, Path(out) if out else packed_dir(root, size), workers=workers)


__all__ = ["DATASETS", "DATASET_PARAMS", "SPLITS", "DataError", "DataSplits", "MetaDataset", "TaskInfo", "canonical_params",
           "check_dataset_params", "load_data", "prepare_data"]
