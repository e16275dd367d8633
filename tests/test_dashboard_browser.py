"""The dashboard in a real browser (Playwright driving Debian's /usr/bin/chromium; no browser is
downloaded) against `telemetry demo` run as users run it: log in, see the gauges and a red one
during the rainstorm, plan and launch a hotspot mission as a pilot and follow it; a viewer gets
no launch button. Screenshots go to the test's temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.mqtt_util import wait_until
from tests.servers import env_without_telemetry, free_port, wait_port

pytestmark = pytest.mark.integration
CHROMIUM = "/usr/bin/chromium"
if not os.path.exists(CHROMIUM) and not os.environ.get("CI"):
    pytest.skip(
        f"{CHROMIUM} is missing (make system-deps installs Debian's chromium)", allow_module_level=True
    )

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("demo")
    port = free_port()
    cmd = [sys.executable, "-m", "api.cli", "demo", "--port", str(port), "--data", str(folder / "data")]
    with (folder / "demo.log").open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env_without_telemetry())
        try:
            wait_port(port, 30)
            base = f"http://127.0.0.1:{port}"

            def drones_online() -> bool:
                r = httpx.get(f"{base}/api/v1/drones", headers={"Authorization": "Bearer demo-viewer"})
                return sum(d["online"] for d in r.json()["items"]) == 2

            wait_until(drones_online, 30, "both demo drones online")
            yield base
        finally:
            proc.terminate()
            proc.wait(30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def log_in(page: Page, base: str, token: str) -> None:
    page.goto(base + "/")
    page.fill("#token", token)
    page.click("#login-button")
    expect(page.locator("#app")).to_be_visible()


def test_a_wrong_token_is_refused_on_the_page(page: Page, demo: str) -> None:
    page.goto(demo + "/")
    page.fill("#token", "not-a-token")
    page.click("#login-button")
    expect(page.locator("#login-error")).to_contain_text("Unknown token")
    expect(page.locator("#app")).to_be_hidden()


def test_gauges_turn_red_during_the_rainstorm(page: Page, demo: str, tmp_path: Path) -> None:
    log_in(page, demo, "demo-viewer")
    expect(page.locator("#gauges tbody tr")).to_have_count(5)
    expect(page.locator("#live")).to_have_text("live")
    red_row = page.locator('#gauges tbody tr[data-level="red"]').first
    expect(red_row).to_be_visible(timeout=45_000)
    expect(page.locator('#map circle.gauge[data-level="red"]').first).to_be_attached()
    expect(page.locator("#alerts li").first).to_be_visible()
    expect(page.locator("#compliance tbody tr").first).to_be_visible()
    expect(page.locator("#toilets .toilet-card")).to_have_count(3)
    page.screenshot(path=tmp_path / "rainstorm.png", full_page=True)


def test_a_viewer_gets_no_launch_button_and_no_acknowledge(page: Page, demo: str, tmp_path: Path) -> None:
    log_in(page, demo, "demo-viewer")
    expect(page.locator("#alerts li").first).to_be_visible(timeout=45_000)
    assert page.locator("#launch").count() == 0
    assert page.locator("#planner").count() == 0
    assert page.locator("#alerts button.ack").count() == 0
    page.screenshot(path=tmp_path / "viewer.png", full_page=True)


def test_a_manager_acknowledges_an_alert(page: Page, demo: str) -> None:
    log_in(page, demo, "demo-manager")
    assert page.locator("#launch").count() == 0
    item = page.locator("#alerts li:has(button.ack)").first
    expect(item).to_be_visible(timeout=45_000)
    alert_id = item.get_attribute("data-id")
    page.locator(f'#alerts li[data-id="{alert_id}"] button.ack').click()
    expect(page.locator(f'#alerts li[data-id="{alert_id}"] .acked')).to_contain_text("demo-manager")
    r = httpx.get(f"{demo}/api/v1/alerts?state=all", headers={"Authorization": "Bearer demo-viewer"})
    acked = {a["id"]: a["acknowledged_by"] for a in r.json()["items"]}
    assert acked[alert_id] is not None


def test_a_pilot_plans_launches_and_follows_a_hotspot_mission(page: Page, demo: str, tmp_path: Path) -> None:
    log_in(page, demo, "demo-pilot")
    expect(page.locator('#gauges tbody tr[data-level="red"]').first).to_be_visible(timeout=45_000)
    expect(page.locator("#plan-drone option")).to_have_count(2)
    page.select_option("#plan-drone", "2")
    page.select_option("#plan-type", "hotspots")
    page.click("#plan")
    expect(page.locator("#mission")).to_be_visible()
    expect(page.locator("#mission-state")).to_have_text("planned")
    expect(page.locator("#map path.mission-path")).to_have_count(1)
    expect(page.locator("#mission-checks")).to_contain_text("DEM haishu_dem.tif")  # the demo's terrain
    expect(page.locator("#launch")).to_be_disabled()  # not uploaded yet
    if page.locator("#approval-row").is_visible():  # the city lies in ZSNB's protection zone
        page.fill("#approval-id", "UOM-2026-0412")
        page.click("#approve")
        expect(page.locator("#mission-checks")).to_contain_text("recorded UOM-2026-0412")
    page.screenshot(path=tmp_path / "planned.png", full_page=True)
    page.click("#upload")
    expect(page.locator("#mission-message")).to_contain_text("verified", timeout=60_000)
    expect(page.locator("#mission-state")).to_have_text("verified")
    page.click("#launch")
    expect(page.locator("#mission-message")).to_contain_text("Launched", timeout=30_000)
    expect(page.locator("#mission-state")).to_have_text("running")
    # progress comes from the drone over MAVLink, through the event stream
    expect(page.locator("#mission-progress-text")).to_contain_text("D2: item", timeout=30_000)
    expect(page.locator("#mission-progress-text")).not_to_contain_text("item 0 of", timeout=60_000)
    # the demo's drone 2 is a PX4: AUTO.MISSION shows as MISSION (ArduPilot's AUTO on drone 1)
    expect(page.locator('#drones tbody tr[data-id="2"]')).to_contain_text("MISSION")
    expect(page.locator('#drones tbody tr[data-id="2"]')).to_contain_text("px4")
    page.screenshot(path=tmp_path / "launched.png", full_page=True)
