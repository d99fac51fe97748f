"""Model quality estimated before the labels arrive, from a labelled reference.

Classification uses confidence-based performance estimation (CBPE): the model's scores are
calibrated on the reference (isotonic regression, one class against the rest), and each
metric is the expected value of the confusion matrix those probabilities imply. Regression
uses direct loss estimation (DLE): gradient-boosted trees learn each row's absolute and
squared error from its inputs and prediction on the reference, and the estimates are their
means over the batch. Both are NannyML's published methods; ``bench/performance_estimation.py``
compares the figures with NannyML's own on the same data.

Every estimate carries the standard deviation of the realized metric around it (the spread
a labelled batch of that size would show) and a band of three of them, clipped to the
metric's range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from scoreline.errors import DataError
from scoreline.monitoring.model_quality import Metric

BAND_WIDTH = 3.0
"""Half-width of the confidence band, in standard deviations (NannyML's default)."""

DLE_ROUNDS = 50
DLE_ROWS = 20_000
"""At most this many reference rows (a seeded sample) train the loss models; their level
is then set on the whole reference (the estimate of the reference equals its realized
loss), so the sample changes the shape of the estimate, not its level."""
DLE_PARAMS = {  # LightGBM's default tree shape (NannyML's DLE uses it) in XGBoost's terms,
    # with half the rounds at twice the learning rate and 64 bins: 3x faster to fit, and the
    # estimates stay within 1% of NannyML's (bench/performance_estimation.py)
    "tree_method": "hist",
    "grow_policy": "lossguide",
    "max_leaves": 31,
    "max_depth": 0,
    "max_bin": 64,
    "eta": 0.2,
    "min_child_weight": 20,
    "seed": 0,
}


@dataclass(frozen=True)
class Estimate(Metric):
    """An estimated metric: ``value``, the standard deviation of the realized metric around
    it, and the band ``[lower, upper]`` the realized metric is expected in."""

    lower: float = float("nan")
    upper: float = float("nan")

    def to_json(self) -> dict[str, float]:
        return {**super().to_json(), "lower": self.lower, "upper": self.upper}


def _estimate(value: float, deviation: float, low: float = 0.0, high: float = 1.0) -> Estimate:
    deviation = float(np.nan_to_num(deviation))
    return Estimate(
        float(value),
        deviation,
        max(low, value - BAND_WIDTH * deviation),
        min(high, value + BAND_WIDTH * deviation),
    )


class Isotonic:
    """Isotonic calibration of scores to probabilities, as scikit-learn's
    ``IsotonicRegression(out_of_bounds="clip")``: equal scores pooled with their weight,
    pool-adjacent-violators, then linear interpolation between the distinct scores."""

    def __init__(self, scores: np.ndarray, truth: np.ndarray) -> None:
        from scipy.optimize import isotonic_regression

        x, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
        means = np.bincount(inverse, weights=truth.astype(np.float64)) / counts
        self.x = x
        self.y = isotonic_regression(means, weights=counts.astype(np.float64)).x

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        if self.x.size == 1:
            return np.full(scores.shape, self.y[0])
        return np.asarray(np.interp(scores, self.x, self.y), dtype=np.float64)


def _expected_auc(score: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """The ROC AUC expected when each row is positive with probability ``positive``, and
    its standard deviation (Hanley and McNeil, with the expected class sizes)."""
    order = np.argsort(-score, kind="stable")
    score, positive = score[order], positive[order]
    last = np.r_[np.flatnonzero(np.diff(score)), score.size - 1]  # end of each tied group
    tp = np.r_[0.0, np.cumsum(positive)[last]]
    fp = np.r_[0.0, np.cumsum(1.0 - positive)[last]]
    n1, n0 = tp[-1], fp[-1]
    if n1 <= 0 or n0 <= 0:
        return float("nan"), 0.0
    auc = float(np.trapezoid(tp / n1, fp / n0))
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n0 - 1) * (q2 - auc**2)) / (n1 * n0)
    return auc, float(np.sqrt(max(variance, 0.0)))


