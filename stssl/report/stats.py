"""How sure a comparison over seeds is: the paired difference, its 95 % interval, and a verdict.

Two methods run with the same seeds are compared seed by seed (the same labelled subset, batches
and initialisation on both sides), so the spread that matters is that of the per-seed differences.
:func:`compare` gives their mean, a 95 % confidence interval from Student's t with ``n - 1``
degrees of freedom, and on how many seeds the first was ahead. A claim about the direction of a
difference *holds* when the interval excludes 0 on the claimed side, is *contradicted* when it
excludes 0 on the other, and is otherwise *not resolved* at ``n`` seeds; :meth:`Comparison.seeds_needed`
says how many seeds the observed mean and spread would need for the interval to exclude 0. A claim
that two things are about equal ("within ±5 %") holds when the whole interval lies inside that band
and is contradicted when it lies wholly outside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95
HOLDS, CONTRADICTED, UNRESOLVED = "holds", "contradicted", "not resolved"
MAX_SEEDS = 1000  # beyond this, "more seeds than anyone would run"


def _half_width(sd: float, n: int) -> float:
    """Half the width of the interval of a mean of ``n`` values of standard deviation ``sd``."""
    return float(stats.t.ppf(0.5 + LEVEL / 2, n - 1)) * sd / math.sqrt(n) if n > 1 else math.nan


@dataclass(frozen=True)
class Comparison:
    """Per-seed differences (first minus second) summarised."""

    mean: float
    low: float  # the 95 % interval of the mean (NaN with fewer than two seeds)
    high: float
    sd: float  # of the per-seed differences (NaN with fewer than two seeds)
    n: int  # seeds with both sides
    ahead: int  # seeds on which the first was ahead (a positive difference)

    def verdict(self, sign: int) -> str:
        """The claim "the difference has this ``sign``" (+1 or -1): holds, contradicted or not resolved."""
        if self.n > 1 and (self.low > 0 or self.high < 0):
            return HOLDS if (self.low > 0) == (sign > 0) else CONTRADICTED
        return UNRESOLVED

    def within(self, bound: float) -> str:
        """The claim "the difference lies within ±``bound``": holds, contradicted or not resolved."""
        if self.n > 1 and -bound < self.low and self.high < bound:
            return HOLDS
        if self.n > 1 and (self.low > bound or self.high < -bound):
            return CONTRADICTED
        return UNRESOLVED

    def seeds_needed(self, bound: float = 0.0) -> int | None:
        """The fewest seeds whose interval would settle the claim (exclude 0, or with ``bound``,
        lie wholly inside or outside ±``bound``) if the mean and the spread stayed as observed; None
        when that cannot be said (fewer than two seeds, a mean on the edge, or more than
        :data:`MAX_SEEDS`)."""
        gap = abs(abs(self.mean) - bound)
        if self.n < 2 or not math.isfinite(self.sd) or gap == 0:
            return None
        if self.sd == 0:
            return 2
        for n in range(2, MAX_SEEDS + 1):
            if _half_width(self.sd, n) < gap:
                return n
        return None

    def describe(self, sign: int | None = None, unit: str = "") -> str:
        """``+1.23 [0.40, 2.06]`` (``n`` seeds, ``k`` ahead), with the verdict when ``sign`` is given."""
        interval = f" [{self.low:+.2f}, {self.high:+.2f}]" if self.n > 1 else ""
        text = f"{self.mean:+.2f}{unit}{interval} ({self.ahead}/{self.n} seeds ahead)"
        if sign is not None:
            text += f": {verdict_text(self, sign)}"
        return text


def compare(differences) -> Comparison:
    """The :class:`Comparison` of per-seed differences (NaN ones left out)."""
    d = np.asarray(differences, dtype=np.float64)
    d = d[np.isfinite(d)]
    n = len(d)
    if n == 0:
        return Comparison(math.nan, math.nan, math.nan, math.nan, 0, 0)
    mean = float(d.mean())
    sd = float(d.std(ddof=1)) if n > 1 else math.nan
    half = _half_width(sd, n)
    return Comparison(mean, mean - half, mean + half, sd, n, int((d > 0).sum()))


def verdict_text(comparison: Comparison, sign: int = 0, within: float | None = None) -> str:
    """The verdict on "the difference has this ``sign``" (or, with ``within``, "lies within
    ±``within``") in words, with the seeds an unresolved one would need at the observed spread."""
    verdict = comparison.verdict(sign) if within is None else comparison.within(within)
    if verdict != UNRESOLVED:
        return verdict
    needed = comparison.seeds_needed(within or 0.0)
    if needed is None:
        return f"{UNRESOLVED} at {comparison.n} seed{'s' * (comparison.n != 1)}"
    return f"{UNRESOLVED} at {comparison.n} seeds (the observed spread would need {needed})"


def difference_cell(differences) -> str:
    """A table's cell for a paired difference over seeds: ``+1.23 [+0.40, +2.06] (2/3 seeds ahead)``,
    "–" without a seed that has both sides."""
    c = compare(differences)
    return c.describe() if c.n else "–"


def tally(differences: dict, sign: int = +1, unit: str = "") -> tuple[str, str]:
    """For a page's sentence on several paired differences (one per algorithm, label budget, ...)
    that all claim the same ``sign``: the count of each verdict ("2 hold, 0 contradicted, 1 not
    resolved") and the list of ``name +1.23 [+0.40, +2.06] (2/3 seeds ahead): holds``."""
    comparisons = {name: compare(d) for name, d in differences.items()}
    kinds = [c.verdict(sign) for c in comparisons.values()]
    counts = (
        f"{kinds.count(HOLDS)} hold, {kinds.count(CONTRADICTED)} contradicted, {kinds.count(UNRESOLVED)} not resolved"
    )
    listing = "; ".join(f"{name} {c.describe(sign, unit)}" for name, c in comparisons.items())
    return counts, listing
