"""Pipeline definitions: JSON round trip, YAML and Python DSL equivalence, one-line errors."""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoreline.errors import DefinitionError, ParameterError
from scoreline.pipeline import (
    CacheConfig,
    ConditionLessThanOrEqualTo,
    ConditionStep,
    ExecutionVariable,
    FailStep,
    Join,
    JsonGet,
    Parameter,
    Pipeline,
    PipelineDefinition,
    ProcessingStep,
    PropertyFile,
    RetryPolicy,
    StepBase,
    TrainingStep,
    register_step_kind,
)
from scoreline.pipeline.conditions import And, Compare, In, Not, Or
from scoreline.pipeline.loader import load_file
from scoreline.types import ParameterType

NAMES = st.text(string.ascii_letters, min_size=1, max_size=6).map(lambda s: "S" + s)
SCALARS = st.one_of(
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=8),
)


@st.composite
def definitions(draw: st.DrawFn) -> PipelineDefinition:
    """Random valid definitions: a chain of processing/training steps referencing earlier
    outputs and parameters, then a condition with a fail branch."""
    param_defs = []
    for i, kind in enumerate(draw(st.lists(st.sampled_from(list(ParameterType)), max_size=4))):
        default = {
            ParameterType.STRING: draw(st.text(max_size=8)),
            ParameterType.INTEGER: draw(st.integers(-100, 100)),
            ParameterType.FLOAT: draw(st.floats(-1e6, 1e6, allow_nan=False)),
            ParameterType.BOOLEAN: draw(st.booleans()),
        }[kind]
        param_defs.append(Parameter(name=f"P{i}", type=kind, default=default))
    refs = [p.ref() for p in param_defs]
    values = st.one_of(
        SCALARS,
        st.sampled_from(refs) if refs else SCALARS,
        st.builds(ExecutionVariable, name=st.just("PIPELINE_EXECUTION_ID")),
    )
    steps: list = []
    names = draw(st.lists(NAMES, min_size=1, max_size=5, unique=True))
    for i, name in enumerate(names):
        inputs = {}
        if steps:
            prev = steps[draw(st.integers(0, len(steps) - 1))]
            inputs["upstream"] = prev.output(prev.declared_outputs()[0])
        common = {
            "name": name,
            "script": f"scripts/{name}.py",
            "inputs": inputs,
            "arguments": draw(st.lists(values, max_size=3)),
            "retry": draw(st.none() | st.builds(RetryPolicy, max_attempts=st.integers(1, 5))),
            "cache": draw(st.none() | st.just(CacheConfig(expire_after="PT1H"))),
        }
        if i % 2:
            steps.append(TrainingStep(**common, hyperparameters={"depth": draw(values)}))
        else:
            steps.append(
                ProcessingStep(
                    **common,
                    outputs=["out"],
                    property_files=[PropertyFile(name="Report", output="out", path="r.json")],
                )
            )
    first = steps[0]
    fail = FailStep(name="Failed", error_message=Join(on=" ", values=["x", draw(values)]))
    cond = ConditionStep(
        name="Check",
        conditions=[
            ConditionLessThanOrEqualTo(
                JsonGet(step=first.name, property_file="Report", json_path="a.b[0]"), draw(values)
            )
        ],
        else_steps=[fail],
    )
    return Pipeline(draw(NAMES), parameters=param_defs, steps=[*steps, cond, fail])


@settings(max_examples=150, deadline=None)
@given(definitions())
def test_json_round_trip_is_identical(definition: PipelineDefinition) -> None:
    text = definition.to_json()
    again = PipelineDefinition.from_json(text)
    assert again == definition
    assert again.to_json() == text


def _dsl_pipeline() -> PipelineDefinition:
    threshold = Parameter.float("Threshold", 1.0)
    data = Parameter.string("InputData", "data/raw.csv")
    prep = ProcessingStep(
        name="Prep",
        script="scripts/prep.py",
        inputs={"raw": data.ref()},
        outputs=["train", "report"],
        property_files=[PropertyFile(name="Report", output="report", path="report.json")],
    )
    train = TrainingStep(
        name="Train",
        script="scripts/train.py",
        inputs={"train": prep.output("train")},
        hyperparameters={"depth": 3},
    )
    fail = FailStep(
        name="TooHigh",
        error_message=Join(
            on=" ",
            values=[
                "mse",
                JsonGet(step="Prep", property_file="Report", json_path="mse"),
                ">",
                threshold.ref(),
            ],
        ),
    )
    cond = ConditionStep(
        name="Check",
        conditions=[
            ConditionLessThanOrEqualTo(
                JsonGet(step=prep, property_file="Report", json_path="mse"), threshold.ref()
            )
        ],
        if_steps=[train],
        else_steps=[fail],
    )
    return Pipeline("Example", parameters=[threshold, data], steps=[prep, cond, train, fail])


