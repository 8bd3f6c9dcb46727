"""SendPipelineExecutionStepSuccess / Failure: answers to waiting Callback steps (docs/behaviour.md §6).

The answer is stored with the callback token; the execution's driver applies it. An unknown
or already-answered token is ResourceNotFound (a decision recorded in docs/behaviour.md §6)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sagepipe.domain.states import StepStatus
from sagepipe.errors import ResourceNotFound
from sagepipe.providers.context import RequestContext
from sagepipe.providers.idempotency import run_once
from sagepipe.store.db import Database, Tx

if TYPE_CHECKING:
    from sagepipe.engine.engine import Engine


class CallbacksProvider:
    def __init__(self, db: Database, engine: Engine) -> None:
        self.db = db
        self.engine = engine

    async def _answer(
        self, ctx: RequestContext, operation: str, token: str, client_token: str | None,
        status: StepStatus, result: dict[str, Any],
    ) -> dict[str, Any]:  # fmt: skip
        def effect(tx: Tx) -> dict[str, Any]:
            row = tx.one("callback_get", token=token, account=ctx.account, region=ctx.region)
            # A callback is Waiting until answered, then holds the step status it asks for.
            if row is None or row["status"] != "Waiting":
                raise ResourceNotFound(
                    f"Callback token '{token}' does not exist or was already used: a token "
                    "answers one attempt of a Callback step once."
                )
            tx.exec("callback_answer", token=token, status=status, result=json.dumps(result))
            return {"PipelineExecutionArn": row["execution_arn"]}

        response = await run_once(self.db, ctx, operation, client_token, effect)
        self.engine.notify(response["PipelineExecutionArn"])
        return response

    async def send_pipeline_execution_step_success(
        self,
        ctx: RequestContext,
        callback_token: str,
        output_parameters: list[dict[str, str]] | None = None,
        client_request_token: str | None = None,
    ) -> dict[str, Any]:
        return await self._answer(
            ctx, "SendPipelineExecutionStepSuccess", callback_token, client_request_token,
            StepStatus.SUCCEEDED, {"OutputParameters": output_parameters or []},
        )  # fmt: skip

    async def send_pipeline_execution_step_failure(
        self,
        ctx: RequestContext,
        callback_token: str,
        failure_reason: str | None = None,
        client_request_token: str | None = None,
    ) -> dict[str, Any]:
        return await self._answer(
            ctx, "SendPipelineExecutionStepFailure", callback_token, client_request_token,
            StepStatus.FAILED, {"FailureReason": failure_reason or "Callback step failed."},
        )  # fmt: skip