@dataclass(frozen=True)
class _Counts:
    """One class's expected confusion counts and the variances of the random ones."""

    tp: float
    fp: float
    fn: float
    var_tp: float
    var_fn: float

    @classmethod
    def of(cls, chosen: np.ndarray, p: np.ndarray) -> _Counts:
        spread = p * (1 - p)
        return cls(
            tp=float(p[chosen].sum()),
            fp=float((1 - p[chosen]).sum()),
            fn=float(p[~chosen].sum()),
            var_tp=float(spread[chosen].sum()),
            var_fn=float(spread[~chosen].sum()),
        )

    def precision(self) -> tuple[float, float]:
        chosen = self.tp + self.fp
        if chosen <= 0:
            return 0.0, 0.0
        return self.tp / chosen, np.sqrt(self.var_tp) / chosen

    def recall(self) -> tuple[float, float]:
        actual = self.tp + self.fn
        if actual <= 0:
            return 0.0, 0.0
        variance = (self.fn**2 * self.var_tp + self.tp**2 * self.var_fn) / actual**4
        return self.tp / actual, float(np.sqrt(variance))

    def f1(self) -> tuple[float, float]:
        total = 2 * self.tp + self.fp + self.fn
        if total <= 0:
            return 0.0, 0.0
        d_tp = 2 * (self.fp + self.fn) / total**2
        d_fn = -2 * self.tp / total**2
        return 2 * self.tp / total, float(np.sqrt(d_tp**2 * self.var_tp + d_fn**2 * self.var_fn))


class CBPE:
    """Confidence-based performance estimation for a classifier with ``classes`` (in the
    order of its probability columns), fitted on reference probabilities and true labels
    (class positions)."""

    def __init__(self, probabilities: np.ndarray, truth: np.ndarray) -> None:
        probabilities = _two_dimensional(probabilities)
        if probabilities.shape[0] == 0:
            raise DataError("the reference has no rows to fit the estimator on")
        self.binary = probabilities.shape[1] == 2
        columns = [1] if self.binary else range(probabilities.shape[1])
        self.calibrators = [Isotonic(probabilities[:, k], truth == k) for k in columns]

    def calibrated(self, probabilities: np.ndarray) -> np.ndarray:
        """Per row, the calibrated probability of each class (rows sum to 1)."""
        probabilities = _two_dimensional(probabilities)
        if self.binary:
            positive = self.calibrators[0](probabilities[:, 1])
            return np.column_stack([1 - positive, positive])
        calibrated = np.column_stack(
            [calibrate(probabilities[:, k]) for k, calibrate in enumerate(self.calibrators)]
        )
        total = calibrated.sum(axis=1, keepdims=True)
        uniform = np.full_like(calibrated, 1.0 / calibrated.shape[1])
        return np.where(total > 0, calibrated / np.where(total > 0, total, 1.0), uniform)

    def estimate(self, probabilities: np.ndarray) -> dict[str, Estimate]:
        """accuracy, precision, recall, f1 and auc (ROC AUC; macro one-vs-rest for several
        classes), with the labels the model predicts (the most probable class)."""
        probabilities = _two_dimensional(probabilities)
        if probabilities.shape[0] == 0:
            raise DataError("no rows to estimate the model's quality on")
        calibrated = self.calibrated(probabilities)
        chosen = probabilities.argmax(axis=1)
        n = probabilities.shape[0]
        right = calibrated[np.arange(n), chosen]
        accuracy = _estimate(right.mean(), np.sqrt((right * (1 - right)).sum()) / n)
        classes = [1] if self.binary else range(probabilities.shape[1])
        counts = [_Counts.of(chosen == k, calibrated[:, k]) for k in classes]
        aucs = [_expected_auc(probabilities[:, k], calibrated[:, k]) for k in classes]
        estimates = {"accuracy": accuracy}
        for name, parts in (
            ("precision", [c.precision() for c in counts]),
            ("recall", [c.recall() for c in counts]),
            ("f1", [c.f1() for c in counts]),
            ("auc", aucs),
        ):
            estimates[name] = _macro(parts)
        return estimates


