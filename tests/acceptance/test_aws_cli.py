# Fixtures are imported from tests/support/shared.py; their parameters shadow the imports.
# ruff: noqa: F811
"""The real AWS CLI (v1) against sagepipe: pipelines, versions, tags, pagination and errors,
on both backends. Each command is a subprocess with only environment credentials."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support.pipelines import ROLE, definition, processing
from tests.support.server import ServerProcess
from tests.support.shared import fresh_region, server_pool, shared  # noqa: F401  (fixtures)


class Cli:
    def __init__(self, server: ServerProcess, region: str, home: Path) -> None:
        self.server = server
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "AWS_ACCESS_KEY_ID": "AKIDCLI",
            "AWS_SECRET_ACCESS_KEY": "secret",
            "AWS_DEFAULT_REGION": region,
            "AWS_CONFIG_FILE": str(home / "no-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-credentials"),
            "AWS_MAX_ATTEMPTS": "1",
        }

    def start(self, *args: str) -> subprocess.Popen[str]:
        command = [sys.executable, "-m", "awscli", "sagemaker", *args,
                   "--endpoint-url", self.server.url, "--output", "json"]  # fmt: skip
        return subprocess.Popen(
            command, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        process = self.start(*args)
        stdout, stderr = process.communicate(timeout=60)
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

    @staticmethod
    def _output(args: tuple[str, ...], done: subprocess.CompletedProcess[str]) -> Any:
        assert done.returncode == 0, (args, done.stderr)
        return json.loads(done.stdout) if done.stdout.strip() else {}

    def __call__(self, *args: str) -> Any:
        return self._output(args, self.run(*args))

    def _all(self, commands: tuple[tuple[str, ...], ...]) -> list[tuple[tuple[str, ...], Any]]:
        """Run independent commands at once (the CLI's start-up dominates a call)."""
        running = [(args, self.start(*args)) for args in commands]
        finished = []
        for args, process in running:
            stdout, stderr = process.communicate(timeout=60)
            done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
            finished.append((args, done))
        return finished

    def parallel(self, *commands: tuple[str, ...]) -> list[Any]:
        return [self._output(args, done) for args, done in self._all(commands)]

    def fails(self, *args: str) -> str:
        return self._error(args, self.run(*args))

    @staticmethod
    def _error(args: tuple[str, ...], done: subprocess.CompletedProcess[str]) -> str:
        assert done.returncode != 0, (args, done.stdout)
        assert not done.stdout.strip()
        return done.stderr

    def fails_in_parallel(self, *commands: tuple[str, ...]) -> list[str]:
        return [self._error(args, done) for args, done in self._all(commands)]


@pytest.fixture
def cli(shared, fresh_region, tmp_path) -> Cli:
    return Cli(shared, fresh_region, tmp_path)


def write(path: Path, steps: list[str]) -> str:
    path.write_text(definition([processing(s) for s in steps]))
    return "file://" + str(path)


def test_pipeline_lifecycle_through_the_cli(cli, tmp_path, fresh_region):
    name = "cli-" + uuid.uuid4().hex[:8]
    first = write(tmp_path / "v1.json", ["A"])
    arn = cli("create-pipeline", "--pipeline-name", name, "--pipeline-definition", first,
              "--role-arn", ROLE, "--pipeline-description", "from the CLI",
              "--tags", "Key=team,Value=ml", "Key=stage,Value=dev")["PipelineArn"]  # fmt: skip
    assert arn == f"arn:aws:sagemaker:{fresh_region}:123456789012:pipeline/{name}"

    updated = cli("update-pipeline", "--pipeline-name", name,
                  "--pipeline-definition", write(tmp_path / "v2.json", ["A", "B"]))  # fmt: skip
    assert updated == {"PipelineArn": arn, "PipelineVersionId": 2}
    current, old, versions, tags = cli.parallel(
        ("describe-pipeline", "--pipeline-name", arn),
        ("describe-pipeline", "--pipeline-name", name, "--pipeline-version-id", "1"),
        ("list-pipeline-versions", "--pipeline-name", name),
        ("list-tags", "--resource-arn", arn),
    )
    assert current["PipelineDefinition"] == (tmp_path / "v2.json").read_text()
    assert current["PipelineStatus"] == "Active"
    assert current["PipelineDescription"] == "from the CLI"
    assert current["RoleArn"] == ROLE
    assert old["PipelineDefinition"] == (tmp_path / "v1.json").read_text()
    assert [v["PipelineVersionId"] for v in versions["PipelineVersionSummaries"]] == [2, 1]
    assert {t["Key"]: t["Value"] for t in tags["Tags"]} == {"team": "ml", "stage": "dev"}

    added, deleted = cli.parallel(
        ("add-tags", "--resource-arn", arn, "--tags", "Key=owner,Value=me"),
        ("delete-tags", "--resource-arn", arn, "--tag-keys", "stage"),
    )
    assert added["Tags"] == [{"Key": "owner", "Value": "me"}]
    assert deleted == {}
    tags = cli("list-tags", "--resource-arn", arn)["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == {"team": "ml", "owner": "me"}

    assert cli("delete-pipeline", "--pipeline-name", name) == {"PipelineArn": arn}
    stderr = cli.fails("describe-pipeline", "--pipeline-name", name)
    assert "ResourceNotFound" in stderr and name in stderr


def test_list_pipelines_pagination_through_the_cli(cli, shared, fresh_region):
    sm = shared.client(access_key="AKIDCLI", region=fresh_region)
    names = [f"page-{i}" for i in range(5)]
    for n in names:
        sm.create_pipeline(PipelineName=n, PipelineDefinition=definition([processing("A")]),
                           RoleArn=ROLE)  # fmt: skip

    # --page-size: the CLI makes several calls of 2 and prints everything.
    everything, prefixed = cli.parallel(
        ("list-pipelines", "--sort-by", "Name", "--sort-order", "Ascending", "--page-size", "2"),
        ("list-pipelines", "--pipeline-name-prefix", "page-3"),
    )
    assert [s["PipelineName"] for s in everything["PipelineSummaries"]] == names
    assert [s["PipelineName"] for s in prefixed["PipelineSummaries"]] == ["page-3"]

    # --max-items: a page of 2 and a token to continue with; all seen once.
    seen, starting = [], []
    while True:
        page = cli("list-pipelines", "--sort-by", "Name", "--sort-order", "Ascending",
                   "--max-items", "2", "--page-size", "2", *starting)  # fmt: skip
        seen += [s["PipelineName"] for s in page["PipelineSummaries"]]
        if "NextToken" not in page:
            break
        assert len(page["PipelineSummaries"]) == 2
        starting = ["--starting-token", page["NextToken"]]
    assert seen == names


def test_cli_shows_service_errors_and_exits_non_zero(cli, tmp_path):
    name = "cli-err-" + uuid.uuid4().hex[:8]
    broken = tmp_path / "broken.json"
    broken.write_text('{"Version": "2020-12-01",\n "Steps": [}')
    good = write(tmp_path / "good.json", ["A"])
    create = ("create-pipeline", "--pipeline-name", name, "--role-arn", ROLE)
    invalid, bad_name = cli.fails_in_parallel(
        (*create, "--pipeline-definition", "file://" + str(broken)),
        # A constraint botocore does not check itself (the pattern): the service does.
        ("describe-pipeline", "--pipeline-name", "bad name!"),
    )
    assert "ValidationException" in invalid
    assert "line 2, column" in invalid  # the service's message, printed by the CLI
    assert "ValidationException" in bad_name
    assert "at 'pipelineName' failed to satisfy constraint" in bad_name

    cli(*create, "--pipeline-definition", good)
    stderr = cli.fails(*create, "--pipeline-definition", good)
    assert "ValidationException" in stderr
    assert f"Pipeline with name ({name}) already exists." in stderr
