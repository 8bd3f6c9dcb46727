"""PipelineDefinitionS3Location (docs/behaviour.md §6): the definition is read from a real S3 API (moto's
server), stored, and described as text; every way of getting it wrong is a
ValidationException that names the problem, and creates nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.pipelines import ROLE, definition, processing
from tests.support.s3 import MotoServer
from tests.support.server import ServerProcess

BUCKET, VERSIONED = "pipeline-definitions", "versioned-definitions"


def fails(code: str, fn: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as excinfo:
        fn(**kwargs)
    error = excinfo.value.response["Error"]
    assert error["Code"] == code, error
    return str(error["Message"])


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    server = MotoServer()
    server.start()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket=BUCKET)
        s3.create_bucket(Bucket=VERSIONED)
        s3.put_bucket_versioning(Bucket=VERSIONED, VersioningConfiguration={"Status": "Enabled"})
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_server(server_args, moto, monkeypatch) -> Iterator[ServerProcess]:
    # sagepipe signs its S3 requests with the credentials of its own environment.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    server = ServerProcess(server_args, ["--s3-endpoint-url", moto.url])
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_definition_is_read_from_s3(s3_server, moto, name):
    s3, sm = moto.client(), s3_server.client()
    # Formatting and non-ASCII text survive: DescribePipeline returns the object's text.
    text = json.dumps(
        {"Version": "2020-12-01", "Metadata": {"by": "Zoë"}, "Steps": [processing("FromS3")]},
        indent=2, ensure_ascii=False,
    )  # fmt: skip
    s3.put_object(Bucket=BUCKET, Key=f"{name}/pipeline.json", Body=text.encode("utf-8"))
    arn = sm.create_pipeline(
        PipelineName=name, RoleArn=ROLE,
        PipelineDefinitionS3Location={"Bucket": BUCKET, "ObjectKey": f"{name}/pipeline.json"},
    )["PipelineArn"]  # fmt: skip
    described = sm.describe_pipeline(PipelineName=name)
    assert described["PipelineArn"] == arn
    assert described["PipelineDefinition"] == text
    assert described["PipelineStatus"] == "Active"

    # The definition was copied at create time: changing the object changes nothing.
    s3.put_object(Bucket=BUCKET, Key=f"{name}/pipeline.json", Body=definition([processing("X")]))
    assert sm.describe_pipeline(PipelineName=name)["PipelineDefinition"] == text

    # UpdatePipeline from S3, with an object version: that version's text is the new version.
    first = s3.put_object(Bucket=VERSIONED, Key=f"{name}.json", Body=definition([processing("V1")]))
    s3.put_object(Bucket=VERSIONED, Key=f"{name}.json", Body=definition([processing("V2")]))
    location = {"Bucket": VERSIONED, "ObjectKey": f"{name}.json", "VersionId": first["VersionId"]}
    updated = sm.update_pipeline(PipelineName=name, PipelineDefinitionS3Location=location)
    assert updated["PipelineVersionId"] == 2
    assert sm.describe_pipeline(PipelineName=name)["PipelineDefinition"] == definition(
        [processing("V1")]
    )
    latest = {"Bucket": VERSIONED, "ObjectKey": f"{name}.json"}
    assert (
        sm.update_pipeline(PipelineName=name, PipelineDefinitionS3Location=latest)[
            "PipelineVersionId"
        ]
        == 3
    )
    assert sm.describe_pipeline(PipelineName=name)["PipelineDefinition"] == definition(
        [processing("V2")]
    )
    assert (
        sm.describe_pipeline(PipelineName=name, PipelineVersionId=1)["PipelineDefinition"] == text
    )
    # An execution runs the definition read from S3.
    execution = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    snapshot = sm.describe_pipeline_definition_for_execution(PipelineExecutionArn=execution)
    assert snapshot["PipelineDefinition"] == definition([processing("V2")])


def test_s3_problems_are_validation_errors_naming_the_object(s3_server, moto, name):
    s3, sm = moto.client(), s3_server.client()

    def create(location: dict[str, str], **extra: Any) -> str:
        message = fails("ValidationException", sm.create_pipeline, PipelineName=name,
                        RoleArn=ROLE, PipelineDefinitionS3Location=location, **extra)  # fmt: skip
        fails("ResourceNotFound", sm.describe_pipeline, PipelineName=name)
        return message

    message = create({"Bucket": BUCKET, "ObjectKey": "missing/object.json"})
    assert f"s3://{BUCKET}/missing/object.json" in message
    message = create({"Bucket": "no-such-bucket", "ObjectKey": "pipeline.json"})
    assert "s3://no-such-bucket/pipeline.json" in message

    # What is read is validated like an inline definition.
    s3.put_object(
        Bucket=BUCKET, Key=f"{name}/broken.json", Body=b'{"Version": "2020-12-01",\n"Steps": [}'
    )
    message = create({"Bucket": BUCKET, "ObjectKey": f"{name}/broken.json"})
    assert "line 2, column" in message
    s3.put_object(Bucket=BUCKET, Key=f"{name}/latin1.json", Body='{"é": 1}'.encode("latin-1"))
    message = create({"Bucket": BUCKET, "ObjectKey": f"{name}/latin1.json"})
    assert "UTF-8" in message and f"s3://{BUCKET}/{name}/latin1.json" in message

    # Both sources at once.
    s3.put_object(Bucket=BUCKET, Key=f"{name}/good.json", Body=definition([processing("A")]))
    good = {"Bucket": BUCKET, "ObjectKey": f"{name}/good.json"}
    message = create(good, PipelineDefinition=definition([processing("A")]))
    assert "PipelineDefinition" in message and "PipelineDefinitionS3Location" in message

    # A failed UpdatePipeline from S3 leaves the pipeline as it was.
    sm.create_pipeline(PipelineName=name, RoleArn=ROLE, PipelineDefinitionS3Location=good)
    message = fails("ValidationException", sm.update_pipeline, PipelineName=name,
                    PipelineDefinitionS3Location={"Bucket": BUCKET, "ObjectKey": "gone.json"})  # fmt: skip
    assert f"s3://{BUCKET}/gone.json" in message
    assert sm.describe_pipeline(PipelineName=name)["PipelineDefinition"] == definition(
        [processing("A")]
    )
    versions = sm.list_pipeline_versions(PipelineName=name)["PipelineVersionSummaries"]
    assert [v["PipelineVersionId"] for v in versions] == [1]


def test_without_an_s3_endpoint_the_error_says_how_to_set_one(sm, name):
    location = {"Bucket": BUCKET, "ObjectKey": "pipeline.json"}
    message = fails("ValidationException", sm.create_pipeline, PipelineName=name, RoleArn=ROLE,
                    PipelineDefinitionS3Location=location)  # fmt: skip
    assert "--s3-endpoint-url" in message
    fails("ResourceNotFound", sm.describe_pipeline, PipelineName=name)
    # Both sources at once is refused before any S3 question arises.
    message = fails("ValidationException", sm.create_pipeline, PipelineName=name, RoleArn=ROLE,
                    PipelineDefinitionS3Location=location,
                    PipelineDefinition=definition([processing("A")]))  # fmt: skip
    assert "Exactly one of PipelineDefinition or PipelineDefinitionS3Location" in message
    # An update from S3 says the same.
    sm.create_pipeline(
        PipelineName=name, RoleArn=ROLE, PipelineDefinition=definition([processing("A")])
    )
    message = fails("ValidationException", sm.update_pipeline, PipelineName=name,
                    PipelineDefinitionS3Location=location)  # fmt: skip
    assert "--s3-endpoint-url" in message
