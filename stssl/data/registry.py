"""The data-set registry: one :class:`DatasetSpec` per data set, and nothing else knows data-set names.

Loading, packing, augmentation, the labelled-subset rule, the profile settings and which pages a
data set can serve all come from its declaration. The registry is passive: each data set's module
registers itself where it is defined, and :mod:`stssl.data` imports those modules (and the files
named in ``STSSL_DATASETS``), so every name is known once ``stssl.data`` is imported. Adding a data
set is one file with a loader and one call::

    >>> from stssl.data.registry import DatasetSpec, register

    def open_mine(root, params, split):
        ds = ...  # a MetaDataset
        return ds, {"train": ..., "val": ..., "test": ...}

    register(DatasetSpec("mine", open_mine, params={"image_size": Number(1, integer=True)}))

after which ``resolve(dataset="mine", data_root=...)`` takes it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stssl.core.checks import ConfigError, Rule

Splits = dict[str, np.ndarray]

READING_PARAMS = ("workers", "download")
"""Data-set parameters that change how the data are read, not what is read: left out of a run's key."""


@dataclass(frozen=True)
class DatasetSpec:
    """Everything stssl needs to know about one data set.

    ``open(data_root, params, split)`` returns the :class:`~stssl.data.base.MetaDataset` and its
    ``train``/``val``/``test`` positions; ``params`` are the run's ``dataset_params`` (checked
    against ``params`` rules first, ``image_size`` always among them).
    """

    name: str
    open: Callable[[str | None, dict, str], tuple[Any, Splits]]
    params: Mapping[str, Rule]
    description: str = ""
    # the augmentation pipeline (stssl.data.augment.PIPELINES), or a function of the params choosing one
    augmentation: str | Callable[[dict], str] = "randaugment"
    needs_root: bool = True  # False: generated (GeoSynth); True: data_root names its folder
    splits: tuple[str, ...] = ("standard",)  # "geographic" where samples carry countries
    has_dates: bool = True  # False: every day of year is unknown (Table 3's OOD days need dates)
    stratified_labels: bool = False  # the labelled subset by iterative stratification (BigEarthNet)
    # dataset_params that give its single-label form (Table 4): {} when it is (or may be) single-label
    # as given, None when it never is
    single_label: Mapping[str, Any] | None = None
    # whether its labels are multi-label, given its params (None: known only once loaded, e.g. a folder's table),
    # so that an algorithm that cannot take them is refused before anything is loaded or trained
    multilabel: bool | Callable[[Mapping[str, Any]], bool | None] | None = None
    context_param: str | None = None  # the parameter that turns the metadata's information down (GeoSynth)
    default_params: Callable[[], Mapping[str, Any]] | None = None  # dropped from a run's key when equal
    profile_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # per profile name
    label_budgets: Mapping[str, tuple] = field(default_factory=dict)  # the paper's, per config field
    # prepare-data: (root, image_size or None, options) -> a stssl.data.packed.Source
    source: Callable[[str, int | None, dict], Any] | None = None
    # python -m stssl download: fetch into a folder (torchgeo's files, MD5-checked before extraction)
    download: Callable[[Path], None] | None = None
    # (data_root, params) -> dataset_params naming the data's content (the folder's: its table's SHA-1),
    # added to a run's config so that a run on edited data gets a new cache key instead of the old result
    fingerprint: Callable[[str | None, dict], dict] | None = None

    def is_multilabel(self, params: Mapping[str, Any]) -> bool | None:
        return self.multilabel(params) if callable(self.multilabel) else self.multilabel

    def augmentation_for(self, params: Mapping[str, Any]) -> str:
        return self.augmentation(dict(params)) if callable(self.augmentation) else self.augmentation

    def identify(self, data_root: str | None, params: Mapping[str, Any]) -> dict:
        """``params`` with the data's fingerprint (when the data set declares one) in place of any given."""
        return {**params, **self.fingerprint(data_root, dict(params))} if self.fingerprint else dict(params)

    def canonical(self, params: Mapping[str, Any]) -> dict:
        """``params`` without the entries at the data set's declared defaults, so that two spellings
        of the same data make one cache key; ``image_size`` is always kept (it overrides the run's)."""
        defaults = dict(self.default_params()) if self.default_params else {}
        defaults.pop("image_size", None)
        return {k: v for k, v in params.items() if k not in defaults or v != defaults[k]}


class UnknownDataset(ConfigError):
    """A data-set name nobody registered."""


_REGISTRY: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec, replace: bool = False) -> DatasetSpec:
    """Make ``spec`` known by its name; registering a taken name fails unless ``replace``."""
    if spec.name in _REGISTRY and not replace:
        raise ValueError(f"a data set named {spec.name!r} is already registered; pass replace=True to redefine it")
    if "image_size" not in spec.params:
        raise ValueError(f"data set {spec.name!r}: its params must include 'image_size' (every run sets it)")
    _REGISTRY[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Forget a registered data set (tests, notebooks that declare one for a demonstration)."""
    _REGISTRY.pop(name, None)


def names() -> tuple[str, ...]:
    """Every registered data set, built-ins first."""
    return tuple(_REGISTRY)


def get(name: str) -> DatasetSpec:
    """The declaration of ``name``; an unknown name fails listing the valid ones."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownDataset(
            f"unknown data set {name!r}; valid: {', '.join(_REGISTRY)} (stssl.data.registry.register declares another)"
        ) from None


def with_feature(test: Callable[[DatasetSpec], bool]) -> list[str]:
    """The names of the registered data sets that pass ``test`` (for error messages naming the valid ones)."""
    return [n for n in names() if test(_REGISTRY[n])]
