# Fixtures are imported from tests/support/shared.py; their parameters shadow the imports.
# ruff: noqa: F811
"""Foundation: pipelines stored durably (docs/behaviour.md §1–3, §6). Pipeline resources through boto3
against a real server, on both backends: create/describe/update/list/delete, versions, tags,
name-or-ARN lookup, per-account and per-region isolation, ClientRequestToken idempotency, the
pipeline limit, and definition validation that leaves nothing behind when it rejects.

Most tests share one server per backend (tests/support/shared.py) and keep apart by unique
names or a fresh region; tests that need server flags start their own."""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.pipelines import ROLE, definition, processing
from tests.support.server import ServerProcess
from tests.support.shared import (  # noqa: F401  (fixtures)
    ACCOUNT_A,
    ACCOUNT_B,
    ACCOUNTS_FLAG,
    DEFAULT_ACCOUNT,
    KEY_A,
    KEY_B,
    error_of,
    fresh_region,
    server_pool,
    shared,
)
from tests.support.wire import call

ROLE_2 = "arn:aws:iam::123456789012:role/OtherRole"
ALREADY_EXISTS = (
    "Pipeline names must be unique within an AWS account and region. "
    "Pipeline with name ({}) already exists."
)


def arn_of(name: str, account: str = DEFAULT_ACCOUNT, region: str = "us-east-1") -> str:
    return f"arn:aws:sagemaker:{region}:{account}:pipeline/{name}"


def token() -> str:
    return str(uuid.uuid4())


def simple(step: str = "A") -> str:
    return definition([processing(step)])


def fails(code: str, fn: Any, **kwargs: Any) -> str:
    """Call fn(**kwargs), expect ClientError `code`; return its message."""
    with pytest.raises(ClientError) as excinfo:
        fn(**kwargs)
    got, message = error_of(excinfo)
    assert got == code, message
    return message


def names_of(pages: Any) -> list[str]:
    return [s["PipelineName"] for page in pages for s in page["PipelineSummaries"]]


def versions_of(sm: Any, name: str, **kwargs: Any) -> list[int]:
    summaries = sm.list_pipeline_versions(PipelineName=name, **kwargs)["PipelineVersionSummaries"]
    return [v["PipelineVersionId"] for v in summaries]


# --- create / describe -------------------------------------------------------------------


def test_describe_returns_what_create_stored(shared, name):
    sm = shared.client()
    pipeline = "Mixed-Case-" + name  # the name's case is kept
    # Unusual formatting, key order and non-ASCII text: the definition comes back verbatim.
    text = (
        '{\n    "Version": "2020-12-01",\n  "Metadata": {"note": "Grüße, 東京 \\u00e9"},\n'
        '"Steps": [' + json.dumps(processing("Only"), indent=3) + "],\n\n"
        '   "Parameters": []  }\n'
    )
    before = time.time()
    arn = sm.create_pipeline(
        PipelineName=pipeline,
        PipelineDisplayName="Display-Name-1",
        PipelineDescription="what it does",
        PipelineDefinition=text,
        RoleArn=ROLE,
        ParallelismConfiguration={"MaxParallelExecutionSteps": 4},
    )["PipelineArn"]
    after = time.time()
    assert arn == arn_of(pipeline)

    got = sm.describe_pipeline(PipelineName=pipeline)
    assert got["PipelineArn"] == arn
    assert got["PipelineName"] == pipeline
    assert got["PipelineDefinition"] == text
    assert got["PipelineDisplayName"] == "Display-Name-1"
    assert got["PipelineDescription"] == "what it does"
    assert got["RoleArn"] == ROLE
    assert got["PipelineStatus"] == "Active"
    assert got["ParallelismConfiguration"] == {"MaxParallelExecutionSteps": 4}
    created = got["CreationTime"].timestamp()
    assert before - 0.001 <= created <= after + 0.001
    assert got["LastModifiedTime"] == got["CreationTime"]
    assert "LastRunTime" not in got  # never run
    assert "PipelineVersionDisplayName" not in got


def test_describe_wire_format_omits_unset_members_and_uses_milliseconds(shared, name):
    shared.client().create_pipeline(PipelineName=name, PipelineDefinition=simple(), RoleArn=ROLE)
    response = call(shared.url, "DescribePipeline", {"PipelineName": name})
    assert response.status == 200
    assert response.headers["content-type"] == "application/x-amz-json-1.1"
    uuid.UUID(response.headers["x-amzn-requestid"])
    body = response.json
    assert None not in body.values() and "" not in body.values()
    for absent in ("PipelineDescription", "ParallelismConfiguration", "LastRunTime"):
        assert absent not in body
    assert body.get("PipelineDisplayName", name) == name
    for member in ("CreationTime", "LastModifiedTime"):
        value = body[member]
        assert isinstance(value, int | float), body
        assert abs(value - time.time()) < 60
        # Epoch seconds with (at most) millisecond fractions, as written on the wire.
        written = re.search(rf'"{member}":([0-9.eE+-]+)', response.raw.decode())
        assert written and re.fullmatch(r"\d+(\.\d{1,3})?", written[1]), written


def test_create_requires_exactly_one_definition_source(shared, name):
    sm = shared.client()
    message = fails("ValidationException", sm.create_pipeline, PipelineName=name, RoleArn=ROLE)
    assert "PipelineDefinition" in message
    message = fails(
        "ValidationException",
        sm.create_pipeline,
        PipelineName=name,
        RoleArn=ROLE,
        PipelineDefinition=simple(),
        PipelineDefinitionS3Location={"Bucket": "bucket", "ObjectKey": "key.json"},
    )
    assert "PipelineDefinitionS3Location" in message
    fails("ResourceNotFound", sm.describe_pipeline, PipelineName=name)


