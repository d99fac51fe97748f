"""Data-quality checks of a dataset's profile against a baseline, producing Model Monitor's
``constraint_violations.json`` with numeric ``value``, ``threshold`` and ``method`` added."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scoreline.monitoring import drift
from scoreline.monitoring.constraints import Constraints, FeatureConstraint
from scoreline.monitoring.sketch import KLLSketch
from scoreline.monitoring.statistics import (
    FRACTIONAL,
    INTEGRAL,
    STRING,
    DatasetProfile,
    FeatureProfile,
)

KS_ALPHA_COEFFICIENT = 1.358
"""c(alpha) of the two-sample Kolmogorov-Smirnov test at alpha = 0.05 (the Robust method)."""


@dataclass(frozen=True)
class Drift:
    """The distance of one feature from its baseline, violating or not."""

    feature_name: str
    method: str
    value: float
    threshold: float
    note: str = ""
    units: str = ""

    @property
    def violated(self) -> bool:
        return self.value > self.threshold

    def violation(self) -> Violation:
        return Violation(
            self.feature_name,
            "baseline_drift_check",
            f"Baseline drift distance: {self.value} exceeds threshold: {self.threshold}"
            + self.note,
            self.value,
            self.threshold,
            self.method,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "feature_name": self.feature_name,
            "method": self.method,
            "value": self.value,
            "threshold": self.threshold,
            "units": self.units,
        }


@dataclass(frozen=True)
class Violation:
    feature_name: str
    constraint_check_type: str
    description: str
    value: float | None = None
    threshold: float | None = None
    method: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "feature_name": self.feature_name,
            "constraint_check_type": self.constraint_check_type,
            "description": self.description,
        }
        for key in ("value", "threshold", "method"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data


def violations_json(violations: list[Violation]) -> dict[str, Any]:
    return {"violations": [v.to_json() for v in violations]}


@dataclass
class DataQualityReport:
    violations: list[Violation] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)


def check_data_quality(
    current: DatasetProfile,
    constraints: Constraints,
    baseline_statistics: dict[str, Any] | None = None,
) -> DataQualityReport:
    """Every violation of ``constraints`` and, with baseline statistics, every feature's
    drift distance (violating or not, for the monitoring history)."""
    report = DataQualityReport()
    if not constraints.config.evaluate_constraints:
        return report
    found = report.violations
    baseline = {f["name"]: f for f in (baseline_statistics or {}).get("features", [])}
    for constraint in constraints.features:
        if not constraint.config.evaluate_constraints:
            continue
        feature = current.features.get(constraint.name)
        if feature is None:
            found.append(
                Violation(
                    constraint.name,
                    "missing_column_check",
                    f"Column '{constraint.name}' of the baseline is missing from the "
                    f"data{current.column_note}.",
                )
            )
            continue
        found += _feature_checks(feature, constraint)
        if constraint.name in baseline and constraint.config.perform_comparison:
            distance = _drift(feature, baseline[constraint.name], constraint)
            if distance is not None:
                report.drift.append(distance)
                if distance.violated:
                    found.append(distance.violation())
    for name in current.columns:
        if constraints.feature(name) is None:
            found.append(
                Violation(
                    name,
                    "extra_column_check",
                    f"Column '{name}' is not in the baseline constraints{current.column_note}.",
                )
            )
    return report


def _feature_checks(feature: FeatureProfile, constraint: FeatureConstraint) -> list[Violation]:
    found: list[Violation] = []
    config = constraint.config
    present = feature.present
    if present and constraint.inferred_type in (INTEGRAL, FRACTIONAL):
        matching = feature.integral
        if constraint.inferred_type == FRACTIONAL:
            matching += feature.fractional
        share = matching / present
        if share < config.datatype_check_threshold:
            found.append(
                Violation(
                    feature.name,
                    "data_type_check",
                    f"Data type match requirement is not met. Expected data type: "
                    f"{constraint.inferred_type}, Expected match: "
                    f"{percent(config.datatype_check_threshold)}. Observed: Only "
                    f"{percent(share)} of data is {constraint.inferred_type}.",
                    share,
                    config.datatype_check_threshold,
                )
            )
    total = present + feature.missing
    if constraint.completeness is not None and total:
        completeness = present / total
        if completeness < constraint.completeness:
            found.append(
                Violation(
                    feature.name,
                    "completeness_check",
                    f"Data completeness requirement is not met. Expected completeness: "
                    f"{percent(constraint.completeness)}. Observed: {percent(completeness)}.",
                    completeness,
                    constraint.completeness,
                )
            )
    if constraint.is_non_negative and feature.count and feature.low < 0:
        found.append(
            Violation(
                feature.name,
                "non_negative_check",
                f"Values must not be negative; the minimum is {feature.low}.",
                feature.low,
                0.0,
            )
        )
    counted = _in_domain(feature, constraint.domains) if constraint.domains is not None else None
    if counted is not None and present:
        inside, unknown = counted
        share = inside / present
        if share < config.domain_content_threshold:
            found.append(
                Violation(
                    feature.name,
                    "categorical_values_check",
                    f"Only {percent(share)} of the values are in the baseline domain "
                    f"(expected {percent(config.domain_content_threshold)}); new values "
                    f"include {', '.join(repr(u) for u in unknown)}.",
                    share,
                    config.domain_content_threshold,
                )
            )
    return found


def percent(share: float) -> str:
    """A share as Model Monitor writes it: every digit (99.96560840267052%), not 100.0%."""
    return f"{share * 100!r}%"


def _in_domain(feature: FeatureProfile, domains: tuple[str, ...]) -> tuple[int, list[str]] | None:
    """How many present values lie in ``domains``, and a few that do not: exact when the
    profile counted against this domain, else from its category tally (None without one)."""
    allowed = set(domains)
    if feature.domain is not None and feature.domain == allowed:
        return feature.in_domain, sorted(feature.outside)
    if feature.categories is None:
        return None
    inside = sum(c for v, c in feature.categories.items() if v in allowed)
    return inside, sorted(v for v in feature.categories if v not in allowed)[:5]


def _drift(
    feature: FeatureProfile, baseline: dict[str, Any], constraint: FeatureConstraint
) -> Drift | None:
    config = constraint.config
    numeric_stats = baseline.get("numerical_statistics")
    if numeric_stats and feature.count and feature.inferred_type != STRING:
        reference = _baseline_numeric(numeric_stats)
        if reference is None:
            return None
        current = drift.Numeric(
            feature.sketch,
            feature.count,
            feature.low,
            feature.high,
            math.sqrt(feature.m2 / feature.count),
        )
        method = config.drift_method
        note = ""
        if method == "KS":
            value, p_value = drift.ks_test(reference, current)
            note = f" (p-value {p_value:.6g})"
        else:
            value = drift.numeric_distance(method, reference, current, config.jensen_shannon_base)
        threshold = config.comparison_threshold
        label = method
        if method in ("LInfinity", "KS"):
            label = f"{method}/{config.comparison_method}"
            if config.comparison_method.lower() == "robust":
                threshold = max(threshold, ks_critical_value(reference.count, current.count))
        return Drift(
            feature.name,
            label,
            value,
            threshold,
            note,
            drift.units(method, config.jensen_shannon_base),
        )
    string_stats = baseline.get("string_statistics")
    if string_stats and feature.categories:
        buckets = string_stats.get("distribution", {}).get("categorical", {}).get("buckets", [])
        if not buckets:
            return None
        reference_counts = {str(b["value"]): float(b["count"]) for b in buckets}
        method = config.categorical_drift_method
        value = drift.categorical_distance(
            method, reference_counts, feature.categories, config.jensen_shannon_base
        )
        return Drift(
            feature.name,
            method,
            value,
            config.categorical_comparison_threshold,
            units=drift.units(method, config.jensen_shannon_base),
        )
    return None


def _baseline_numeric(stats: dict[str, Any]) -> drift.Numeric | None:
    sketch = _baseline_sketch(stats)
    if sketch is None:
        return None
    count = float(stats.get("common", {}).get("num_present", 0)) or 1.0
    return drift.Numeric(
        sketch,
        count,
        float(stats.get("min", 0.0)),
        float(stats.get("max", 0.0)),
        float(stats.get("std_dev", 0.0)),
    )


def _baseline_sketch(stats: dict[str, Any]) -> KLLSketch | None:
    kll = stats.get("distribution", {}).get("kll", {})
    if kll.get("sketch", {}).get("data"):
        return KLLSketch.from_json(kll["sketch"])
    buckets = kll.get("buckets") or []
    if not buckets:
        return None
    # Only buckets: place each bucket's count at its upper bound (a step CDF at the edges).
    sketch = KLLSketch()
    sketch.levels = [
        np.repeat(
            [float(b["upper_bound"]) for b in buckets],
            [max(int(b["count"]), 0) for b in buckets],
        )
    ]
    return sketch


def ks_critical_value(n: float, m: float) -> float:
    """Distance below which two samples of sizes n and m are not significantly different."""
    return KS_ALPHA_COEFFICIENT * math.sqrt((n + m) / (n * m))
