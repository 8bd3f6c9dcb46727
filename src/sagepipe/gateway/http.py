"""HTTP/1.1 for the AWS JSON app, on httptools' parser and the event loop's transports.

What SageMaker clients need of HTTP is small: keep-alive connections, bodies sized by
Content-Length or chunked, answers in the order of the requests. This module does that and
no more. It replaces an ASGI server whose per-request cycle (a scope, receive and send
messages, a task per request, a response written in two parts) took 50-76 µs of CPU per
request where this takes 24-34 µs, measured with the same canned answer behind each
(bench/README.md); the loop's thread is what bounds the Start benchmark.

Every answer is an AWS-shaped JSON document, malformed HTTP included (400, then the
connection closes). A request that is being answered when its client goes away still runs
to its end: the work it started (an execution's rows, its driver) must not stop halfway.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
import urllib.parse
from collections import deque
from http import HTTPStatus
from typing import cast

import httptools

from sagepipe.domain import arns
from sagepipe.errors import SerializationError, ServiceError
from sagepipe.gateway.awsjson import AwsJsonApp, Request, Response, error_response

log = logging.getLogger("sagepipe.http")
MAX_HEAD_BYTES = 64 * 1024  # request line and headers; botocore sends about 1 KiB
IDLE_TIMEOUT_S = 5.0  # a keep-alive connection with no request in flight closes after this
MAX_QUEUED = 16  # pipelined requests read ahead of the one being answered
_REASONS = {status.value: status.phrase.encode() for status in HTTPStatus}


class HttpServer:
    def __init__(self, app: AwsJsonApp) -> None:
        self.app = app
        self.connections: set[_Connection] = set()
        self._server: asyncio.Server | None = None
        self._date = (0, b"")

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port (0: any free port); returns the port. Raises OSError."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), host, port, backlog=2048, reuse_address=True
        )
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self, grace_s: float) -> None:
        """Stop listening, let requests in flight be answered for up to `grace_s`, close all."""
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            connection.close_when_done()
        deadline = time.monotonic() + grace_s
        while self.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for connection in list(self.connections):
            connection.abort()

    def date_header(self) -> bytes:
        """The Date header's value, formatted once a second."""
        now = int(time.time())
        if self._date[0] != now:
            self._date = (now, email.utils.formatdate(now, usegmt=True).encode())
        return self._date[1]