# --- update / versions -------------------------------------------------------------------


def test_update_makes_a_version_only_when_the_definition_changes(shared, name):
    sm = shared.client()
    first, second = simple("A"), simple("B")
    arn = sm.create_pipeline(PipelineName=name, PipelineDefinition=first, RoleArn=ROLE)[
        "PipelineArn"
    ]
    created = sm.describe_pipeline(PipelineName=name)["CreationTime"]
    assert versions_of(sm, name) == [1]

    # Same definition, other attributes: no new version, the attributes change.
    time.sleep(0.01)
    got = sm.update_pipeline(
        PipelineName=name,
        PipelineDefinition=first,
        PipelineDescription="v1 described",
        PipelineDisplayName="Shown",
        RoleArn=ROLE_2,
        ParallelismConfiguration={"MaxParallelExecutionSteps": 2},
    )
    assert (got["PipelineArn"], got["PipelineVersionId"]) == (arn, 1)
    got = sm.update_pipeline(PipelineName=name, PipelineDescription="still v1")
    assert got["PipelineVersionId"] == 1
    assert versions_of(sm, name) == [1]
    described = sm.describe_pipeline(PipelineName=name)
    assert described["PipelineDescription"] == "still v1"
    assert described["PipelineDisplayName"] == "Shown"
    assert described["RoleArn"] == ROLE_2
    assert described["ParallelismConfiguration"] == {"MaxParallelExecutionSteps": 2}
    assert described["PipelineDefinition"] == first
    assert described["CreationTime"] == created
    assert described["LastModifiedTime"] > created

    # A changed definition is version 2; version 1 keeps its text.
    got = sm.update_pipeline(PipelineName=name, PipelineDefinition=second)
    assert (got["PipelineArn"], got["PipelineVersionId"]) == (arn, 2)
    assert sm.describe_pipeline(PipelineName=name)["PipelineDefinition"] == second
    assert (
        sm.describe_pipeline(PipelineName=name, PipelineVersionId=1)["PipelineDefinition"] == first
    )
    assert (
        sm.describe_pipeline(PipelineName=name, PipelineVersionId=2)["PipelineDefinition"] == second
    )
    assert versions_of(sm, name) == [2, 1]  # newest first by default
    assert versions_of(sm, name, SortOrder="Ascending") == [1, 2]
    assert versions_of(sm, name, SortOrder="Descending") == [2, 1]
    # The attributes set before are kept across a definition change.
    assert sm.describe_pipeline(PipelineName=name)["PipelineDescription"] == "still v1"

    # Pagination over versions.
    sm.update_pipeline(PipelineName=name, PipelineDefinition=simple("C"))
    pages = sm.get_paginator("list_pipeline_versions").paginate(
        PipelineName=name, SortOrder="Ascending", PaginationConfig={"PageSize": 2}
    )
    seen = [[v["PipelineVersionId"] for v in p["PipelineVersionSummaries"]] for p in pages]
    assert seen == [[1, 2], [3]]

    fails("ResourceNotFound", sm.describe_pipeline, PipelineName=name, PipelineVersionId=9)
    fails("ResourceNotFound", sm.update_pipeline, PipelineName=name + "-x", PipelineDescription="d")
    fails("ResourceNotFound", sm.list_pipeline_versions, PipelineName=name + "-x")


def test_update_pipeline_version_display_name_and_description(shared, name):
    sm = shared.client()
    arn = sm.create_pipeline(PipelineName=name, PipelineDefinition=simple("A"), RoleArn=ROLE)[
        "PipelineArn"
    ]
    sm.update_pipeline(PipelineName=name, PipelineDefinition=simple("B"))

    got = sm.update_pipeline_version(
        PipelineArn=arn,
        PipelineVersionId=1,
        PipelineVersionDisplayName="first-cut",
        PipelineVersionDescription="the original",
    )
    assert (got["PipelineArn"], got["PipelineVersionId"]) == (arn, 1)
    # Only the description: the display name stays.
    sm.update_pipeline_version(
        PipelineArn=arn, PipelineVersionId=1, PipelineVersionDescription="v1"
    )

    summaries = {
        v["PipelineVersionId"]: v
        for v in sm.list_pipeline_versions(PipelineName=name)["PipelineVersionSummaries"]
    }
    assert summaries[1]["PipelineVersionDisplayName"] == "first-cut"
    assert summaries[1]["PipelineVersionDescription"] == "v1"
    assert "PipelineVersionDisplayName" not in summaries[2]
    assert all(v["PipelineArn"] == arn for v in summaries.values())

    v1 = sm.describe_pipeline(PipelineName=name, PipelineVersionId=1)
    assert v1["PipelineVersionDisplayName"] == "first-cut"
    assert v1["PipelineVersionDescription"] == "v1"
    assert "PipelineVersionDisplayName" not in sm.describe_pipeline(PipelineName=name)

    fails("ResourceNotFound", sm.update_pipeline_version, PipelineArn=arn, PipelineVersionId=5,
          PipelineVersionDescription="x")  # fmt: skip
    fails("ResourceNotFound", sm.update_pipeline_version, PipelineArn=arn_of(name + "-x"),
          PipelineVersionId=1, PipelineVersionDescription="x")  # fmt: skip
    # The member is an ARN: a bare name does not fit its pattern.
    fails("ValidationException", sm.update_pipeline_version, PipelineArn=name,
          PipelineVersionId=1, PipelineVersionDescription="x")  # fmt: skip


