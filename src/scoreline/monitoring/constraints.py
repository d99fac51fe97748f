"""``constraints.json``: suggested from a baseline's statistics, and read back in both the
current Model Monitor shape and the older one (``enable_comparisons``, per-feature
``monitoring_config_overrides``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from scoreline.errors import DataError
from scoreline.monitoring.drift import method_name
from scoreline.monitoring.statistics import FRACTIONAL, INTEGRAL, STRING

DOMAIN_LIMIT = 100
"""String features with at most this many distinct values get a ``domains`` constraint."""


@dataclass(frozen=True)
class MonitoringConfig:
    """Thresholds of the checks (``monitoring_config``, Model Monitor defaults)."""

    evaluate_constraints: bool = True
    datatype_check_threshold: float = 1.0
    domain_content_threshold: float = 1.0
    perform_comparison: bool = True
    comparison_threshold: float = 0.1
    comparison_method: str = "Robust"
    categorical_comparison_threshold: float = 0.1
    categorical_drift_method: str = "LInfinity"
    drift_method: str = "LInfinity"
    """scoreline's extension: the numeric drift distance (LInfinity, KS, PSI, Wasserstein,
    JensenShannon); written only when not the default, so files stay Model Monitor's."""
    jensen_shannon_base: float | None = None
    """scoreline's extension: the log base of JensenShannon (natural log when unset, as
    scipy and Evidently; 2 gives a distance between 0 and 1)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "evaluate_constraints": _enabled(self.evaluate_constraints),
            "emit_metrics": "Enabled",
            "datatype_check_threshold": self.datatype_check_threshold,
            "domain_content_threshold": self.domain_content_threshold,
            "distribution_constraints": {
                "perform_comparison": _enabled(self.perform_comparison),
                "comparison_threshold": self.comparison_threshold,
                "comparison_method": self.comparison_method,
                "categorical_comparison_threshold": self.categorical_comparison_threshold,
                "categorical_drift_method": self.categorical_drift_method,
                **({"drift_method": self.drift_method} if self.drift_method != "LInfinity" else {}),
                **(
                    {"jensen_shannon_base": self.jensen_shannon_base}
                    if self.jensen_shannon_base is not None
                    else {}
                ),
            },
        }

    def overridden(self, overrides: dict[str, Any]) -> MonitoringConfig:
        """This config with a feature's ``monitoring_config_overrides`` applied."""
        if not overrides:
            return self
        return _read_config(overrides, self)


@dataclass(frozen=True)
class FeatureConstraint:
    name: str
    inferred_type: str
    completeness: float | None = None
    is_non_negative: bool | None = None
    domains: tuple[str, ...] | None = None
    config: MonitoringConfig = field(default_factory=MonitoringConfig)


@dataclass(frozen=True)
class Constraints:
    features: tuple[FeatureConstraint, ...]
    config: MonitoringConfig

    def feature(self, name: str) -> FeatureConstraint | None:
        return next((f for f in self.features if f.name == name), None)

    def domains(self) -> dict[str, frozenset[str]]:
        """The allowed values of each feature that has a ``domains`` constraint."""
        return {f.name: frozenset(f.domains) for f in self.features if f.domains is not None}

    def to_json(self) -> dict[str, Any]:
        features = []
        for f in self.features:
            item: dict[str, Any] = {"name": f.name, "inferred_type": f.inferred_type}
            if f.completeness is not None:
                item["completeness"] = f.completeness
            if f.is_non_negative is not None:
                item["num_constraints"] = {"is_non_negative": f.is_non_negative}
            if f.domains is not None:
                item["string_constraints"] = {"domains": list(f.domains)}
            features.append(item)
        return {"version": 0.0, "features": features, "monitoring_config": self.config.to_json()}


def _enabled(flag: bool) -> str:
    return "Enabled" if flag else "Disabled"


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("enabled", "true", "1", "yes")


def _read_config(data: dict[str, Any], base: MonitoringConfig) -> MonitoringConfig:
    dist = data.get("distribution_constraints", {}) or {}
    merged = {**data, **dist}
    perform = merged.get("perform_comparison", merged.get("enable_comparisons"))
    return replace(
        base,
        evaluate_constraints=_flag(merged.get("evaluate_constraints"), base.evaluate_constraints),
        datatype_check_threshold=float(
            merged.get("datatype_check_threshold", base.datatype_check_threshold)
        ),
        domain_content_threshold=float(
            merged.get("domain_content_threshold", base.domain_content_threshold)
        ),
        perform_comparison=_flag(perform, base.perform_comparison),
        comparison_threshold=float(merged.get("comparison_threshold", base.comparison_threshold)),
        comparison_method=str(merged.get("comparison_method", base.comparison_method)),
        categorical_comparison_threshold=float(
            merged.get("categorical_comparison_threshold", base.categorical_comparison_threshold)
        ),
        categorical_drift_method=method_name(
            str(merged.get("categorical_drift_method", base.categorical_drift_method)), True
        ),
        drift_method=method_name(str(merged.get("drift_method", base.drift_method)), False),
        jensen_shannon_base=_log_base(merged.get("jensen_shannon_base", base.jensen_shannon_base)),
    )


def _log_base(value: Any) -> float | None:
    if value is None:
        return None
    base = float(value)
    if not base > 0 or base == 1 or not math.isfinite(base):
        raise DataError(
            f"jensen_shannon_base {value!r} is not a logarithm base",
            where="constraints.json monitoring_config",
            hint="use 2, 10, or leave it out for the natural log",
        )
    return base


def read_constraints(data: dict[str, Any], source: str = "constraints.json") -> Constraints:
    """Parse a ``constraints.json`` document (either shape)."""
    try:
        config = _read_config(data.get("monitoring_config", {}) or {}, MonitoringConfig())
        features = []
        for item in data["features"]:
            nums = item.get("num_constraints", {}) or {}
            strings = item.get("string_constraints", {}) or {}
            overrides = {
                **(item.get("monitoringConfigOverrides") or {}),
                **(item.get("monitoring_config_overrides") or {}),
                **(nums.get("monitoring_config_overrides") or {}),
                **(strings.get("monitoring_config_overrides") or {}),
            }
            domains = strings.get("domains")
            features.append(
                FeatureConstraint(
                    name=str(item["name"]),
                    inferred_type=str(item.get("inferred_type", "Unknown")),
                    completeness=(float(item["completeness"]) if "completeness" in item else None),
                    is_non_negative=nums.get("is_non_negative"),
                    domains=tuple(str(d) for d in domains) if domains is not None else None,
                    config=config.overridden(overrides),
                )
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"malformed constraints ({exc!r})", where=source) from None
    return Constraints(tuple(features), config)


def suggest_constraints(statistics: dict[str, Any]) -> Constraints:
    """Constraints a baseline's statistics suggest, as Model Monitor suggests them."""
    features = []
    for item in statistics["features"]:
        kind = item["inferred_type"]
        stats = item.get("numerical_statistics") or item.get("string_statistics") or {}
        completeness = float(stats.get("completeness", 1.0))
        non_negative = None
        domains = None
        if kind in (INTEGRAL, FRACTIONAL):
            non_negative = float(stats.get("min", 0.0)) >= 0
        elif kind == STRING:
            buckets = stats.get("distribution", {}).get("categorical", {}).get("buckets", [])
            if buckets and len(buckets) <= DOMAIN_LIMIT:
                domains = tuple(str(b["value"]) for b in buckets)
        features.append(FeatureConstraint(item["name"], kind, completeness, non_negative, domains))
    return Constraints(tuple(features), MonitoringConfig())
