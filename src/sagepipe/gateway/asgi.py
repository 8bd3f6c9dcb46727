"""The HTTP edge: an ASGI app speaking awsJson1.1 (SPEC §1). The request lifecycle is the
list of steps in `AwsJsonApp.handle`; everything it calls is small and testable alone."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sagepipe.errors import (
    PayloadTooLarge,
    SerializationError,
    ServiceError,
    UnknownOperation,
    ValidationError,
)
from sagepipe.gateway.operations import IN_SCOPE, Handler, arguments
from sagepipe.gateway.sigv4 import identify
from sagepipe.protocol.serialize import serialize_output
from sagepipe.protocol.validate import validate_input
from sagepipe.providers.context import RequestContext

log = logging.getLogger("sagepipe.gateway")
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
JSON_TYPE = b"application/x-amz-json-1.1"
MAX_JSON_DEPTH = 64


class Request:
    def __init__(self, scope: Scope, body: bytes) -> None:
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query: bytes = scope.get("query_string", b"")
        self.headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
        }
        self.body = body


class Response:
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = json.dumps(body, separators=(",", ":")).encode()
        self.headers = headers or {}


def error_response(error: ServiceError, request_id: str) -> Response:
    return Response(
        error.status,
        {"__type": error.code, "Message": error.message},
        {"x-amzn-ErrorType": error.code, "x-amzn-RequestId": request_id},
    )


def decode_body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}  # botocore sends "{}" but some clients send nothing for empty input
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        raise SerializationError("The request body is not valid JSON.") from None
    if not isinstance(value, dict):
        raise SerializationError("The request body must be a JSON object.")
    if _depth(value) > MAX_JSON_DEPTH:
        raise ValidationError(f"The request body nests deeper than {MAX_JSON_DEPTH} levels.")
    return value


def _depth(value: Any) -> int:
    # Iterative, so hostile input cannot exhaust the stack.
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            break
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return deepest


ExtensionHandler = Callable[[Request], Awaitable[Response]]


class AwsJsonApp:
    def __init__(
        self,
        operations: dict[str, Handler],
        extension: ExtensionHandler,
        accounts: dict[str, str],
        max_body_bytes: int,
    ) -> None:
        self.operations = operations
        self.extension = extension
        self.accounts = accounts
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request_id = str(uuid.uuid4())
        try:
            body = await self._read_body(scope, receive)
            response = await self.handle(Request(scope, body), request_id)
        except ServiceError as error:
            response = error_response(error, request_id)
        except Exception:
            log.exception("request %s failed", request_id)
            response = error_response(
                ServiceError(f"An internal error occurred (request {request_id}). Try again."),
                request_id,
            )
        await self._send(send, response, request_id)

    async def handle(self, request: Request, request_id: str) -> Response:
        if request.path.startswith("/_sagepipe/"):
            return await self.extension(request)
        if request.method != "POST" or request.path not in ("/", ""):
            raise UnknownOperation(
                f"{request.method} {request.path} is not a SageMaker API route: send POST / "
                "with an X-Amz-Target header (or use /_sagepipe/health)."
            )
        operation = self._operation(request.headers.get("x-amz-target"))
        caller = identify(request.headers.get("authorization"), self.accounts)
        body = decode_body(request.body)
        validate_input(operation, body)
        ctx = RequestContext(
            account=caller.account,
            region=caller.region,
            access_key=caller.access_key,
            request_id=request_id,
            now=time.time(),
            request=body,
        )
        result = await self.operations[operation](ctx, **arguments(body))
        return Response(200, serialize_output(operation, result), {"x-amzn-RequestId": request_id})

    def _operation(self, target: str | None) -> str:
        if not target:
            raise UnknownOperation("Missing X-Amz-Target header: expected SageMaker.<Operation>.")
        service, _, operation = target.partition(".")
        if service != "SageMaker" or operation not in self.operations:
            raise UnknownOperation(
                f"Operation '{operation or target}' is not supported by sagepipe. It serves "
                f"SageMaker Pipelines operations only: {', '.join(IN_SCOPE)}."
            )
        return operation

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_body_bytes:
                raise PayloadTooLarge(self._too_large())
        chunks, size = [], 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise PayloadTooLarge(self._too_large())
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    def _too_large(self) -> str:
        return (
            f"The request body is larger than {self.max_body_bytes} bytes. Put large pipeline "
            "definitions in S3 and pass PipelineDefinitionS3Location."
        )

    async def _send(self, send: Send, response: Response, request_id: str) -> None:
        headers = [
            (b"content-type", JSON_TYPE),
            (b"content-length", str(len(response.body)).encode()),
        ]
        headers += [(k.lower().encode(), v.encode()) for k, v in response.headers.items()]
        if "x-amzn-RequestId" not in response.headers:
            headers.append((b"x-amzn-requestid", request_id.encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