# --- name or ARN -------------------------------------------------------------------------


def test_every_operation_accepting_name_or_arn_accepts_both(shared, name):
    sm = shared.client()
    arn = sm.create_pipeline(PipelineName=name, PipelineDefinition=simple(), RoleArn=ROLE)[
        "PipelineArn"
    ]
    sm.update_pipeline(PipelineName=name, PipelineDefinition=simple("B"))

    for ref in (name, arn):
        assert sm.describe_pipeline(PipelineName=ref)["PipelineArn"] == arn
        assert (
            sm.describe_pipeline(PipelineName=ref, PipelineVersionId=1)["PipelineDefinition"]
            == simple()
        )
        assert versions_of(sm, ref) == [2, 1]

    by_arn = sm.start_pipeline_execution(PipelineName=arn)["PipelineExecutionArn"]
    by_name = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert by_arn.startswith(arn + "/execution/") and by_name.startswith(arn + "/execution/")
    for ref in (name, arn):
        listed = sm.list_pipeline_executions(PipelineName=ref)["PipelineExecutionSummaries"]
        assert {e["PipelineExecutionArn"] for e in listed} == {by_arn, by_name}
    assert "LastRunTime" in sm.describe_pipeline(PipelineName=name)

    # The same name under another account or region is another pipeline: not found.
    for other in (arn_of(name, account="999999999999"), arn_of(name, region="eu-west-1")):
        fails("ResourceNotFound", sm.describe_pipeline, PipelineName=other)
        fails("ResourceNotFound", sm.list_pipeline_versions, PipelineName=other)
        fails("ResourceNotFound", sm.list_pipeline_executions, PipelineName=other)
        fails("ResourceNotFound", sm.start_pipeline_execution, PipelineName=other)
        fails("ResourceNotFound", sm.update_pipeline_version, PipelineArn=other,
              PipelineVersionId=1, PipelineVersionDescription="x")  # fmt: skip
        fails("ResourceNotFound", sm.list_tags, ResourceArn=other)
        fails("ResourceNotFound", sm.add_tags, ResourceArn=other, Tags=[{"Key": "k", "Value": "v"}])
    # UpdatePipeline and DeletePipeline take a name only (the model's PipelineName pattern).
    fails("ValidationException", sm.update_pipeline, PipelineName=arn, PipelineDescription="x")
    fails("ValidationException", sm.delete_pipeline, PipelineName=arn)
    assert sm.describe_pipeline(PipelineName=name)["PipelineArn"] == arn


# --- listing -----------------------------------------------------------------------------


def test_list_pipelines_sorting_prefix_and_pagination(shared, fresh_region):
    sm = shared.client(region=fresh_region)
    tag = uuid.uuid4().hex[:6]
    letters = ["c", "a", "e", "b", "d"]  # creation order differs from name order
    made = [f"lp{tag}-{x}" for x in letters]
    for pipeline in made:
        sm.create_pipeline(PipelineName=pipeline, PipelineDefinition=simple(), RoleArn=ROLE)
    sm.create_pipeline(PipelineName=f"zz{tag}", PipelineDefinition=simple(), RoleArn=ROLE)
    by_name = sorted(made)
    listed = sm.list_pipelines
    prefix = f"lp{tag}"

    def names(**kwargs: Any) -> list[str]:
        return names_of([listed(PipelineNamePrefix=prefix, **kwargs)])

    assert names() == made[::-1]  # default: newest first
    assert names(SortBy="CreationTime", SortOrder="Descending") == made[::-1]
    assert names(SortBy="CreationTime", SortOrder="Ascending") == made
    assert names(SortBy="Name", SortOrder="Ascending") == by_name
    assert names(SortBy="Name", SortOrder="Descending") == by_name[::-1]
    assert names(SortBy="Name") == by_name[::-1]  # SortOrder defaults to Descending
    assert names_of([listed()]) == [f"zz{tag}", *made[::-1]]  # no prefix: everything here
    assert names_of([listed(PipelineNamePrefix=f"lp{tag}-a")]) == [f"lp{tag}-a"]
    assert names_of([listed(PipelineNamePrefix="nothing")]) == []

    summary = listed(PipelineNamePrefix=f"lp{tag}-a")["PipelineSummaries"][0]
    assert summary["PipelineArn"] == arn_of(f"lp{tag}-a", region=fresh_region)
    assert summary["RoleArn"] == ROLE
    assert isinstance(summary["CreationTime"], datetime)

    paginator = sm.get_paginator("list_pipelines")
    for sort_by, order, expected in [
        (None, None, made[::-1]),
        ("CreationTime", "Ascending", made),
        ("Name", "Ascending", by_name),
        ("Name", "Descending", by_name[::-1]),
    ]:
        kwargs: dict[str, Any] = {"PipelineNamePrefix": prefix}
        if sort_by:
            kwargs.update(SortBy=sort_by, SortOrder=order)
        pages = list(paginator.paginate(**kwargs, PaginationConfig={"PageSize": 2}))
        assert [len(p["PipelineSummaries"]) for p in pages] == [2, 2, 1]
        assert "NextToken" not in pages[-1]
        assert names_of(pages) == expected, (sort_by, order)


