"""Models and the model registry as steps create them (docs/behaviour.md §13): a succeeded
Model step's model, a succeeded RegisterModel step's model package, and for a versioned one
its group (made by the step when it does not exist yet, as AWS's pipelines do). The rows are
what DescribeModel, DescribeModelPackage & co. answer from (providers/registry.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sagepipe.domain.records import ExecutionRecord, StepRecord
from sagepipe.engine.batch import Batch
from sagepipe.engine.step_properties import properties_of
from sagepipe.runners.jobs import group_name, job_arn
from sagepipe.runners.properties import jsonable
from sagepipe.store.db import Database, Tx

STEP_TYPES = ("Model", "RegisterModel")


def group_arn(region: str, account: str, group: str) -> str:
    return job_arn(region, account, "model-package-group", group)


def group_row(region: str, account: str, name: str, now: float, **document: Any) -> dict:
    """The registry row of a new model package group (its Describe answer as document)."""
    arn = group_arn(region, account, name)
    doc = {
        "ModelPackageGroupName": name, "ModelPackageGroupArn": arn, "CreationTime": now,
        "CreatedBy": {}, "ModelPackageGroupStatus": "Completed", **document,
    }  # fmt: skip
    return row(arn, name, now, doc, last_version=0)


def row(arn: str, name: str, now: float, document: Mapping[str, Any], **columns: Any) -> dict:
    """A registry row; `columns` sets group_arn, version, last_version, approval."""
    values = dict.fromkeys(("group_arn", "version", "last_version", "approval", "execution_arn"))
    values.update(columns)
    version = values["version"]
    return {
        "arn": arn, "scope": arn.split("/", 1)[0], "name": name, "name_key": name.lower(),
        "sort_name": name.lower() + (f"/{version:09d}" if version is not None else ""),
        "now": now, "document": json.dumps(jsonable(dict(document))), **values,
    }  # fmt: skip


def versioned_group(step_type: str, arguments: Mapping[str, Any]) -> str | None:
    group = arguments.get("ModelPackageGroupName") if step_type == "RegisterModel" else None
    return group_name(group) if isinstance(group, str) and group else None


async def reserve_version(
    db: Database, execution: ExecutionRecord, step_type: str, arguments: Mapping[str, Any],
    now: float,
) -> int:  # fmt: skip
    """The version a versioned RegisterModel step's package gets: the group's next, taken
    in a transaction of its own so that no two packages share one (a step that then fails
    leaves a gap, as a deleted version does). 1 for anything else."""
    group = versioned_group(step_type, arguments)
    if group is None:
        return 1
    new_group = group_row(execution.region, execution.account, group, now)
    new_group["execution_arn"] = execution.arn

    def take(tx: Tx) -> int:
        tx.exec("registry_insert", **new_group)  # nothing if the group exists
        taken = tx.one("registry_next_version", arn=new_group["arn"])
        assert taken is not None
        return int(taken["last_version"])

    return await db.run(take)


async def name_taken(
    db: Database, step_type: str, arguments: Mapping[str, Any], arn: str
) -> str | None:
    """AWS's refusal when an unversioned RegisterModel step names a package that exists.
    (A Model step's model is always named by the service, as the SDK leaves ModelName out.)"""
    if step_type != "RegisterModel" or versioned_group(step_type, arguments):
        return None
    if not arguments.get("ModelPackageName"):
        return None
    found = await db.run(lambda tx: tx.one("registry_get", arn=arn), readonly=True)
    if found is None:
        return None
    return f'ValidationException: Cannot create already existing model package "{arn}".'


async def model_document(
    db: Database, execution: ExecutionRecord, batch: Batch, name: object
) -> dict[str, Any] | None:
    """The DescribeModel document of the model a Transform step names, for the runner that
    runs it (the model's image, artifacts and inference script); None if there is none. A
    Model step that ended in this very tick has its row in the batch, not yet stored."""
    if not isinstance(name, str) or not name:
        return None
    arn = job_arn(execution.region, execution.account, "model", name)
    for query, params in batch.statements:
        if query == "registry_insert" and params["arn"] == arn:
            return dict(json.loads(params["document"]))
    found = await db.run(lambda tx: tx.one("registry_get", arn=arn), readonly=True)
    return None if found is None else dict(json.loads(found["document"]))


def remember(batch: Batch, execution: ExecutionRecord, record: StepRecord, now: float) -> None:
    """Record the model or model package of a succeeded step, in the tick that ends it."""
    job = record.job or {}
    properties = properties_of(record, execution)
    if record.step_type not in STEP_TYPES or not job.get("arn") or properties is None:
        return
    arn, name = str(job["arn"]), str(job["name"])
    group = versioned_group(record.step_type, job.get("arguments") or {})
    if group is None:
        new = row(arn, name, now, properties)
    else:
        new = row(
            arn, group, now, properties, version=properties.get("ModelPackageVersion"),
            group_arn=group_arn(execution.region, execution.account, group),
            approval=properties.get("ModelApprovalStatus"),
        )  # fmt: skip
    new.pop("now")
    new.pop("execution_arn")  # the statement is given both
    batch.statements.append(("registry_insert", new))
