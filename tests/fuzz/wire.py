"""Raw HTTP to a sagepipe server (http.client, one keep-alive connection), and the checks
every answer of the awsJson1.1 edge must pass (docs/behaviour.md §1)."""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import time
from dataclasses import dataclass
from typing import Any

import botocore.parsers
from botocore.awsrequest import HeadersDict

from tests.fuzz.strategies import operation_model, output_problems

JSON_TYPE = "application/x-amz-json-1.1"
AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIDFUZZ/20240101/us-east-1/sagemaker/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64
)
COMMON_CODES = frozenset(
    {
        "ValidationException",
        "SerializationException",
        "UnknownOperationException",
        "AccessDeniedException",
        "ThrottlingException",
        "RequestEntityTooLarge",
        "ResourceNotFound",
        "ConflictException",
        "ResourceLimitExceeded",
        "ResourceInUse",
    }
)
SHAPE_MESSAGE = re.compile(r"^\d+ validation errors? detected: ")
MAX_SECONDS = 20.0  # no single request may take longer: "never a hang"


@dataclass
class Reply:
    status: int
    headers: HeadersDict
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)

    def describe(self) -> str:
        return f"HTTP {self.status} {dict(self.headers)} {self.body[:600]!r}"


class Wire:
    """One keep-alive connection; reopened when the server closes it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None
        self.requests = 0
        self.slowest = (0.0, "")

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def send(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | list[tuple[str, str]] | None = None,
    ) -> Reply:
        pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        for attempt in range(2):
            conn = self._connection()
            started = time.monotonic()
            try:
                conn.putrequest(method, path, skip_accept_encoding=True)
                for name, value in pairs:
                    conn.putheader(name, value)
                if body is not None and not any(n.lower() == "content-length" for n, _ in pairs):
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders()
                if body:
                    # The server may answer early (413) and close: read its answer anyway.
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        conn.send(body)
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # An idle keep-alive connection the server closed: once more on a new one.
                self.close()
                if attempt:
                    raise
                continue
            except BaseException:
                self.close()  # never reuse a connection in an unknown state
                raise
            seconds = time.monotonic() - started
            self.requests += 1
            if seconds > self.slowest[0]:
                self.slowest = (seconds, f"{method} {path[:80]} {pairs[:3]} {len(body or b'')}B")
            if response.getheader("connection", "").lower() == "close":
                self.close()
            return Reply(response.status, HeadersDict(response.getheaders()), data, seconds)
        raise AssertionError("unreachable")

    def api(
        self,
        operation: str,
        body: bytes,
        *,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        base = {
            "Content-Type": JSON_TYPE,
            "X-Amz-Target": f"SageMaker.{operation}",
            "X-Amz-Date": "20240101T000000Z",
            "Authorization": AUTH,
        }
        base.update(headers or {})
        return self.send("POST", "/", body, base)

    def call(self, operation: str, params: dict[str, Any]) -> tuple[int, Any]:
        """A well-formed call (for set-up and checks); (status, decoded body)."""
        reply = self.api(operation, json.dumps(params).encode())
        check_reply(reply, operation, "harness call")
        return reply.status, reply.json()

    def ok(self, operation: str, params: dict[str, Any]) -> Any:
        status, body = self.call(operation, params)
        assert status == 200, f"{operation} {params}: {status} {body}"
        return body

    def healthy(self) -> None:
        reply = self.send("GET", "/_sagepipe/health")
        assert reply.status == 200 and reply.json()["status"] == "ok", reply.describe()


def raw_exchange(port: int, data: bytes, timeout: float = 30) -> bytes:
    """Bytes sent as they are on a fresh socket; whatever comes back until close/timeout."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


_PARSER = botocore.parsers.create_parser("json")


def check_reply(reply: Reply, operation: str | None, context: str, *, head: bool = False) -> Any:
    """The invariants of docs/behaviour.md §1 for any answer of the API route; returns the decoded body.

    `operation` None: no operation could be named (its error codes are then the common ones).
    """
    where = f"{context}\n  -> {reply.describe()}"
    assert reply.status < 500, f"server fault: {where}"
    assert reply.seconds < MAX_SECONDS, f"took {reply.seconds:.1f}s: {where}"
    assert reply.headers.get("content-type") == JSON_TYPE, f"content type: {where}"
    assert reply.headers.get("x-amzn-requestid"), f"no x-amzn-RequestId: {where}"
    if head:
        return None
    try:
        body = json.loads(reply.body)
    except ValueError:
        raise AssertionError(f"body is not JSON: {where}") from None
    op = operation_model(operation) if operation else None
    output_shape = op.output_shape if op else None
    parsed = _PARSER.parse(
        {"status_code": reply.status, "headers": reply.headers, "body": reply.body},
        output_shape,
    )
    if reply.status == 200 and operation is None:
        return body  # the extension API (docs/behaviour.md §9): JSON is all that is promised
    if reply.status == 200:
        assert isinstance(body, dict), f"success body not an object: {where}"
        assert "Error" not in parsed, f"botocore sees an error: {where}"
        problems = output_problems(output_shape, body)
        assert not problems, f"output does not fit {operation}'s shape {problems}: {where}"
        return body
    assert reply.status in (400, 413), f"status: {where}"
    assert isinstance(body, dict) and set(body) == {"__type", "Message"}, f"error body: {where}"
    code, message = body["__type"], body["Message"]
    assert isinstance(code, str) and isinstance(message, str) and message, f"error body: {where}"
    allowed = COMMON_CODES | ({e.name for e in op.error_shapes} if op else set())
    assert code in allowed, f"code {code} not modelled for {operation}: {where}"
    assert reply.headers.get("x-amzn-errortype") == code, f"x-amzn-ErrorType: {where}"
    assert parsed["Error"]["Code"] == code, f"botocore reads {parsed['Error']}: {where}"
    assert parsed["Error"]["Message"] == message, f"botocore reads {parsed['Error']}: {where}"
    assert (reply.status == 413) == (code == "RequestEntityTooLarge"), f"413 pairing: {where}"
    assert "Traceback" not in message and 'File "' not in message, f"stack trace: {where}"
    return body
