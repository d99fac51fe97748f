"""Pipelines scoreline defines itself, for commands that run as recorded executions."""

from __future__ import annotations

from typing import Literal

from scoreline.pipeline.model import PipelineDefinition

PREDICT_PIPELINE = "ModelsPredict"


def predict_definition(
    output_format: Literal["csv", "parquet"] | None,
    id_column: str | None,
    header: bool = True,
) -> PipelineDefinition:
    """``scoreline models predict``: resolve a registered version, then score a file or
    prefix with the built-in batch transform (its preprocessing, when it has one), carrying
    ``id_column`` through to the predictions. Without a ``header``, CSV columns are the
    model's inputs in order."""
    parameter = {"expr": "parameter"}
    resolved = {"expr": "step_output", "step": "ResolveModel"}
    return PipelineDefinition.model_validate(
        {
            "name": PREDICT_PIPELINE,
            "description": "scoreline models predict: score data with a registered version",
            "parameters": [
                {"name": "ModelPackageGroupName", "type": "String"},
                {"name": "ModelVersion", "type": "String", "default": ""},
                {"name": "InputData", "type": "String"},
            ],
            "steps": [
                {
                    "name": "ResolveModel",
                    "kind": "resolve_model",
                    "model_package_group_name": {**parameter, "name": "ModelPackageGroupName"},
                    "version": {**parameter, "name": "ModelVersion"},
                },
                {
                    "name": "Predict",
                    "kind": "batch_transform",
                    "data": {**parameter, "name": "InputData"},
                    "model": {**resolved, "output": "model"},
                    "preprocessing": {**resolved, "output": "preprocessing"},
                    "header": header,
                    "output_format": output_format,
                    "id_column": id_column,
                },
            ],
        }
    )
