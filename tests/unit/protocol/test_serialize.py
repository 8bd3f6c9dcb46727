"""Response serialization shaped by the botocore output model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from sagepipe.errors import UnknownOperation
from sagepipe.protocol.model import service_model
from sagepipe.protocol.serialize import serialize_output

ARN = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/p"


def test_drops_none_and_unknown_members() -> None:
    out = serialize_output(
        "DescribePipelineExecution",
        {
            "PipelineArn": ARN,
            "PipelineExecutionStatus": "Executing",
            "FailureReason": None,
            "internal_row_id": 42,
            "CreatedBy": {"UserProfileName": "me", "DomainId": None, "password": "x"},
            "PipelineVersionId": 3,
        },
    )
    assert out == {
        "PipelineArn": ARN,
        "PipelineExecutionStatus": "Executing",
        "CreatedBy": {"UserProfileName": "me"},
        "PipelineVersionId": 3,
    }


def test_datetimes_become_epoch_seconds_with_milliseconds() -> None:
    aware = datetime(2024, 11, 24, 15, 0, 0, 123987, tzinfo=UTC)
    out = serialize_output(
        "DescribePipelineExecution",
        {
            "CreationTime": aware,
            "LastModifiedTime": datetime(
                2024, 11, 24, 16, 0, 0, 123000, tzinfo=timezone(timedelta(hours=1))
            ),
        },
    )
    assert out == {"CreationTime": 1732460400.123, "LastModifiedTime": 1732460400.123}
    assert isinstance(out["CreationTime"], float)


def test_naive_datetime_is_utc_and_epoch_floats_pass_through() -> None:
    out = serialize_output(
        "DescribePipeline",
        {"CreationTime": datetime(2024, 11, 24, 15, 0, 0), "LastModifiedTime": 1732460400.5},
    )
    assert out == {"CreationTime": 1732460400.0, "LastModifiedTime": 1732460400.5}


def test_lists_of_structures() -> None:
    out = serialize_output(
        "ListPipelines",
        {
            "PipelineSummaries": [
                {"PipelineName": "a", "CreationTime": datetime(2024, 1, 1, tzinfo=UTC), "x": 1},
                None,
                {"PipelineName": "b", "PipelineDescription": None},
            ],
            "NextToken": None,
        },
    )
    assert out == {
        "PipelineSummaries": [
            {"PipelineName": "a", "CreationTime": 1704067200.0},
            {"PipelineName": "b"},
        ]
    }


def test_maps_drop_none_values() -> None:
    out = serialize_output("DescribeTrainingJob", {"HyperParameters": {"a": "1", "b": None}})
    assert out == {"HyperParameters": {"a": "1"}}


def test_empty_result() -> None:
    assert serialize_output("DeletePipeline", {}) == {}


def test_unknown_operation() -> None:
    with pytest.raises(UnknownOperation):
        serialize_output("NoSuchOperation", {})


def test_every_operation_of_the_model_builds_a_serializer() -> None:
    for name in service_model().operation_names:
        assert serialize_output(name, {"NotAMember": 1}) == {}