def test_list_pipelines_pages_are_stable_under_inserts(shared, fresh_region):
    sm = shared.client(region=fresh_region)
    made = [f"st-{i}-{uuid.uuid4().hex[:4]}" for i in range(5)]
    for pipeline in made:
        sm.create_pipeline(PipelineName=pipeline, PipelineDefinition=simple(), RoleArn=ROLE)

    def walk(extra: str, **kwargs: Any) -> list[str]:
        seen: list[str] = []
        page = sm.list_pipelines(MaxResults=2, **kwargs)
        seen += names_of([page])
        # A pipeline appears between pages.
        sm.create_pipeline(PipelineName=extra, PipelineDefinition=simple(), RoleArn=ROLE)
        while "NextToken" in page:
            page = sm.list_pipelines(MaxResults=2, NextToken=page["NextToken"], **kwargs)
            seen += names_of([page])
        return seen

    # Newest first: the newcomer sorts before the cursor, so it is not seen; no repeats.
    seen = walk("st-new-1")
    assert seen == made[::-1]
    # Oldest first: it sorts after everything, and shows up exactly once at the end.
    seen = walk("st-new-2", SortBy="CreationTime", SortOrder="Ascending")
    assert seen == [*made, "st-new-1", "st-new-2"]
    # By name: "st-0..." is before the cursor after page one; everyone else exactly once.
    seen = walk("st-0-new", SortBy="Name", SortOrder="Ascending")
    assert seen == sorted([*made, "st-new-1", "st-new-2"])
    assert len(seen) == len(set(seen))


def test_next_token_is_bound_to_its_query(shared, fresh_region):
    sm = shared.client(region=fresh_region)
    for i in range(3):
        sm.create_pipeline(PipelineName=f"tok-{i}", PipelineDefinition=simple(), RoleArn=ROLE)
    first = sm.list_pipelines(PipelineNamePrefix="tok", MaxResults=1)
    next_token = first["NextToken"]
    # The same query continues.
    assert names_of(
        [sm.list_pipelines(PipelineNamePrefix="tok", MaxResults=1, NextToken=next_token)]
    )
    for changed in (
        {"PipelineNamePrefix": "to"},
        {},
        {"PipelineNamePrefix": "tok", "SortOrder": "Ascending"},
        {"PipelineNamePrefix": "tok", "SortBy": "Name"},
        {"PipelineNamePrefix": "tok", "CreatedAfter": datetime(2001, 1, 1, tzinfo=UTC)},
    ):
        message = fails("ValidationException", sm.list_pipelines, NextToken=next_token, **changed)
        assert "NextToken" in message or "token" in message.lower()
    # A token from another operation, or another region, is refused too.
    sm.update_pipeline(PipelineName="tok-0", PipelineDefinition=simple("B"))
    versions_token = sm.list_pipeline_versions(PipelineName="tok-0", MaxResults=1)["NextToken"]
    fails(
        "ValidationException", sm.list_pipelines, PipelineNamePrefix="tok", NextToken=versions_token
    )
    elsewhere = shared.client(region=fresh_region + "x")
    fails(
        "ValidationException",
        elsewhere.list_pipelines,
        PipelineNamePrefix="tok",
        NextToken=next_token,
    )
    fails("ValidationException", sm.list_pipelines, PipelineNamePrefix="tok", NextToken="garbage")


def test_list_pipelines_created_after_and_before(shared, fresh_region):
    sm = shared.client(region=fresh_region)
    sm.create_pipeline(PipelineName="early", PipelineDefinition=simple(), RoleArn=ROLE)
    early = sm.describe_pipeline(PipelineName="early")["CreationTime"].timestamp()
    # botocore sends whole seconds: put a second boundary between the two pipelines.
    boundary = math.floor(early) + 1
    time.sleep(max(0.0, boundary - time.time()) + 0.05)
    sm.create_pipeline(PipelineName="late", PipelineDefinition=simple(), RoleArn=ROLE)
    at = datetime.fromtimestamp(boundary, UTC)
    long_ago, later = datetime(2001, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)

    def names(**kwargs: Any) -> list[str]:
        return sorted(names_of([sm.list_pipelines(**kwargs)]))

    assert names(CreatedBefore=at) == ["early"]
    assert names(CreatedAfter=at) == ["late"]
    assert names(CreatedAfter=long_ago, CreatedBefore=later) == ["early", "late"]
    assert names(CreatedAfter=later) == []
    assert names(CreatedBefore=long_ago) == []
    assert names(CreatedAfter=at, CreatedBefore=at) == []
    # The same filters sent as ISO 8601 text (accepted by the validator) give the same rows.
    iso = datetime.fromtimestamp(boundary, UTC).isoformat()
    for member, expected in (("CreatedAfter", ["late"]), ("CreatedBefore", ["early"])):
        response = call(shared.url, "ListPipelines", {member: iso}, region=fresh_region)
        assert response.status == 200, response.raw
        got = sorted(s["PipelineName"] for s in response.json["PipelineSummaries"])
        assert got == expected, member


# --- delete ------------------------------------------------------------------------------


