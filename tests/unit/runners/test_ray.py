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
