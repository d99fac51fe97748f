"""Pipeline definitions as pure data, and the Python DSL that builds them.

Example::

    from scoreline.pipeline import Parameter, Pipeline, ProcessingStep

    data = Parameter.string("InputData", "data/raw.csv")
    prep = ProcessingStep(name="Prep", script="scripts/prep.py",
                          inputs={"raw": data.ref()}, outputs=["clean"])
    pipeline = Pipeline("Example", parameters=[data], steps=[prep])
"""

from scoreline.pipeline.conditions import (
    And,
    Compare,
    ConditionEquals,
    ConditionGreaterThan,
    ConditionGreaterThanOrEqualTo,
    ConditionLessThan,
    ConditionLessThanOrEqualTo,
    In,
    Not,
    Or,
)
from scoreline.pipeline.expressions import (
    ExecutionOutput,
    ExecutionVariable,
    Join,
    JsonGet,
    ParameterRef,
    StepOutput,
)
from scoreline.pipeline.ml_steps import (
    BatchTransformStep,
    Objective,
    ParameterRange,
    QualityCheckStep,
    RegisterModelStep,
    ResolveModelStep,
    TuningStep,
)
from scoreline.pipeline.model import Parameter, Pipeline, PipelineDefinition
from scoreline.pipeline.steps import (
    CacheConfig,
    ConditionStep,
    FailStep,
    ProcessingInput,
    ProcessingOutput,
    ProcessingStep,
    PropertyFile,
    PythonEnvironment,
    Resources,
    RetryPolicy,
    StepBase,
    TrainingStep,
    register_step_kind,
)

__all__ = [
    "And",
    "BatchTransformStep",
    "CacheConfig",
    "Compare",
    "ConditionEquals",
    "ConditionGreaterThan",
    "ConditionGreaterThanOrEqualTo",
    "ConditionLessThan",
    "ConditionLessThanOrEqualTo",
    "ConditionStep",
    "ExecutionOutput",
    "ExecutionVariable",
    "FailStep",
    "In",
    "Join",
    "JsonGet",
    "Not",
    "Objective",
    "Or",
    "Parameter",
    "ParameterRange",
    "ParameterRef",
    "Pipeline",
    "PipelineDefinition",
    "ProcessingInput",
    "ProcessingOutput",
    "ProcessingStep",
    "PropertyFile",
    "PythonEnvironment",
    "QualityCheckStep",
    "RegisterModelStep",
    "ResolveModelStep",
    "Resources",
    "RetryPolicy",
    "StepBase",
    "StepOutput",
    "TrainingStep",
    "TuningStep",
    "register_step_kind",
]
