"""Where a pipeline definition comes from: inline text or an S3 object (docs/behaviour.md §6)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from sagepipe.domain.definition import Definition, parse_definition
from sagepipe.errors import ValidationError
from sagepipe.objectstore.store import StoreConfig


class DefinitionSource:
    def __init__(self, store: StoreConfig | None) -> None:
        """`store`: the object store PipelineDefinitionS3Location names objects in."""
        self.store = store
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    async def load(
        self, ctx_region: str, inline: str | None, s3_location: dict[str, Any] | None
    ) -> tuple[str, Definition]:
        """The definition text and its parsed form; exactly one source must be given."""
        if (inline is None) == (s3_location is None):
            raise ValidationError(
                "Exactly one of PipelineDefinition or PipelineDefinitionS3Location must be "
                "specified."
            )
        text = inline if inline is not None else await self._read_s3(ctx_region, s3_location)
        return text, parse_definition(text)

    async def _read_s3(self, region: str, location: dict[str, Any] | None) -> str:
        assert location is not None
        if self.store is None:
            raise ValidationError(
                "PipelineDefinitionS3Location needs an object store: start sagepipe with "
                "--s3-endpoint-url URL, or with the local runner and its embedded store (or "
                "pass the definition inline with PipelineDefinition)."
            )
        return await asyncio.to_thread(self._read_s3_sync, region, location)

    def _client(self, region: str) -> Any:
        # One client per region, made once: creating one loads S3's whole service model.
        # botocore clients are safe to share between threads. The region is the caller's
        # choice, so the cache is bounded.
        with self._lock:
            client = self._clients.get(region)
            if client is None:
                if len(self._clients) >= 16:
                    self._clients.pop(next(iter(self._clients)))
                import botocore.session

                assert self.store is not None
                client = botocore.session.get_session().create_client(
                    "s3", region_name=region, endpoint_url=self.store.endpoint_url,
                    aws_access_key_id=self.store.access_key,
                    aws_secret_access_key=self.store.secret_key,
                )  # fmt: skip
                self._clients[region] = client
            return client

    def _read_s3_sync(self, region: str, location: dict[str, Any]) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        client = self._client(region)
        args = {"Bucket": location["Bucket"], "Key": location["ObjectKey"]}
        if location.get("VersionId"):
            args["VersionId"] = location["VersionId"]
        try:
            body = client.get_object(**args)["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            raise ValidationError(
                f"Could not read the pipeline definition from "
                f"s3://{args['Bucket']}/{args['Key']}: {exc}"
            ) from None
        try:
            return str(body.decode("utf-8"))
        except UnicodeDecodeError:
            raise ValidationError(
                f"The pipeline definition at s3://{args['Bucket']}/{args['Key']} is not UTF-8."
            ) from None
