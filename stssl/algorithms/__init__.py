"""SSL algorithms behind one interface, and a registry by name."""

from __future__ import annotations

from stssl.algorithms.base import PseudoLabels, SSLAlgorithm
from stssl.algorithms.fixmatch import FixMatch
from stssl.algorithms.supervised import Supervised

ALGORITHMS: dict[str, type[SSLAlgorithm]] = {cls.name: cls for cls in (Supervised, FixMatch)}

# Named by the paper and planned (issue "All seven SSL algorithms"); not implemented yet.
PLANNED = ("defixmatch", "udal", "softmatch", "freematch", "cap", "cdmad")


def check_algorithm(name: str, multilabel: bool | None = None) -> type[SSLAlgorithm]:
    """The class registered under ``name``; a one-line error listing valid names otherwise."""
    if name not in ALGORITHMS:
        planned = f" ({name} is planned but not implemented yet)" if name in PLANNED else ""
        raise ValueError(f"unknown algorithm {name!r}{planned}; valid: {', '.join(ALGORITHMS)}")
    cls = ALGORITHMS[name]
    if multilabel is True and not cls.supports_multilabel:
        raise ValueError(f"{name} does not support multi-label data; valid here: {_valid(True)}")
    if multilabel is False and not cls.supports_single_label:
        raise ValueError(f"{name} is multi-label only; valid for single-label data: {_valid(False)}")
    return cls


def _valid(multilabel: bool) -> str:
    return ", ".join(n for n, c in ALGORITHMS.items() if (c.supports_multilabel if multilabel else c.supports_single_label))


def build_algorithm(name: str, multilabel: bool, **params) -> SSLAlgorithm:
    return check_algorithm(name, multilabel)(multilabel=multilabel, **params)


__all__ = ["ALGORITHMS", "PseudoLabels", "SSLAlgorithm", "build_algorithm", "check_algorithm"]
