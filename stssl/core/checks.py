"""Valid values of settings, and the one-line errors for a user's mistake.

A :class:`Rule` says which values a setting takes (``value in rule``) and, in words, what is valid
(``str(rule)``); :func:`check` raises a :class:`ConfigError` naming the setting, the value and the
rule. Run configs (:func:`stssl.config.resolve`), with each algorithm's hyper-parameters and each
data set's parameters, are checked this way before anything is created, loaded or trained.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any


class OneLineError(ValueError):
    """A mistake a user fixes from the message alone (what is wrong, what is valid or what to do).

    IPython (notebooks, papermill) shows it as one line instead of a traceback through
    ``_render_traceback_``; the command line prints it as one line too. The cell still fails.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


class ConfigError(OneLineError):
    """A run setting outside its valid values."""


class Rule:
    """The values a setting takes: ``value in rule``; ``str(rule)`` says which, in words."""

    def __contains__(self, value: Any) -> bool:
        raise NotImplementedError


@dataclass(frozen=True)
class Number(Rule):
    """A finite number (``integer``: an ``int``, never a float or a bool) in an interval; ``None`` too if ``optional``."""

    low: float | None = None
    high: float | None = None
    integer: bool = False
    open_low: bool = False
    open_high: bool = False
    optional: bool = False

    def __contains__(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if isinstance(value, bool) or not isinstance(value, int if self.integer else (int, float)):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        above = self.low is None or (value > self.low if self.open_low else value >= self.low)
        below = self.high is None or (value < self.high if self.open_high else value <= self.high)
        return above and below

    def __str__(self) -> str:
        text = "an integer" if self.integer else "a number"
        if self.low is not None and self.high is not None:
            text += f" in {'(' if self.open_low else '['}{self.low}, {self.high}{')' if self.open_high else ']'}"
        elif self.low is not None:
            text += f" {'>' if self.open_low else '>='} {self.low}"
        elif self.high is not None:
            text += f" {'<' if self.open_high else '<='} {self.high}"
        return text + (", or None" if self.optional else "")


@dataclass(frozen=True)
class OneOf(Rule):
    """One of a few values (names, or True/False)."""

    values: tuple

    def __contains__(self, value: Any) -> bool:
        return any(type(value) is type(v) and value == v for v in self.values)

    def __str__(self) -> str:
        return ", ".join(map(str, self.values))


@dataclass(frozen=True)
class Kind(Rule):
    """Any value of a type (a text, a dict); ``None`` too if ``optional``."""

    kind: type
    words: str
    optional: bool = False

    def __contains__(self, value: Any) -> bool:
        return isinstance(value, self.kind) or (self.optional and value is None)

    def __str__(self) -> str:
        return self.words + (", or None" if self.optional else "")


@dataclass(frozen=True)
class Pattern(Rule):
    """A text matching a regular expression in full."""

    regex: str
    words: str

    def __contains__(self, value: Any) -> bool:
        return isinstance(value, str) and re.fullmatch(self.regex, value) is not None

    def __str__(self) -> str:
        return self.words


@dataclass(frozen=True)
class NumberOrPair(Rule):
    """A number, or a pair ``[low, high]`` of them with low <= high (a multi-label threshold), or None."""

    number: Number

    def __contains__(self, value: Any) -> bool:
        if isinstance(value, (list, tuple)):
            return len(value) == 2 and all(v in self.number for v in value) and value[0] <= value[1]
        return value is None or value in self.number

    def __str__(self) -> str:
        return f"{self.number}, a pair [negative, positive] of them (negative <= positive), or None"


BOOL = OneOf((True, False))


def check(name: str, value: Any, rule: Rule) -> None:
    """Raise a one-line :class:`ConfigError` unless ``value in rule``."""
    if value not in rule:
        raise ConfigError(f"invalid {name}={value!r}; valid: {rule}")


def check_all(values: dict[str, Any], rules: dict[str, Rule], prefix: str = "") -> None:
    """:func:`check` every entry of ``values`` that has a rule."""
    for name, value in values.items():
        if name in rules:
            check(prefix + name, value, rules[name])


def check_param_dict(owner: str, params: dict[str, Any], rules: dict[str, Rule]) -> None:
    """The parameters of ``owner`` (an algorithm, a data set): every name one of ``rules``, every
    value valid; a one-line :class:`ConfigError` naming what is valid otherwise."""
    unknown = sorted(set(params) - set(rules))
    if unknown:
        raise ConfigError(f"unknown parameter(s) {', '.join(unknown)} for {owner}; valid: {', '.join(rules) or 'none'}")
    check_all(params, rules, prefix=f"{owner} ")