def _macro(parts: list[tuple[float, float]]) -> Estimate:
    """The mean over classes, its deviation taking the classes as independent."""
    values = np.array([v for v, _ in parts])
    deviations = np.array([d for _, d in parts])
    return _estimate(float(np.mean(values)), float(np.sqrt((deviations**2).sum()) / len(parts)))


def _two_dimensional(probabilities: np.ndarray) -> np.ndarray:
    values = np.asarray(probabilities, dtype=np.float64)
    if values.ndim == 1:  # a binary model's positive-class probability
        values = np.column_stack([1 - values, values])
    return values


class DLE:
    """Direct loss estimation for a regressor: a model of each row's absolute and squared
    error (two targets of one booster, which shares its binning between them) from the
    row's inputs and prediction, fitted on the reference."""

    def __init__(
        self, features: np.ndarray, predicted: np.ndarray, truth: np.ndarray, threads: int = 0
    ) -> None:
        import xgboost as xgb

        if predicted.size == 0:
            raise DataError("the reference has no rows to fit the estimator on")
        inputs = _inputs(features, predicted)
        residual = truth - predicted
        loss = np.column_stack([np.abs(residual), residual**2])
        sample = np.arange(predicted.size)
        if predicted.size > DLE_ROWS:
            rng = np.random.default_rng(0)
            sample = np.sort(rng.choice(predicted.size, DLE_ROWS, replace=False))
        matrix = xgb.DMatrix(inputs[sample], label=loss[sample], nthread=threads)
        self.model = xgb.train(
            {**DLE_PARAMS, "nthread": threads}, matrix, num_boost_round=DLE_ROUNDS
        )
        fitted = self._raw(inputs).mean(axis=0)
        # on the whole reference the estimate equals the realized loss
        self.scale = np.where(fitted > 0, loss.mean(axis=0) / np.where(fitted > 0, fitted, 1), 1)
        self.reference_spread = dict(zip(("mae", "mse"), loss.std(axis=0).tolist(), strict=True))

    def _raw(self, inputs: np.ndarray) -> np.ndarray:
        return np.maximum(self.model.inplace_predict(inputs).reshape(-1, 2), 0.0)

    def losses(self, features: np.ndarray, predicted: np.ndarray) -> np.ndarray:
        """Per row, the expected absolute and squared error (two columns)."""
        return self._raw(_inputs(features, predicted)) * self.scale

    def estimate(self, losses: np.ndarray) -> dict[str, Estimate]:
        """mae, mse and rmse over the rows whose expected losses are given."""
        n = losses.shape[0]
        if n == 0:
            raise DataError("no rows to estimate the model's quality on")
        mae, mse = (float(v) for v in losses.mean(axis=0))
        mse_deviation = self.reference_spread["mse"] / np.sqrt(n)
        rmse = float(np.sqrt(mse))
        infinite = float("inf")
        return {
            "mae": _estimate(mae, self.reference_spread["mae"] / np.sqrt(n), 0.0, infinite),
            "mse": _estimate(mse, mse_deviation, 0.0, infinite),
            "rmse": _estimate(rmse, mse_deviation / (2 * rmse) if rmse > 0 else 0.0, 0.0, infinite),
        }


def _inputs(features: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    return np.column_stack([np.asarray(features, dtype=np.float32), predicted])


def numeric_inputs(matrix: Any) -> np.ndarray:
    """A model's inputs as numbers: the encoded matrix as it is, or for a model that takes
    raw columns, its numeric columns (text columns are left out: their codes would not
    mean the same in the reference and the batch)."""
    if isinstance(matrix, np.ndarray):
        return matrix
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = [
        pc.fill_null(column.cast(pa.float64()), np.nan).to_numpy()
        for column in matrix.columns
        if pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
    ]
    return np.column_stack(columns) if columns else np.empty((matrix.num_rows, 0))


def estimator_metrics(problem_type: str) -> tuple[str, ...]:
    """The metrics an estimate has, for thresholds to be checked against."""
    if problem_type == "regression":
        return ("mae", "mse", "rmse")
    return ("accuracy", "precision", "recall", "f1", "auc")