def test_delete_pipeline_removes_it_and_everything_it_owns(shared, name):
    sm = shared.client()
    arn = sm.create_pipeline(
        PipelineName=name, PipelineDefinition=simple(), RoleArn=ROLE,
        Tags=[{"Key": "team", "Value": "ml"}],
    )["PipelineArn"]  # fmt: skip
    sm.update_pipeline(PipelineName=name, PipelineDefinition=simple("B"))
    assert sm.delete_pipeline(PipelineName=name)["PipelineArn"] == arn

    message = fails("ResourceNotFound", sm.describe_pipeline, PipelineName=name)
    assert name in message
    fails("ResourceNotFound", sm.describe_pipeline, PipelineName=arn)
    fails("ResourceNotFound", sm.list_pipeline_versions, PipelineName=name)
    fails("ResourceNotFound", sm.update_pipeline, PipelineName=name, PipelineDescription="x")
    fails("ResourceNotFound", sm.list_tags, ResourceArn=arn)
    fails("ResourceNotFound", sm.add_tags, ResourceArn=arn, Tags=[{"Key": "k", "Value": "v"}])
    fails("ResourceNotFound", sm.delete_pipeline, PipelineName=name)
    assert name not in names_of([sm.list_pipelines(PipelineNamePrefix=name)])

    # The name is free again, and the new pipeline starts from nothing.
    assert (
        sm.create_pipeline(PipelineName=name, PipelineDefinition=simple("C"), RoleArn=ROLE)[
            "PipelineArn"
        ]
        == arn
    )
    assert versions_of(sm, name) == [1]
    assert sm.describe_pipeline(PipelineName=name)["PipelineDefinition"] == simple("C")
    assert sm.list_tags(ResourceArn=arn)["Tags"] == []


# --- isolation ---------------------------------------------------------------------------


def test_accounts_do_not_see_each_others_pipelines(shared, name):
    a, b = shared.client(access_key=KEY_A), shared.client(access_key=KEY_B)
    arn_a = a.create_pipeline(
        PipelineName=name, PipelineDefinition=simple("A"), RoleArn=ROLE,
        Tags=[{"Key": "owner", "Value": "a"}],
    )["PipelineArn"]  # fmt: skip
    assert arn_a == arn_of(name, account=ACCOUNT_A)

    for ref in (name, arn_a):
        fails("ResourceNotFound", b.describe_pipeline, PipelineName=ref)
        fails("ResourceNotFound", b.list_pipeline_versions, PipelineName=ref)
    fails("ResourceNotFound", b.update_pipeline, PipelineName=name, PipelineDescription="x")
    fails("ResourceNotFound", b.delete_pipeline, PipelineName=name)
    fails("ResourceNotFound", b.list_tags, ResourceArn=arn_a)
    fails("ResourceNotFound", b.add_tags, ResourceArn=arn_a, Tags=[{"Key": "k", "Value": "v"}])
    fails("ResourceNotFound", b.delete_tags, ResourceArn=arn_a, TagKeys=["owner"])
    fails("ResourceNotFound", b.update_pipeline_version, PipelineArn=arn_a, PipelineVersionId=1,
          PipelineVersionDescription="x")  # fmt: skip
    assert names_of([b.list_pipelines(PipelineNamePrefix=name)]) == []
    # The default account (any other key) does not see it either.
    fails("ResourceNotFound", shared.client().describe_pipeline, PipelineName=arn_a)

    # B may use the same name: its own pipeline, its own ARN; A's is untouched.
    arn_b = b.create_pipeline(PipelineName=name, PipelineDefinition=simple("B"), RoleArn=ROLE)[
        "PipelineArn"
    ]
    assert arn_b == arn_of(name, account=ACCOUNT_B)
    # B asking by A's ARN still does not get its own pipeline of that name.
    fails("ResourceNotFound", b.describe_pipeline, PipelineName=arn_a)
    fails("ResourceNotFound", a.describe_pipeline, PipelineName=arn_b)
    assert b.describe_pipeline(PipelineName=name)["PipelineDefinition"] == simple("B")
    b.delete_pipeline(PipelineName=name)
    described = a.describe_pipeline(PipelineName=name)
    assert (described["PipelineArn"], described["PipelineDefinition"]) == (arn_a, simple("A"))
    assert a.list_tags(ResourceArn=arn_a)["Tags"] == [{"Key": "owner", "Value": "a"}]


def test_regions_do_not_see_each_others_pipelines(shared, name):
    east, west = shared.client(), shared.client(region="us-west-2")
    arn_east = east.create_pipeline(
        PipelineName=name, PipelineDefinition=simple("A"), RoleArn=ROLE
    )["PipelineArn"]
    assert arn_east == arn_of(name, region="us-east-1")
    for ref in (name, arn_east):
        fails("ResourceNotFound", west.describe_pipeline, PipelineName=ref)
    fails("ResourceNotFound", west.list_tags, ResourceArn=arn_east)
    assert names_of([west.list_pipelines(PipelineNamePrefix=name)]) == []

    arn_west = west.create_pipeline(
        PipelineName=name, PipelineDefinition=simple("B"), RoleArn=ROLE
    )["PipelineArn"]
    assert arn_west == arn_of(name, region="us-west-2")
    fails("ResourceNotFound", east.describe_pipeline, PipelineName=arn_west)
    assert east.describe_pipeline(PipelineName=name)["PipelineDefinition"] == simple("A")
    assert west.describe_pipeline(PipelineName=name)["PipelineDefinition"] == simple("B")
    assert names_of([east.list_pipelines(PipelineNamePrefix=name)]) == [name]


# --- idempotency -------------------------------------------------------------------------


