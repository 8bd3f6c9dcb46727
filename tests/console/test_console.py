"""The console in a real browser (headless Chromium) against a real server on the simulate
runner, whose fault rules decide the steps' outcomes: a failed step shows red with its reason,
the retry plan names the right steps, Retry resumes the execution and the page turns green
without a reload, Stop stops, a refused retry shows the API's own message, a Condition's
untaken branch shows as not taken, the lists page and filter, the keyboard reaches every
step, a phone-width screen works, and 500 steps draw in under two seconds."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.pipelines import create, processing
from tests.support.server import ServerProcess
from tests.support.steps import condition, execution_id, fail, get, start, training, wait_done

WAIT_S = 20


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(["--data-dir", str(tmp_path / "data")])
    process.start()
    try:
        yield process
    finally:
        process.stop()


def story_pipeline(sm: Any, name: str) -> None:
    """Prepare -> Check (Threshold >= 1) -> Train -> Publish, else TooLow (a Fail step)."""
    prepared = get("Steps.Prepare.ProcessingOutputConfig.Outputs['out'].S3Output.S3Uri")
    check = condition(
        "Check",
        [
            {
                "Type": "GreaterThanOrEqualTo",
                "LeftValue": get("Parameters.Threshold"),
                "RightValue": 1,
            }
        ],
        if_steps=[training("Train", prepared), processing("Publish", depends_on=["Train"])],
        else_steps=[fail("TooLow", "the threshold is below 1")],
        DependsOn=["Prepare"],
    )
    create(sm, name, [processing("Prepare"), check],
           parameters=[{"Name": "Threshold", "Type": "Integer", "DefaultValue": 5}])  # fmt: skip


def fault(server: ServerProcess, rules: list[dict[str, Any]]) -> None:
    status, _ = server.extension("PUT", "/_sagepipe/faults", {"rules": rules})
    assert status == 200


def open_console(browser: Any, server: ServerProcess, where: str = "/") -> None:
    browser.get(f"{server.url}/console/#{where}")


def wait_for(browser: Any, what: str, check: Any, timeout: float = WAIT_S) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # The page redraws while it refreshes: an element found just before a redraw is stale
    # when read, which only means "look again".
    return WebDriverWait(
        browser, timeout, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)
    ).until(lambda b: check(b), message=f"timed out waiting for {what}")


def node(browser: Any, step: str) -> Any:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, f'g.node[data-step="{step}"]')


def node_status(browser: Any, step: str) -> str:
    try:
        return str(node(browser, step).get_attribute("data-status"))
    except Exception:
        return ""


def text_of(browser: Any, css: str) -> str:
    from selenium.webdriver.common.by import By

    found = browser.find_elements(By.CSS_SELECTOR, css)
    return found[0].text if found else ""


def test_a_failed_step_shows_why_and_retry_resumes_it_without_a_reload(
    server: ServerProcess, browser: Any, screenshots: Path
) -> None:
    sm, name = server.client(), f"story-{uuid.uuid4().hex[:6]}"
    story_pipeline(sm, name)
    fault(server, [{"pipeline": name, "step": "Train", "fail_attempts": 1,
                    "failure_reason": "AlgorithmError: the training script has a bug"}])  # fmt: skip
    arn = start(sm, name)
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Failed"

    open_console(browser, server, f"/executions/{execution_id(arn)}")
    wait_for(browser, "Train drawn as failed", lambda b: node_status(b, "Train") == "Failed")
    train = node(browser, "Train")
    assert train.get_attribute("aria-label") == "Train: Failed, 1 attempt"  # words, not colour
    assert "✗ Failed · 1 attempt" in train.text
    assert node_status(browser, "Prepare") == "Succeeded"
    assert node_status(browser, "Publish") == "NotStarted"
    # The Condition took its if-branch: TooLow is not run, and its edge is drawn as not taken.
    assert node_status(browser, "TooLow") == "NotRun"
    assert "Not run (branch not taken)" in node(browser, "TooLow").text
    edges = {e.get_attribute("class") for e in browser.find_elements("css selector", "path.edge")}
    assert "edge if taken" in edges and "edge else not-taken" in edges
    plan = wait_for(browser, "the retry plan", lambda b: text_of(b, "#retry-plan") or None)
    assert "re-runs Train" in plan and "keeps" in plan and "Prepare" in plan

    train.click()
    reason = wait_for(browser, "the step's reason", lambda b: text_of(b, "#step-reason") or None)
    assert reason == "AlgorithmError: the training script has a bug"
    assert "first run" in text_of(browser, "#attempts")
    browser.save_screenshot(str(screenshots / "execution-failed.png"))

    browser.execute_script("window.notReloaded = true")
    browser.find_element("css selector", "#retry").click()
    wait_for(browser, "Publish to succeed", lambda b: node_status(b, "Publish") == "Succeeded")
    wait_for(browser, "Train to succeed", lambda b: node_status(b, "Train") == "Succeeded")
    assert browser.execute_script("return window.notReloaded") is True
    assert "2 attempts" in node(browser, "Train").get_attribute("aria-label")
    # The open step panel follows: the second attempt, of the first retry, is listed.
    wait_for(browser, "the panel's second attempt", lambda b: "retry 1" in text_of(b, "#attempts"))
    wait_for(browser, "the execution to read Succeeded", lambda b: "Succeeded" in text_of(b, "h1"))
    described = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
    assert described["PipelineExecutionStatus"] == "Succeeded"
    browser.save_screenshot(str(screenshots / "execution-retried.png"))


def test_a_refused_retry_answers_with_the_apis_own_message(
    server: ServerProcess, browser: Any
) -> None:
    sm, name = server.client(), f"low-{uuid.uuid4().hex[:6]}"
    story_pipeline(sm, name)
    arn = start(sm, name, Threshold=0)  # the else branch: the TooLow Fail step ends it
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Failed"
    open_console(browser, server, f"/executions/{execution_id(arn)}")
    wait_for(browser, "TooLow drawn as failed", lambda b: node_status(b, "TooLow") == "Failed")
    assert node_status(browser, "Train") == "NotRun" and node_status(browser, "Publish") == "NotRun"
    plan = wait_for(browser, "the retry plan", lambda b: text_of(b, "#retry-plan") or None)
    assert "not retryable now (ConflictException" in plan
    browser.find_element("css selector", "#retry").click()
    message = wait_for(browser, "the refusal", lambda b: text_of(b, "#action-message") or None)
    with pytest.raises(sm.exceptions.ClientError) as refused:  # what boto3 is told
        sm.retry_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=uuid.uuid4().hex)
    api = refused.value.response["Error"]
    assert message == f"{api['Code']}: {api['Message']}"


def test_stop_stops_a_running_execution(server: ServerProcess, browser: Any) -> None:
    sm, name = server.client(), f"long-{uuid.uuid4().hex[:6]}"
    create(sm, name, [processing("Slow")])
    fault(server, [{"pipeline": name, "step": "Slow", "duration_seconds": 120}])
    arn = start(sm, name)
    open_console(browser, server, f"/executions/{execution_id(arn)}")
    wait_for(browser, "Slow running", lambda b: node_status(b, "Slow") == "Executing")
    assert "live" in text_of(browser, "#live")
    browser.find_element("css selector", "#stop").click()
    wait_for(browser, "Slow stopped", lambda b: node_status(b, "Slow") == "Stopped")
    wait_for(browser, "the execution to read Stopped", lambda b: "Stopped" in text_of(b, "h1"))
    assert sm.describe_pipeline_execution(PipelineExecutionArn=arn)[
        "PipelineExecutionStatus"] == "Stopped"  # fmt: skip


def test_the_lists_link_filter_and_page(
    server: ServerProcess, browser: Any, screenshots: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    sm, name = server.client(), f"lists-{uuid.uuid4().hex[:6]}"
    story_pipeline(sm, name)
    create(sm, f"other-{uuid.uuid4().hex[:6]}", [processing("Only")])
    for threshold in (0, 0, 5):  # two end in the TooLow Fail step, the last succeeds
        wait_done(sm, start(sm, name, Threshold=threshold))
    open_console(browser, server, "/")
    link = wait_for(browser, "the pipeline list", lambda b: b.find_elements(By.LINK_TEXT, name))
    rows = browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(rows) == 2
    row = next(r for r in rows if name in r.text)
    assert "✓ Succeeded" in row.text and "1" in row.text  # last run Succeeded; one version
    browser.save_screenshot(str(screenshots / "pipelines.png"))
    link[0].click()
    wait_for(browser, "three executions", lambda b: "3 executions" in text_of(b, "#page-summary"))
    Select(browser.find_element(By.ID, "status-filter")).select_by_value("Failed")
    wait_for(browser, "the failed ones", lambda b: "2 executions" in text_of(b, "#page-summary"))
    shown = browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(shown) == 2 and all("Failed" in r.text for r in shown)
    assert "status=Failed" in browser.current_url  # a filtered list can be bookmarked


def test_every_step_is_reachable_by_keyboard(server: ServerProcess, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    sm, name = server.client(), f"keys-{uuid.uuid4().hex[:6]}"
    story_pipeline(sm, name)
    arn = start(sm, name)
    wait_done(sm, arn)
    open_console(browser, server, f"/executions/{execution_id(arn)}")
    wait_for(browser, "the graph", lambda b: node_status(b, "Publish") == "Succeeded")
    reached: set[str] = set()
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    for _ in range(40):  # Tab through the page: header links, buttons, then the steps
        active = browser.switch_to.active_element
        if active.get_attribute("data-step"):
            reached.add(str(active.get_attribute("data-step")))
        if len(reached) == 5:
            break
        active.send_keys(Keys.TAB)
    assert reached == {"Prepare", "Check", "Train", "Publish", "TooLow"}
    node(browser, "Train").send_keys(Keys.ENTER)
    wait_for(browser, "the panel", lambda b: text_of(b, "#step-panel h2") == "Train")


def test_a_phone_width_screen_shows_the_execution_without_sideways_scrolling(
    server: ServerProcess, browser: Any, screenshots: Path
) -> None:
    sm, name = server.client(), f"phone-{uuid.uuid4().hex[:6]}"
    story_pipeline(sm, name)
    arn = start(sm, name)
    wait_done(sm, arn)
    browser.set_window_size(390, 844)
    open_console(browser, server, f"/executions/{execution_id(arn)}")
    wait_for(browser, "the graph", lambda b: node_status(b, "Publish") == "Succeeded")
    overflow = browser.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0  # the graph scrolls inside its own box, the page does not
    browser.save_screenshot(str(screenshots / "execution-phone.png"))


def test_five_hundred_steps_draw_in_under_two_seconds(server: ServerProcess, browser: Any) -> None:
    sm, name = server.client(), f"wide-{uuid.uuid4().hex[:6]}"
    fan = [processing(f"Shard{i:03d}", depends_on=["Split"]) for i in range(498)]
    create(sm, name, [processing("Split"), *fan,
                      processing("Merge", depends_on=[s["Name"] for s in fan])])  # fmt: skip
    arn = start(sm, name)
    wait_done(sm, arn, timeout=120)
    open_console(browser, server, f"/executions/{execution_id(arn)}")
    drawn = wait_for(
        browser, "the graph", lambda b: b.execute_script("return document.body.dataset.graphDrawn")
    )
    assert float(drawn) < 2000, f"drawn {float(drawn):.0f} ms after navigation began"
    assert len(browser.find_elements("css selector", "g.node")) == 500
    assert node_status(browser, "Merge") == "Succeeded"


def test_the_executions_list_pages_through_a_hundred_thousand_executions(
    tmp_path: Path, browser: Any
) -> None:
    """100,000 executions started through the API; the list keeps its speed on every page."""
    from concurrent.futures import ThreadPoolExecutor

    server = ServerProcess(["--data-dir", str(tmp_path / "data"), "--max-running-executions",
                            "1000000"])  # fmt: skip
    server.start()
    try:
        name = "many"
        create(server.client(), name, [processing("One")])

        def starts(worker: int) -> None:
            sm = server.client()
            for _ in range(100_000 // 16 + (1 if worker < 100_000 % 16 else 0)):
                sm.start_pipeline_execution(PipelineName=name)

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(starts, range(16)))
        open_console(browser, server, f"/pipelines/{name}")
        wait_for(browser, "the count", lambda b: "100000 executions" in text_of(b, "#page-summary"),
                 timeout=60)  # fmt: skip
        assert "Page 1 of 2000" in text_of(browser, "#page-summary")
        for page in (2, 3):
            browser.find_element("css selector", ".pager button:nth-child(2)").click()
            wait_for(
                browser,
                f"page {page}",
                lambda b, p=page: f"Page {p} of" in text_of(b, "#page-summary"),
            )
        # Every page, down to the last, comes back as fast as the first (keyset paging).
        cursor, pages, slowest = None, 0, 0.0
        while True:
            begun = time.perf_counter()
            url = f"{server.url}/_sagepipe/console/pipelines/{name}/executions"
            with urllib.request.urlopen(url + (f"?next={cursor}" if cursor else "")) as response:
                found = json.loads(response.read())
            slowest = max(slowest, time.perf_counter() - begun)
            pages += 1
            cursor = found["next"]
            if cursor is None:
                break
        assert pages == 2000 and found["total"] == 100_000
        assert slowest < 1.0, f"the slowest page took {slowest:.2f} s"
    finally:
        server.stop()
