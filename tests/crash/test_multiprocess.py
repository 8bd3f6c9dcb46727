"""Several server processes on one PostgreSQL database: any of them answers any request, each
running execution is driven by exactly one of them, and when its driver dies (SIGKILL) or
stalls (SIGSTOP) another takes it over; the stalled one, resumed, cannot write."""

import json
import os
import signal
import time

import pytest

from tests.support.pipelines import create, processing, steps_by_name, wait_status
from tests.support.server import ServerProcess, fresh_pg_database, require_pg

LEASE = 1.0


@pytest.fixture
def cluster(tmp_path):
    require_pg()
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps({"rules": [{"duration_seconds": 1.5}]}))
    with fresh_pg_database() as url:
        servers = [
            ServerProcess(["--db", url, "--lease-seconds", str(LEASE), "--faults", str(faults)])
            for _ in range(3)
        ]
        for server in servers:
            server.start()
        try:
            yield servers
        finally:
            for server in servers:
                if server.proc and server.proc.poll() is None:
                    os.kill(server.proc.pid, signal.SIGCONT)
                server.stop()


def owner_of(servers, arn):
    """The server currently driving `arn`, by its health report."""
    for server in servers:
        if server.proc.poll() is None:
            status, health = server.extension("GET", "/_sagepipe/health")
            if arn in health["driving"]:
                return server
    return None


def wait_owner(servers, arn, exclude=None, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        owner = owner_of([s for s in servers if s is not exclude], arn)
        if owner is not None:
            return owner, time.time()
        time.sleep(0.05)
    raise AssertionError(f"nobody took over {arn}")


def test_any_server_answers_and_one_drives_each_execution(cluster, name):
    a, b, c = cluster
    create(a.client(), name, [processing("S1"), processing("S2", ["S1"])])
    arns = [
        srv.client().start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
        for srv in cluster
    ]
    for arn in arns:
        statuses = {
            srv.client().describe_pipeline_execution(PipelineExecutionArn=arn)[
                "PipelineExecutionStatus"
            ]
            for srv in cluster
        }
        assert statuses == {"Executing"}
        drivers = [
            srv for srv in cluster if arn in srv.extension("GET", "/_sagepipe/health")[1]["driving"]
        ]
        assert len(drivers) == 1
    for arn in arns:
        assert wait_status(c.client(), arn)["PipelineExecutionStatus"] == "Succeeded"


def test_a_killed_owner_is_replaced_and_no_job_restarts(cluster, name):
    sm = cluster[0].client()
    create(sm, name, [processing("S1"), processing("S2", ["S1"]), processing("S3", ["S2"])])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    owner = owner_of(cluster, arn)
    time.sleep(0.5)  # S1 is running
    before = steps_by_name(sm, arn)["S1"]
    owner.kill()
    killed_at = time.time()
    survivor, took_over_at = wait_owner(cluster, arn, exclude=owner)
    assert took_over_at - killed_at < LEASE + 3
    final = wait_status(survivor.client(), arn)
    assert final["PipelineExecutionStatus"] == "Succeeded"
    steps = steps_by_name(survivor.client(), arn)
    assert all(s["AttemptCount"] == 1 for s in steps.values())
    assert steps["S1"]["Metadata"] == before["Metadata"]  # the same job, re-attached
    assert steps["S1"]["StartTime"] == before["StartTime"]


def test_a_stalled_owner_cannot_write_after_takeover(cluster, name):
    sm = cluster[0].client()
    create(sm, name, [processing("S1"), processing("S2", ["S1"]), processing("S3", ["S2"])])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    owner = owner_of(cluster, arn)
    survivor = next(s for s in cluster if s is not owner)
    os.kill(owner.proc.pid, signal.SIGSTOP)
    try:
        # It can only end while its owner is frozen if another server took it over.
        final = wait_status(survivor.client(), arn, timeout=30)
    finally:
        os.kill(owner.proc.pid, signal.SIGCONT)
    assert final["PipelineExecutionStatus"] == "Succeeded"
    time.sleep(2 * LEASE)  # give the resumed process every chance to write something stale
    steps = steps_by_name(survivor.client(), arn)
    assert all(s["AttemptCount"] == 1 and s["StepStatus"] == "Succeeded" for s in steps.values())
    status, history = survivor.extension(
        "GET", f"/_sagepipe/executions/{arn.rsplit('/', 1)[1]}/attempts"
    )
    assert [(a["step"], a["attempt"]) for a in history["attempts"]] == [
        ("S1", 1),
        ("S2", 1),
        ("S3", 1),
    ]
    after = survivor.client().describe_pipeline_execution(PipelineExecutionArn=arn)
    assert after["PipelineExecutionStatus"] == "Succeeded"
    assert after["LastModifiedTime"] == final["LastModifiedTime"]
    assert arn not in owner.extension("GET", "/_sagepipe/health")[1]["driving"]