def test_create_pipeline_token_replays_and_conflicts(shared, name):
    sm = shared.client()
    t = token()
    request = {"PipelineName": name, "PipelineDefinition": simple(), "RoleArn": ROLE,
               "ClientRequestToken": t, "PipelineDescription": "one"}  # fmt: skip
    first = sm.create_pipeline(**request)
    again = sm.create_pipeline(**request)  # no "already exists": a replay
    assert again["PipelineArn"] == first["PipelineArn"] == arn_of(name)
    assert versions_of(sm, name) == [1]

    # The same token with another request conflicts, and does nothing.
    message = fails(
        "ConflictException", sm.create_pipeline, **{**request, "PipelineDescription": "two"}
    )
    assert t in message
    fails("ConflictException", sm.create_pipeline, **{**request, "PipelineName": name + "-2"})
    fails("ResourceNotFound", sm.describe_pipeline, PipelineName=name + "-2")
    assert sm.describe_pipeline(PipelineName=name)["PipelineDescription"] == "one"

    # Tokens belong to an account: another account's identical request is its own.
    other = shared.client(access_key=KEY_A).create_pipeline(**request)
    assert other["PipelineArn"] == arn_of(name, account=ACCOUNT_A)

    # After a delete, replaying the create answers as before and does not recreate it.
    sm.delete_pipeline(PipelineName=name)
    assert sm.create_pipeline(**request)["PipelineArn"] == first["PipelineArn"]
    fails("ResourceNotFound", sm.describe_pipeline, PipelineName=name)


def test_delete_pipeline_token_replays_and_conflicts(shared, name):
    sm = shared.client()
    for n in (name, name + "-b"):
        sm.create_pipeline(PipelineName=n, PipelineDefinition=simple(), RoleArn=ROLE)
    t = token()
    first = sm.delete_pipeline(PipelineName=name, ClientRequestToken=t)
    assert first["PipelineArn"] == arn_of(name)
    # A replay answers the same although the pipeline is gone by now.
    replay = sm.delete_pipeline(PipelineName=name, ClientRequestToken=t)
    assert replay["PipelineArn"] == first["PipelineArn"]
    # The same token for another pipeline conflicts, and that pipeline stays.
    fails("ConflictException", sm.delete_pipeline, PipelineName=name + "-b", ClientRequestToken=t)
    assert sm.describe_pipeline(PipelineName=name + "-b")["PipelineStatus"] == "Active"
    # A token is per operation: the same value may be used by a create.
    sm.create_pipeline(PipelineName=name, PipelineDefinition=simple(), RoleArn=ROLE,
                       ClientRequestToken=t)  # fmt: skip
    assert sm.describe_pipeline(PipelineName=name)["PipelineArn"] == first["PipelineArn"]
    # A failed delete records nothing: the token is still free for the right request.
    t2 = token()
    fails("ResourceNotFound", sm.delete_pipeline, PipelineName=name + "-zz", ClientRequestToken=t2)
    assert sm.delete_pipeline(PipelineName=name, ClientRequestToken=t2)["PipelineArn"] == arn_of(
        name
    )


# --- duplicates, upsert, tags, limit ----------------------------------------------------


def test_duplicate_create_is_a_validation_error_with_the_aws_text(shared, name):
    sm = shared.client()
    sm.create_pipeline(PipelineName=name, PipelineDefinition=simple("A"), RoleArn=ROLE,
                       PipelineDescription="original")  # fmt: skip
    message = fails(
        "ValidationException", sm.create_pipeline, PipelineName=name,
        PipelineDefinition=simple("B"), RoleArn=ROLE, PipelineDescription="second",
    )  # fmt: skip
    assert ALREADY_EXISTS.format(name) in message
    described = sm.describe_pipeline(PipelineName=name)
    assert described["PipelineDescription"] == "original"
    assert described["PipelineDefinition"] == simple("A")
    assert versions_of(sm, name) == [1]


def upsert(sm: Any, name: str, text: str, tags: list[dict[str, str]], **kwargs: Any) -> dict:
    """What the SageMaker Python SDK v2's Pipeline.upsert() does."""
    try:
        return sm.create_pipeline(
            PipelineName=name, PipelineDefinition=text, RoleArn=ROLE, Tags=tags, **kwargs
        )
    except ClientError as error:
        code, message = error.response["Error"]["Code"], error.response["Error"]["Message"]
        if not (code == "ValidationException" and "already exists" in message):
            raise
    response = sm.update_pipeline(
        PipelineName=name, PipelineDefinition=text, RoleArn=ROLE, **kwargs
    )
    old_tags = sm.list_tags(ResourceArn=response["PipelineArn"])["Tags"]
    keys = [t["Key"] for t in tags]
    tags = tags + [t for t in old_tags if t["Key"] not in keys]
    sm.add_tags(ResourceArn=response["PipelineArn"], Tags=tags)
    return response


