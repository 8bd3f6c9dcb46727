"""The HTTP layer (gateway/http.py) over real sockets to a real server: keep-alive, answers in
request order, closing when asked, AWS-shaped refusals of malformed HTTP, a request whose
client leaves still running to its end."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from sagepipe.gateway.http import IDLE_TIMEOUT_S, MAX_HEAD_BYTES
from tests.support.pipelines import ROLE, definition, processing
from tests.support.server import ServerProcess

LIST = b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: SageMaker.ListPipelines\r\nContent-Length: 2\r\n\r\n{}"  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(["--data-dir", str(tmp_path_factory.mktemp("http"))])
    process.start()
    try:
        yield process
    finally:
        process.stop()


class Reader:
    """Responses read off one socket: status, lower-case headers, body (Content-Length)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def response(self, *, head_only: bool = False) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            assert self.fill(), f"connection closed mid-response: {self.buffer!r}"
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
        length = 0 if head_only else int(headers["content-length"])
        while len(self.buffer) < length:
            assert self.fill(), "connection closed mid-body"
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(status_line.split()[1]), headers, body

    def closed(self) -> bool:
        """True once the server has closed its side (EOF after any buffered bytes)."""
        self.sock.settimeout(10)
        return not self.fill() and not self.buffer


def connect(server: ServerProcess) -> tuple[socket.socket, Reader]:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return sock, Reader(sock)


def test_keep_alive_serves_many_requests_on_one_connection(server: ServerProcess) -> None:
    sock, reader = connect(server)
    with sock:
        for _ in range(3):
            sock.sendall(LIST)
            status, headers, body = reader.response()
            assert status == 200 and json.loads(body) == {"PipelineSummaries": []}
            assert headers["content-type"] == "application/x-amz-json-1.1"
            assert headers["x-amzn-requestid"] and headers["date"]
            assert "connection" not in headers


def test_pipelined_requests_are_answered_in_order(server: ServerProcess) -> None:
    sm = server.client()
    sm.create_pipeline(
        PipelineName="http-order", RoleArn=ROLE, PipelineDefinition=definition([processing("A")])
    )
    describe = json.dumps({"PipelineName": "http-order"}).encode()
    second = (
        b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: SageMaker.DescribePipeline\r\n"
        b"Content-Length: %d\r\n\r\n" % len(describe) + describe
    )
    sock, reader = connect(server)
    with sock:
        sock.sendall(LIST + second + LIST)  # three requests in one segment
        answers = [json.loads(reader.response()[2]) for _ in range(3)]
    assert "PipelineSummaries" in answers[0] and "PipelineSummaries" in answers[2]
    assert answers[1]["PipelineName"] == "http-order"


@pytest.mark.parametrize(
    "request_bytes",
    [
        LIST.replace(b"Host: x\r\n", b"Host: x\r\nConnection: close\r\n"),
        b"POST / HTTP/1.0\r\nX-Amz-Target: SageMaker.ListPipelines\r\nContent-Length: 2\r\n\r\n{}",
    ],
    ids=["connection-close", "http-1.0"],
)
def test_the_server_closes_when_the_client_asks(
    server: ServerProcess, request_bytes: bytes
) -> None:
    sock, reader = connect(server)
    with sock:
        sock.sendall(request_bytes)
        status, headers, _ = reader.response()
        assert status == 200 and headers["connection"] == "close"
        assert reader.closed()


@pytest.mark.parametrize(
    ("request_bytes", "says"),
    [
        (b"GARBAGE\r\n\r\n", "not valid HTTP/1.1"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", "not valid HTTP/1.1"),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * (MAX_HEAD_BYTES + 1) + b"\r\n\r\n",
            f"larger than {MAX_HEAD_BYTES} bytes",
        ),
    ],
    ids=["garbage", "bad-length", "huge-head"],
)
def test_malformed_http_gets_an_aws_shaped_400_and_a_close(
    server: ServerProcess, request_bytes: bytes, says: str
) -> None:
    sock, reader = connect(server)
    with sock:
        sock.sendall(request_bytes)
        status, headers, body = reader.response()
        assert status == 400, body
        assert headers["x-amzn-errortype"] == "SerializationException"
        assert headers["content-type"] == "application/x-amz-json-1.1"
        error = json.loads(body)
        assert error["__type"] == "SerializationException" and says in error["Message"]
        assert reader.closed()
    assert server.extension("GET", "/_sagepipe/health")[0] == 200


