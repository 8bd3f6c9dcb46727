"""Models and the model registry (docs/behaviour.md §13): DescribeModel, ListModels,
DeleteModel; Create/Describe/List/DeleteModelPackageGroup; Describe/List/Update/
DeleteModelPackage. Model and RegisterModel steps create the models and packages
(engine/registry.py); a versioned package's group counts its versions."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sagepipe.domain import arns
from sagepipe.domain.pagination import decode_token, page, page_size, query_fingerprint
from sagepipe.engine.registry import group_row
from sagepipe.errors import ConflictError, ValidationError
from sagepipe.providers.context import RequestContext
from sagepipe.providers.jobs import like_escaped
from sagepipe.providers.tags import put_tags
from sagepipe.store.db import Database, Tx

MAX_ADDITIONAL_INFERENCE = 15


def resource_arn(ctx: RequestContext, kind: str, name_or_arn: str) -> str | None:
    return arns.registry_arn(ctx.region, ctx.account, kind, name_or_arn)


class RegistryProvider:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def _get(self, arn: str | None, missing: str) -> dict[str, Any]:
        row = None
        if arn is not None:
            row = await self.db.run(lambda tx: tx.one("registry_get", arn=arn), readonly=True)
        if row is None:
            raise ValidationError(missing)
        return row

    async def _delete(self, arn: str | None, missing: str, check: Callable[[Tx], None]) -> None:
        def write(tx: Tx) -> None:
            if arn is None or tx.one("registry_get", arn=arn) is None:
                raise ValidationError(missing)
            check(tx)
            tx.exec("registry_delete", arn=arn)
            tx.exec("tags_delete_all", arn=arn)

        await self.db.run(write)

    async def _list(
        self, ctx: RequestContext, kind: str, operation: str, member: str,
        summary: Callable[[dict[str, Any]], dict[str, Any]], default_order: str,
        query: dict[str, Any], **filters: Any,
    ) -> dict[str, Any]:  # fmt: skip
        """One page of the caller's resources of `kind`; `query` holds the List* members in
        snake_case, `filters` the extra query parameters (group_arn, versioned, approval)."""
        scope = f"arn:aws:sagemaker:{ctx.region}:{ctx.account}:{kind}"
        by_name = query.get("sort_by") == "Name"
        order = "desc" if (query.get("sort_order") or default_order) == "Descending" else "asc"
        fp = query_fingerprint(operation, ctx.scope, {
            k: v for k, v in query.items() if k not in ("next_token", "max_results")})  # fmt: skip
        cursor = decode_token(query.get("next_token"), fp) or [None, None]
        if not (
            isinstance(cursor, list) and len(cursor) == 2
            and isinstance(cursor[0], str | int | float | None)
            and isinstance(cursor[1], str | None)
        ):  # fmt: skip
            raise ValidationError("Invalid pagination token: the NextToken is malformed.")
        limit = page_size(query.get("max_results"))
        fragment = query.get("name_contains")
        params = {
            "scope": scope, "limit": limit + 1,
            "after": query.get("creation_time_after"), "before": query.get("creation_time_before"),
            "contains": f"%{like_escaped(str(fragment))}%" if fragment else None,
            "group_arn": None, "versioned": None, "approval": None,
            "cursor_key": None if by_name else cursor[0],
            "cursor_name": cursor[0] if by_name else None, "cursor_arn": cursor[1],
            **filters,
        }  # fmt: skip
        name = f"registry_by_{'name' if by_name else 'created'}_{order}"
        rows = await self.db.run(lambda tx: tx.all(name, **params), readonly=True)
        return page(
            member, rows, limit, fp, lambda r: summary(json.loads(r["document"])),
            lambda r: [r["sort_name"] if by_name else r["created"], r["arn"]],
        )  # fmt: skip

    # ------------------------------------------------------------------ models
    @staticmethod
    def _model_arn(ctx: RequestContext, name: str) -> str:
        return f"arn:aws:sagemaker:{ctx.region}:{ctx.account}:model/{name.lower()}"

    async def describe_model(self, ctx: RequestContext, model_name: str) -> dict[str, Any]:
        arn = self._model_arn(ctx, model_name)
        row = await self._get(arn, f'Could not find model "{arn}".')
        return dict(json.loads(row["document"]))

    async def list_models(self, ctx: RequestContext, **query: Any) -> dict[str, Any]:
        def summary(doc: dict[str, Any]) -> dict[str, Any]:
            return {k: doc[k] for k in ("ModelName", "ModelArn", "CreationTime")}

        return await self._list(ctx, "model", "ListModels", "Models", summary, "Descending", query)

    async def delete_model(self, ctx: RequestContext, model_name: str) -> dict[str, Any]:
        arn = self._model_arn(ctx, model_name)
        await self._delete(arn, f'Could not find model "{arn}".', lambda tx: None)
        return {}

    # ------------------------------------------------------------------ groups
    async def create_model_package_group(
        self, ctx: RequestContext, model_package_group_name: str,
        model_package_group_description: str | None = None,
        tags: list[dict[str, str]] | None = None, **_: Any,
    ) -> dict[str, Any]:  # fmt: skip
        extra = {}
        if model_package_group_description is not None:
            extra["ModelPackageGroupDescription"] = model_package_group_description
        new = group_row(ctx.region, ctx.account, model_package_group_name, ctx.now, **extra)
        new["execution_arn"] = None

        def write(tx: Tx) -> None:
            if tx.one("registry_get", arn=new["arn"]) is not None:
                raise ValidationError(f"Model Package Group already exists: {new['arn']}")
            tx.exec("registry_insert", **new)
            if tags:
                put_tags(tx, new["arn"], tags)

        await self.db.run(write)
        return {"ModelPackageGroupArn": new["arn"]}

    @staticmethod
    def _group_missing(given: str) -> str:
        return f"ModelPackageGroup {given} does not exist."

    async def describe_model_package_group(
        self, ctx: RequestContext, model_package_group_name: str
    ) -> dict[str, Any]:
        arn = resource_arn(ctx, "model-package-group", model_package_group_name)
        row = await self._get(arn, self._group_missing(model_package_group_name))
        return dict(json.loads(row["document"]))

    async def list_model_package_groups(self, ctx: RequestContext, **query: Any) -> dict[str, Any]:
        if query.get("cross_account_filter_option") == "CrossAccount":
            return {"ModelPackageGroupSummaryList": []}  # nothing is shared across accounts

        def summary(doc: dict[str, Any]) -> dict[str, Any]:
            members = ("ModelPackageGroupName", "ModelPackageGroupArn",
                       "ModelPackageGroupDescription", "CreationTime", "ModelPackageGroupStatus")  # fmt: skip
            return {k: doc[k] for k in members if k in doc}

        return await self._list(
            ctx, "model-package-group", "ListModelPackageGroups", "ModelPackageGroupSummaryList",
            summary, "Ascending", query,
        )  # fmt: skip

    async def delete_model_package_group(
        self, ctx: RequestContext, model_package_group_name: str
    ) -> dict[str, Any]:
        arn = resource_arn(ctx, "model-package-group", model_package_group_name)

        def empty(tx: Tx) -> None:
            if tx.one("registry_group_has_packages", group_arn=arn) is not None:
                raise ConflictError(
                    f"Model Package Group {arn} still holds model packages; delete them first "
                    "(DeleteModelPackage for each version)."
                )

        await self._delete(arn, self._group_missing(model_package_group_name), empty)
        return {}

    # ------------------------------------------------------------------ packages
    @staticmethod
    def _package_missing(given: str) -> str:
        return f"ModelPackage {given} does not exist."

    async def describe_model_package(
        self, ctx: RequestContext, model_package_name: str, included_data: str | None = None
    ) -> dict[str, Any]:
        arn = resource_arn(ctx, "model-package", model_package_name)
        row = await self._get(arn, self._package_missing(model_package_name))
        return dict(json.loads(row["document"]))

    async def list_model_packages(self, ctx: RequestContext, **query: Any) -> dict[str, Any]:
        group = query.get("model_package_group_name")
        group_arn = None
        if group:
            group_arn = resource_arn(ctx, "model-package-group", group)
            if group_arn is None:
                return {"ModelPackageSummaryList": []}
        # Unversioned packages unless asked otherwise, as the model says; a group's are all
        # versions, so naming one lists its versions.
        package_type = query.get("model_package_type") or ("Versioned" if group else "Unversioned")
        versioned = {"Versioned": 1, "Unversioned": 0}.get(package_type)

        def summary(doc: dict[str, Any]) -> dict[str, Any]:
            members = ("ModelPackageName", "ModelPackageGroupName", "ModelPackageVersion",
                       "ModelPackageArn", "ModelPackageDescription", "CreationTime",
                       "ModelPackageStatus", "ModelApprovalStatus", "ModelLifeCycle",
                       "ModelPackageRegistrationType")  # fmt: skip
            return {k: doc[k] for k in members if k in doc}

        return await self._list(
            ctx, "model-package", "ListModelPackages", "ModelPackageSummaryList", summary,
            "Ascending", query, group_arn=group_arn, versioned=versioned,
            approval=query.get("model_approval_status"),
        )  # fmt: skip

    async def update_model_package(
        self, ctx: RequestContext, model_package_arn: str, **changes: Any
    ) -> dict[str, Any]:
        arn = resource_arn(ctx, "model-package", model_package_arn)
        changes.pop("client_token", None)
        if not changes:
            raise ValidationError(
                "UpdateModelPackage changes nothing: give ModelApprovalStatus or another member "
                "to update."
            )

        def write(tx: Tx) -> None:
            row = tx.one("registry_get", arn=arn) if arn else None
            if row is None:
                raise ValidationError(self._package_missing(model_package_arn))
            doc = updated(json.loads(row["document"]), changes, row["version"] is not None, ctx)
            tx.exec("registry_update", arn=arn, document=json.dumps(doc),
                    approval=doc.get("ModelApprovalStatus"))  # fmt: skip

        await self.db.run(write)
        return {"ModelPackageArn": model_package_arn}

    async def delete_model_package(
        self, ctx: RequestContext, model_package_name: str
    ) -> dict[str, Any]:
        arn = resource_arn(ctx, "model-package", model_package_name)
        await self._delete(arn, self._package_missing(model_package_name), lambda tx: None)
        return {}


def updated(
    doc: dict[str, Any], changes: dict[str, Any], versioned: bool, ctx: RequestContext
) -> dict[str, Any]:
    """A model package's document after UpdateModelPackage's `changes` (snake_case)."""
    doc = dict(doc)
    if "model_approval_status" in changes and not versioned:
        raise ValidationError(
            "ModelApprovalStatus applies to versioned model packages (those in a model "
            "package group) only."
        )
    replaced = {
        "model_approval_status": "ModelApprovalStatus", "approval_description": "ApprovalDescription",
        "model_package_registration_type": "ModelPackageRegistrationType",
        "inference_specification": "InferenceSpecification", "source_uri": "SourceUri",
        "model_card": "ModelCard", "model_life_cycle": "ModelLifeCycle",
    }  # fmt: skip
    for key, member in replaced.items():
        if key in changes:
            doc[member] = changes[key]
    metadata = dict(doc.get("CustomerMetadataProperties") or {})
    metadata.update(changes.get("customer_metadata_properties") or {})
    for key in changes.get("customer_metadata_properties_to_remove") or []:
        metadata.pop(key, None)
    if metadata or "CustomerMetadataProperties" in doc:
        doc["CustomerMetadataProperties"] = metadata
    added = changes.get("additional_inference_specifications_to_add")
    if added:
        specs = list(doc.get("AdditionalInferenceSpecifications") or []) + list(added)
        if len(specs) > MAX_ADDITIONAL_INFERENCE:
            raise ValidationError(
                f"A model package has at most {MAX_ADDITIONAL_INFERENCE} "
                "AdditionalInferenceSpecifications."
            )
        doc["AdditionalInferenceSpecifications"] = specs
    doc["LastModifiedTime"] = ctx.now
    doc["LastModifiedBy"] = {"IamIdentity": {"Arn": ctx.user}}
    return doc
