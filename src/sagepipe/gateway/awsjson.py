"""The AWS JSON 1.1 app (docs/behaviour.md §1): one HTTP request in, one response out (gateway/http.py
carries them). The request lifecycle is the list of steps in `AwsJsonApp.handle`; everything
it calls is small and testable alone."""

from __future__ import annotations

import inspect
import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sagepipe.domain import arns
from sagepipe.errors import (
    InvalidParameter,
    PayloadTooLarge,
    SerializationError,
    ServiceError,
    UnknownOperation,
    ValidationError,
)
from sagepipe.gateway import console_session
from sagepipe.gateway.operations import IN_SCOPE, Handler, arguments, snake_case
from sagepipe.gateway.sigv4 import Caller, Secret, identify, verify
from sagepipe.protocol.model import LOGS_OPERATIONS
from sagepipe.protocol.model import operation as operation_model
from sagepipe.protocol.normalize import normalize_input
from sagepipe.protocol.serialize import serialize_output
from sagepipe.protocol.validate import validate_input
from sagepipe.providers.context import RequestContext

log = logging.getLogger("sagepipe.gateway")
JSON_TYPE = b"application/x-amz-json-1.1"
MAX_JSON_DEPTH = 64


class Request:
    def __init__(
        self, method: str, path: str, query: bytes, headers: dict[str, str], body: bytes,
        raw_path: str | None = None,
    ) -> None:  # fmt: skip
        self.method = method
        self.path = path
        self.raw_path = path if raw_path is None else raw_path  # as sent: what was signed
        self.query = query
        self.headers = headers  # names in lower case
        self.body = body
        self.caller: Caller | None = None  # who sent it, once known (the extension API)


