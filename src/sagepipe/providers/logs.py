"""Job logs on CloudWatch Logs' own wire protocol (docs/behaviour.md §13): DescribeLogStreams,
GetLogEvents and FilterLogEvents for the log groups /aws/sagemaker/{Processing,Training,
Transform}Jobs, so the SDK's `logs=True` and `sagemaker.logs` read a job's real output.

A job (one attempt of a step) has one stream, `<job name>/algo-1-<start epoch>`, whose events
are the lines of the attempt's log as its runner keeps it (the local runner's job log, the
simulate runner's short account). The log file keeps no time per line, so every event
carries the attempt's start time."""

from __future__ import annotations

import json
import re
from typing import Any

from sagepipe.engine.step_kinds import Runners
from sagepipe.errors import InvalidParameter, LogsResourceNotFound
from sagepipe.providers.context import RequestContext
from sagepipe.providers.jobs import KINDS, JobKind, list_params, name_like, scope_of
from sagepipe.store.db import Database, Tx

GROUPS = {f"/aws/sagemaker/{noun}s": KINDS[noun] for noun in KINDS}
_STREAM = re.compile(r"(?P<job>[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62})/algo-1-(?P<epoch>\d+)")
DEFAULT_EVENTS = 10_000  # GetLogEvents' and FilterLogEvents' default page, as AWS's
MAX_STREAMS = 50


def _group(ctx: RequestContext, name: Any, identifier: Any) -> tuple[str, JobKind]:
    group = name or identifier
    if isinstance(group, str) and group.startswith("arn:"):
        group = group.split(":log-group:", 1)[-1].removesuffix(":*")
    kind = GROUPS.get(group) if isinstance(group, str) else None
    if kind is None:
        raise LogsResourceNotFound("The specified log group does not exist.")
    return group, kind


def stream_name(row: dict[str, Any]) -> str:
    return f"{json.loads(row['job'])['name']}/algo-1-{int(row['started'])}"


def _events(text: str, started: float) -> list[dict[str, Any]]:
    at = int(started * 1000)
    return [{"timestamp": at, "message": line, "ingestionTime": at}
            for line in text.splitlines()]  # fmt: skip


_TOKEN = re.compile(r"[sfbn]/[0-9]{1,9}")


def _position(token: Any, prefix: str) -> int | None:
    if not token:
        return None
    if isinstance(token, str) and token.startswith(prefix) and _TOKEN.fullmatch(token):
        return int(token[2:])
    raise InvalidParameter("The specified nextToken is invalid.")


