"""The metadata store: records of pipelines, executions, steps, events and models."""

from scoreline.store.records import (
    ApprovalRecord,
    DeliveryRecord,
    EventRecord,
    ExecutionRecord,
    ModelVersionRecord,
    MonitoringRecord,
    PipelineRecord,
    PipelineVersionRecord,
    StartIntentRecord,
    StepRecord,
    TokenRecord,
)
from scoreline.store.sql import MetadataStore

__all__ = [
    "ApprovalRecord",
    "DeliveryRecord",
    "EventRecord",
    "ExecutionRecord",
    "MetadataStore",
    "ModelVersionRecord",
    "MonitoringRecord",
    "PipelineRecord",
    "PipelineVersionRecord",
    "StartIntentRecord",
    "StepRecord",
    "TokenRecord",
]
