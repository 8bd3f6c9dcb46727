"""The ray runner's pure parts: what a job asks Ray for, and how its result is read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sagepipe.runners.contracts.plan import ContractError
from sagepipe.runners.ray.resources import InstanceTypes, InstanceTypesError
from sagepipe.runners.ray.runner import RayRunner, _instances, _result, _without_result
from sagepipe.runners.ray.worker import RESULT_MARKER, encode_spec


def test_the_shipped_table_gives_cpus_and_gpus_per_instance() -> None:
    types = InstanceTypes.load()
    assert types.request("ml.m5.xlarge") == {"entrypoint_num_cpus": 4}
    assert types.request("ml.g5.12xlarge") == {"entrypoint_num_cpus": 48, "entrypoint_num_gpus": 4}
    assert InstanceTypes.load(max_cpus=1).request("ml.m5.xlarge") == {"entrypoint_num_cpus": 1}
    with pytest.raises(ContractError, match="--ray-instance-types"):
        types.request("ml.weird.huge")


def test_an_overrides_file_changes_and_adds_types(tmp_path: Path) -> None:
    path = tmp_path / "types.json"
    path.write_text(json.dumps({"instance_types": {
        "ml.m5.xlarge": {"cpus": 2, "memory_gb": 1, "resource": "m5"},
        "ml.custom.big": {"cpus": 8, "gpus": 1}}}))  # fmt: skip
    types = InstanceTypes.load(str(path))
    assert types.request("ml.m5.xlarge") == {
        "entrypoint_num_cpus": 2, "entrypoint_memory": 1024**3,
        "entrypoint_resources": {"m5": 1}}  # fmt: skip
    assert types.request("ml.custom.big") == {"entrypoint_num_cpus": 8, "entrypoint_num_gpus": 1}
    path.write_text(json.dumps({"instance_types": {"ml.bad": {"gpus": 1}}}))
    with pytest.raises(InstanceTypesError, match="'ml.bad' needs cpus"):
        InstanceTypes.load(str(path))


def test_each_step_type_names_its_instances() -> None:
    cluster = {"ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.c5.xlarge",
                                                         "InstanceCount": 2}}}  # fmt: skip
    assert _instances("Processing", cluster) == ("ml.c5.xlarge", 2)
    assert _instances("Training", {"ResourceConfig": {"InstanceType": "ml.p3.2xlarge"}}) == (
        "ml.p3.2xlarge", 1)  # fmt: skip
    assert _instances("Transform", {}) == ("", 1)
    assert _instances("Training", {"ResourceConfig": {"InstanceCount": "many"}}) == ("", 1)
    assert _instances("Training", {"ResourceConfig": "not an object"}) == ("", 1)


def test_each_instance_is_a_ray_job_of_its_own_named_after_the_job() -> None:
    from sagepipe.runners.port import JobRequest
    from sagepipe.runners.ray.runner import _ids

    def prepared(count: int) -> dict[str, object]:
        arguments = {"ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": count}}
        job = {"name": "pipelines-abc-Train", "arguments": arguments}
        runner = RayRunner.__new__(RayRunner)
        return runner.prepare(JobRequest("p", "Train", "Training", 1, job))

    assert prepared(1)["submissions"] == ["pipelines-abc-Train"]
    assert prepared(3)["submissions"] == [f"pipelines-abc-Train-algo-{i}" for i in (1, 2, 3)]
    assert _ids({"submission_id": "stored-before"}) == ["stored-before"]


def test_the_hosts_file_names_the_nodes_the_instances_run_on() -> None:
    from sagepipe.runners.jobspec import hosts_file

    text = hosts_file(3, {1: "10.0.0.5", 2: "10.0.0.7", 3: "10.0.0.5"})
    assert "10.0.0.5 algo-1 algo-3\n" in text and "10.0.0.7 algo-2\n" in text
    assert hosts_file(2).endswith("127.0.0.1 algo-1 algo-2\n")


def test_the_result_is_the_last_marked_line_and_stays_out_of_the_log() -> None:
    log = f'hello\n{RESULT_MARKER}{{"status": "Failed"}}\nworld\n{RESULT_MARKER}{{"status": "Succeeded"}}\n'
    assert _result(log) == {"status": "Succeeded"}
    assert _without_result(log) == "hello\nworld"
    assert _result("no result here") is None and _result(f"{RESULT_MARKER}not json") is None
    assert len(encode_spec({"plan": "x" * 10_000})) < 200  # compressed on the command line


def test_the_ray_runner_says_what_is_missing_before_the_server_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    from sagepipe.app import StartupError, ray_runner
    from sagepipe.config import Config

    config = Config(data_dir=str(tmp_path), runner="ray")
    with pytest.raises(StartupError, match="needs --ray-address"):
        ray_runner(config, None)
    config.ray_address = "http://127.0.0.1:8265"
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ray" else real(name, *a))  # fmt: skip
    with pytest.raises(StartupError, match=r"pip install 'sagepipe\[ray\]'"):
        ray_runner(config, None)
    config.ray_instance_types = str(tmp_path / "missing.json")
    monkeypatch.setattr(importlib.util, "find_spec", real)
    with pytest.raises(StartupError, match="--ray-instance-types"):
        ray_runner(config, None)


def test_a_jobs_outcome_is_its_first_failure_then_a_stop_then_algo_1s_success() -> None:
    from sagepipe.runners.port import FAILED, STOPPED, SUCCEEDED, Outcome
    from sagepipe.runners.ray.runner import _job_outcome

    ok1, ok2 = Outcome(SUCCEEDED, properties={"n": 1}), Outcome(SUCCEEDED, properties={"n": 2})
    failed, stopped = Outcome(FAILED, "algo-2 failed"), Outcome(STOPPED)
    # An instance stopped because another failed does not make the step look stopped.
    assert _job_outcome([stopped, failed]) is failed
    assert _job_outcome([ok1, stopped]) is stopped
    assert _job_outcome([ok1, ok2]) is ok1


class KnownJobs:
    """Ray's answers about submission ids (the Jobs SDK raises RuntimeError for unknown ones)."""

    def __init__(self, known: set[str]) -> None:
        self.known = known
        self.submitted: list[str] = []

    def get_job_info(self, submission: str) -> object:
        if submission not in self.known:
            raise RuntimeError(f"Job {submission} does not exist")
        return object()

    def submit_job(self, **request: object) -> str:
        if request["submission_id"] in self.known:
            raise RuntimeError("Job with submission_id ... already exists")
        self.submitted.append(str(request["submission_id"]))
        return str(request["submission_id"])


