"""Job logs on CloudWatch Logs' wire protocol (docs/behaviour.md §13): boto3's `logs` client
and the AWS CLI against the server, for the jobs a pipeline made (the simulate runner's short
log here; tests/local reads a real job's output the same way)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.pipelines import create, steps_by_name
from tests.support.server import ServerProcess
from tests.support.steps import start, training, wait_done

GROUP = "/aws/sagemaker/TrainingJobs"


def logs_client(server: ServerProcess) -> Any:
    """boto3's logs client, its own checks off: the server's are what is tested."""
    return boto3.client("logs", endpoint_url=server.url, region_name="us-east-1",
                        aws_access_key_id="AKIDTEST", aws_secret_access_key="secret",
                        config=Config(parameter_validation=False))  # fmt: skip


def trained_job(server: ServerProcess, name: str) -> str:
    sm = server.client()
    create(sm, name, [training("Train", "s3://bucket/in")])
    arn = start(sm, name)
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    return str(steps_by_name(sm, arn)["Train"]["Metadata"]["TrainingJob"]["Arn"].rsplit("/", 1)[1])


def test_a_jobs_stream_is_found_by_its_name_and_read_as_the_sdk_tails_it(
    server: ServerProcess, name: str
) -> None:
    job = trained_job(server, name)
    logs = logs_client(server)
    streams = logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix=job + "/")
    [stream] = streams["logStreams"]
    assert stream["logStreamName"].lower().startswith(job + "/algo-1-")
    first = logs.get_log_events(logGroupName=GROUP, logStreamName=stream["logStreamName"],
                                startFromHead=True)  # fmt: skip
    messages = [e["message"] for e in first["events"]]
    assert any("started; planned outcome Succeeded" in m for m in messages), messages
    # At the end the forward token stops advancing and no events come: a tailer waits there.
    again = logs.get_log_events(logGroupName=GROUP, logStreamName=stream["logStreamName"],
                                nextToken=first["nextForwardToken"])  # fmt: skip
    assert again["events"] == [] and again["nextForwardToken"] == first["nextForwardToken"]
    filtered = logs.filter_log_events(logGroupName=GROUP, filterPattern="planned")
    assert [e["logStreamName"] for e in filtered["events"]] == [stream["logStreamName"]]
    assert logs.filter_log_events(logGroupName=GROUP, filterPattern="nothing-says-this")[
        "events"] == []  # fmt: skip


def test_unknown_groups_streams_and_bad_tokens_are_logs_errors(
    server: ServerProcess, name: str
) -> None:
    job = trained_job(server, name)
    logs = logs_client(server)
    stream = logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix=job)[
        "logStreams"][0]["logStreamName"]  # fmt: skip
    for call, kwargs, code in [
        (logs.get_log_events, {"logGroupName": "/aws/lambda/x", "logStreamName": "s"},
         "ResourceNotFoundException"),
        (logs.get_log_events, {"logGroupName": GROUP, "logStreamName": f"{job}/algo-1-1"},
         "ResourceNotFoundException"),
        (logs.get_log_events, {"logGroupName": GROUP, "logStreamName": "no-such-job/algo-1-1"},
         "ResourceNotFoundException"),
        (logs.describe_log_streams, {"logGroupName": GROUP, "nextToken": "garbage"},
         "InvalidParameterException"),
        (logs.describe_log_streams, {"logGroupName": GROUP, "nextToken": "s/99999999999999999999"},
         "InvalidParameterException"),
        (logs.get_log_events, {"logGroupName": GROUP, "logStreamName": stream,
                               "nextToken": "f/\u00b2"}, "InvalidParameterException"),
        (logs.get_log_events, {"logGroupName": GROUP, "logStreamName": "s", "limit": 0},
         "InvalidParameterException"),
    ]:  # fmt: skip
        with pytest.raises(ClientError) as error:
            call(**kwargs)
        assert error.value.response["Error"]["Code"] == code, (kwargs, error.value.response)


def test_the_aws_cli_reads_a_jobs_log(server: ServerProcess, name: str) -> None:
    job = trained_job(server, name)
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDTEST", AWS_SECRET_ACCESS_KEY="secret",
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=os.devnull)  # fmt: skip
    aws = [os.path.join(os.path.dirname(sys.executable), "aws"), "logs",
           "--endpoint-url", server.url, "--output", "json"]  # fmt: skip
    done = subprocess.run([*aws, "describe-log-streams", "--log-group-name", GROUP,
                           "--log-stream-name-prefix", job], capture_output=True, text=True,
                          env=env, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    stream = json.loads(done.stdout)["logStreams"][0]["logStreamName"]
    done = subprocess.run([*aws, "get-log-events", "--log-group-name", GROUP, "--log-stream-name",
                           stream, "--start-from-head"], capture_output=True, text=True, env=env,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "planned outcome Succeeded" in done.stdout