def test_a_head_that_never_ends_is_refused_before_it_is_all_read(server: ServerProcess) -> None:
    sock, reader = connect(server)
    with sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Pad: ")
        refused = None
        for _ in range(2 * MAX_HEAD_BYTES // 4096):  # the server answers part-way through
            try:
                sock.sendall(b"a" * 4096)
            except OSError:
                break
            sock.settimeout(0.05)
            try:
                if reader.fill():
                    refused = reader
                    break
            except TimeoutError:
                continue
        sock.settimeout(10)
        assert refused is not None, "the server read more than twice the head limit"
        status, _, body = reader.response()
        assert status == 400 and b"larger than" in body


def test_expect_100_continue_gets_the_interim_answer_first(server: ServerProcess) -> None:
    sock, reader = connect(server)
    with sock:
        head = LIST.split(b"\r\n\r\n")[0] + b"\r\nExpect: 100-continue\r\n\r\n"
        sock.sendall(head)
        while b"\r\n\r\n" not in reader.buffer:
            assert reader.fill()
        assert reader.buffer.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        reader.buffer = reader.buffer[len(b"HTTP/1.1 100 Continue\r\n\r\n") :]
        sock.sendall(b"{}")
        status, _, body = reader.response()
        assert status == 200 and b"PipelineSummaries" in body


def test_head_answers_without_a_body(server: ServerProcess) -> None:
    sock, reader = connect(server)
    with sock:
        sock.sendall(b"HEAD /_sagepipe/health HTTP/1.1\r\nHost: x\r\n\r\n" + LIST)
        status, headers, _ = reader.response(head_only=True)
        assert int(headers["content-length"]) > 0 and status == 400  # GET is the route
        status, _, body = reader.response()  # the next answer starts right after the head
        assert status == 200 and b"PipelineSummaries" in body


def test_an_idle_connection_is_closed(server: ServerProcess) -> None:
    sock, reader = connect(server)
    with sock:
        sock.sendall(LIST)
        assert reader.response()[0] == 200
        began = time.monotonic()
        sock.settimeout(IDLE_TIMEOUT_S + 10)
        assert not reader.fill(), "expected the server to close the idle connection"
        assert IDLE_TIMEOUT_S - 0.5 <= time.monotonic() - began <= IDLE_TIMEOUT_S + 5


def test_a_start_whose_client_leaves_still_runs_to_its_end(server: ServerProcess) -> None:
    sm = server.client()
    sm.create_pipeline(
        PipelineName="http-leave", RoleArn=ROLE, PipelineDefinition=definition([processing("A")])
    )
    body = json.dumps({"PipelineName": "http-leave", "ClientRequestToken": "t" * 36}).encode()
    start = (
        b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: SageMaker.StartPipelineExecution\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body) + body
    )
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(start)
    sock.close()  # gone before the answer can have come
    deadline = time.time() + 30
    while time.time() < deadline:
        runs = sm.list_pipeline_executions(PipelineName="http-leave")["PipelineExecutionSummaries"]
        if runs and runs[0]["PipelineExecutionStatus"] == "Succeeded":
            break
        time.sleep(0.2)
    assert [r["PipelineExecutionStatus"] for r in runs] == ["Succeeded"]


def test_requests_sent_before_a_half_close_are_all_answered(server: ServerProcess) -> None:
    sock, reader = connect(server)
    with sock:
        sock.sendall(LIST * 3)
        sock.shutdown(socket.SHUT_WR)  # nothing more will come: answer all three, then close
        statuses = [reader.response()[0] for _ in range(3)]
        assert statuses == [200, 200, 200]
        assert reader.closed()


def test_a_request_read_before_a_malformed_one_is_answered_first(server: ServerProcess) -> None:
    sock, reader = connect(server)
    with sock:
        sock.sendall(LIST + b"GARBAGE\r\n\r\n")
        first, second = reader.response(), reader.response()
        assert first[0] == 200 and b"PipelineSummaries" in first[2]
        assert second[0] == 400 and second[1]["connection"] == "close"
        assert reader.closed()
