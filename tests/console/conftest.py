"""A real browser for the console tests: headless Chromium from the Debian packages
(`chromium`, `chromium-driver`) driven by Selenium; no browser is downloaded. Where they are
not installed the tests are skipped, saying so, except under SAGEPIPE_REQUIRE_BROWSER=1 (CI),
where that fails the run. Screenshots go to $SAGEPIPE_SCREENSHOTS (default: the run's temp)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("SAGEPIPE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SAGEPIPE_CHROMEDRIVER", "/usr/bin/chromedriver")


def _missing() -> str | None:
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        return "Chromium is not installed (apt-get install chromium chromium-driver)"
    if not (os.path.exists(CHROMEDRIVER) or shutil.which("chromedriver")):
        return "chromedriver is not installed (apt-get install chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (it comes with the test extra)"
    return None


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = os.environ.get("SAGEPIPE_SCREENSHOTS")
    path = Path(where) if where else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def chrome() -> Iterator[Any]:
    reason = _missing()
    if reason:
        if os.environ.get("SAGEPIPE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"SAGEPIPE_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = (
        CHROMIUM if os.path.exists(CHROMIUM) else str(shutil.which("chromium"))
    )
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1280,800", "--no-proxy-server",
                 # Nothing but the server under test: no updates, no sign-in, no field trials.
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-default-apps", "--no-first-run"):  # fmt: skip
        options.add_argument(flag)
    driver_path = (
        CHROMEDRIVER if os.path.exists(CHROMEDRIVER) else str(shutil.which("chromedriver"))
    )
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_window_size(1280, 800)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(chrome: Any) -> Iterator[Any]:
    """The session's browser at 1280x800 with a clean slate (no cookies, no page)."""
    chrome.delete_all_cookies()
    chrome.set_window_size(1280, 800)
    yield chrome
    chrome.get("about:blank")