class Response:
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = json.dumps(body, separators=(",", ":")).encode()
        self.headers = headers or {}
        self.content_type = JSON_TYPE

    @classmethod
    def raw(
        cls, status: int, body: bytes, content_type: bytes, headers: dict[str, str] | None = None
    ) -> Response:
        """A response that is not JSON: the console's page and assets."""
        response = cls(status, None, headers)
        response.body, response.content_type = body, content_type
        return response


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
        # Strict UTF-8 (RFC 8259 §8.1): json.loads(bytes) would also take UTF-16/32 and
        # UTF-8-encoded surrogates, which no store can keep.
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SerializationError(
            f"The request body is not valid UTF-8 (invalid byte at offset {exc.start}). "
            "Send the JSON body encoded as UTF-8."
        ) from None
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        # The parser recursed past Python's limit: far deeper than we accept anyway.
        raise ValidationError(_TOO_DEEP) from None
    except ValueError as exc:
        raise SerializationError(f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(value, dict):
        raise SerializationError("The request body must be a JSON object.")
    if _depth(value) > MAX_JSON_DEPTH:
        raise ValidationError(_TOO_DEEP)
    if _SURROGATE_ESCAPE.search(body) and _has_lone_surrogate(value):
        raise SerializationError(
            "The request body contains an unpaired UTF-16 surrogate escape (such as \\ud800) "
            "in a string: JSON strings must be valid Unicode text."
        )
    return value


_TOO_DEEP = (
    f"The request body nests deeper than {MAX_JSON_DEPTH} levels. No SageMaker request needs "
    "that: send a flatter body."
)
# \uD800-\uDFFF escapes: a lone surrogate can only come from one of these, because strict
# UTF-8 decoding has already refused encoded surrogates.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


# One decoder for every request: json.loads with arguments builds a new one each call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _has_lone_surrogate(value: Any) -> bool:
    # A well-formed pair of escapes decodes to one astral character, so any surrogate left
    # in a decoded string is unpaired. Iterative, like _depth.
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if _SURROGATE.search(node):
                return True
        elif isinstance(node, dict):
            stack.extend(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


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


def _required_members(operation: str, handler: Handler) -> dict[str, str]:
    """Wire members the provider cannot do without ({wire name: lowerCamel path}), for
    members the model leaves optional: sending none of them must be a validation error,
    never a TypeError (a 500) in the provider call."""
    op = operation_model(operation)
    shape = op.input_shape if op is not None else None
    members = list(shape.members) if shape is not None else []  # type: ignore[attr-defined]
    by_argument = {snake_case(m): m for m in members}
    try:
        parameters = inspect.signature(handler).parameters
    except (TypeError, ValueError):  # not introspectable: nothing to check
        return {}
    needed = {}
    for name, param in parameters.items():
        if name == "ctx" or param.default is not param.empty:
            continue
        if param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        wire = by_argument.get(name)
        if wire is not None:
            needed[wire] = wire[:1].lower() + wire[1:]
    return needed


def _check_required(needed: dict[str, str], body: dict[str, Any]) -> None:
    missing = [path for wire, path in needed.items() if body.get(wire) is None]
    if missing:
        n = len(missing)
        raise ValidationError(
            f"{n} validation error{'s' if n > 1 else ''} detected: "
            + "; ".join(
                f"Value null at '{path}' failed to satisfy constraint: Member must not be null"
                for path in missing
            )
        )


ExtensionHandler = Callable[[Request], Awaitable[Response]]


class AwsJsonApp:
    def __init__(
        self,
        operations: dict[str, Handler],
        extension: ExtensionHandler,
        accounts: dict[str, str],
        max_body_bytes: int,
        credentials: dict[str, Secret] | None = None,
        console: ExtensionHandler | None = None,
    ) -> None:
        self.operations = operations
        self.console = console  # /console/: its page, assets and sign-in
        self.required = {name: _required_members(name, h) for name, h in operations.items()}
        self.extension = extension
        self.accounts = accounts
        self.max_body_bytes = max_body_bytes
        self.credentials = credentials  # None: open (any key; accounts from `accounts`)

    async def respond(self, request: Request) -> Response:
        """The response to `request`, errors included: this never raises."""
        request_id = arns.random_uuid()
        try:
            response = await self.handle(request, request_id)
        except ServiceError as error:
            return error_response(error, request_id)
        except Exception:
            log.exception("request %s failed", request_id)
            return error_response(
                ServiceError(f"An internal error occurred (request {request_id}). Try again."),
                request_id,
            )
        response.headers.setdefault("x-amzn-RequestId", request_id)
        return response

    def caller(self, request: Request, services: tuple[str, ...]) -> Caller:
        """Who sent `request`: verified under --credentials, else taken at its word."""
        if self.credentials is None:
            return identify(request.headers.get("authorization"), self.accounts)
        if "authorization" not in request.headers and b"X-Amz-Signature" not in request.query:
            # The console's requests carry its session cookie instead of a signature.
            session = console_session.caller_of(request.headers, self.credentials)
            if session is not None:
                return session
        return verify(
            request.method, request.raw_path, request.query.decode("latin-1"), request.headers,
            request.body, self.credentials, services,
        )  # fmt: skip

    async def handle(self, request: Request, request_id: str) -> Response:
        if self.console is not None and (request.path + "/").startswith("/console/"):
            return await self.console(request)  # its data comes through the routes below
        if request.path.startswith("/_sagepipe/"):
            if not (request.method == "GET" and request.path.rstrip("/") == "/_sagepipe/health"):
                request.caller = self.caller(request, ("sagemaker",))
            return await self.extension(request)
        if request.method != "POST" or request.path not in ("/", ""):
            raise UnknownOperation(
                f"{request.method} {request.path} is not a SageMaker API route: send POST / "
                "with an X-Amz-Target header (or use /_sagepipe/health; the console is at "
                "/console/)."
            )
        # Blanks around a header value are not part of it (RFC 9110 §5.5).
        target = (request.headers.get("x-amz-target") or "").strip()
        # Who is asking comes first: an unsigned caller learns nothing, not even what exists.
        caller = self.caller(
            request, ("logs",) if target.startswith("Logs_20140328.") else ("sagemaker",)
        )
        operation = self._operation(target)
        body = decode_body(request.body)
        try:
            validate_input(operation, body)
            _check_required(self.required[operation], body)
        except ValidationError as error:
            if operation in LOGS_OPERATIONS:  # CloudWatch Logs' code for the same thing
                raise InvalidParameter(error.message) from None
            raise
        ctx = RequestContext(
            account=caller.account,
            region=caller.region,
            access_key=caller.access_key,
            request_id=request_id,
            # Whole milliseconds: the precision the wire carries, so that a stored time and
            # the time a client reads back (and filters with) are the same number.
            now=math.floor(time.time() * 1000) / 1000,
            request=body,
        )
        args = arguments(normalize_input(operation, body))
        result = await self.operations[operation](ctx, **args)
        return Response(200, serialize_output(operation, result), {"x-amzn-RequestId": request_id})

    def _operation(self, target: str | None) -> str:
        if not target:
            raise UnknownOperation("Missing X-Amz-Target header: expected SageMaker.<Operation>.")
        service, _, operation = target.partition(".")
        expected = "Logs_20140328" if operation in LOGS_OPERATIONS else "SageMaker"
        if service != expected or operation not in self.operations:
            raise UnknownOperation(
                f"Operation '{operation or target}' is not supported by sagepipe. It serves "
                f"SageMaker Pipelines operations only: {', '.join(IN_SCOPE)}."
            )
        return operation

    def too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"The request body is larger than {self.max_body_bytes} bytes. Put large pipeline "
            "definitions in S3 and pass PipelineDefinitionS3Location."
        )
