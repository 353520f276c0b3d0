"""SSL algorithms behind one interface, and a registry by name."""

from __future__ import annotations

import inspect

from stssl.algorithms.base import Logits, PseudoLabels, SSLAlgorithm, TaskContext
from stssl.algorithms.cap import CAP
from stssl.algorithms.cdmad import CDMAD
from stssl.algorithms.defixmatch import DeFixMatch
from stssl.algorithms.fixmatch import FixMatch
from stssl.algorithms.freematch import FreeMatch
from stssl.algorithms.softmatch import SoftMatch
from stssl.algorithms.supervised import Supervised
from stssl.algorithms.udal import UDAL

# In the paper's Table 1 order, after the supervised baseline.
ALGORITHMS: dict[str, type[SSLAlgorithm]] = {
    cls.name: cls for cls in (Supervised, FixMatch, DeFixMatch, UDAL, SoftMatch, FreeMatch, CAP, CDMAD)
}


def check_algorithm(name: str, multilabel: bool | None = None) -> type[SSLAlgorithm]:
    """The class registered under ``name``; a one-line error listing valid names otherwise."""
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}; valid: {', '.join(ALGORITHMS)}")
    cls = ALGORITHMS[name]
    if multilabel is True and not cls.supports_multilabel:
        raise ValueError(f"{name} does not support multi-label data; valid here: {_valid(True)}")
    if multilabel is False and not cls.supports_single_label:
        raise ValueError(f"{name} is multi-label only; valid for single-label data: {_valid(False)}")
    return cls


def _valid(multilabel: bool) -> str:
    return ", ".join(n for n, c in ALGORITHMS.items() if (c.supports_multilabel if multilabel else c.supports_single_label))


def build_algorithm(name: str, ctx: TaskContext, **params) -> SSLAlgorithm:
    """An algorithm for the task in ``ctx``; ``params`` are its hyper-parameters (e.g. ``lambda_u``,
    ``threshold``); an unknown one fails naming the valid ones."""
    cls = check_algorithm(name, ctx.multilabel)
    try:
        return cls(ctx, **params)
    except TypeError as err:
        valid = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "ctx")]
        raise ValueError(f"bad parameter for {name} ({err}); valid: {', '.join(valid)}") from None


__all__ = ["ALGORITHMS", "Logits", "PseudoLabels", "SSLAlgorithm", "TaskContext", "build_algorithm", "check_algorithm"]
