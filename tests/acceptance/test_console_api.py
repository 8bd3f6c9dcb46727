"""The console's page, assets and reads over plain HTTP, on SQLite and PostgreSQL
(docs/behaviour.md §15): the shapes the page relies on, and bad requests answered with an
AWS-shaped 4xx that changes nothing (never a 5xx, never a stack trace)."""

from __future__ import annotations

import http.client
import json
import urllib.parse
import uuid
from typing import Any

import pytest

from tests.support.pipelines import create, processing
from tests.support.server import ServerProcess
from tests.support.steps import condition, execution_id, fail, get, start, wait_done


def fetch(
    server: ServerProcess, method: str, path: str, body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    parts = urllib.parse.urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def read(server: ServerProcess, path: str) -> Any:
    status, _, data = fetch(server, "GET", path)
    assert status == 200, data
    return json.loads(data)


def test_the_page_and_its_assets_are_served_from_the_package(server: ServerProcess) -> None:
    status, headers, _ = fetch(server, "GET", "/console")
    assert status == 301 and headers["location"] == "/console/"
    status, headers, page = fetch(server, "GET", "/console/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b'<script src="/console/assets/console.js"' in page and b"{{version}}" not in page
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    for asset, kind in (("console.js", "text/javascript"), ("console.css", "text/css")):
        status, headers, body = fetch(server, "GET", f"/console/assets/{asset}")
        assert status == 200 and headers["content-type"].startswith(kind) and len(body) > 1000
        assert b"http://" not in body.replace(b"http://www.w3.org/2000/svg", b"")  # nothing remote


def test_the_reads_give_what_the_page_draws(server: ServerProcess) -> None:
    sm, name = server.client(), f"c-{uuid.uuid4().hex[:6]}"
    check = condition("Check", [{"Type": "Equals", "LeftValue": get("Parameters.Go"), "RightValue": 1}],
                      if_steps=[processing("Work")], else_steps=[fail("No", "not today")],
                      DependsOn=["Prep"])  # fmt: skip
    create(sm, name, [processing("Prep"), check],
           parameters=[{"Name": "Go", "Type": "Integer", "DefaultValue": 1}])  # fmt: skip
    runs = [start(sm, name, Go=go) for go in (1, 0)]
    for arn in runs:
        wait_done(sm, arn)
    pipelines = read(server, "/_sagepipe/console/pipelines")
    (mine,) = [p for p in pipelines["pipelines"] if p["name"] == name]
    assert mine["versions"] == 1 and mine["last_execution"]["id"] == execution_id(runs[1])
    assert mine["last_execution"]["status"] == "Failed"
    listed = read(server, f"/_sagepipe/console/pipelines/{name}/executions")
    assert listed["total"] == 2 and listed["next"] is None
    assert [e["id"] for e in listed["executions"]] == [execution_id(a) for a in reversed(runs)]
    failed = read(server, f"/_sagepipe/console/pipelines/{name}/executions?status=Failed")
    assert [e["status"] for e in failed["executions"]] == ["Failed"] and failed["total"] == 1
    state = read(server, f"/_sagepipe/console/executions/{execution_id(runs[1])}")
    assert state["execution"]["status"] == "Failed" and state["execution"]["pipeline"] == name
    assert state["steps"]["Check"]["outcome"] is False and "Work" not in state["steps"]
    assert state["steps"]["No"]["failure_reason"] == "not today"
    graph = read(server, f"/_sagepipe/console/executions/{execution_id(runs[1])}/graph")
    assert {n["name"] for n in graph["nodes"]} == {"Prep", "Check", "Work", "No"}
    assert {(e["from"], e["to"], e["kind"]) for e in graph["edges"]} == {
        ("Prep", "Check", "depends"), ("Check", "Work", "if"), ("Check", "No", "else")}  # fmt: skip
    step = read(server, f"/_sagepipe/console/executions/{execution_id(runs[0])}/steps/Prep")
    assert step["status"] == "Succeeded" and "ProcessingJob" in step["metadata"]
    assert step["properties"]["ProcessingJobStatus"] == "Completed"


@pytest.mark.parametrize(
    ("method", "path", "body", "code"),
    [
        ("GET", "/_sagepipe/console/pipelines/no-such/executions", None, "ResourceNotFound"),
        ("GET", "/_sagepipe/console/pipelines/p/executions?status=Running", None, "ValidationException"),
        ("GET", "/_sagepipe/console/pipelines/p/executions?next=abc", None, "ValidationException"),
        ("GET", "/_sagepipe/console/pipelines/p/executions?next=" + "9" * 40, None,
         "ValidationException"),
        ("GET", "/_sagepipe/console/pipelines?after=%00x", None, "ValidationException"),
        ("GET", "/_sagepipe/console/pipelines?after=" + "a" * 300, None, "ValidationException"),
        ("GET", "/_sagepipe/console/executions/nosuchexec", None, "ResourceNotFound"),
        ("GET", "/_sagepipe/console/executions/nosuchexec/graph", None, "ResourceNotFound"),
        ("GET", "/_sagepipe/console/executions/nosuchexec/steps/S", None, "ResourceNotFound"),
        ("GET", "/_sagepipe/console/executions/UPPER", None, "UnknownOperationException"),
        ("GET", "/_sagepipe/console/elsewhere", None, "UnknownOperationException"),
        ("GET", "/_sagepipe/console/pipelines/" + "p" * 300 + "/executions", None,
         "UnknownOperationException"),
        ("POST", "/_sagepipe/console/pipelines", b"{}", "UnknownOperationException"),
        ("GET", "/console/assets/../../etc/passwd", None, "UnknownOperationException"),
        ("GET", "/console/assets/index.html", None, "UnknownOperationException"),
        ("PUT", "/console/", b"x", "UnknownOperationException"),
        ("POST", "/console/session", b"{}", "AccessDeniedException"),  # no console header
    ],
)  # fmt: skip
def test_bad_console_requests_get_a_clean_aws_shaped_4xx(
    server: ServerProcess, method: str, path: str, body: bytes | None, code: str
) -> None:
    status, headers, data = fetch(server, method, path, body)
    assert 400 <= status < 500, data
    error = json.loads(data)
    assert error["__type"].startswith(code.removesuffix("Exception")), error
    assert "Traceback" not in error["Message"]


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'{"access_key": 1}', b"{" * 5000,
                                  b'{"access_key": "k", "secret_key": ""}'])  # fmt: skip
def test_sign_in_on_an_open_server_needs_nothing_and_breaks_on_nothing(
    server: ServerProcess, body: bytes
) -> None:
    status, _, data = fetch(server, "POST", "/console/session", body, {"X-Sagepipe-Console": "1"})
    assert status == 200 and json.loads(data) == {"open": True, "signed_in": False}
    assert read(server, "/console/session")["open"] is True
