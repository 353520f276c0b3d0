"""Data sets with spatiotemporal metadata, behind one sample contract (:mod:`stssl.data.base`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stssl.data.base import MetaDataset, TaskInfo
from stssl.data.splits import labelled_subset

DATASETS = ("geosynth",)
PLANNED = ("eurosat", "bigearthnet")


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
    split: str = "random",
) -> DataSplits:
    """Load ``dataset`` with its splits; the labelled subset depends on ``seed``.

    The unlabelled set is the whole training split (labelled images included), as in the
    authors' EuroSAT set-up. ``split="geographic"`` holds out Portugal and Ireland for test.
    """
    params = dict(params or {})
    if dataset == "geosynth":
        from stssl.data.synthetic import GeoSynthConfig, geographic_split, geosynth_splits, load_geosynth

        ds = load_geosynth(GeoSynthConfig(**params), cache_dir=data_root)
        splits = geographic_split(ds) if split == "geographic" else geosynth_splits(ds)
    elif dataset in PLANNED:
        raise NotImplementedError(f"data set {dataset!r} is not available in this version yet; valid: {', '.join(DATASETS)}")
    else:
        raise ValueError(f"unknown data set {dataset!r}; valid: {', '.join(DATASETS)}")
    train = np.asarray(splits["train"])
    lab = train[labelled_subset(ds.label_matrix()[train], label_fraction, seed)]
    return DataSplits(ds, train, np.asarray(splits["val"]), np.asarray(splits["test"]), lab, train)


__all__ = ["DATASETS", "DataSplits", "MetaDataset", "TaskInfo", "load_data"]
