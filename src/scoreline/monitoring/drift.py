"""Distances between a baseline distribution and the current one.

Numeric features compare KLL sketches (Model Monitor's own baseline sketches included);
categorical features compare category frequencies. Methods:

- ``LInfinity`` (Model Monitor's default): the largest gap between the two cumulative
  distributions (numeric) or category frequencies (categorical);
- ``KS``: the Kolmogorov-Smirnov statistic (the same gap for numeric features), reported with
  its asymptotic p-value;
- ``PSI``: population stability index over the baseline's 10 equal-width buckets (numeric) or
  the categories, with empty cells floored at 1e-4;
- ``Wasserstein``: the earth mover's distance divided by the baseline's standard deviation,
  so one threshold fits features of any scale;
- ``JensenShannon``: the Jensen-Shannon distance (base 2, between 0 and 1) over the same
  cells as PSI.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from scoreline.errors import DataError
from scoreline.monitoring.sketch import KLLSketch

EPSILON = 1e-4
BUCKETS = 10
NUMERIC_METHODS = ("LInfinity", "KS", "PSI", "Wasserstein", "JensenShannon")
CATEGORICAL_METHODS = ("LInfinity", "PSI", "JensenShannon")


@dataclass(frozen=True)
class Numeric:
    """A numeric distribution: its sketch, range and spread."""

    sketch: KLLSketch
    count: float
    low: float
    high: float
    std: float


def method_name(value: str, categorical: bool) -> str:
    """The canonical spelling of a drift method, or a clear error."""
    known = CATEGORICAL_METHODS if categorical else NUMERIC_METHODS
    for name in known:
        if value.replace("-", "").replace("_", "").lower() == name.lower():
            return name
    kind = "categorical" if categorical else "numeric"
    raise DataError(
        f"'{value}' is not a drift method for {kind} features",
        where="constraints.json monitoring_config",
        hint=f"use one of {', '.join(known)}",
    )


def _cells(baseline: Numeric, current: Numeric) -> tuple[np.ndarray, np.ndarray]:
    """Shares of each distribution in the baseline's equal-width buckets (open-ended)."""
    if baseline.high > baseline.low:
        edges = np.linspace(baseline.low, baseline.high, BUCKETS + 1)[1:-1]
    else:
        edges = np.array([baseline.low])
    base = np.diff(np.concatenate([[0.0], baseline.sketch.cdf(edges), [1.0]]))
    cur = np.diff(np.concatenate([[0.0], current.sketch.cdf(edges), [1.0]]))
    return base, cur


def _linf(baseline: Numeric, current: Numeric) -> float:
    points = np.unique(
        np.concatenate([baseline.sketch.weighted()[0], current.sketch.weighted()[0]])
    )
    if not points.size:
        return 0.0
    return float(np.abs(baseline.sketch.cdf(points) - current.sketch.cdf(points)).max())


def _wasserstein(baseline: Numeric, current: Numeric) -> float:
    points = np.unique(
        np.concatenate([baseline.sketch.weighted()[0], current.sketch.weighted()[0]])
    )
    if points.size < 2:
        return 0.0
    gap = np.abs(baseline.sketch.cdf(points[:-1]) - current.sketch.cdf(points[:-1]))
    distance = float((gap * np.diff(points)).sum())
    return distance / baseline.std if baseline.std > 0 else distance


def psi(base: np.ndarray, cur: np.ndarray) -> float:
    b = np.maximum(base, EPSILON)
    c = np.maximum(cur, EPSILON)
    return float(((c - b) * np.log(c / b)).sum())


def jensen_shannon(base: np.ndarray, cur: np.ndarray) -> float:
    b = base / base.sum() if base.sum() else base
    c = cur / cur.sum() if cur.sum() else cur
    m = (b + c) / 2

    def kl(p: np.ndarray) -> float:
        mask = p > 0
        return float((p[mask] * np.log2(p[mask] / m[mask])).sum())

    return math.sqrt(max((kl(b) + kl(c)) / 2, 0.0))


NUMERIC: dict[str, Callable[[Numeric, Numeric], float]] = {
    "LInfinity": _linf,
    "KS": _linf,
    "PSI": lambda b, c: psi(*_cells(b, c)),
    "Wasserstein": _wasserstein,
    "JensenShannon": lambda b, c: jensen_shannon(*_cells(b, c)),
}


def numeric_distance(method: str, baseline: Numeric, current: Numeric) -> float:
    return NUMERIC[method](baseline, current)


def categorical_distance(method: str, baseline: dict[str, float], current: dict[str, int]) -> float:
    keys = sorted(set(baseline) | set(current))
    base = np.array([baseline.get(k, 0.0) for k in keys], dtype=np.float64)
    cur = np.array([current.get(k, 0) for k in keys], dtype=np.float64)
    base = base / (base.sum() or 1.0)
    cur = cur / (cur.sum() or 1.0)
    if method == "PSI":
        return psi(base, cur)
    if method == "JensenShannon":
        return jensen_shannon(base, cur)
    return float(np.abs(base - cur).max()) if keys else 0.0


def ks_p_value(statistic: float, n: float, m: float) -> float:
    """Asymptotic two-sample Kolmogorov-Smirnov p-value."""
    effective = math.sqrt(n * m / (n + m))
    x = (effective + 0.12 + 0.11 / effective) * statistic
    if x < 0.3:
        return 1.0
    total = sum((-1) ** (k - 1) * math.exp(-2 * k * k * x * x) for k in range(1, 101))
    return float(min(max(2 * total, 0.0), 1.0))