def test_sdk_upsert_flow_and_tags(shared, name):
    sm = shared.client()
    first = upsert(sm, name, simple("A"), [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    arn = first["PipelineArn"]
    assert arn == arn_of(name)
    assert {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]} == {
        "a": "1",
        "b": "2",
    }

    second = upsert(sm, name, simple("B"), [{"Key": "b", "Value": "3"}, {"Key": "c", "Value": "4"}],
                    PipelineDescription="upserted")  # fmt: skip
    assert (second["PipelineArn"], second["PipelineVersionId"]) == (arn, 2)
    described = sm.describe_pipeline(PipelineName=name)
    assert described["PipelineDefinition"] == simple("B")
    assert described["PipelineDescription"] == "upserted"
    tags = sm.list_tags(ResourceArn=arn)["Tags"]
    assert len(tags) == 3
    assert {t["Key"]: t["Value"] for t in tags} == {"a": "1", "b": "3", "c": "4"}

    added = sm.add_tags(ResourceArn=arn, Tags=[{"Key": "d", "Value": ""}])
    assert added["Tags"] == [{"Key": "d", "Value": ""}]
    sm.delete_tags(ResourceArn=arn, TagKeys=["a", "d", "never-there"])
    assert {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]} == {
        "b": "3",
        "c": "4",
    }
    # Tags on a pipeline that does not exist: ResourceNotFound.
    fails(
        "ResourceNotFound", sm.add_tags, ResourceArn=arn + "-x", Tags=[{"Key": "k", "Value": "v"}]
    )
    fails("ResourceNotFound", sm.delete_tags, ResourceArn=arn + "-x", TagKeys=["k"])
    fails("ResourceNotFound", sm.list_tags, ResourceArn=arn + "-x")

    # At most 50 tags, and a key once per request; a refused AddTags adds nothing.
    before = sm.list_tags(ResourceArn=arn)["Tags"]
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(49)]
    fails("ResourceLimitExceeded", sm.add_tags, ResourceArn=arn, Tags=many)
    twice = [{"Key": "x", "Value": "1"}, {"Key": "x", "Value": "2"}]
    fails("ValidationException", sm.add_tags, ResourceArn=arn, Tags=twice)
    assert sm.list_tags(ResourceArn=arn)["Tags"] == before
    sm.add_tags(ResourceArn=arn, Tags=many[:48])  # 50 in all
    assert len(sm.list_tags(ResourceArn=arn, MaxResults=50)["Tags"]) == 50


def test_pipeline_limit_per_account_and_region(server_args):
    server = ServerProcess(server_args, ["--max-pipelines", "3", *ACCOUNTS_FLAG])
    server.start()
    try:
        sm = server.client()
        t = token()
        for i in range(3):
            sm.create_pipeline(PipelineName=f"lim-{i}", PipelineDefinition=simple(), RoleArn=ROLE,
                               ClientRequestToken=t if i == 2 else token())  # fmt: skip
        message = fails("ResourceLimitExceeded", sm.create_pipeline, PipelineName="lim-3",
                        PipelineDefinition=simple(), RoleArn=ROLE)  # fmt: skip
        assert "3" in message
        fails("ResourceNotFound", sm.describe_pipeline, PipelineName="lim-3")
        assert len(sm.list_pipelines()["PipelineSummaries"]) == 3
        # A replay of a recorded create is an answer, not a fourth pipeline.
        replay = sm.create_pipeline(PipelineName="lim-2", PipelineDefinition=simple(),
                                    RoleArn=ROLE, ClientRequestToken=t)  # fmt: skip
        assert replay["PipelineArn"] == arn_of("lim-2")
        # Other accounts and regions have their own allowance.
        server.client(access_key=KEY_A).create_pipeline(
            PipelineName="lim-3", PipelineDefinition=simple(), RoleArn=ROLE
        )
        server.client(region="eu-west-1").create_pipeline(
            PipelineName="lim-3", PipelineDefinition=simple(), RoleArn=ROLE
        )
        # Deleting one makes room again.
        sm.delete_pipeline(PipelineName="lim-0")
        sm.create_pipeline(PipelineName="lim-3", PipelineDefinition=simple(), RoleArn=ROLE)
        fails("ResourceLimitExceeded", sm.create_pipeline, PipelineName="lim-4",
              PipelineDefinition=simple(), RoleArn=ROLE)  # fmt: skip
    finally:
        server.stop()


# --- definition validation ---------------------------------------------------------------

_SYNTAX_ERROR = (
    '{\n  "Version": "2020-12-01",\n  "Steps": [\n    {"Name": "A",, "Type": "Fail"}\n  ]\n}'
)


def _syntax_position() -> str:
    try:
        json.loads(_SYNTAX_ERROR)
    except json.JSONDecodeError as error:
        return f"line {error.lineno}, column {error.colno}"
    raise AssertionError("the sample must not parse")


def fail_step(name: str, message: Any = "stop", **extra: Any) -> dict[str, Any]:
    return {"Name": name, "Type": "Fail", "Arguments": {"ErrorMessage": message}, **extra}