YAML_EQUIVALENT = """
name: Example
parameters:
  - {name: Threshold, type: Float, default: 1.0}
  - {name: InputData, type: String, default: data/raw.csv}
steps:
  - name: Prep
    kind: processing
    script: scripts/prep.py
    inputs: {raw: {expr: parameter, name: InputData}}
    outputs: [train, report]
    property_files: [{name: Report, output: report, path: report.json}]
  - name: Check
    kind: condition
    conditions:
      - type: compare
        op: "<="
        left: {expr: json_get, step: Prep, property_file: Report, json_path: mse}
        right: {expr: parameter, name: Threshold}
    if_steps: [Train]
    else_steps: [TooHigh]
  - name: Train
    kind: training
    script: scripts/train.py
    inputs: {train: {expr: step_output, step: Prep, output: train}}
    hyperparameters: {depth: 3}
  - name: TooHigh
    kind: fail
    error_message:
      expr: join
      on: " "
      values:
        - mse
        - {expr: json_get, step: Prep, property_file: Report, json_path: mse}
        - ">"
        - {expr: parameter, name: Threshold}
"""


def test_yaml_and_python_dsl_give_the_same_model(tmp_path: Path) -> None:
    yaml_file = tmp_path / "example.yaml"
    yaml_file.write_text(YAML_EQUIVALENT)
    py_file = tmp_path / "example.py"
    py_file.write_text(
        "from tests.test_definitions import _dsl_pipeline\npipeline = _dsl_pipeline()\n"
    )
    (from_yaml,) = load_file(yaml_file)
    (from_python,) = load_file(py_file)
    assert from_yaml == from_python == _dsl_pipeline()


def test_dependencies_come_from_references_branches_and_depends_on() -> None:
    definition = _dsl_pipeline()
    deps = definition.dependencies()
    assert deps["Train"] == {"Prep", "Check"}
    assert deps["Check"] == {"Prep"}
    assert definition.order() == ["Prep", "Check", "Train", "TooHigh"]


def _base() -> dict:
    return json.loads(_dsl_pipeline().to_json())


def _error(data: dict) -> str:
    with pytest.raises(DefinitionError) as info:
        PipelineDefinition.from_dict(data, source="pipelines/example.yaml")
    message = str(info.value)
    assert "\n" not in message
    return message


def test_cycle_is_rejected_naming_the_steps() -> None:
    data = _base()
    data["steps"][0]["depends_on"] = ["Train"]
    assert _error(data) == (
        "pipelines/example.yaml: step 'Check': dependency cycle Check -> Prep -> Train -> Check"
        " (each step depends on the next)"
    )


def test_unknown_step_is_rejected() -> None:
    data = _base()
    data["steps"][2]["depends_on"] = ["Nope"]
    assert _error(data) == "pipelines/example.yaml: step 'Train': depends on unknown step 'Nope'"
    data = _base()
    data["steps"][2]["inputs"]["train"]["step"] = "Ghost"
    assert _error(data) == ("pipelines/example.yaml: step 'Train': references unknown step 'Ghost'")


def test_unknown_output_and_property_file_are_rejected() -> None:
    data = _base()
    data["steps"][2]["inputs"]["train"]["output"] = "validation"
    assert "references output 'validation' that step 'Prep' does not declare" in _error(data)
    data = _base()
    data["steps"][1]["conditions"][0]["left"]["property_file"] = "Other"
    assert "step 'Check': references property file 'Other'" in _error(data)


def test_unknown_parameter_is_rejected() -> None:
    data = _base()
    data["steps"][0]["inputs"]["raw"]["name"] = "Missing"
    assert _error(data) == (
        "pipelines/example.yaml: step 'Prep': references unknown parameter 'Missing'"
    )


def test_wrong_parameter_type_is_rejected() -> None:
    data = _base()
    data["parameters"][0]["default"] = "ten"
    assert _error(data) == (
        "pipelines/example.yaml: parameter 'Threshold': default 'ten' is not of type Float"
    )


def test_duplicate_names_are_rejected() -> None:
    data = _base()
    data["steps"].append(dict(data["steps"][0]))
    assert _error(data) == "pipelines/example.yaml: step 'Prep': duplicate step name"
    data = _base()
    data["parameters"].append(dict(data["parameters"][0]))
    assert _error(data) == "pipelines/example.yaml: parameter 'Threshold': duplicate parameter name"


def test_wrong_field_type_names_the_step_and_key() -> None:
    data = _base()
    data["steps"][0]["timeout_seconds"] = "soon"
    assert _error(data).startswith("pipelines/example.yaml: step 'Prep': timeout_seconds: ")


class Annotate(StepBase):
    """A third-party step kind whose author forgot to name its handler."""

    kind: Literal["annotate"] = "annotate"