class _Connection(asyncio.Protocol):
    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.app = server.app
        self.loop = asyncio.get_running_loop()  # protocols are made on the loop's thread
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        # Requests read but not yet answered, in order: a Request, or a ready Response (a
        # refusal, after which the connection closes).
        self.queue: deque[tuple[Request | Response, bool]] = deque()
        self.answering: asyncio.Task[None] | None = None  # the request being answered
        self.broken = False  # refused: nothing more is read from this connection
        self.finishing = False  # close once the queue is answered (EOF, or server stopping)
        self.paused = False
        self.idle: asyncio.TimerHandle | None = None
        # Bytes received while a request's head was still incomplete: a head that never
        # ends is refused once this passes MAX_HEAD_BYTES, not buffered for ever.
        self.head_bytes = 0
        self._new_message()

    # ------------------------------------------------------------------ transport events
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.server.connections.add(self)
        self._arm_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self._disarm_idle()
        self.transport = None

    def eof_received(self) -> bool:
        # The client sends no more (it may have half-closed): answer what it sent, then close.
        if self.answering or self.queue:
            self.finishing = True
            return True
        return False

    def data_received(self, data: bytes) -> None:
        if self.broken:  # refused: what follows is dropped (see _write)
            if not self.answering and not self.queue:
                self._arm_idle()
            return
        self._disarm_idle()
        if self.in_head:
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(SerializationError("Protocol upgrades are not supported: send HTTP/1.1."))
        except httptools.HttpParserError as exc:
            # A callback's own refusal (too large, a bad target) comes back as the context.
            cause = exc.__context__
            self._refuse(
                cause if isinstance(cause, ServiceError) else SerializationError(
                    f"The request is not valid HTTP/1.1 ({exc}). Send POST / with an "
                    "X-Amz-Target header and a JSON body."
                )
            )  # fmt: skip
        else:
            if self.in_head and self.head_bytes > MAX_HEAD_BYTES:
                self._refuse(_head_too_large())  # still arriving: refused before it all has
            elif not self.answering and not self.queue:
                self._arm_idle()  # part of a request: it must go on arriving

    # ------------------------------------------------------------------ parser callbacks
    def _new_message(self) -> None:
        self.in_head = True
        self.head_size = 0  # of the request line and headers, as parsed
        self.url = b""
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.body_bytes = 0

    def on_message_begin(self) -> None:
        self._new_message()

    def on_url(self, url: bytes) -> None:
        self.url += url
        self.head_size += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head_size += len(name) + len(value) + 4
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        # Repeated headers join with commas (RFC 9110 §5.3).
        self.headers[key] = f"{self.headers[key]},{text}" if key in self.headers else text

    def on_headers_complete(self) -> None:
        self.in_head = False
        self.head_bytes = 0
        if self.head_size > MAX_HEAD_BYTES:
            raise _head_too_large()
        length = self.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.app.max_body_bytes:
            raise self.app.too_large()
        if self.headers.get("expect", "").lower() == "100-continue" and self.transport:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, chunk: bytes) -> None:
        self.body_bytes += len(chunk)
        if self.body_bytes > self.app.max_body_bytes:
            raise self.app.too_large()
        self.body.append(chunk)

    def on_message_complete(self) -> None:
        try:
            url = httptools.parse_url(self.url)
        except httptools.HttpParserInvalidURLError:
            raise SerializationError(
                f"The request target {self.url[:200]!r} is not a path: send POST /."
            ) from None
        raw_path = url.path.decode("latin-1")
        request = Request(
            self.parser.get_method().decode("latin-1"),
            urllib.parse.unquote(raw_path),
            url.query or b"",
            self.headers,
            b"".join(self.body),
            raw_path,
        )
        self.queue.append((request, self.parser.should_keep_alive()))
        if len(self.queue) > MAX_QUEUED and self.transport and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        self._answer_next()

    # ------------------------------------------------------------------ answers
    def _refuse(self, error: ServiceError) -> None:
        self.broken = True
        self.queue.append((error_response(error, arns.random_uuid()), False))
        self._answer_next()

    def _answer_next(self) -> None:
        if self.answering or not self.queue or self.transport is None:
            return
        item, keep_alive = self.queue.popleft()
        if self.paused and len(self.queue) <= MAX_QUEUED // 2 and self.transport:
            self.paused = False
            self.transport.resume_reading()
        if isinstance(item, Response):
            self._write(item, keep_alive, head_only=False)
            return
        self.answering = self.loop.create_task(self._answer(item, keep_alive))

    async def _answer(self, request: Request, keep_alive: bool) -> None:
        response = await self.app.respond(request)
        self.answering = None
        try:
            self._write(response, keep_alive, head_only=request.method == "HEAD")
        except Exception:  # a response that cannot be written must not hang the connection
            log.exception("could not write the response to %s %s", request.method, request.path)
            self.abort()

    def _write(self, response: Response, keep_alive: bool, *, head_only: bool) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return  # the client went away; the work it asked for is done all the same
        # The last answer on this connection: the client asked to close, or (after a refusal,
        # at EOF, or when the server stops) nothing read before is left to answer.
        last = not keep_alive or (not self.queue and (self.broken or self.finishing))
        lines = [
            b"HTTP/1.1 %d %s" % (response.status, _REASONS.get(response.status, b"")),
            b"content-type: " + response.content_type,
            b"content-length: %d" % len(response.body),
            b"date: " + self.server.date_header(),
        ]
        lines += [f"{k}: {v}".encode("latin-1") for k, v in response.headers.items()]
        if last:
            lines.append(b"connection: close")
        lines.append(b"\r\n")
        # One write: each is a system call that, on loopback, also runs the client's side.
        transport.write(b"\r\n".join(lines) + (b"" if head_only else response.body))
        if not last:
            if self.queue:
                self._answer_next()
            else:
                self._arm_idle()
        elif self.broken and transport.can_write_eof():
            # Refused mid-request: the client may still be sending its body. Closing now
            # would reset the connection before it reads the answer, so the rest is read and
            # dropped until it closes its side (or the idle timeout does).
            transport.write_eof()
            self._arm_idle()
        else:
            transport.close()

    # ------------------------------------------------------------------ closing
    def close_when_done(self) -> None:
        self.finishing = True
        if not self.answering and not self.queue and self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _arm_idle(self) -> None:
        self._disarm_idle()
        self.idle = self.loop.call_later(IDLE_TIMEOUT_S, self.close_when_done)

    def _disarm_idle(self) -> None:
        if self.idle is not None:
            self.idle.cancel()
            self.idle = None


def _head_too_large() -> SerializationError:
    return SerializationError(
        f"The request line and headers are larger than {MAX_HEAD_BYTES} bytes. Send the "
        "request as botocore does, with a few short headers."
    )
