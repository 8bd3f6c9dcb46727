"""The execution API (docs/behaviour.md §6): starting executions and what they are started with, reading
executions and their steps back, caching, selective execution and run conditions."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from tests.support.pipelines import ROLE, create, definition, processing, steps_by_name
from tests.support.server import ServerProcess
from tests.support.steps import (
    FUNCTION_ARN,
    arguments_of,
    callback,
    condition,
    execution_id,
    fail,
    get,
    lambda_step,
    model,
    start,
    statuses,
    training,
    wait_done,
    wait_step,
)

PARAMETERS = [
    {"Name": "n", "Type": "Integer"},
    {"Name": "s", "Type": "String", "DefaultValue": "hello"},
    {"Name": "f", "Type": "Float", "DefaultValue": 0.5},
    {"Name": "b", "Type": "Boolean", "DefaultValue": False},
]


def error_of(call) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(Exception) as caught:
        call()
    error = caught.value.response["Error"]  # type: ignore[attr-defined]
    return error["Code"], error["Message"]


def executions(sm, name: str) -> list[dict]:
    pages = sm.get_paginator("list_pipeline_executions").paginate(PipelineName=name)
    return [e for page in pages for e in page["PipelineExecutionSummaries"]]


def echo_step() -> dict:
    step = processing("A")
    step["Arguments"]["Environment"] = {
        "N": get("Parameters.n"), "S": get("Parameters.s"), "F": get("Parameters.f"),
        "B": get("Parameters.b"),
    }  # fmt: skip
    return step


# ------------------------------------------------------------------------------ starting


BAD_PARAMETERS = {
    "unknown": ({"n": "1", "x": "1"}, "Unknown parameter 'x'"),
    "string-for-int": (
        {"n": "abc"}, "Unexpected type for parameter 'n'. Expected Integer but found String."),
    "float-for-int": (
        {"n": "1.5"}, "Unexpected type for parameter 'n'. Expected Integer but found Float."),
    "string-for-bool": (
        {"n": "1", "b": "yes"},
        "Unexpected type for parameter 'b'. Expected Boolean but found String."),
    "missing": ({"s": "x"}, "Parameter 'n' is undefined."),
    "empty": ({"n": ""}, "'n'"),
    "empty-with-default": ({"n": "1", "s": ""}, "'s'"),
}  # fmt: skip


def test_bad_parameters_are_rejected_and_start_nothing(server, sm, name):
    create(sm, name, [echo_step()], parameters=PARAMETERS)
    for label, (given, message) in BAD_PARAMETERS.items():
        code, text = error_of(lambda given=given: start(sm, name, **given))
        assert (code, message in text) == ("ValidationException", True), (label, text)
    assert executions(sm, name) == []


def test_parameters_are_converted_and_defaults_filled(server, sm, name):
    create(sm, name, [echo_step()], parameters=PARAMETERS)
    arn = start(sm, name, n="7", f="2", b="True")
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    # Resolved values keep their declared types.
    assert arguments_of(server, arn, "A")["Environment"] == {
        "N": 7,
        "S": "hello",
        "F": 2.0,
        "B": True,
    }
    listed = sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)
    assert sorted((p["Name"], p["Value"]) for p in listed["PipelineParameters"]) == [
        ("b", "true"), ("f", "2.0"), ("n", "7"), ("s", "hello"),
    ]  # fmt: skip


def test_start_is_idempotent_per_client_request_token(server, sm, name):
    create(sm, name, [echo_step()], parameters=PARAMETERS)
    token = uuid.uuid4().hex
    params = [{"Name": "n", "Value": "1"}]
    first = sm.start_pipeline_execution(
        PipelineName=name, PipelineParameters=params, ClientRequestToken=token
    )["PipelineExecutionArn"]
    again = sm.start_pipeline_execution(
        PipelineName=name, PipelineParameters=params, ClientRequestToken=token
    )["PipelineExecutionArn"]
    assert again == first
    code, _ = error_of(
        lambda: sm.start_pipeline_execution(
            PipelineName=name,
            PipelineParameters=[{"Name": "n", "Value": "2"}],
            ClientRequestToken=token,
        )  # fmt: skip
    )
    assert code == "ConflictException"
    assert [e["PipelineExecutionArn"] for e in executions(sm, name)] == [first]
    # The replay answers the same even once the execution has ended.
    wait_done(sm, first)
    assert (
        sm.start_pipeline_execution(
            PipelineName=name, PipelineParameters=params, ClientRequestToken=token
        )["PipelineExecutionArn"]
        == first
    )
    assert len(executions(sm, name)) == 1


@pytest.fixture
def quota_server(server_args: list[str]) -> Iterator[ServerProcess]:
    process = ServerProcess(server_args, ["--max-running-executions", "2"])
    process.start()
    try:
        yield process
    finally:
        process.stop()


def test_the_running_executions_quota(quota_server, name):
    sm = quota_server.client()
    quota_server.set_faults([{"pipeline": name, "duration_seconds": 30}])
    create(sm, name, [processing("A")])
    first = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    sm.start_pipeline_execution(PipelineName=name)
    code, message = error_of(lambda: sm.start_pipeline_execution(PipelineName=name))
    assert code == "ResourceLimitExceeded"
    assert "2" in message
    assert len(executions(sm, name)) == 2
    # A Stopping execution still counts; a Stopped one does not.
    sm.stop_pipeline_execution(PipelineExecutionArn=first)
    assert wait_done(sm, first)["PipelineExecutionStatus"] == "Stopped"
    sm.start_pipeline_execution(PipelineName=name)
    assert len(executions(sm, name)) == 3


# ------------------------------------------------------------------------------ reading


def test_describe_pipeline_execution(server, sm, name):
    server.set_faults([{"pipeline": name, "duration_seconds": 0.3}])
    pipeline_arn = create(sm, name, [processing("A")])
    before = time.time()
    arn = sm.start_pipeline_execution(
        PipelineName=name, PipelineExecutionDisplayName="nightly",
        PipelineExecutionDescription="the nightly run",
        ParallelismConfiguration={"MaxParallelExecutionSteps": 4},
    )["PipelineExecutionArn"]  # fmt: skip
    assert re.fullmatch(re.escape(pipeline_arn) + r"/execution/[a-z0-9]{12}", arn)
    described = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
    assert described["PipelineArn"] == pipeline_arn
    assert described["PipelineExecutionArn"] == arn
    assert described["PipelineExecutionDisplayName"] == "nightly"
    assert described["PipelineExecutionDescription"] == "the nightly run"
    assert described["PipelineExecutionStatus"] == "Executing"
    assert described["ParallelismConfiguration"] == {"MaxParallelExecutionSteps": 4}
    assert described["PipelineVersionId"] == 1
    assert before - 1 <= described["CreationTime"].timestamp() <= time.time() + 1
    assert described["CreatedBy"]["IamIdentity"]["Arn"].endswith("AKIDTEST")
    assert "FailureReason" not in described and "SelectiveExecutionConfig" not in described
    done = wait_done(sm, arn)
    assert done["PipelineExecutionStatus"] == "Succeeded"
    assert done["LastModifiedTime"] >= done["CreationTime"]
    # UpdatePipelineExecution changes the display name and description.
    sm.update_pipeline_execution(
        PipelineExecutionArn=arn, PipelineExecutionDisplayName="renamed",
        PipelineExecutionDescription="changed",
    )  # fmt: skip
    updated = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
    assert (updated["PipelineExecutionDisplayName"], updated["PipelineExecutionDescription"]) == (
        "renamed", "changed",
    )  # fmt: skip
    # Without a display name the execution gets execution-<epoch milliseconds>; the pipeline
    # may be named by its ARN.
    other = sm.start_pipeline_execution(PipelineName=pipeline_arn)["PipelineExecutionArn"]
    assert other.startswith(pipeline_arn + "/execution/")
    default = sm.describe_pipeline_execution(PipelineExecutionArn=other)
    assert re.fullmatch(r"execution-\d{13}", default["PipelineExecutionDisplayName"])
    assert "ParallelismConfiguration" not in default
    code, _ = error_of(
        lambda: sm.describe_pipeline_execution(
            PipelineExecutionArn=pipeline_arn + "/execution/zzzzzzzzzzzz"
        )
    )
    assert code == "ResourceNotFound"


def test_list_pipeline_executions_order_filters_and_pages(server, sm, name):
    create(sm, name, [processing("A")])
    arns = []
    for _ in range(4):
        arns.append(sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"])
        time.sleep(0.02)
    newest_first = list(reversed(arns))
    assert [e["PipelineExecutionArn"] for e in executions(sm, name)] == newest_first
    ascending = sm.list_pipeline_executions(PipelineName=name, SortOrder="Ascending")
    assert [e["PipelineExecutionArn"] for e in ascending["PipelineExecutionSummaries"]] == arns
    for arn in arns:
        wait_done(sm, arn)
    summary = sm.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"][0]
    assert summary["PipelineExecutionStatus"] == "Succeeded"
    assert summary["PipelineExecutionDisplayName"].startswith("execution-")
    times = [e["StartTime"] for e in reversed(executions(sm, name))]
    middle = times[1] + (times[2] - times[1]) / 2
    after = sm.list_pipeline_executions(PipelineName=name, CreatedAfter=middle)
    assert [e["PipelineExecutionArn"] for e in after["PipelineExecutionSummaries"]] == newest_first[
        :2
    ]
    before = sm.list_pipeline_executions(PipelineName=name, CreatedBefore=middle)
    assert [
        e["PipelineExecutionArn"] for e in before["PipelineExecutionSummaries"]
    ] == newest_first[2:]
    # Pages of one, in order, each execution once.
    seen, token = [], None
    while True:
        page = sm.list_pipeline_executions(
            PipelineName=name, MaxResults=1, **({"NextToken": token} if token else {})
        )
        seen += [e["PipelineExecutionArn"] for e in page["PipelineExecutionSummaries"]]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == newest_first
    first = sm.list_pipeline_executions(PipelineName=name, MaxResults=2)
    # A token belongs to the query that minted it.
    code, _ = error_of(
        lambda: sm.list_pipeline_executions(
            PipelineName=name, MaxResults=2, SortOrder="Ascending", NextToken=first["NextToken"]
        )
    )
    assert code == "ValidationException"


def metadata_pipeline() -> list[dict]:
    """One step of each type whose Metadata the test checks; the Condition goes to Fail."""
    return [
        processing("Proc", DisplayName="Prepare data", Description="Cleans the input"),
        training("Train", "s3://bucket/input", ["Proc"]),
        model("Model", get("Steps.Train.ModelArtifacts.S3ModelArtifacts")),
        lambda_step("Lam", ["x"]),
        callback("Cb", ["y"]),
        condition(
            "Cond",
            [{"Type": "Equals", "LeftValue": get("Parameters.Go"), "RightValue": "yes"}],
            [processing("Ship")],
            [fail("Stop", get("Parameters.Why"))],
            DependsOn=["Model", "Lam", "Cb"],
        ),
    ]


def test_list_pipeline_execution_steps_rows_and_metadata(server, sm, name):
    server.set_faults([{"pipeline": name, "step": "Lam", "outputs": {"x": 3}}])
    create(sm, name, metadata_pipeline(), parameters=[
        {"Name": "Go", "Type": "String", "DefaultValue": "no"},
        {"Name": "Why", "Type": "String", "DefaultValue": "not today"},
    ])  # fmt: skip
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    token = wait_step(sm, arn, "Cb", ("Executing",))["Metadata"]["Callback"]["CallbackToken"]
    wait_step(sm, arn, "Model", ("Succeeded",))
    sm.send_pipeline_execution_step_success(
        CallbackToken=token, OutputParameters=[{"Name": "y", "Value": "v"}]
    )
    described = wait_done(sm, arn)
    assert described["PipelineExecutionStatus"] == "Failed"
    assert described["FailureReason"] == "not today"

    rows = sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
    starts = [r["StartTime"] for r in rows]
    assert starts == sorted(starts, reverse=True)  # newest StartTime first
    # Cond and Stop started in the same engine tick: the newest rows.
    assert {rows[0]["StepName"], rows[1]["StepName"]} == {"Cond", "Stop"}
    steps = {r["StepName"]: r for r in rows}
    assert set(steps) == {"Proc", "Train", "Model", "Lam", "Cb", "Cond", "Stop"}
    assert [s for s, r in steps.items() if "FailureReason" in r] == ["Stop"]
    assert (steps["Proc"]["StepDisplayName"], steps["Proc"]["StepDescription"]) == (
        "Prepare data", "Cleans the input",
    )  # fmt: skip
    assert "StepDisplayName" not in steps["Train"]
    assert all(r["AttemptCount"] == 1 and r["EndTime"] >= r["StartTime"] for r in rows)
    prefix = f"arn:aws:sagemaker:us-east-1:123456789012:{{}}/pipelines-{execution_id(arn)}-{{}}-"
    for step, kind, member in [
        ("Proc", "processing-job", "ProcessingJob"),
        ("Train", "training-job", "TrainingJob"),
        ("Model", "model", "Model"),
    ]:
        job_arn = steps[step]["Metadata"][member]["Arn"]
        assert re.fullmatch(re.escape(prefix.format(kind, step.lower())) + "[a-z0-9]{10}", job_arn)
        assert list(steps[step]["Metadata"]) == [member]
    assert steps["Lam"]["Metadata"] == {
        "Lambda": {"Arn": FUNCTION_ARN, "OutputParameters": [{"Name": "x", "Value": "3"}]}
    }
    assert steps["Cb"]["Metadata"]["Callback"]["CallbackToken"] == token
    assert steps["Cb"]["Metadata"]["Callback"]["OutputParameters"] == [{"Name": "y", "Value": "v"}]
    assert steps["Cond"]["Metadata"] == {"Condition": {"Outcome": "False"}}
    assert steps["Stop"]["Metadata"] == {"Fail": {"ErrorMessage": "not today"}}
    assert steps["Stop"]["FailureReason"] == "not today"
    # Pages of two, newest first, every step once.
    seen, page_token = [], None
    while True:
        page = sm.list_pipeline_execution_steps(
            PipelineExecutionArn=arn,
            MaxResults=2,
            **({"NextToken": page_token} if page_token else {}),
        )
        assert len(page["PipelineExecutionSteps"]) <= 2
        seen += [r["StepName"] for r in page["PipelineExecutionSteps"]]
        page_token = page.get("NextToken")
        if not page_token:
            break
    assert seen == [r["StepName"] for r in rows]


def test_an_execution_keeps_its_definition_and_parameters_after_update_pipeline(server, sm, name):
    server.set_faults([{"pipeline": name, "step": "A", "duration_seconds": 0.5}])
    parameters = [{"Name": "X", "Type": "String", "DefaultValue": "a"}]
    steps = [processing("A"), processing("B", ["A"])]
    create(sm, name, steps, parameters=parameters)
    arn = start(sm, name, X="b")
    wait_step(sm, arn, "A", ("Executing",))
    snapshot = sm.describe_pipeline_definition_for_execution(PipelineExecutionArn=arn)
    assert json.loads(snapshot["PipelineDefinition"]) == json.loads(definition(steps, parameters))
    new_steps = [processing("A"), processing("C", ["A"])]
    new_parameters = [{"Name": "Y", "Type": "Integer", "DefaultValue": 1}]
    updated = sm.update_pipeline(
        PipelineName=name, PipelineDefinition=definition(new_steps, new_parameters)
    )
    assert updated["PipelineVersionId"] == 2
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    assert statuses(sm, arn) == {"A": "Succeeded", "B": "Succeeded"}  # the old definition ran
    described = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
    assert described["PipelineVersionId"] == 1
    after = sm.describe_pipeline_definition_for_execution(PipelineExecutionArn=arn)
    assert after["PipelineDefinition"] == snapshot["PipelineDefinition"]
    listed = sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)
    assert listed["PipelineParameters"] == [{"Name": "X", "Value": "b"}]
    # A new execution runs the new version.
    newer = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert wait_done(sm, newer)["PipelineExecutionStatus"] == "Succeeded"
    assert statuses(sm, newer) == {"A": "Succeeded", "C": "Succeeded"}
    listed = sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=newer)
    assert listed["PipelineParameters"] == [{"Name": "Y", "Value": "1"}]


def test_start_runs_the_version_it_names_and_refuses_one_that_does_not_exist(sm, name):
    create(sm, name, [processing("A")])
    sm.update_pipeline(
        PipelineName=name, PipelineDefinition=definition([processing("A"), processing("B")])
    )
    old = sm.start_pipeline_execution(PipelineName=name, PipelineVersionId=1)
    assert wait_done(sm, old["PipelineExecutionArn"])["PipelineVersionId"] == 1
    assert statuses(sm, old["PipelineExecutionArn"]) == {"A": "Succeeded"}
    with pytest.raises(ClientError) as caught:
        sm.start_pipeline_execution(PipelineName=name, PipelineVersionId=9)
    assert caught.value.response["Error"]["Code"] == "ResourceNotFound"
    assert "version '9'" in caught.value.response["Error"]["Message"]
    runs = sm.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"]
    assert [r["PipelineExecutionArn"] for r in runs] == [old["PipelineExecutionArn"]]


# ------------------------------------------------------------------------------ reuse


def test_step_caching_reuses_a_succeeded_step(server, sm, name):
    cached = processing("A", CacheConfig={"Enabled": True, "ExpireAfter": "PT1H"})
    cached["Arguments"]["Environment"] = {"X": get("Parameters.X")}
    create(sm, name, [cached, processing("B", ["A"])],
           parameters=[{"Name": "X", "Type": "String", "DefaultValue": "a"}])  # fmt: skip
    first = start(sm, name)
    assert wait_done(sm, first)["PipelineExecutionStatus"] == "Succeeded"
    original = steps_by_name(sm, first)
    assert "CacheHitResult" not in original["A"]
    second = start(sm, name)
    assert wait_done(sm, second)["PipelineExecutionStatus"] == "Succeeded"
    reused = steps_by_name(sm, second)
    assert reused["A"]["StepStatus"] == "Succeeded"
    assert reused["A"]["CacheHitResult"] == {"SourcePipelineExecutionArn": first}
    assert reused["A"]["Metadata"] == original["A"]["Metadata"]  # the first run's job
    # The uncached step ran again, as a new job.
    assert "CacheHitResult" not in reused["B"]
    assert reused["B"]["Metadata"] != original["B"]["Metadata"]
    # Other arguments: another cache key, so the step runs.
    third = start(sm, name, X="b")
    assert wait_done(sm, third)["PipelineExecutionStatus"] == "Succeeded"
    assert "CacheHitResult" not in steps_by_name(sm, third)["A"]


def test_selective_execution_runs_only_the_selected_steps(server, sm, name):
    b = processing("B", ["A"])
    b["Arguments"]["Environment"] = {"FROM_A": get("Steps.A.ProcessingJobName")}
    create(sm, name, [processing("A"), b, processing("C", ["B"])])
    source = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert wait_done(sm, source)["PipelineExecutionStatus"] == "Succeeded"
    original = steps_by_name(sm, source)
    config = {"SourcePipelineExecutionArn": source, "SelectedSteps": [{"StepName": "B"}]}
    arn = sm.start_pipeline_execution(PipelineName=name, SelectiveExecutionConfig=config)[
        "PipelineExecutionArn"
    ]
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    assert (
        sm.describe_pipeline_execution(PipelineExecutionArn=arn)["SelectiveExecutionConfig"]
        == config
    )
    steps = steps_by_name(sm, arn)
    assert set(steps) == {"A", "B"}  # C was not selected
    assert steps["A"]["SelectiveExecutionResult"] == {"SourcePipelineExecutionArn": source}
    assert steps["A"]["Metadata"] == original["A"]["Metadata"]
    assert "SelectiveExecutionResult" not in steps["B"]
    assert steps["B"]["Metadata"] != original["B"]["Metadata"]
    # B's reference to A resolved to the reused result.
    a_job = original["A"]["Metadata"]["ProcessingJob"]["Arn"].rsplit("/", 1)[1]
    assert arguments_of(server, arn, "B")["Environment"]["FROM_A"].lower() == a_job


def test_a_failed_run_condition_runs_a_handler(server, sm, name):
    handler = processing("Handle", [{"Step": "A", "Trigger": "Failed"}])
    create(sm, name, [processing("A"), processing("B", ["A"]), handler])
    server.set_faults([{"pipeline": name, "step": "A", "fail_attempts": -1}])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    described = wait_done(sm, arn)
    assert described["PipelineExecutionStatus"] == "CompletedWithFailures"
    assert "FailureReason" not in described
    steps = steps_by_name(sm, arn)
    assert {s: r["StepStatus"] for s, r in steps.items()} == {"A": "Failed", "Handle": "Succeeded"}
    assert steps["Handle"]["StartTime"] >= steps["A"]["EndTime"]
    # When A succeeds the handler never runs.
    server.set_faults([])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    assert statuses(sm, arn) == {"A": "Succeeded", "B": "Succeeded"}


# ------------------------------------------------------------------------------ bad input


BAD_DEFINITIONS = {
    "json": ('{"Version": "2020-12-01", "Steps": [', "line 1"),
    "unknown-step": (definition([processing("A", ["Nope"])]), "Nope"),
    "cycle": (definition([processing("A", ["B"]), processing("B", ["A"])]), "cycle"),
    "duplicate": (definition([processing("A"), processing("A")]), "duplicate"),
    "unknown-parameter": (
        definition([model("M", get("Parameters.Missing"))]), "Missing"),
    "unknown-property-file": (
        definition([model("M", {"Std:JsonGet": {"PropertyFile": get("Steps.A.PropertyFiles.R"),
                                                "Path": "a"}}), processing("A")]), "'R'"),
    "retry-policy": (
        definition([processing("A", RetryPolicies=[{"ExceptionType": ["Nope"]}])]), "Nope"),
    "trigger": (
        definition([processing("A"), processing("B", [{"Step": "A", "Trigger": "Sometimes"}])]),
        "Sometimes"),
}  # fmt: skip


def test_bad_definitions_are_rejected_and_change_nothing(server, sm, name):
    good = [processing("A")]
    create(sm, name, good)
    before = sm.describe_pipeline(PipelineName=name)["PipelineDefinition"]
    for label, (text, fragment) in BAD_DEFINITIONS.items():
        code, message = error_of(
            lambda text=text, label=label: sm.create_pipeline(
                PipelineName=f"{name}-{label}", PipelineDefinition=text, RoleArn=ROLE
            )
        )
        assert (code, fragment in message) == ("ValidationException", True), (label, message)
        code, _ = error_of(lambda label=label: sm.describe_pipeline(PipelineName=f"{name}-{label}"))
        assert code == "ResourceNotFound", label
        code, message = error_of(
            lambda text=text: sm.update_pipeline(PipelineName=name, PipelineDefinition=text)
        )
        assert (code, fragment in message) == ("ValidationException", True), (label, message)
    assert sm.describe_pipeline(PipelineName=name)["PipelineDefinition"] == before
    versions = sm.list_pipeline_versions(PipelineName=name)["PipelineVersionSummaries"]
    assert [v["PipelineVersionId"] for v in versions] == [1]
    # Bad execution arguments start nothing either.
    code, _ = error_of(
        lambda: sm.start_pipeline_execution(
            PipelineName=name, PipelineExecutionDisplayName="x" * 100
        )
    )
    assert code == "ValidationException"
    code, _ = error_of(
        lambda: sm.start_pipeline_execution(
            PipelineName=name,
            SelectiveExecutionConfig={"SelectedSteps": [{"StepName": "Nope"}]},
        )
    )
    assert code == "ValidationException"
    assert executions(sm, name) == []
