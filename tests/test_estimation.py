"""Model quality estimated without labels: the calibration and the expected metrics against
scikit-learn on exact inputs, and the estimates against the realized metrics (scikit-learn's)
on batches with a covariate shift."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.isotonic import IsotonicRegression

from scoreline.monitoring.estimation import CBPE, DLE, Isotonic, _Counts, _expected_auc


def test_isotonic_calibration_is_scikit_learns() -> None:
    rng = np.random.default_rng(0)
    scores = np.round(rng.random(2000), 2)  # ties pool as scikit-learn pools them
    truth = (rng.random(2000) < scores**2).astype(float)
    ours = Isotonic(scores, truth)
    theirs = IsotonicRegression(out_of_bounds="clip").fit(scores, truth)
    new = np.concatenate([rng.random(500), [-1.0, 2.0]])
    np.testing.assert_allclose(ours(new), theirs.predict(new), rtol=0, atol=1e-9)


def test_with_certain_labels_the_expected_metrics_are_scikit_learns() -> None:
    """Where every row's probability is 0 or 1 the expectation is the metric itself."""
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, 1000)
    score = np.clip(truth * 0.3 + rng.random(1000) * 0.7, 0, 1)
    chosen = score >= 0.5
    counts = _Counts.of(chosen, truth.astype(float))
    assert counts.precision()[0] == pytest.approx(skm.precision_score(truth, chosen), abs=1e-9)
    assert counts.recall()[0] == pytest.approx(skm.recall_score(truth, chosen), abs=1e-9)
    assert counts.f1()[0] == pytest.approx(skm.f1_score(truth, chosen), abs=1e-9)
    auc, _ = _expected_auc(score, truth.astype(float))
    assert auc == pytest.approx(skm.roc_auc_score(truth, score), abs=1e-9)


def _binary_population(rng: np.random.Generator, n: int, shift: float) -> tuple[np.ndarray, ...]:
    """A feature, a miscalibrated model's score of it, and labels from the true probability;
    ``shift`` moves the feature (covariate shift: P(y | x) stays)."""
    x = rng.normal(shift, 1.0, n)
    truth = (rng.random(n) < 1 / (1 + np.exp(-2.0 * x))).astype(int)
    score = 1 / (1 + np.exp(-1.2 * x - 0.3))  # too flat and offset: calibration matters
    return x, score, truth


def test_cbpe_follows_the_realized_binary_metrics_under_covariate_shift() -> None:
    rng = np.random.default_rng(2)
    _, score, truth = _binary_population(rng, 20_000, 0.0)
    cbpe = CBPE(score, truth)
    inside = 0
    for shift in np.linspace(-1.0, 1.0, 10):
        _, s, y = _binary_population(rng, 5000, shift)
        estimated = cbpe.estimate(s)
        label = (s >= 0.5).astype(int)
        realized = {
            "accuracy": skm.accuracy_score(y, label),
            "precision": skm.precision_score(y, label, zero_division=0),
            "recall": skm.recall_score(y, label),
            "f1": skm.f1_score(y, label),
            "auc": skm.roc_auc_score(y, s),
        }
        for name, value in realized.items():
            assert estimated[name].value == pytest.approx(value, abs=0.03), (shift, name)
            inside += estimated[name].lower <= value <= estimated[name].upper
    assert inside >= 48, "realized metrics fall within the 3-sigma bands"


def test_cbpe_estimates_macro_metrics_of_a_multiclass_model() -> None:
    rng = np.random.default_rng(3)

    def population(n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(shift, 1.0, (n, 3))
        logits = 1.5 * x
        true_p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        truth = (rng.random((n, 1)) > true_p.cumsum(axis=1)).sum(axis=1)
        model = np.exp(0.8 * x) / np.exp(0.8 * x).sum(axis=1, keepdims=True)
        return model, truth

    cbpe = CBPE(*population(30_000, 0.0))
    probabilities, truth = population(8000, 0.4)
    estimated = cbpe.estimate(probabilities)
    label = probabilities.argmax(axis=1)
    assert estimated["accuracy"].value == pytest.approx(skm.accuracy_score(truth, label), abs=0.02)
    for name, realized in (
        ("precision", skm.precision_score(truth, label, average="macro")),
        ("recall", skm.recall_score(truth, label, average="macro")),
        ("f1", skm.f1_score(truth, label, average="macro")),
        ("auc", skm.roc_auc_score(truth, probabilities, multi_class="ovr", average="macro")),
    ):
        assert estimated[name].value == pytest.approx(realized, abs=0.02), name


def test_dle_follows_the_realized_regression_errors_under_covariate_shift() -> None:
    rng = np.random.default_rng(4)

    def population(n: int, shift: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = rng.normal(shift, 1.0, (n, 2))
        noise = 0.2 + np.abs(x[:, 0])  # errors grow away from the centre
        truth = x[:, 0] + 0.5 * x[:, 1] + rng.normal(0, 1, n) * noise
        return x, x[:, 0] + 0.5 * x[:, 1], truth

    dle = DLE(*population(20_000, 0.0), threads=2)
    for shift in (0.0, 0.3, 0.6):  # trees do not extrapolate: shifts stay inside the reference
        x, predicted, truth = population(5000, shift)
        estimated = dle.estimate(dle.losses(x, predicted))
        mse = skm.mean_squared_error(truth, predicted)
        # LightGBM, as NannyML fits it, lands within 2% of these figures on the same data
        assert estimated["mse"].value == pytest.approx(mse, rel=0.15), shift
        assert estimated["mae"].value == pytest.approx(
            skm.mean_absolute_error(truth, predicted), rel=0.1
        )
        assert estimated["rmse"].value == pytest.approx(np.sqrt(mse), rel=0.08)
    assert (
        estimated["mse"].value
        > 1.2 * dle.estimate(dle.losses(*population(5000, 0.0)[:2]))["mse"].value
    ), "the shifted batch's larger errors are seen without labels"
