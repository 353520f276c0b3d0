"""SSL algorithms behind one interface (:mod:`~stssl.algorithms.base`), each registered by name where it
is defined (``@register_algorithm``); adding one is one file and one import line below."""

from __future__ import annotations

import inspect

# each module registers its algorithm; imported in the paper's Table 1 order, after the supervised baseline
from stssl.algorithms import supervised, fixmatch, defixmatch, udal, softmatch, freematch, cap, cdmad  # noqa: F401  isort: skip
from stssl.algorithms.base import ALGORITHMS, Logits, PseudoLabels, SSLAlgorithm, TaskContext
from stssl.core.checks import ConfigError, check_param_dict


def check_algorithm(name: str, multilabel: bool | None = None) -> type[SSLAlgorithm]:
    """The class registered under ``name``; a one-line error listing valid names otherwise."""
    if name not in ALGORITHMS:
        raise ConfigError(f"unknown algorithm {name!r}; valid: {', '.join(ALGORITHMS)}")
    cls = ALGORITHMS[name]
    if multilabel is True and not cls.supports_multilabel:
        raise ConfigError(f"{name} does not support multi-label data; valid here: {_valid(True)}")
    if multilabel is False and not cls.supports_single_label:
        raise ConfigError(f"{name} is multi-label only; valid for single-label data: {_valid(False)}")
    return cls


def _valid(multilabel: bool) -> str:
    return ", ".join(
        n for n, c in ALGORITHMS.items() if (c.supports_multilabel if multilabel else c.supports_single_label)
    )


def hyper_parameters(name: str) -> list[str]:
    """The names an algorithm's ``algo_params`` may set (``lambda_u`` is a run setting)."""
    signature = inspect.signature(check_algorithm(name).__init__)
    return [p for p in signature.parameters if p not in ("self", "ctx", "lambda_u")]


def check_params(name: str, params: dict) -> None:
    """Fail at once, naming what is valid, if ``params`` has a name the algorithm does not take or
    a value outside its range (thresholds in [0, 1], momenta in [0, 1), positive counts)."""
    check_param_dict(name, params, check_algorithm(name).param_rules)


def build_algorithm(name: str, ctx: TaskContext, lambda_u: float = 1.0, **params) -> SSLAlgorithm:
    """An algorithm for the task in ``ctx``, with hyper-parameters ``params`` (e.g. ``threshold``)."""
    cls = check_algorithm(name, ctx.multilabel)
    check_params(name, params)
    return cls(ctx, lambda_u=lambda_u, **params)


__all__ = [
    "ALGORITHMS",
    "Logits",
    "PseudoLabels",
    "SSLAlgorithm",
    "TaskContext",
    "build_algorithm",
    "check_algorithm",
    "check_params",
    "hyper_parameters",
]