BAD_DEFINITIONS = {
    "syntax": (_SYNTAX_ERROR, [_syntax_position()]),
    "duplicate-step": (
        definition([fail_step("Twice"), processing("Twice")]),
        ["duplicate", "Twice"],
    ),
    "unknown-depends-on": (
        definition([processing("A", ["Ghost"])]),
        ["DependsOn", "Ghost"],
    ),
    "unknown-step-reference": (
        definition([fail_step("A", {"Get": "Steps.Phantom.ProcessingJobName"})]),
        ["Phantom"],
    ),
    "unknown-parameter": (
        definition([fail_step("A", {"Get": "Parameters.Undeclared"})]),
        ["Undeclared", "parameter"],
    ),
    "cycle": (
        definition([processing("A", ["B"]), processing("B", ["A"])]),
        ["cycle"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_DEFINITIONS))
def test_definition_errors_at_create_change_nothing(shared, name, case):
    sm = shared.client()
    text, phrases = BAD_DEFINITIONS[case]
    t = token()
    message = fails("ValidationException", sm.create_pipeline, PipelineName=name,
                    PipelineDefinition=text, RoleArn=ROLE, ClientRequestToken=t)  # fmt: skip
    for phrase in phrases:
        assert phrase.lower() in message.lower(), message
    fails("ResourceNotFound", sm.describe_pipeline, PipelineName=name)
    assert names_of([sm.list_pipelines(PipelineNamePrefix=name)]) == []
    # Neither the name nor the token was used up.
    sm.create_pipeline(PipelineName=name, PipelineDefinition=simple(), RoleArn=ROLE,
                       ClientRequestToken=t)  # fmt: skip
    assert sm.describe_pipeline(PipelineName=name)["PipelineDefinition"] == simple()

    # The same definition is refused by UpdatePipeline, which changes nothing either.
    message = fails("ValidationException", sm.update_pipeline, PipelineName=name,
                    PipelineDefinition=text, PipelineDescription="changed?")  # fmt: skip
    for phrase in phrases:
        assert phrase.lower() in message.lower(), message
    described = sm.describe_pipeline(PipelineName=name)
    assert described["PipelineDefinition"] == simple()
    assert "PipelineDescription" not in described
    assert described["LastModifiedTime"] == described["CreationTime"]
    assert versions_of(sm, name) == [1]


@pytest.fixture
def linguistic_db_args(backend, tmp_path) -> Any:
    """Database flags; on PostgreSQL a database whose default collation is linguistic
    (ICU en-US), as many installations have, rather than the test server's C collation."""
    if backend == "sqlite":
        yield ["--data-dir", str(tmp_path)]
        return
    import psycopg

    from tests.support.server import PG_URL

    db = "sagepipe_icu_" + uuid.uuid4().hex[:10]
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(
            f'CREATE DATABASE "{db}" TEMPLATE template0 LOCALE_PROVIDER icu '
            "ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
        )
    try:
        yield ["--db", PG_URL.rpartition("/")[0] + "/" + db]
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def test_name_order_is_the_same_on_every_backend(linguistic_db_args):
    """SortBy Name orders by code point (as SQLite does), whatever the database's collation."""
    server = ServerProcess(linguistic_db_args)
    server.start()
    try:
        sm = server.client()
        made = ["b-four", "B-one", "a-two", "C-three", "a1", "A-five"]
        for n in made:
            sm.create_pipeline(PipelineName=n, PipelineDefinition=simple(), RoleArn=ROLE)
        for order, expected in (("Ascending", sorted(made)), ("Descending", sorted(made)[::-1])):
            pages = sm.get_paginator("list_pipelines").paginate(
                SortBy="Name", SortOrder=order, PaginationConfig={"PageSize": 2}
            )
            assert names_of(pages) == expected, order
    finally:
        server.stop()


def test_concurrent_creates(server_args):
    """Racing requests: one pipeline per name, one effect per token, and the limit holds."""
    from concurrent.futures import ThreadPoolExecutor

    server = ServerProcess(server_args, ["--max-pipelines", "5"])
    server.start()
    try:
        clients = [server.client() for _ in range(8)]

        def race(requests: list[dict[str, Any]]) -> list[tuple[str, str]]:
            def one(i: int) -> tuple[str, str]:
                try:
                    return "ok", clients[i].create_pipeline(**requests[i])["PipelineArn"]
                except ClientError as error:
                    return error.response["Error"]["Code"], error.response["Error"]["Message"]

            with ThreadPoolExecutor(8) as pool:
                return list(pool.map(one, range(8)))

        base = {"PipelineDefinition": simple(), "RoleArn": ROLE}
        # The same token: every caller gets the one pipeline's ARN.
        same = {**base, "PipelineName": "same-token", "ClientRequestToken": token()}
        assert race([same] * 8) == [("ok", arn_of("same-token"))] * 8
        # Different tokens, one name: exactly one creates it, the others hear it exists.
        results = race([{**base, "PipelineName": "one-name"} for _ in range(8)])
        assert sorted(r[0] for r in results) == ["ValidationException"] * 7 + ["ok"]
        assert all("already exists" in m for code, m in results if code != "ok")
        # Distinct names against the limit (2 of 5 used): exactly 3 more fit.
        results = race([{**base, "PipelineName": f"n-{i}"} for i in range(8)])
        assert sorted(r[0] for r in results) == ["ResourceLimitExceeded"] * 5 + ["ok"] * 3
        assert len(server.client().list_pipelines()["PipelineSummaries"]) == 5
    finally:
        server.stop()


def test_delete_refused_while_an_execution_runs(shared, name):
    sm = shared.client()
    sm.create_pipeline(PipelineName=name, PipelineDefinition=simple("Slow"), RoleArn=ROLE)
    status, rules = shared.extension("GET", "/_sagepipe/faults")
    assert status == 200
    shared.set_faults([*rules["rules"], {"pipeline": name, "duration_seconds": 60}])
    try:
        execution = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
        message = fails("ConflictException", sm.delete_pipeline, PipelineName=name)
        assert name in message
        assert sm.describe_pipeline(PipelineName=name)["PipelineStatus"] == "Active"
        sm.stop_pipeline_execution(PipelineExecutionArn=execution)
        deadline = time.time() + 20
        while time.time() < deadline:
            described = sm.describe_pipeline_execution(PipelineExecutionArn=execution)
            if described["PipelineExecutionStatus"] not in ("Executing", "Stopping"):
                break
            time.sleep(0.05)
        assert described["PipelineExecutionStatus"] == "Stopped"
    finally:
        shared.set_faults(rules["rules"])
    sm.delete_pipeline(PipelineName=name)
    fails("ResourceNotFound", sm.describe_pipeline, PipelineName=name)
    # Its executions went with it.
    fails("ResourceNotFound", sm.describe_pipeline_execution, PipelineExecutionArn=execution)
