"""A start whose drawn execution id is already taken draws another (arns.new_execution_id has
five random characters per millisecond, so a busy server can draw the same id twice)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from sagepipe import app
from sagepipe.config import Config
from sagepipe.domain import arns
from sagepipe.providers.context import RequestContext

DEFINITION = json.dumps(
    {"Version": "2020-12-01", "Steps": [{"Name": "Fails", "Type": "Fail", "Arguments": {}}]}
)


def _config(args: list[str]) -> Config:
    flag, value = args
    if flag == "--db":
        return Config(db=value, runner="simulate")
    return Config(data_dir=value, runner="simulate")


async def _two_starts(service: app.Service) -> list[str]:
    await service.start()
    try:
        create = service.app.operations["CreatePipeline"]
        start = service.app.operations["StartPipelineExecution"]
        ctx = RequestContext(account="123456789012", region="us-east-1")
        await create(
            ctx, pipeline_name="ids", pipeline_definition=DEFINITION,
            role_arn="arn:aws:iam::123456789012:role/R", client_request_token="create-ids",
        )  # fmt: skip
        started = []
        for token in ("first", "second"):
            ctx = RequestContext(account="123456789012", region="us-east-1")
            result = await start(ctx, pipeline_name="ids", client_request_token=token)
            started.append(result["PipelineExecutionArn"])
        return started
    finally:
        await service.stop()


@pytest.fixture
def service(server_args: list[str]) -> Iterator[app.Service]:
    config = _config(server_args)
    app.data_dir_ready(config)
    yield app.build(config)


def test_a_drawn_id_that_is_taken_is_drawn_again(
    service: app.Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    draws = iter(["aaaaaaaaaaaa", "aaaaaaaaaaaa", "bbbbbbbbbbbb"])
    monkeypatch.setattr(arns, "new_execution_id", lambda now: next(draws))
    first, second = asyncio.run(_two_starts(service))
    assert first.endswith("/execution/aaaaaaaaaaaa")
    assert second.endswith("/execution/bbbbbbbbbbbb")