def test_attach_finds_known_jobs_submits_missing_instances_and_loses_forgotten_ones(
    tmp_path: Path,
) -> None:
    import asyncio

    from sagepipe.objectstore.store import StoreConfig
    from sagepipe.runners.local.images import ImageMap

    def runner(jobs: KnownJobs) -> RayRunner:
        return RayRunner("http://127.0.0.1:1", ImageMap(), StoreConfig("http://127.0.0.1:2"),
                         InstanceTypes.load(), client=jobs)  # fmt: skip

    arguments = {
        "AppSpecification": {"ImageUri": "python:3", "ContainerEntrypoint": ["python3", "x.py"]},
        "ProcessingResources": {"ClusterConfig": {
            "InstanceCount": 2, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 1}},
        "RoleArn": "arn:aws:iam::123456789012:role/R"}  # fmt: skip
    job = {"name": "j", "arn": "arn:aws:sagemaker:us-east-1:123456789012:processing-job/j",
           "step_type": "Processing", "arguments": arguments, "started": 0.0,
           "submission_id": "j", "submissions": ["j-algo-1", "j-algo-2"]}  # fmt: skip
    half = KnownJobs({"j-algo-1"})  # the server went away between the two submissions
    assert asyncio.run(runner(half).attach(job)) is True
    assert half.submitted == ["j-algo-2"]
    both = KnownJobs({"j-algo-1", "j-algo-2"})
    assert asyncio.run(runner(both).attach(job)) is True and both.submitted == []
    forgotten = KnownJobs(set())  # never submitted, or a head that restarted forgot them
    assert asyncio.run(runner(forgotten).attach(job)) is False and forgotten.submitted == []
