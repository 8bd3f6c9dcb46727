"""The console under --credentials (docs/behaviour.md §15): it asks for a key and secret,
refuses a wrong one, shows the signed-in account's pipelines and nothing of another
account's, and its session cookie counts only with the console's own header and only as
issued."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.console.test_console import node_status, open_console, text_of, wait_for
from tests.support.pipelines import create, processing
from tests.support.server import ServerProcess
from tests.support.steps import execution_id, wait_done

KEYS = {"AKIDALICE": ("alice-secret", "111111111111"), "AKIDBOB": ("bob-secret", "222222222222")}


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[ServerProcess]:
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps({"credentials": [
        {"access_key": k, "secret_key": s, "account": a} for k, (s, a) in KEYS.items()]}))  # fmt: skip
    server = ServerProcess(["--data-dir", str(tmp_path / "data"), "--credentials", str(path)])
    server.start()
    try:
        yield server
    finally:
        server.stop()


def client(server: ServerProcess, key: str) -> Any:
    return boto3.client("sagemaker", endpoint_url=server.url, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=KEYS[key][0],
                        config=Config(retries={"max_attempts": 1}))  # fmt: skip


def sign_in(browser: Any, key: str, secret: str) -> None:
    from selenium.webdriver.common.by import By

    form = wait_for(
        browser, "the sign-in form", lambda b: b.find_elements(By.CSS_SELECTOR, "form.signin")
    )[0]
    form.find_element(By.NAME, "key").clear()
    form.find_element(By.NAME, "key").send_keys(key)
    form.find_element(By.NAME, "secret").clear()
    form.find_element(By.NAME, "secret").send_keys(secret)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def post(
    server: ServerProcess, operation: str, cookie: str | None, console_header: bool
) -> tuple[int, dict[str, Any]]:
    headers = {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": f"SageMaker.{operation}",
    }
    if cookie is not None:
        headers["Cookie"] = f"sagepipe_console={cookie}"
    if console_header:
        headers["X-Sagepipe-Console"] = "1"
    request = urllib.request.Request(server.url + "/", data=b"{}", headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_console_signs_in_and_shows_only_its_accounts_pipelines(
    secured: ServerProcess, browser: Any, screenshots: Path
) -> None:
    from selenium.webdriver.common.by import By

    alice, bob = client(secured, "AKIDALICE"), client(secured, "AKIDBOB")
    mine, theirs = f"alice-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"
    create(alice, mine, [processing("Work")])
    create(bob, theirs, [processing("Work")])
    bobs_run = bob.start_pipeline_execution(PipelineName=theirs)["PipelineExecutionArn"]
    wait_done(bob, bobs_run)

    open_console(browser, secured, "/")
    wait_for(browser, "the sign-in page", lambda b: text_of(b, "h1") == "Sign in")
    sign_in(browser, "AKIDALICE", "not-the-secret")
    refused = wait_for(browser, "the refusal", lambda b: text_of(b, "[role=alert]") or None)
    assert refused == ("AccessDeniedException: The access key and secret do not match a "
                       "credential of this server.")  # fmt: skip
    assert browser.get_cookie("sagepipe_console") is None
    browser.save_screenshot(str(screenshots / "sign-in.png"))

    sign_in(browser, "AKIDALICE", "alice-secret")
    wait_for(browser, "Alice's pipelines", lambda b: b.find_elements(By.LINK_TEXT, mine))
    assert not browser.find_elements(By.LINK_TEXT, theirs)
    assert "AKIDALICE (account 111111111111)" in text_of(browser, "#who")
    cookie = browser.get_cookie("sagepipe_console")
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert "alice-secret" not in cookie["value"]

    # Bob's execution, by its URL: it answers as one that does not exist.
    open_console(browser, secured, f"/executions/{execution_id(bobs_run)}")
    gone = wait_for(browser, "the error", lambda b: text_of(b, "[role=alert]") or None)
    assert "does not exist" in gone and node_status(browser, "Work") == ""

    # The cookie counts only with the console's header, and only as it was issued.
    status, body = post(secured, "ListPipelines", cookie["value"], console_header=True)
    assert status == 200 and [p["PipelineName"] for p in body["PipelineSummaries"]] == [mine]
    status, body = post(secured, "ListPipelines", cookie["value"], console_header=False)
    assert status == 400 and body["__type"] == "MissingAuthenticationTokenException"
    key, expiry, mac = cookie["value"].split(".")
    for forged in (f"AKIDBOB.{expiry}.{mac}", f"{key}.{int(expiry) + 3600}.{mac}",
                   f"{key}.{expiry}.{'0' * len(mac)}", f"{key}.1.{mac}"):  # fmt: skip
        status, body = post(secured, "ListPipelines", forged, console_header=True)
        assert status == 400 and body["__type"] == "MissingAuthenticationTokenException", forged

    open_console(browser, secured, "/")
    wait_for(
        browser, "the sign-out button", lambda b: b.find_elements(By.CSS_SELECTOR, "#who button")
    )
    browser.find_element(By.CSS_SELECTOR, "#who button").click()
    wait_for(browser, "the sign-in page", lambda b: text_of(b, "h1") == "Sign in")
    assert browser.get_cookie("sagepipe_console") is None
