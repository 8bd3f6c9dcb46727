from dataclasses import dataclass, field

import pytest

from sagepipe.domain.conditions import compare, evaluate_conditions, validate_conditions
from sagepipe.domain.expressions import ExpressionError
from sagepipe.errors import ValidationError


@dataclass
class Ctx:
    parameters: dict = field(default_factory=dict)
    execution_vars: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)

    def step_properties(self, step):
        return {"FinalMetricDataList": [{"MetricName": "acc", "Value": 0.9}]}

    def step_outcome(self, step):
        return None

    def property_file(self, step, file_name):
        return self.files.get((step, file_name))


@pytest.fixture
def ctx():
    return Ctx(
        parameters={"Threshold": 6.0, "Mode": "fast", "Flag": True, "N": 3},
        files={("Eval", "Report"): {"regression_metrics": {"mse": {"value": 5.2}}, "s": "7"}},
    )


MSE = {
    "Std:JsonGet": {
        "PropertyFile": {"Get": "Steps.Eval.PropertyFiles.Report"},
        "Path": "regression_metrics.mse.value",
    }
}


def cmp(kind, left, right):
    return {"Type": kind, "LeftValue": left, "RightValue": right}


@pytest.mark.parametrize(
    ("kind", "left", "right", "expected"),
    [
        ("LessThanOrEqualTo", MSE, {"Get": "Parameters.Threshold"}, True),
        ("LessThan", MSE, 5.2, False),
        ("GreaterThan", MSE, 5, True),
        ("GreaterThanOrEqualTo", MSE, "5.2", True),
        ("Equals", {"Get": "Parameters.N"}, "3", True),
        ("Equals", {"Get": "Parameters.N"}, 3.0, True),
        ("Equals", {"Get": "Parameters.Mode"}, "fast", True),
        ("NotEquals", {"Get": "Parameters.Mode"}, "slow", True),
        ("Equals", {"Get": "Parameters.Flag"}, True, True),
        ("Equals", {"Get": "Parameters.Flag"}, "true", True),
        ("Equals", {"Get": "Parameters.Flag"}, False, False),
        ("GreaterThan", "b", "a", True),
        ("LessThan", "10", "9", False),  # numeric strings compare as numbers
        ("GreaterThan", {"Get": "Steps.Train.FinalMetricDataList['acc'].Value"}, 0.5, True),
    ],
)
def test_comparisons(ctx, kind, left, right, expected):
    assert evaluate_conditions([cmp(kind, left, right)], ctx) is expected


def test_top_level_list_is_anded(ctx):
    yes, no = cmp("Equals", 1, 1), cmp("Equals", 1, 2)
    assert evaluate_conditions([yes, yes], ctx) is True
    assert evaluate_conditions([yes, no], ctx) is False
    assert evaluate_conditions([], ctx) is True


def test_in_both_spellings_and_not_in(ctx):
    mode = {"Get": "Parameters.Mode"}
    assert evaluate_conditions([{"Type": "In", "QueryValue": mode, "Values": ["a", "fast"]}], ctx)
    assert evaluate_conditions([{"Type": "In", "Value": mode, "In": ["a", "fast"]}], ctx)
    assert not evaluate_conditions([{"Type": "In", "QueryValue": mode, "Values": ["a"]}], ctx)
    assert evaluate_conditions([{"Type": "NotIn", "QueryValue": mode, "Values": ["a"]}], ctx)
    assert not evaluate_conditions([{"Type": "NotIn", "Value": mode, "In": ["fast"]}], ctx)
    n = {"Get": "Parameters.N"}
    assert evaluate_conditions([{"Type": "In", "QueryValue": n, "Values": [1, "3"]}], ctx)


def test_not_and_or(ctx):
    yes, no = cmp("Equals", 1, 1), cmp("Equals", 1, 2)
    assert evaluate_conditions([{"Type": "Not", "Condition": no}], ctx)
    assert not evaluate_conditions([{"Type": "Not", "Expression": yes}], ctx)
    assert evaluate_conditions([{"Type": "Or", "Conditions": [no, yes]}], ctx)
    assert not evaluate_conditions([{"Type": "Or", "Conditions": [no, no]}], ctx)
    nested = {
        "Type": "Not",
        "Condition": {"Type": "Or", "Conditions": [no, {"Type": "Not", "Condition": yes}]},
    }
    assert evaluate_conditions([nested], ctx)


def test_runtime_errors(ctx):
    with pytest.raises(ExpressionError, match="Property file 'Missing' of step 'Eval'"):
        left = {
            "Std:JsonGet": {
                "PropertyFile": {"Get": "Steps.Eval.PropertyFiles.Missing"},
                "Path": "a",
            }
        }
        evaluate_conditions([cmp("Equals", left, 1)], ctx)
    with pytest.raises(ExpressionError, match="unknown condition type 'Xor'"):
        evaluate_conditions([{"Type": "Xor"}], ctx)
    with pytest.raises(ExpressionError, match="Cannot compare"):
        evaluate_conditions([cmp("GreaterThan", "abc", 1)], ctx)
    assert compare("Equals", "abc", 1) is False


def test_validate_accepts_every_form():
    validate_conditions(
        [
            cmp("Equals", 1, 1),
            cmp("NotEquals", 1, 2),
            cmp("GreaterThan", 1, 1),
            cmp("GreaterThanOrEqualTo", 1, 1),
            cmp("LessThan", 1, 1),
            cmp("LessThanOrEqualTo", 1, 1),
            {"Type": "In", "QueryValue": 1, "Values": [1]},
            {"Type": "In", "Value": 1, "In": [1]},
            {"Type": "NotIn", "QueryValue": 1, "Values": [1]},
            {"Type": "Not", "Condition": cmp("Equals", 1, 1)},
            {"Type": "Not", "Expression": cmp("Equals", 1, 1)},
            {"Type": "Or", "Conditions": [cmp("Equals", 1, 1)]},
        ]
    )


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        ({"Type": "Equals"}, "must be a list"),
        ([{"Type": "Xor"}], "unknown condition type 'Xor'"),
        (["x"], "must be an object"),
        ([{"Type": "Equals", "LeftValue": 1}], "missing 'RightValue'"),
        ([{"Type": "In", "Values": [1]}], "missing 'QueryValue'"),
        ([{"Type": "In", "QueryValue": 1, "Values": 1}], "list of 'Values'"),
        ([{"Type": "Not"}], "needs a 'Condition'"),
        ([{"Type": "Not", "Condition": {"Type": "Bad"}}], r"Conditions\[0\]\.Condition"),
        ([{"Type": "Or", "Conditions": []}], "non-empty 'Conditions'"),
    ],
)
def test_validate_rejects(conditions, message):
    with pytest.raises(ValidationError, match=message):
        validate_conditions(conditions)
