"""Confidence bounds on paired ratios, for the sandbox's comparison checks. Pure: numbers
in, numbers out.

Each pair is one turn of the candidate and one of the blessed model, back to back on the
same requests, so its ratio (candidate / blessed) cancels whatever the machine did to both
in that fraction of a second; what is left differs from pair to pair with a distribution
nobody knows (a busy neighbour makes it heavy-tailed: between two copies of one model, one
round's ratio of 16 reached 1.98). The bounds are therefore the sign test's:
distribution-free bounds on the *median* ratio from the order statistics, which one wild
pair moves by one rank at most. The test takes the pairs as independent; the pairs of one
round are not quite (they share its seconds of the machine): mlrail.serving.sandbox.verdict
says what that costs, as measured by benchmarks/serving/run.py and pair_dependence.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def sign_rank(n: int, alpha: float) -> int:
    """The largest k with P(Binomial(n, 1/2) <= k - 1) <= alpha: the k-th smallest of ``n``
    values is a lower confidence bound on their median at 1 - alpha (and the k-th largest
    an upper one). 0 when ``n`` is too small for any bound at that level."""
    cumulative, k, total = 0.0, 0, 2.0**n
    for j in range(n):
        cumulative += math.comb(n, j) / total
        if cumulative > alpha:
            break
        k = j + 1
    return k


@dataclass(frozen=True)
class Bounds:
    """The median of the ratios and one-sided bounds on it, each at 1 - alpha."""

    pairs: int
    median: float | None
    low: float  # 0.0 when there are too few pairs
    high: float  # inf when there are too few pairs

    @property
    def bounded(self) -> bool:
        return self.low > 0.0 and math.isfinite(self.high)


def median_bounds(ratios: Sequence[float], alpha: float) -> Bounds:
    """Bounds on the median of positive ratios, each one-sided at 1 - ``alpha``."""
    values = sorted(r for r in ratios if r > 0 and math.isfinite(r))
    n = len(values)
    if not n:
        return Bounds(0, None, 0.0, math.inf)
    middle = n // 2
    median = values[middle] if n % 2 else math.sqrt(values[middle - 1] * values[middle])
    k = sign_rank(n, alpha)
    if not k:
        return Bounds(n, median, 0.0, math.inf)
    return Bounds(n, median, values[k - 1], values[n - k])


def judge_bounds(bounds: Bounds, limit: float, at_most: bool) -> str:
    """``failed`` when the bounds put the median beyond ``limit`` (above it for an at-most
    limit, below it for an at-least one), ``passed`` when they put it within, else
    ``inconclusive``."""
    if bounds.median is None:
        return "inconclusive"
    if at_most:
        if bounds.low > limit:
            return "failed"
        return "passed" if bounds.high <= limit else "inconclusive"
    if bounds.high < limit:
        return "failed"
    return "passed" if bounds.low >= limit else "inconclusive"
