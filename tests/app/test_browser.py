"""The app in a real browser: ``streamlit run app.py`` on a free 127.0.0.1 port, driven by Playwright
with Debian's Chromium (no browser download): run a scenario from the page, wait for the control
chart, and keep a screenshot in ``test-artifacts/`` (git-ignored) for a person to look at."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app.fixtures import scenarios_dir
from tests.conftest import REPO
from virtual_plc.plc import free_port

pytestmark = pytest.mark.slow  # streamlit and Chromium, a run in the browser, about 40 s

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture
def served_app(tmp_path: Path) -> Iterator[str]:
    """The app served by ``streamlit run`` on 127.0.0.1; yields its URL."""
    port = free_port()
    env = {**os.environ, "QUALITY_TWIN_RUNS": str(tmp_path / "runs"),
           "QUALITY_TWIN_SCENARIOS": str(scenarios_dir())}
    log = (tmp_path / "streamlit.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, server, tmp_path / "streamlit.log")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def _wait_healthy(url: str, server: subprocess.Popen, log: Path, timeout_s: float = 40.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"streamlit exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"streamlit did not answer on {url} within {timeout_s:g} s:\n{log.read_text()}")


def test_run_a_scenario_in_the_browser_and_see_its_control_chart(served_app: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: .ci/setup installs Debian's chromium package"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(served_app)
            expect(page.get_by_text("Run a what-if scenario")).to_be_visible(timeout=30_000)
            page.get_by_role("button", name="Run", exact=True).click()
            chart = page.locator(".st-key-control-chart [data-testid='stVegaLiteChart']")
            expect(chart).to_be_visible(timeout=90_000)
            expect(chart.locator("canvas, svg").first).to_be_visible(timeout=30_000)  # Vega drew the control chart
            expect(page.get_by_text("A run is going")).to_have_count(0)  # the job ended; its knobs are editable
            page.wait_for_selector("[data-testid='stStatusWidget']", state="detached", timeout=60_000)
            assert page.locator("[data-testid='stException']").count() == 0
            timeline = page.locator("[data-testid='stVegaLiteChart']").first  # events above the trend, one axis
            timeline.scroll_into_view_if_needed()
            expect(timeline.locator("canvas, svg").first).to_be_visible(timeout=30_000)
            assert page.get_by_text("Error").count() == 0  # Vega reports a bad spec as text in the chart
            timeline.screenshot(path=str(ARTIFACTS / "app_timeline.png"))
            chart.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "app_control_chart.png"))
            page.set_viewport_size({"width": 1400, "height": 2750})  # the main area scrolls on its own
            page.get_by_text("Run a what-if scenario").scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "app_page.png"))
        finally:
            browser.close()
    assert (ARTIFACTS / "app_control_chart.png").stat().st_size > 20_000
    assert (ARTIFACTS / "app_timeline.png").stat().st_size > 5_000
