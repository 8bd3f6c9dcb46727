"""AddTags, ListTags, DeleteTags on pipeline ARNs (the SDK's upsert(tags=...) calls them), on
the ARNs of the jobs behind the steps (providers/jobs.py) and on models, model packages and
their groups (providers/registry.py)."""

from __future__ import annotations

from typing import Any

from sagepipe.domain import arns
from sagepipe.domain.pagination import decode_token, page, page_size, query_fingerprint
from sagepipe.errors import ResourceLimitExceeded, ResourceNotFound, ValidationError
from sagepipe.providers.context import RequestContext
from sagepipe.runners.jobs import listed_scope
from sagepipe.store.db import Database, Tx

MAX_TAGS = 50


def put_tags(tx: Tx, arn: str, new_tags: list[dict[str, str]]) -> None:
    keys = [t["Key"] for t in new_tags]
    if len(set(keys)) != len(keys):
        raise ValidationError("Tag keys must be unique; the request repeats a key.")
    current = tx.one("tags_max_position", arn=arn)
    assert current is not None
    position = current["n"]
    for tag in new_tags:
        position += 1
        tx.exec(
            "tag_upsert", arn=arn, key=tag["Key"], value=tag.get("Value", ""), position=position
        )
    total = tx.one("tags_max_position", arn=arn)
    assert total is not None
    if total["count"] > MAX_TAGS:
        raise ResourceLimitExceeded(f"A resource can have at most {MAX_TAGS} tags.")


class TagsProvider:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _resource_arn(self, tx: Tx, ctx: RequestContext, resource_arn: str) -> str:
        """The ARN tags are kept under: a pipeline's, or a job's, model's, model package's or
        group's (its name part lower-cased, as their names are looked up); anything else, or
        another account's, does not exist."""
        if (kind := arns.registry_kind(resource_arn)) is not None:
            arn = arns.registry_arn(ctx.region, ctx.account, kind, resource_arn)
            if arn is None or tx.one("registry_get", arn=arn) is None:
                raise ResourceNotFound(f"Resource '{resource_arn}' does not exist.")
            return arn
        scope = listed_scope(resource_arn)
        if scope is not None:
            arn = f"{scope}/{resource_arn.split('/', 1)[1].lower()}"
            mine = scope.split(":")[3:5] == [ctx.region, ctx.account]
            if not mine or tx.one("job_by_arn", scope=scope, arn=arn) is None:
                raise ResourceNotFound(f"Resource '{resource_arn}' does not exist.")
            return arn
        parts = arns.parse_pipeline_arn(resource_arn)
        if (
            parts is None
            or (parts["account"], parts["region"]) != (ctx.account, ctx.region)
            or tx.one("pipeline_get", account=ctx.account, region=ctx.region, name=parts["name"])
            is None
        ):
            raise ResourceNotFound(f"Resource '{resource_arn}' does not exist.")
        return resource_arn

    async def add_tags(
        self, ctx: RequestContext, resource_arn: str, tags: list[dict[str, str]]
    ) -> dict[str, Any]:
        def write(tx: Tx) -> dict[str, Any]:
            put_tags(tx, self._resource_arn(tx, ctx, resource_arn), tags)
            return {"Tags": tags}

        return await self.db.run(write)

    async def delete_tags(
        self, ctx: RequestContext, resource_arn: str, tag_keys: list[str]
    ) -> dict[str, Any]:
        def write(tx: Tx) -> dict[str, Any]:
            arn = self._resource_arn(tx, ctx, resource_arn)
            for key in tag_keys:
                tx.exec("tag_delete", arn=arn, key=key)
            return {}

        return await self.db.run(write)

    async def list_tags(
        self,
        ctx: RequestContext,
        resource_arn: str,
        next_token: str | None = None,
        max_results: int | None = None,
    ) -> dict[str, Any]:
        fp = query_fingerprint("ListTags", ctx.scope, {"arn": resource_arn})
        cursor = decode_token(next_token, fp)
        limit = page_size(max_results)

        def read(tx: Tx) -> list[dict[str, Any]]:
            arn = self._resource_arn(tx, ctx, resource_arn)
            return tx.all("tags_list", arn=arn, cursor=cursor, limit=limit + 1)

        rows = await self.db.run(read, readonly=True)
        return page(
            "Tags", rows, limit, fp,
            lambda r: {"Key": r["key"], "Value": r["value"]},
            lambda r: r["position"],
        )  # fmt: skip
