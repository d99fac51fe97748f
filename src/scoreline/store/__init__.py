"""The metadata store: records of pipelines, executions, steps and events."""

from scoreline.store.records import (
    EventRecord,
    ExecutionRecord,
    PipelineRecord,
    PipelineVersionRecord,
    StepRecord,
)
from scoreline.store.sql import MetadataStore

__all__ = [
    "EventRecord",
    "ExecutionRecord",
    "MetadataStore",
    "PipelineRecord",
    "PipelineVersionRecord",
    "StepRecord",
]
