"""The jobs behind the steps (docs/behaviour.md §13): Describe*, List* and Stop* for the
processing, training and transform jobs that pipeline steps created, under every runner.

A job is one attempt of a step: its row in `attempts` keeps the job document (resolved
arguments, name, ARN, start) and the attempt's status, end and failure reason. The Describe*
answer of the step's succeeded attempt is the step's properties, the very document
`Steps.<name>.<path>` reads; any other attempt gets the same document built from its own row,
with its status, failure reason and times."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from sagepipe.domain.pagination import decode_token, page, page_size, query_fingerprint
from sagepipe.domain.states import StepStatus
from sagepipe.engine.engine import Engine
from sagepipe.engine.step_properties import job_properties
from sagepipe.errors import ValidationError
from sagepipe.providers.context import RequestContext
from sagepipe.runners.properties import STATUS_MESSAGES
from sagepipe.store.db import Database, Tx

NOT_FOUND = "Requested resource not found."


@dataclass(frozen=True)
class JobKind:
    noun: str  # "TrainingJob": the operations' and members' stem
    arn_kind: str  # "training-job"
    step_type: str  # "Training"
    times: tuple[str, str]  # the start and end time members
    default_order: str  # List*Jobs' SortOrder when none is given, as the model documents

    @property
    def status_member(self) -> str:
        return f"{self.noun}Status"


KINDS = {
    kind.noun: kind
    for kind in (
        JobKind("ProcessingJob", "processing-job", "Processing",
                ("ProcessingStartTime", "ProcessingEndTime"), "Ascending"),
        JobKind("TrainingJob", "training-job", "Training",
                ("TrainingStartTime", "TrainingEndTime"), "Ascending"),
        JobKind("TransformJob", "transform-job", "Transform",
                ("TransformStartTime", "TransformEndTime"), "Descending"),
    )
}  # fmt: skip

# An attempt's status as its job's (the models' ProcessingJobStatus & co.).
JOB_STATUS = {
    StepStatus.STARTING: "InProgress", StepStatus.EXECUTING: "InProgress",
    StepStatus.SUCCEEDED: "Completed", StepStatus.FAILED: "Failed",
    StepStatus.STOPPING: "Stopping", StepStatus.STOPPED: "Stopped",
}  # fmt: skip
# StatusEquals -> the attempt statuses it selects (two, as the list queries take them).
ATTEMPT_STATUSES = {
    "InProgress": (StepStatus.STARTING, StepStatus.EXECUTING),
    "Completed": (StepStatus.SUCCEEDED, StepStatus.SUCCEEDED),
    "Failed": (StepStatus.FAILED, StepStatus.FAILED),
    "Stopping": (StepStatus.STOPPING, StepStatus.STOPPING),
    "Stopped": (StepStatus.STOPPED, StepStatus.STOPPED),
}  # fmt: skip
# How a refused Stop*Job names its job.
STOP_NOUNS = {"ProcessingJob": "processing job", "TrainingJob": "training job",
              "TransformJob": "transform job"}  # fmt: skip
# Training's SecondaryStatus for each job status.
SECONDARY = {"InProgress": "Training", "Completed": "Completed", "Failed": "Failed",
             "Stopping": "Stopping", "Stopped": "Stopped"}  # fmt: skip


def scope_of(ctx: RequestContext, kind: JobKind) -> str:
    return f"arn:aws:sagemaker:{ctx.region}:{ctx.account}:{kind.arn_kind}"


def describe(kind: JobKind, row: dict[str, Any], now: float) -> dict[str, Any]:
    """The Describe* response of the job in `row` (a job_by_arn row)."""
    job = json.loads(row["job"])
    _, _, _, region, account, _ = job["arn"].split(":", 5)
    status = JOB_STATUS.get(row["status"], "InProgress")
    current = row["attempt"] == row["attempt_count"]
    if status == "Completed" and current and row["properties"]:
        return dict(json.loads(row["properties"]))  # a real job's outcome, as the step has it
    ended = row["ended"]
    doc = job_properties(kind.step_type, job, ended or now, region, account)
    if status == "Completed":
        return doc
    doc[kind.status_member] = status
    if row["failure_reason"] and status == "Failed":
        doc["FailureReason"] = row["failure_reason"]
    doc["LastModifiedTime"] = ended or row["started"]
    doc.pop("FinalMetricDataList", None)  # only a completed job's metrics are known
    doc.pop("ExitMessage", None)
    if ended is None:
        doc.pop(kind.times[1], None)
        for member in ("TrainingTimeInSeconds", "BillableTimeInSeconds"):
            doc.pop(member, None)
    if kind.noun == "TrainingJob":
        doc["SecondaryStatus"] = SECONDARY[status]
        phases = [("Starting", row["started"], row["started"]), ("Training", row["started"], ended)]
        if ended is not None:
            phases.append((SECONDARY[status], ended, ended))
        doc["SecondaryStatusTransitions"] = [
            {"Status": s, "StartTime": t0, "EndTime": t1, "StatusMessage": STATUS_MESSAGES[s]}
            for s, t0, t1 in phases
        ]
    return doc


def summary(kind: JobKind, row: dict[str, Any]) -> dict[str, Any]:
    job = json.loads(row["job"])
    status = JOB_STATUS.get(row["status"], "InProgress")
    found: dict[str, Any] = {
        f"{kind.noun}Name": job["name"], f"{kind.noun}Arn": job["arn"],
        "CreationTime": row["started"], "LastModifiedTime": row["ended"] or row["started"],
        kind.status_member: status,
    }  # fmt: skip
    if row["ended"] is not None:
        found[kind.times[1]] = row["ended"]
    if status == "Failed" and row["failure_reason"]:
        found["FailureReason"] = row["failure_reason"]
    if kind.noun == "TrainingJob":
        found["SecondaryStatus"] = SECONDARY[status]
    return found


def like_escaped(text: str) -> str:
    """`text` lower-cased, as a literal in a LIKE pattern with ESCAPE '!'."""
    return text.lower().replace("!", "!!").replace("%", "!%").replace("_", "!_")


def name_like(scope: str, text: str, *, anywhere: bool) -> str:
    """The LIKE pattern (escape '!') of job ARNs in `scope` whose name holds `text` anywhere,
    or starts with it; never matching the ARN's own prefix."""
    return f"{scope}/{'%' if anywhere else ''}{like_escaped(text)}%"


