"""Model flavors: how a model folder is recognised, verified, loaded and asked to predict.

Built-in scoring loads only formats that cannot run code on load (XGBoost JSON/UBJ). The
``sagemaker`` flavor is a ``model.tar.gz`` served by its own inference script (a batch
transform ``entry_point``), accepted only from the project's own training steps. Flavors are
pluggable by short name like every other kind (DESIGN §3 rule 4).
"""

from __future__ import annotations

import hashlib
import importlib
import os
from pathlib import Path
from typing import Protocol

import numpy as np

from scoreline.errors import ArtifactError

FLAVORS: dict[str, str] = {
    "xgboost": "scoreline.data.flavors:XGBoostModel",
    "sagemaker": "scoreline.data.flavors:SageMakerModel",
}


class Model(Protocol):
    """A loaded model."""

    flavor: str

    def predict(self, matrix: np.ndarray) -> np.ndarray: ...


class ModelFlavor(Protocol):
    flavor: str
    files: tuple[str, ...]

    @classmethod
    def load(cls, path: Path, threads: int) -> Model: ...


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def flavor_class(flavor: str) -> type[ModelFlavor]:
    target = FLAVORS.get(flavor)
    if target is None:
        raise ArtifactError(
            f"unknown model flavor '{flavor}'", hint=f"known flavors: {', '.join(sorted(FLAVORS))}"
        )
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


def model_file(folder: Path, flavor: str | None = None) -> tuple[str, Path]:
    """The flavor and model file inside ``folder`` (the flavor is detected when not given)."""
    for name in [flavor] if flavor else list(FLAVORS):
        cls = flavor_class(name)
        for candidate in cls.files:
            if (folder / candidate).is_file():
                return name, folder / candidate
    expected = ", ".join(f for n in FLAVORS for f in flavor_class(n).files)
    raise ArtifactError(
        "no model file in the model folder",
        where=str(folder),
        hint=f"a training script must save one of: {expected} (pickle is not accepted)",
    )


def model_digest(folder: Path, flavor: str | None = None) -> str:
    """sha256 of the model file: what the registry records and checks on load."""
    return _file_digest(model_file(folder, flavor)[1])


def load_model(
    folder: Path, flavor: str | None = None, sha256: str | None = None, threads: int = 0
) -> Model:
    """Load the model in ``folder``, verifying its sha256 when one is expected."""
    name, path = model_file(folder, flavor)
    if sha256 is not None:
        actual = _file_digest(path)
        if actual != sha256:
            raise ArtifactError(
                f"model file checksum mismatch: expected {sha256[:12]}…, found {actual[:12]}…",
                where=str(path),
                hint="the registered artifact was changed after registration; re-register it",
            )
    return flavor_class(name).load(path, threads or os.cpu_count() or 1)


class XGBoostModel:
    """XGBoost boosters saved as JSON or UBJ; predicts with ``inplace_predict``."""

    flavor = "xgboost"
    files = ("model.json", "model.ubj")

    def __init__(self, booster: object) -> None:
        self.booster = booster

    @classmethod
    def load(cls, path: Path, threads: int) -> XGBoostModel:
        import xgboost

        try:
            booster = xgboost.Booster(model_file=str(path))
        except xgboost.core.XGBoostError as exc:
            raise ArtifactError(
                f"not a valid XGBoost model ({str(exc).splitlines()[0]})", where=str(path)
            ) from None
        booster.set_param({"nthread": threads})
        return cls(booster)

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        result: np.ndarray = self.booster.inplace_predict(  # type: ignore[attr-defined]
            matrix, validate_features=False
        )
        return result


class SageMakerModel:
    """A SageMaker-style ``model.tar.gz``; its inference script loads and serves it."""

    flavor = "sagemaker"
    files = ("model.tar.gz",)

    @classmethod
    def load(cls, path: Path, threads: int) -> Model:
        raise ArtifactError(
            "a sagemaker-flavor model is served by its inference script",
            where=str(path),
            hint="give the batch_transform step an entry_point (the script with model_fn)",
        )
