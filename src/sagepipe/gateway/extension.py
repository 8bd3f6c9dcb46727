"""The non-AWS extension API under /_sagepipe/ (docs/behaviour.md §9)."""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any

from sagepipe import __version__
from sagepipe.engine.engine import Engine
from sagepipe.errors import (
    ResourceNotFound,
    SerializationError,
    UnknownOperation,
    ValidationError,
)
from sagepipe.gateway.awsjson import Request, Response
from sagepipe.gateway.sigv4 import DEFAULT_ACCOUNT, DEFAULT_REGION
from sagepipe.providers.console import ConsoleProvider
from sagepipe.providers.history import HistoryProvider
from sagepipe.providers.retry import RetryProvider
from sagepipe.runners.faults import SharedFaultRules, parse_rules

_EXECUTION_ROUTE = re.compile(
    r"/_sagepipe/executions/(?P<id>[a-z0-9]{1,64})/(?P<what>attempts|retry-plan)"
)
_LOGS_ROUTE = re.compile(
    r"/_sagepipe/executions/(?P<id>[a-z0-9]{1,64})/steps/(?P<step>[A-Za-z0-9_-]{1,64})/logs"
)
# The console's reads (docs/behaviour.md §15).
_CONSOLE_EXECUTIONS = re.compile(
    r"/_sagepipe/console/pipelines/(?P<name>[A-Za-z0-9-]{1,256})/executions"
)
_CONSOLE_EXECUTION = re.compile(
    r"/_sagepipe/console/executions/(?P<id>[a-z0-9]{1,64})"
    r"(?:/(?P<graph>graph)|/steps/(?P<step>[A-Za-z0-9_-]{1,64}))?"
)


class ExtensionApi:
    def __init__(
        self,
        faults: SharedFaultRules,
        history: HistoryProvider,
        retry: RetryProvider,
        engine: Engine,
        console: ConsoleProvider,
        private: bool = False,
    ) -> None:
        self.engine = engine
        self.console = console
        self.faults = faults
        self.history = history
        self.retry = retry
        self.private = private  # under --credentials: health says status and version only

    async def __call__(self, request: Request) -> Response:
        path, method = request.path.rstrip("/"), request.method
        if path == "/_sagepipe/health" and method == "GET":
            health: dict[str, Any] = {"status": "ok", "version": __version__}
            if not self.private:
                health.update(server=self.engine.owner, driving=sorted(self.engine.drivers))
            return Response(200, health)
        if path == "/_sagepipe/faults":
            return await self._faults(request)
        match = _EXECUTION_ROUTE.fullmatch(path)
        if match and method == "GET":
            found: dict[str, Any] | None = None
            if not await self._mine(request, match["id"]):
                pass  # another account's execution answers as one that does not exist
            elif match["what"] == "attempts":
                found = await self.history.attempts(match["id"])
            else:
                found = await self.retry.plan(match["id"])
            if found is None:
                raise ResourceNotFound(
                    f"Pipeline execution with id '{match['id']}' does not exist."
                )
            return Response(200, found)
        match = _LOGS_ROUTE.fullmatch(path)
        if match and method == "GET":
            mine = await self._mine(request, match["id"])
            return await self._logs(match["id"], match["step"], request.query, mine)
        if path.startswith("/_sagepipe/console/") and method == "GET":
            return await self._console(request, path)
        raise UnknownOperation(
            f"{method} {request.path} is not a sagepipe extension route. Routes: GET "
            "/_sagepipe/health, PUT|GET|DELETE /_sagepipe/faults, GET "
            "/_sagepipe/executions/<id>/attempts, GET /_sagepipe/executions/<id>/retry-plan, "
            "GET /_sagepipe/executions/<id>/steps/<step>/logs[?attempt=N], and the console's "
            "GET /_sagepipe/console/... reads."
        )

    async def _console(self, request: Request, path: str) -> Response:
        caller = request.caller
        account = caller.account if caller else DEFAULT_ACCOUNT
        region = caller.region if caller else DEFAULT_REGION
        query = {
            k: v[-1] for k, v in urllib.parse.parse_qs(request.query.decode("latin-1")).items()
        }
        found: dict[str, Any] | None = None
        if path == "/_sagepipe/console/pipelines":
            found = await self.console.pipelines(account, region, query.get("after"))
        elif match := _CONSOLE_EXECUTIONS.fullmatch(path):
            found = await self.console.executions(
                account, region, match["name"], query.get("status") or None, query.get("next")
            )
            if found is None:
                raise ResourceNotFound(f"Pipeline '{match['name']}' does not exist.")
        elif match := _CONSOLE_EXECUTION.fullmatch(path):
            if await self._mine(request, match["id"]):
                if match["graph"]:
                    found = await self.console.graph(match["id"])
                elif match["step"]:
                    found = await self.console.step(match["id"], match["step"])
                else:
                    found = await self.console.execution(match["id"])
            if found is None:
                raise ResourceNotFound(
                    f"Pipeline execution with id '{match['id']}' does not exist."
                )
        else:
            raise UnknownOperation(f"GET {request.path} is not a console route.")
        return Response(200, found)

    async def _mine(self, request: Request, execution_id: str) -> bool:
        """Whether the verified caller (under --credentials) may see the execution; open
        servers show every execution."""
        if request.caller is None:
            return True
        return await self.history.execution_account(execution_id) == request.caller.account

    async def _logs(self, execution_id: str, step: str, query: bytes, mine: bool) -> Response:
        """docs/behaviour.md §11.5: the step's attempt's stdout and stderr."""
        values = urllib.parse.parse_qs(query.decode("latin-1"))
        attempt = None
        if "attempt" in values:
            text = values["attempt"][-1]
            if not text.isdigit() or not 0 < int(text) < 1_000_000:
                raise ValidationError("attempt must be a whole number from 1 (the first attempt).")
            attempt = int(text)
        found = await self.history.attempt_job(execution_id, step, attempt) if mine else None
        if found is None:
            which = f"attempt {attempt} of step" if attempt else "step"
            raise ResourceNotFound(
                f"Pipeline execution '{execution_id}' has no {which} '{step}' that has started."
            )
        number, job = found
        runner = self.engine.services.runners.named(job.get("runner"))
        text = await runner.logs(job) if runner is not None and job else ""
        return Response(
            200, {"step": step, "attempt": number, "job_name": job.get("name"), "logs": text}
        )

    async def _faults(self, request: Request) -> Response:
        if request.method == "GET":
            await self.faults.refresh()
            return Response(200, self.faults.to_document())
        if request.method == "DELETE":
            await self.faults.replace([])
            return Response(200, self.faults.to_document())
        if request.method == "PUT":
            try:
                document = json.loads(request.body or b"null")
            except RecursionError:
                raise SerializationError("The fault rules nest too deeply to read.") from None
            except ValueError as exc:
                raise SerializationError(f"The fault rules are not valid JSON: {exc}.") from None
            await self.faults.replace(parse_rules(document))
            return Response(200, self.faults.to_document())
        raise UnknownOperation(f"{request.method} is not allowed on /_sagepipe/faults.")