def test_a_plugin_step_kind_without_a_handler_is_refused_when_loaded() -> None:
    register_step_kind("annotate", f"{__name__}:Annotate")
    data = _base()
    data["steps"].append({"name": "Note", "kind": "annotate"})
    assert "step kind 'annotate' names no handler (set Annotate.handler" in _error(data)


def test_unknown_kind_lists_known_kinds() -> None:
    data = _base()
    data["steps"][0]["kind"] = "magic"
    assert "step 'Prep': unknown step kind 'magic' (known step kinds: " in _error(data)


def test_parameter_overrides_are_coerced_and_checked() -> None:
    definition = _dsl_pipeline()
    values = definition.resolve_parameters({"Threshold": "2.5"})
    assert values == {"Threshold": 2.5, "InputData": "data/raw.csv"}
    with pytest.raises(ParameterError, match="parameter 'Threshold': expects Float, got 'x'"):
        definition.resolve_parameters({"Threshold": "x"})
    with pytest.raises(ParameterError, match="unknown parameter 'Nope'"):
        definition.resolve_parameters({"Nope": "1"})
    assert Parameter.boolean("B").coerce("false") is False
    assert Parameter.integer("I").coerce("42") == 42


def test_conditions_evaluate() -> None:
    class Fixed:
        def parameter(self, name: str) -> float:
            return 2.0

        def step_output(self, step: str, output: str) -> str:
            return "uri"

        def execution_variable(self, name: str) -> str:
            return "id"

        def property_file(self, step: str, name: str) -> dict:
            return {"m": {"v": [1.5]}}

    from scoreline.pipeline.conditions import check
    from scoreline.pipeline.expressions import ParameterRef

    value = JsonGet(step="S", property_file="R", json_path="m.v[0]")
    le = Compare(op="<=", left=value, right=ParameterRef(name="T"))
    assert check(le, Fixed())
    assert not check(Not(condition=le), Fixed())
    assert check(Or(conditions=[Not(condition=le), In(value=1.5, values=[value])]), Fixed())
    assert not check(And(conditions=[le, Compare(op=">", left=value, right=3)]), Fixed())


def test_yaml_keeps_on_and_no_as_strings(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "name: P\nparameters: [{name: Answer, type: String, default: no}]\nsteps:\n"
        "  - {name: F, kind: fail, error_message: {expr: join, on: '-', values: [a, b]}}\n"
    )
    (definition,) = load_file(path)
    assert definition.parameters[0].default == "no"
    assert definition.step("F").error_message.on == "-"  # type: ignore[attr-defined]


EXAMPLE_PIPELINES = Path(__file__).resolve().parents[1] / "src/scoreline/examples/abalone/pipelines"


def test_the_abalone_pipelines_round_trip_through_json() -> None:
    from scoreline.environments import VARIABLE_DEFAULTS

    loaded = [
        d
        for name in ("training.yaml", "inference.yaml")
        for d in load_file(EXAMPLE_PIPELINES / name, VARIABLE_DEFAULTS)
    ]
    assert [d.name for d in loaded] == [
        "TrainingPipeline",
        "TrainingWHPOPipeline",
        "InferencePipeline",
    ]
    kinds = {s.kind for d in loaded for s in d.steps}
    assert kinds >= {"tuning", "quality_check", "batch_transform", "register_model"}
    for definition in loaded:
        assert PipelineDefinition.from_json(definition.to_json()) == definition
    threshold = loaded[0].parameter("AccuracyMseThreshold")
    assert threshold.default == 10.0  # "${accuracy_mse_threshold}" keeps the variable's type


def test_variables_are_substituted_and_unknown_ones_named(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        'name: "${pipeline_train}"\nparameters:\n'
        '  - {name: Data, type: String, default: "${bucket}/raw/${file}"}\n'
        "steps:\n  - {name: Stop, kind: fail}\n"
    )
    (definition,) = load_file(
        path, {"pipeline_train": "Train", "bucket": "s3://b", "file": "x.csv"}
    )
    assert definition.name == "Train"
    assert definition.parameter("Data").default == "s3://b/raw/x.csv"
    with pytest.raises(DefinitionError, match=r"unknown variable '\$\{file\}'"):
        load_file(path, {"pipeline_train": "Train", "bucket": "b"})


@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-Infinity", float("nan"), float("inf")])
def test_a_float_parameter_refuses_nan_and_infinity(raw: object) -> None:
    from scoreline.errors import ParameterError
    from scoreline.pipeline.model import Parameter

    threshold = Parameter.float("AccuracyMseThreshold", 10.0)
    with pytest.raises(ParameterError, match="expects a finite Float"):
        threshold.coerce(raw)
    assert threshold.coerce("7.5") == 7.5