class LogsProvider:
    def __init__(self, db: Database, runners: Runners) -> None:
        self.db = db
        self.runners = runners

    async def _job(self, ctx: RequestContext, kind: JobKind, stream: str) -> dict[str, Any]:
        match = _STREAM.fullmatch(stream)
        scope = scope_of(ctx, kind)

        def read(tx: Tx) -> dict[str, Any] | None:
            if match is None:
                return None
            return tx.one("job_by_arn", scope=scope, arn=f"{scope}/{match['job'].lower()}")

        row = await self.db.run(read, readonly=True)
        if row is None or stream_name(row).lower() != stream.lower():
            raise LogsResourceNotFound("The specified log stream does not exist.")
        return row

    async def _text(self, row: dict[str, Any]) -> str:
        job = json.loads(row["job"])
        runner = self.runners.named(job.get("runner"))
        return await runner.logs(job) if runner is not None else ""

    async def describe_log_streams(
        self,
        ctx: RequestContext,
        log_group_name: str | None = None,
        log_group_identifier: str | None = None,
        log_stream_name_prefix: str | None = None,
        order_by: str | None = None,
        descending: bool | None = None,
        next_token: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        _, kind = _group(ctx, log_group_name, log_group_identifier)
        if order_by == "LastEventTime" and log_stream_name_prefix:
            raise InvalidParameter("Cannot order by LastEventTime with a logStreamNamePrefix.")
        scope = scope_of(ctx, kind)
        # Stream names are <job>/algo-1-<epoch>: a prefix without '/' is a job-name prefix;
        # one with it names one job, whose single stream it may or may not match.
        prefix, slash, _ = (log_stream_name_prefix or "").lower().partition("/")
        after = _position(next_token, "s/")
        size = min(limit or MAX_STREAMS, MAX_STREAMS)
        order = "desc" if descending else "asc"
        params = list_params(scope, (after or 0) + size + 1,
                             contains=name_like(scope, prefix, anywhere=False))  # fmt: skip
        by = "created" if order_by == "LastEventTime" else "name"
        if slash:
            exact = {"scope": scope, "arn": f"{scope}/{prefix}"}
            rows = await self.db.run(lambda tx: tx.all("job_by_arn", **exact), readonly=True)
            wanted = (log_stream_name_prefix or "").lower()
            rows = [r for r in rows if stream_name(r).lower().startswith(wanted)]
        else:
            rows = await self.db.run(lambda tx: tx.all(f"jobs_by_{by}_{order}", **params),
                                     readonly=True)  # fmt: skip
        start = after or 0
        streams = []
        for row in rows[start : start + size]:
            at = int(row["started"] * 1000)
            name = stream_name(row)
            streams.append({
                "logStreamName": name, "creationTime": at, "firstEventTimestamp": at,
                "lastEventTimestamp": at, "lastIngestionTime": at,
                "arn": f"arn:aws:logs:{ctx.region}:{ctx.account}:log-group:"
                       f"/aws/sagemaker/{kind.noun}s:log-stream:{name}",
            })  # fmt: skip
        found: dict[str, Any] = {"logStreams": streams}
        if len(rows) > start + size:
            found["nextToken"] = f"s/{start + size}"
        return found

    async def get_log_events(
        self,
        ctx: RequestContext,
        log_stream_name: str,
        log_group_name: str | None = None,
        log_group_identifier: str | None = None,
        start_time: int | None = None,
        end_time: int | None = None,
        next_token: str | None = None,
        limit: int | None = None,
        start_from_head: bool | None = None,
        unmask: bool | None = None,
    ) -> dict[str, Any]:
        """Forward tokens `f/<next event>` and backward `b/<first event>`; at the end the
        forward token comes back unchanged, which is how log tailers know to wait."""
        _, kind = _group(ctx, log_group_name, log_group_identifier)
        row = await self._job(ctx, kind, log_stream_name)
        events = [
            e for e in _events(await self._text(row), row["started"])
            if (start_time is None or e["timestamp"] >= start_time)
            and (end_time is None or e["timestamp"] < end_time)
        ]  # fmt: skip
        size = min(limit or DEFAULT_EVENTS, DEFAULT_EVENTS)
        if next_token and next_token.startswith("b/"):
            end = min(_position(next_token, "b/") or 0, len(events))
            begin = max(0, end - size)
        elif next_token:
            begin = min(_position(next_token, "f/") or 0, len(events))
            end = min(len(events), begin + size)
        elif start_from_head:
            begin, end = 0, min(len(events), size)
        else:
            end = len(events)
            begin = max(0, end - size)
        return {
            "events": events[begin:end],
            "nextForwardToken": f"f/{end}",
            "nextBackwardToken": f"b/{begin}",
        }

    async def filter_log_events(
        self,
        ctx: RequestContext,
        log_group_name: str | None = None,
        log_group_identifier: str | None = None,
        log_stream_names: list[str] | None = None,
        log_stream_name_prefix: str | None = None,
        start_time: int | None = None,
        end_time: int | None = None,
        filter_pattern: str | None = None,
        next_token: str | None = None,
        limit: int | None = None,
        start_from_head: bool | None = None,
        interleaved: bool | None = None,
        unmask: bool | None = None,
    ) -> dict[str, Any]:
        """Events of the named streams (or of those the prefix picks) whose message holds
        every term of `filterPattern` (CloudWatch's plain-term patterns; quoted phrases)."""
        if log_stream_names and log_stream_name_prefix:
            raise InvalidParameter(
                "logStreamNames and logStreamNamePrefix cannot both be specified."
            )
        names = list(log_stream_names or [])
        token: str | None = None
        while not log_stream_names and (token or not names):
            listed = await self.describe_log_streams(
                ctx, log_group_name, log_group_identifier, log_stream_name_prefix,
                next_token=token,
            )  # fmt: skip
            names += [s["logStreamName"] for s in listed["logStreams"]]
            token = listed.get("nextToken")
            if not listed["logStreams"]:
                break
        group, kind = _group(ctx, log_group_name, log_group_identifier)
        terms = [t.strip('"') for t in re.findall(r'"[^"]*"|\S+', filter_pattern or "")]
        matched: list[dict[str, Any]] = []
        for name in names:
            row = await self._job(ctx, kind, name)
            for index, event in enumerate(_events(await self._text(row), row["started"])):
                if start_time is not None and event["timestamp"] < start_time:
                    continue
                if end_time is not None and event["timestamp"] >= end_time:
                    continue
                if all(term in event["message"] for term in terms):
                    matched.append(dict(event, logStreamName=name, eventId=f"{name}:{index}"))
        begin = _position(next_token, "n/") or 0
        size = min(limit or DEFAULT_EVENTS, DEFAULT_EVENTS)
        found: dict[str, Any] = {
            "events": matched[begin : begin + size],
            "searchedLogStreams": [{"logStreamName": n, "searchedCompletely": True} for n in names],
        }
        if len(matched) > begin + size:
            found["nextToken"] = f"n/{begin + size}"
        return found
