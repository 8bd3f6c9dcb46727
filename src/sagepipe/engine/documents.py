"""The JSON documents a step's `Std:JsonGet` expressions read (a PropertyFile a job wrote,
or an `S3Uri`), fetched from the object store before the step's expressions are resolved:
resolving is synchronous, reading S3 is not (docs/behaviour.md §7, §11.4)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sagepipe.domain.expressions import (
    JSON_GET,
    ExpressionError,
    iter_expressions,
    property_file_ref,
    resolve,
    to_text,
)
from sagepipe.engine.evaluation import StepContext
from sagepipe.objectstore.store import ObjectStore, StoreError

MAX_DOCUMENT_BYTES = 1024 * 1024


class DocumentReader:
    def __init__(self, store: ObjectStore | None) -> None:
        self.store = store

    async def fetch_for(self, step: Any, context: StepContext) -> None:
        """Read every document the expressions in `step` will ask for into the context.
        One that cannot be read is left out: resolving then fails with its URI and why."""
        if self.store is None:
            return
        uris = [u for u in (_uri(body, context) for kind, body in iter_expressions(step)
                            if kind == JSON_GET) if u and u not in context.documents]  # fmt: skip
        for uri in dict.fromkeys(uris):
            try:
                data = await asyncio.to_thread(self.store.get_bytes, uri, MAX_DOCUMENT_BYTES)
                context.documents[uri] = json.loads(data)
            except StoreError as exc:
                context.problems[uri] = str(exc)
            except ValueError as exc:
                context.problems[uri] = f"{uri} is not a JSON document: {exc}"


def _uri(body: Any, context: StepContext) -> str | None:
    if not isinstance(body, dict):
        return None
    try:
        if "PropertyFile" in body:
            ref = property_file_ref(body["PropertyFile"], context)
            return context.property_file_uri(ref.step, ref.file_name)
        if "S3Uri" in body:
            return to_text(resolve(body["S3Uri"], context))
    except ExpressionError:
        return None  # resolving the step reports it
    return None
