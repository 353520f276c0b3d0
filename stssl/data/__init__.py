"""Data sets with spatiotemporal metadata, behind one sample contract (:mod:`stssl.data.base`).

Importing this package fills the registry (:mod:`stssl.data.registry`): each built-in data set's
module registers itself, then every file or module named in ``STSSL_DATASETS`` (several: separated
by ``os.pathsep``) is run, so that a data set of one's own is known to ``python -m stssl train
--set dataset=mine``, the notebooks and the worker processes that train runs in parallel.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# the built-in data sets, in the order the registry lists them (each module registers itself)
from stssl.data import geosynth, eurosat, bigearthnet, folder, copernicus  # noqa: F401  isort: skip
from stssl.core.checks import check_param_dict
from stssl.data import registry
from stssl.data.base import MetaDataset, TaskInfo
from stssl.data.geo import DataError
from stssl.data.packed import pack, packed_dir
from stssl.data.splits import labelled_subset, per_class_subset, stratified_subset

USER_DATASETS = "STSSL_DATASETS"


def _import_user_file(entry: str) -> None:
    """Run a user's declaration file (a ``.py`` path) or import a module by name."""
    if not entry.endswith(".py"):
        importlib.import_module(entry)
        return
    path = Path(entry).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{USER_DATASETS} names {path}, which does not exist")
    spec = importlib.util.spec_from_file_location(f"stssl_user_datasets.{path.stem}", path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


for _entry in filter(None, os.environ.get(USER_DATASETS, "").split(os.pathsep)):
    _import_user_file(_entry)

SPLITS = ("standard", "geographic", "seco")


def check_dataset_params(dataset: str, params: dict) -> None:
    """Fail at once, naming what is valid, on a parameter ``dataset`` does not take or a value out of range."""
    check_param_dict(dataset, params, dict(registry.get(dataset).params))


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
    spec = registry.get(dataset)
    if split not in spec.splits:
        raise ValueError(
            f"data set {dataset!r} has no {split!r} split; valid: {', '.join(spec.splits)}"
            + ("" if split in SPLITS else f" (stssl knows {', '.join(SPLITS)})")
        )
    if spec.needs_root and not data_root:
        raise ValueError(
            f"data set {dataset!r} needs data_root (the folder it was downloaded to); see the book's data page"
        )
    ds, splits = spec.open(data_root, dict(params or {}), split)
    train = np.asarray(splits["train"])
    return DataSplits(
        ds,
        train,
        np.asarray(splits["val"]),
        np.asarray(splits["test"]),
        train[_labelled(spec, ds, train, label_fraction, num_labels, seed)],
        train,
    )


def canonical_params(dataset: str, params: dict) -> dict:
    """``params`` without the entries that equal the data set's own defaults (e.g. GeoSynth's
    :class:`~stssl.data.geosynth.GeoSynthConfig`), so that two spellings of the same data
    (``{}`` and ``{"context_strength": 1.0}``) make one run config and one cache key.
    ``image_size`` is kept: it overrides the run's own."""
    return registry.get(dataset).canonical(params)


def _labelled(
    spec: registry.DatasetSpec, ds: MetaDataset, train: np.ndarray, fraction: float, num_labels: int | None, seed: int
) -> np.ndarray:
    """Positions into ``train`` of the labelled subset."""
    if num_labels is not None:
        classes = ds.task.num_classes
        if ds.task.multilabel or num_labels % classes:
            raise ValueError(
                f"num_labels needs a single-label data set and a multiple of its {classes} classes, "
                f"got {num_labels}; use label_fraction otherwise"
            )
        return per_class_subset(np.asarray(ds.labels)[train], num_labels // classes, seed)
    if spec.stratified_labels:
        return stratified_subset(ds.label_matrix()[train], fraction, seed)
    return labelled_subset(ds.label_matrix()[train], fraction, seed)


def prepare_data(
    dataset: str, root: str, out: str | None = None, image_size: int | None = None, workers: int = 0, **options
) -> Path:
    """Pack a data set for fast loading (see :mod:`stssl.data.packed`); returns the folder.

    ``out`` defaults to ``<root>/stssl-packed-<image_size>``, where :func:`load_data` looks first;
    ``options`` are the data set's own (EuroSAT's ``metadata`` table, a folder's ``table``...).
    """
    spec = registry.get(dataset)
    if spec.source is None:
        raise ValueError(f"prepare-data packs data sets read from files ({', '.join(packable())}), not {dataset!r}")
    src = spec.source(root, image_size, {k: v for k, v in options.items() if v is not None})
    return pack(src, Path(out) if out else packed_dir(root, src.image_size), workers=workers)


def packable() -> list[str]:
    """The data sets ``prepare-data`` can pack."""
    return registry.with_feature(lambda spec: spec.source is not None)


__all__ = [
    "SPLITS",
    "DataError",
    "DataSplits",
    "MetaDataset",
    "TaskInfo",
    "canonical_params",
    "check_dataset_params",
    "load_data",
    "packable",
    "prepare_data",
    "registry",
]
