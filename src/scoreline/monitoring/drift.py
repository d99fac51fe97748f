"""Distances between a baseline distribution and the current one.

Numeric features compare KLL sketches (Model Monitor's own baseline sketches included);
categorical features compare category frequencies. Methods, and the units of what they
report:

- ``LInfinity`` (Model Monitor's default): the largest gap between the two cumulative
  distributions (numeric) or category shares (categorical), between 0 and 1;
- ``KS``: the two-sample Kolmogorov-Smirnov statistic (that same gap for numeric features)
  and its p-value as ``scipy.stats.ks_2samp`` computes them: scipy's own test when both
  sketches still hold every value (exact p-value up to 10,000 values each), else the gap of
  the sketches with Smirnov's asymptotic p-value, scipy's formula for large samples;
- ``PSI``: population stability index, sum of ``(c - b) * ln(c / b)`` over the baseline's
  10 equal-width buckets (numeric, open-ended at both ends) or the categories, with empty
  cells floored at 1e-4 (natural log: 0.1 is "some shift", 0.25 "a large one");
- ``Wasserstein``: the earth mover's distance (``scipy.stats.wasserstein_distance`` of the
  two samples) divided by the baseline's standard deviation, so one threshold fits
  features of any scale;
- ``JensenShannon``: the Jensen-Shannon distance over the same cells as PSI, as
  ``scipy.spatial.distance.jensenshannon`` computes it: natural log by default (between 0
  and sqrt(ln 2) = 0.83), base 2 (between 0 and 1) with ``jensen_shannon_base: 2``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from scoreline import plugins
from scoreline.errors import DataError
from scoreline.monitoring.sketch import KLLSketch

EPSILON = 1e-4
BUCKETS = 10


@dataclass(frozen=True)
class Numeric:
    """A numeric distribution: its sketch, range and spread."""

    sketch: KLLSketch
    count: float
    low: float
    high: float
    std: float


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


def jensen_shannon(base: np.ndarray, cur: np.ndarray, log_base: float | None = None) -> float:
    """The Jensen-Shannon distance of two histograms (normalised here), in natural log
    unless ``log_base`` is given."""
    b = base / base.sum() if base.sum() else base
    c = cur / cur.sum() if cur.sum() else cur
    m = (b + c) / 2

    def kl(p: np.ndarray) -> float:
        mask = p > 0
        return float((p[mask] * np.log(p[mask] / m[mask])).sum())

    divergence = max((kl(b) + kl(c)) / 2, 0.0)
    if log_base is not None:
        divergence /= math.log(log_base)
    return math.sqrt(divergence)


def ks_test(baseline: Numeric, current: Numeric) -> tuple[float, float]:
    """The Kolmogorov-Smirnov statistic and p-value (see the module doc)."""
    from scipy import stats

    exact = baseline.sketch.exact_values(), current.sketch.exact_values()
    if exact[0] is not None and exact[1] is not None and exact[0].size and exact[1].size:
        found = stats.ks_2samp(exact[0], exact[1])
        return float(found.statistic), float(found.pvalue)
    statistic = _linf(baseline, current)
    larger, smaller = sorted([baseline.count, current.count], reverse=True)
    effective = round(larger * smaller / (larger + smaller))
    return statistic, float(np.clip(stats.kstwo.sf(statistic, effective), 0.0, 1.0))


@dataclass(frozen=True)
class DriftMethod:
    """A drift method, as the plugin table (group ``drift_methods``) holds it: how far a
    numeric sketch and/or a categorical distribution moved (``None`` where the method does
    not apply), and what its figure means."""

    units: str
    numeric: Callable[[Numeric, Numeric, float | None], float] | None = None
    categorical: Callable[[np.ndarray, np.ndarray, float | None], float] | None = None


def _largest_gap(base: np.ndarray, cur: np.ndarray, _: float | None) -> float:
    return float(np.abs(base - cur).max()) if base.size else 0.0


L_INFINITY = DriftMethod(
    "largest gap between the cumulative distributions (0 to 1)",
    numeric=lambda b, c, _: _linf(b, c),
    categorical=_largest_gap,
)
KS = DriftMethod(
    "Kolmogorov-Smirnov statistic (0 to 1); p-value as scipy.stats.ks_2samp",
    numeric=lambda b, c, _: ks_test(b, c)[0],
)
PSI = DriftMethod(
    "population stability index, natural log, over the baseline's 10 equal-width buckets "
    "or the categories, empty cells at 1e-4",
    numeric=lambda b, c, _: psi(*_cells(b, c)),
    categorical=lambda b, c, _: psi(b, c),
)
WASSERSTEIN = DriftMethod(
    "earth mover's distance in baseline standard deviations",
    numeric=lambda b, c, _: _wasserstein(b, c),
)
JENSEN_SHANNON = DriftMethod(
    "Jensen-Shannon distance over the baseline's 10 equal-width buckets or the categories",
    numeric=lambda b, c, log_base: jensen_shannon(*_cells(b, c), log_base),
    categorical=jensen_shannon,
)


def drift_method(name: str) -> DriftMethod:
    """The method registered as ``name`` (built-in or a plugin's)."""
    method: DriftMethod = plugins.load("drift_methods", name, DataError)
    return method


def method_name(value: str, categorical: bool) -> str:
    """The registered spelling of a drift method that applies to the feature kind, or a
    clear error."""
    known = [
        name
        for name in plugins.names("drift_methods")
        if getattr(drift_method(name), "categorical" if categorical else "numeric") is not None
    ]
    for name in known:
        if value.replace("-", "").replace("_", "").lower() == name.lower():
            return name
    kind = "categorical" if categorical else "numeric"
    raise DataError(
        f"'{value}' is not a drift method for {kind} features",
        where="constraints.json monitoring_config",
        hint=f"use one of {', '.join(known)}",
    )


def units(method: str, log_base: float | None = None) -> str:
    """What a method's figure is, in words (written with each drift result)."""
    text = drift_method(method.split("/")[0]).units
    if method.startswith("JensenShannon"):
        text += f", log base {log_base:g}" if log_base else ", natural log (0 to 0.83)"
    return text


def numeric_distance(
    method: str, baseline: Numeric, current: Numeric, log_base: float | None = None
) -> float:
    measure = drift_method(method).numeric
    assert measure is not None, "method_name admits only methods for numeric features"
    return measure(baseline, current, log_base)


def categorical_distance(
    method: str,
    baseline: dict[str, float],
    current: dict[str, int],
    log_base: float | None = None,
) -> float:
    keys = sorted(set(baseline) | set(current))
    base = np.array([baseline.get(k, 0.0) for k in keys], dtype=np.float64)
    cur = np.array([current.get(k, 0) for k in keys], dtype=np.float64)
    base = base / (base.sum() or 1.0)
    cur = cur / (cur.sum() or 1.0)
    measure = drift_method(method).categorical
    assert measure is not None, "method_name admits only methods for categorical features"
    return measure(base, cur, log_base)