def list_params(scope: str, limit: int, **given: Any) -> dict[str, Any]:
    """Every parameter of the jobs_by_* queries: `given` ones, the rest unset."""
    params = dict.fromkeys(
        ("after", "before", "modified_after", "modified_before", "contains", "status1",
         "status2", "cursor_rank", "cursor_key", "cursor_arn")
    )  # fmt: skip
    params.update(given, scope=scope, limit=limit)
    return params


def find_job(tx: Tx, ctx: RequestContext, kind: JobKind, name: Any) -> dict[str, Any]:
    """The job named `name` in the caller's account and region, any case; else AWS's answer
    for a job that does not exist."""
    if not isinstance(name, str):
        raise ValidationError(NOT_FOUND)
    scope = scope_of(ctx, kind)
    row = tx.one("job_by_arn", scope=scope, arn=f"{scope}/{name.lower()}")
    if row is None:
        raise ValidationError(NOT_FOUND)
    return row


class JobsProvider:
    def __init__(self, db: Database, engine: Engine) -> None:
        self.db = db
        self.engine = engine

    async def _describe(self, ctx: RequestContext, noun: str, name: Any) -> dict[str, Any]:
        kind = KINDS[noun]
        row = await self.db.run(lambda tx: find_job(tx, ctx, kind, name), readonly=True)
        return describe(kind, row, time.time())

    async def describe_processing_job(
        self, ctx: RequestContext, processing_job_name: str
    ) -> dict[str, Any]:
        return await self._describe(ctx, "ProcessingJob", processing_job_name)

    async def describe_training_job(
        self, ctx: RequestContext, training_job_name: str
    ) -> dict[str, Any]:
        return await self._describe(ctx, "TrainingJob", training_job_name)

    async def describe_transform_job(
        self, ctx: RequestContext, transform_job_name: str
    ) -> dict[str, Any]:
        return await self._describe(ctx, "TransformJob", transform_job_name)

    async def _list(self, ctx: RequestContext, noun: str, **query: Any) -> dict[str, Any]:
        """One page of the caller's jobs of one kind. `query`: the List*Jobs members in
        snake_case (creation_time_after/before, last_modified_time_after/before,
        name_contains, status_equals, sort_by, sort_order, next_token, max_results)."""
        kind = KINDS[noun]
        scope = scope_of(ctx, kind)
        sort_by = query.get("sort_by") or "CreationTime"
        order = "desc" if (query.get("sort_order") or kind.default_order) == "Descending" else "asc"
        filters = {k: v for k, v in query.items() if k not in ("next_token", "max_results")}
        fp = query_fingerprint(f"List{noun}s", ctx.scope, filters)
        cursor = decode_token(query.get("next_token"), fp) or [None, None, None]
        if not (
            isinstance(cursor, list) and len(cursor) == 3
            and isinstance(cursor[0], int | None) and isinstance(cursor[1], int | float | None)
            and isinstance(cursor[2], str | None)
        ):  # fmt: skip
            raise ValidationError("Invalid pagination token: the NextToken is malformed.")
        limit = page_size(query.get("max_results"))
        fragment = query.get("name_contains")
        contains = name_like(scope, str(fragment), anywhere=True) if fragment else None
        statuses = ATTEMPT_STATUSES.get(query.get("status_equals") or "", (None, None))
        by = {"Name": "name", "Status": "status"}.get(sort_by, "created")
        params = list_params(
            scope, limit + 1, after=query.get("creation_time_after"),
            before=query.get("creation_time_before"),
            modified_after=query.get("last_modified_time_after"),
            modified_before=query.get("last_modified_time_before"),
            contains=contains, status1=statuses[0], status2=statuses[1],
            cursor_rank=cursor[0], cursor_key=cursor[1], cursor_arn=cursor[2],
        )  # fmt: skip
        query_name = f"jobs_by_{by}_{order}"
        rows = await self.db.run(lambda tx: tx.all(query_name, **params), readonly=True)
        return page(
            f"{noun}Summaries", rows, limit, fp, lambda r: summary(kind, r),
            lambda r: [r.get("status_rank"), r["started"], r["job_arn"]],
        )  # fmt: skip

    async def list_processing_jobs(self, ctx: RequestContext, **query: Any) -> dict[str, Any]:
        return await self._list(ctx, "ProcessingJob", **query)

    async def list_training_jobs(self, ctx: RequestContext, **query: Any) -> dict[str, Any]:
        if query.get("warm_pool_status_equals") or query.get("training_plan_arn_equals"):
            # No job here has a warm pool or a training plan: such a filter matches none.
            return {"TrainingJobSummaries": []}
        return await self._list(ctx, "TrainingJob", **query)

    async def list_transform_jobs(self, ctx: RequestContext, **query: Any) -> dict[str, Any]:
        return await self._list(ctx, "TransformJob", **query)

    async def _stop(self, ctx: RequestContext, noun: str, name: Any) -> dict[str, Any]:
        """Ask the execution's driver to stop the job (it reads the request with the
        execution's state); the job is Stopping until its runner has stopped it."""
        kind = KINDS[noun]

        def effect(tx: Tx) -> str:
            row = find_job(tx, ctx, kind, name)
            status = JOB_STATUS.get(row["status"], "InProgress")
            if status != "InProgress":
                raise ValidationError(
                    f"The request was rejected because the {STOP_NOUNS[noun]} is in status "
                    f"{status}."
                )
            execution = tx.one("execution_stop_jobs", arn=row["execution_arn"])
            assert execution is not None
            requests = json.loads(execution["stop_jobs"] or "[]")
            requests.append([row["name"], row["attempt"]])
            tx.exec("execution_set_stop_jobs", arn=row["execution_arn"],
                    stop_jobs=json.dumps(requests))  # fmt: skip
            tx.exec("attempt_stopping", execution_arn=row["execution_arn"], name=row["name"],
                    attempt=row["attempt"])  # fmt: skip
            return str(row["execution_arn"])

        self.engine.notify(await self.db.run(effect))
        return {}

    async def stop_processing_job(
        self, ctx: RequestContext, processing_job_name: str
    ) -> dict[str, Any]:
        return await self._stop(ctx, "ProcessingJob", processing_job_name)

    async def stop_training_job(
        self, ctx: RequestContext, training_job_name: str
    ) -> dict[str, Any]:
        return await self._stop(ctx, "TrainingJob", training_job_name)

    async def stop_transform_job(
        self, ctx: RequestContext, transform_job_name: str
    ) -> dict[str, Any]:
        return await self._stop(ctx, "TransformJob", transform_job_name)
