"""Pipelines are stored durably (docs/behaviour.md §4 "stored durably before it is acknowledged"): a server
stopped cleanly (SIGTERM) or killed (SIGKILL) comes back with every pipeline, version, tag
and idempotency token it acknowledged, on both backends."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.pipelines import ROLE, definition, processing
from tests.support.server import ServerProcess
from tests.support.shared import ACCOUNT_A, ACCOUNTS_FLAG, KEY_A


def simple(step: str) -> str:
    return definition([processing(step)])


def strip(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def code_of(fn: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as excinfo:
        fn(**kwargs)
    return str(excinfo.value.response["Error"]["Code"])


@pytest.fixture
def durable(server_args: list[str]) -> Iterator[ServerProcess]:
    server = ServerProcess(server_args, ACCOUNTS_FLAG)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def populate(server: ServerProcess) -> dict[str, Any]:
    """Every kind of pipeline state; returns what a client saw, to compare after a restart."""
    sm = server.client()
    tokens = {"create": str(uuid.uuid4()), "delete": str(uuid.uuid4())}
    create = {
        "PipelineName": "kept", "PipelineDefinition": simple("A"), "RoleArn": ROLE,
        "PipelineDisplayName": "Kept-Pipeline", "PipelineDescription": "survives restarts",
        "ParallelismConfiguration": {"MaxParallelExecutionSteps": 3},
        "Tags": [{"Key": "team", "Value": "ml"}, {"Key": "tmp", "Value": "x"}],
        "ClientRequestToken": tokens["create"],
    }  # fmt: skip
    created = strip(sm.create_pipeline(**create))
    sm.update_pipeline(PipelineName="kept", PipelineDefinition=simple("B"))
    sm.update_pipeline(PipelineName="kept", PipelineDefinition=simple("C"), RoleArn=ROLE)
    sm.update_pipeline_version(PipelineArn=created["PipelineArn"], PipelineVersionId=1,
                               PipelineVersionDisplayName="first", PipelineVersionDescription="v1")  # fmt: skip
    sm.add_tags(ResourceArn=created["PipelineArn"], Tags=[{"Key": "stage", "Value": "prod"}])
    sm.delete_tags(ResourceArn=created["PipelineArn"], TagKeys=["tmp"])
    for i in range(4):
        sm.create_pipeline(PipelineName=f"other-{i}", PipelineDefinition=simple("A"), RoleArn=ROLE)
    sm.create_pipeline(PipelineName="gone", PipelineDefinition=simple("A"), RoleArn=ROLE)
    deleted = strip(sm.delete_pipeline(PipelineName="gone", ClientRequestToken=tokens["delete"]))
    a = server.client(access_key=KEY_A)
    a.create_pipeline(PipelineName="kept", PipelineDefinition=simple("Z"), RoleArn=ROLE)
    west = server.client(region="us-west-2")
    west.create_pipeline(PipelineName="kept", PipelineDefinition=simple("W"), RoleArn=ROLE)
    first_page = sm.list_pipelines(MaxResults=2, SortBy="Name", SortOrder="Ascending")
    return {
        "create": create, "created": created, "deleted": deleted, "tokens": tokens,
        "next_token": first_page["NextToken"], "snapshot": snapshot(server),
    }  # fmt: skip


def snapshot(server: ServerProcess) -> dict[str, Any]:
    sm = server.client()
    arn = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/kept"
    pages = sm.get_paginator("list_pipelines").paginate(PaginationConfig={"PageSize": 2})
    return {
        "describe": strip(sm.describe_pipeline(PipelineName="kept")),
        "describe_v1": strip(sm.describe_pipeline(PipelineName="kept", PipelineVersionId=1)),
        "versions": strip(sm.list_pipeline_versions(PipelineName="kept")),
        "tags": strip(sm.list_tags(ResourceArn=arn)),
        "list": [s for page in pages for s in page["PipelineSummaries"]],
        "account_a": strip(server.client(access_key=KEY_A).describe_pipeline(PipelineName="kept")),
        "west": strip(server.client(region="us-west-2").describe_pipeline(PipelineName="kept")),
    }


@pytest.mark.parametrize("crash", [False, True], ids=["sigterm", "sigkill"])
def test_everything_survives_a_restart(durable, crash):
    seen = populate(durable)
    # Right after the last acknowledged write: stop cleanly, or kill without warning.
    durable.restart(crash=crash)
    sm = durable.client()

    after = snapshot(durable)
    assert after == seen["snapshot"]
    described = after["describe"]
    assert described["PipelineDefinition"] == simple("C")
    assert (described["PipelineDisplayName"], described["PipelineDescription"]) == (
        "Kept-Pipeline", "survives restarts",
    )  # fmt: skip
    assert described["ParallelismConfiguration"] == {"MaxParallelExecutionSteps": 3}
    assert after["describe_v1"]["PipelineDefinition"] == simple("A")
    assert after["describe_v1"]["PipelineVersionDisplayName"] == "first"
    assert [v["PipelineVersionId"] for v in after["versions"]["PipelineVersionSummaries"]] == [
        3,
        2,
        1,
    ]
    assert {t["Key"]: t["Value"] for t in after["tags"]["Tags"]} == {"team": "ml", "stage": "prod"}
    assert len(after["list"]) == 5
    assert after["account_a"]["PipelineArn"].split(":")[4] == ACCOUNT_A
    assert after["account_a"]["PipelineDefinition"] == simple("Z")
    assert after["west"]["PipelineDefinition"] == simple("W")
    assert code_of(sm.describe_pipeline, PipelineName="gone") == "ResourceNotFound"

    # Tokens: a replay answers as before the restart; another request with them conflicts.
    assert strip(sm.create_pipeline(**seen["create"])) == seen["created"]
    assert code_of(sm.create_pipeline, **{**seen["create"], "PipelineDescription": "other"}) == (
        "ConflictException"
    )
    delete_token = seen["tokens"]["delete"]
    assert (
        strip(sm.delete_pipeline(PipelineName="gone", ClientRequestToken=delete_token))
        == (seen["deleted"])
    )
    assert code_of(sm.delete_pipeline, PipelineName="other-0", ClientRequestToken=delete_token) == (
        "ConflictException"
    )
    # A NextToken minted before the restart still continues its listing.
    page = sm.list_pipelines(
        MaxResults=2, SortBy="Name", SortOrder="Ascending", NextToken=seen["next_token"]
    )
    assert [s["PipelineName"] for s in page["PipelineSummaries"]] == ["other-1", "other-2"]
    # And the restarted server keeps working: a new version, stored as version 4.
    assert (
        sm.update_pipeline(PipelineName="kept", PipelineDefinition=simple("D"))["PipelineVersionId"]
        == 4
    )


def test_repeated_crashes_lose_nothing(durable):
    """Kill the server right after each acknowledged write, several times over."""
    sm = durable.client()
    made = []
    for round_ in range(2):
        name = f"crash-{round_}"
        sm.create_pipeline(PipelineName=name, PipelineDefinition=simple("A"), RoleArn=ROLE,
                           Tags=[{"Key": "round", "Value": str(round_)}])  # fmt: skip
        sm.update_pipeline(PipelineName=name, PipelineDefinition=simple("B"))
        made.append(name)
        durable.restart(crash=True)
        sm = durable.client()
        listed = sm.list_pipelines(SortBy="Name", SortOrder="Ascending")["PipelineSummaries"]
        assert [s["PipelineName"] for s in listed] == made
        for n in made:
            assert sm.describe_pipeline(PipelineName=n)["PipelineDefinition"] == simple("B")
            arn = sm.describe_pipeline(PipelineName=n)["PipelineArn"]
            assert sm.list_tags(ResourceArn=arn)["Tags"] == [
                {"Key": "round", "Value": n.rsplit("-", 1)[1]}
            ]


def test_sigterm_is_a_clean_shutdown(durable):
    durable.client().create_pipeline(PipelineName="p", PipelineDefinition=simple("A"), RoleArn=ROLE)
    status = durable.stop()
    assert status == 0
    deadline = time.time() + 5
    while "sagepipe stopped" not in "".join(durable.output) and time.time() < deadline:
        time.sleep(0.02)
    assert "sagepipe stopped" in "".join(durable.output)
