"""The dashboard in a real browser (Playwright driving Debian's /usr/bin/chromium; no browser is
downloaded) against `telemetry demo` run as users run it: log in, see the gauges and a red one
during the rainstorm, plan and launch a hotspot mission as a pilot and follow it; a viewer gets
no launch button. Screenshots go to the test's temporary folder.

The tests do not race the demo's rainstorm (its opening storm is over within a minute, and a cell
comes back only every 8 minutes): each floods the gauge it needs now, by publishing a reading to
the demo's broker as a device would (CONTRACT §2)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.browser_demo import CHROMIUM, Demo, run_demo
from tests.mqtt_util import wait_until

pytestmark = pytest.mark.integration
if not os.path.exists(CHROMIUM) and not os.environ.get("CI"):
    pytest.skip(
        f"{CHROMIUM} is missing (make system-deps installs Debian's chromium)", allow_module_level=True
    )

from playwright.sync_api import Browser, Page, expect  # noqa: E402

from tests.browser_pages import guarded_page, launched  # noqa: E402


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with run_demo(tmp_path_factory.mktemp("demo")) as d:
        yield d


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched() as b:
        yield b


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with guarded_page(browser, 1400, 1000) as p:
        yield p


def log_in(page: Page, base: str, token: str) -> None:
    page.goto(base + "/")
    page.fill("#token", token)
    page.click("#login-button")
    expect(page.locator("#app")).to_be_visible()


def test_a_wrong_token_is_refused_on_the_page(page: Page, demo: Demo) -> None:
    page.goto(demo.base + "/")
    page.fill("#token", "not-a-token")
    page.click("#login-button")
    expect(page.locator("#login-error")).to_contain_text("Unknown token")
    expect(page.locator("#app")).to_be_hidden()


def test_gauges_turn_red_during_the_rainstorm(page: Page, demo: Demo, tmp_path: Path) -> None:
    log_in(page, demo.base, "demo-viewer")
    expect(page.locator("#gauges tbody tr")).to_have_count(5)
    expect(page.locator("#live")).to_have_text("live")
    demo.flood_now("G05")  # live, through the event stream, on the open page
    red_row = page.locator('#gauges tbody tr[data-level="red"]').first
    expect(red_row).to_be_visible(timeout=45_000)
    expect(page.locator('#map .gauge[data-level="red"]').first).to_be_attached()
    expect(page.locator("#alerts li").first).to_be_visible()
    expect(page.locator("#compliance tbody tr").first).to_be_visible()
    expect(page.locator("#toilets .toilet-card")).to_have_count(3)
    page.screenshot(path=tmp_path / "rainstorm.png", full_page=True)


def test_a_viewer_gets_no_launch_button_and_no_acknowledge(page: Page, demo: Demo, tmp_path: Path) -> None:
    demo.flood_now("G05")  # an active alert to show
    log_in(page, demo.base, "demo-viewer")
    expect(page.locator("#alerts li").first).to_be_visible(timeout=45_000)
    assert page.locator("#launch").count() == 0
    assert page.locator("#planner").count() == 0
    assert page.locator("#alerts button.ack").count() == 0
    page.screenshot(path=tmp_path / "viewer.png", full_page=True)


def test_a_manager_acknowledges_an_alert(page: Page, demo: Demo) -> None:
    demo.flood_now("G04")  # an active alert to acknowledge
    log_in(page, demo.base, "demo-manager")
    assert page.locator("#launch").count() == 0
    item = page.locator("#alerts li:has(button.ack)").first
    expect(item).to_be_visible(timeout=45_000)
    alert_id = item.get_attribute("data-id")
    page.locator(f'#alerts li[data-id="{alert_id}"] button.ack').click()
    expect(page.locator(f'#alerts li[data-id="{alert_id}"] .acked')).to_contain_text("demo-manager")
    r = httpx.get(f"{demo.base}/api/v1/alerts?state=all", headers={"Authorization": "Bearer demo-viewer"})
    acked = {a["id"]: a["acknowledged_by"] for a in r.json()["items"]}
    assert acked[alert_id] is not None


def test_a_pilot_plans_launches_and_follows_a_hotspot_mission(page: Page, demo: Demo, tmp_path: Path) -> None:
    demo.flood_now("G03")  # a hotspot to fly to
    log_in(page, demo.base, "demo-pilot")
    expect(page.locator('#gauges tbody tr[data-level="red"]').first).to_be_visible(timeout=45_000)
    expect(page.locator("#plan-drone option")).to_have_count(2)
    page.select_option("#plan-drone", "2")
    page.select_option("#plan-type", "hotspots")
    page.click("#plan")
    expect(page.locator("#mission")).to_be_visible()
    expect(page.locator("#mission-state")).to_have_text("planned")
    expect(page.locator("#map .mission-path")).to_have_count(1)
    expect(page.locator("#mission-checks")).to_contain_text("DEM haishu_dem.tif")  # the demo's terrain
    expect(page.locator("#launch")).to_be_disabled()  # not uploaded yet
    # the terrain profile: ground and flight altitude along the route (the demo's DEM)
    profile = page.evaluate("() => window.telemetryCharts.profile.data.map((s) => s.length)")
    assert profile[0] > 2
    assert len(set(profile)) == 1
    # the city lies in ZSNB's protection zone: every mission over it needs an approval, always
    expect(page.locator("#approval-row")).to_be_visible()
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


def test_a_red_gauge_becomes_an_incident_with_an_officer_on_the_way(
    page: Page, demo: Demo, tmp_path: Path
) -> None:
    """The demo's six officers are on the map; a flood opens an incident (auto_open flood:red)
    and, with the demo's auto_assign, the nearest one is sent; a manager can close it."""
    log_in(page, demo.base, "demo-manager")
    expect(page.locator("#map .officer")).to_have_count(6, timeout=30_000)
    demo.flood_now("G02")
    row = page.locator("#incidents tbody tr", has_text="G02").first
    expect(row).to_be_visible(timeout=30_000)
    expect(row).not_to_have_attribute("data-state", "open", timeout=30_000)  # an officer was sent
    incident_id = row.get_attribute("data-id")
    expect(page.locator(f'#map .incident[data-id="{incident_id}"]')).to_be_attached()
    expect(page.locator("#incident-measures")).to_contain_text("incidents")
    r = httpx.get(
        f"{demo.base}/api/v1/incidents/{incident_id}", headers={"Authorization": "Bearer demo-viewer"}
    )
    assert r.json()["officer"] in {f"OF-0{n}" for n in range(1, 7)}
    page.screenshot(path=tmp_path / "incident.png", full_page=True)
    row.locator("button.close").click()
    expect(page.locator(f'#incidents tbody tr[data-id="{incident_id}"]')).to_have_count(0, timeout=10_000)


def test_the_page_is_in_chinese_or_english_by_the_browser_and_by_choice(browser: Browser, demo: Demo) -> None:
    zh = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = zh.new_page()
    log_in(page, demo.base, "demo-pilot")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#map-panel h2")).to_have_text("地图")
    expect(page.locator("#live")).to_have_text("实时")
    expect(page.locator("#gauges thead th").first).to_have_text("监测点")
    expect(page.locator("#plan")).to_have_text("规划")
    expect(page.locator("#gauges tbody tr .badge").first).to_have_text(re.compile("正常|黄色|红色"))
    page.select_option("#lang", "en")  # remembered: the page reloads in English, still logged in
    expect(page.locator("#map-panel h2")).to_have_text("Map")
    expect(page.locator("#live")).to_have_text("live")
    page.reload()
    expect(page.locator("#map-panel h2")).to_have_text("Map")
    zh.close()
    en = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = en.new_page()
    log_in(page, demo.base, "demo-viewer")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#gauges-panel h2")).to_have_text("Waterlogging gauges")
    en.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_no_horizontal_scroll_from_a_desk_to_a_phone(browser: Browser, demo: Demo, width: int) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN")
    page = context.new_page()
    log_in(page, demo.base, "demo-admin")  # the most on the page: planner, schedules, mode selector
    expect(page.locator("#drones tbody tr")).to_have_count(2)
    expect(page.locator("#compliance tbody tr").first).to_be_visible()
    expect(page.locator("#map .gauge").first).to_be_attached()
    overflow = page.evaluate(
        "() => [document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]"
    )
    assert overflow[0] <= overflow[1], overflow
    for panel in ("#drones-panel", "#compliance-panel", "#planner", "#map-panel", "#gauges-panel"):
        box = page.locator(panel).bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= width, panel
    context.close()


def test_the_gauge_chart_shows_the_readings_sent_over_mqtt(page: Page, demo: Demo) -> None:
    now = int(time.time() * 1000)
    sent = [(now - 180_000 + 60_000 * k, 3.25 + k) for k in range(3)]  # 3.25, 4.25, 5.25 cm
    for ts, depth in sent:
        demo.publish("city/haishu/gauge/G01/telemetry", {"ts": ts, "depth_cm": depth})

    start = datetime.fromtimestamp((now - 200_000) / 1000, UTC).isoformat()

    def stored() -> bool:
        r = httpx.get(
            f"{demo.base}/api/v1/series/water_depth",
            params={"device": "G01", "start": start},
            headers={"Authorization": "Bearer demo-viewer"},
        )
        return {round(i["depth_cm"], 2) for i in r.json()["items"]} >= {d for _, d in sent}

    wait_until(stored, 20, "the readings stored")
    log_in(page, demo.base, "demo-viewer")
    page.locator('#gauges tbody tr[data-id="G01"]').click()
    expect(page.locator("#chart-panel")).to_be_visible()
    page.wait_for_function(
        "() => window.telemetryCharts.gauge && window.telemetryCharts.gauge.gauge === 'G01'"
    )
    xs, ys, yellow, red = page.evaluate("() => window.telemetryCharts.gauge.data")
    shown = {round(x * 1000): y for x, y in zip(xs, ys, strict=True)}
    for ts, depth in sent:
        assert shown.get(ts) == depth, (ts, depth)
    assert yellow[0] is not None
    assert red[0] > yellow[0]  # the thresholds in force
    page.locator('#map .gauge[data-id="G03"]').click()  # a gauge on the map
    page.wait_for_function("() => window.telemetryCharts.gauge.gauge === 'G03'")


def test_the_track_replay_colours_a_missed_stretch(page: Page, demo: Demo) -> None:
    log_in(page, demo.base, "demo-viewer")
    expect(page.locator("#compliance tbody tr").first).to_be_visible()
    date = page.locator("#compliance-date").input_value()
    rows = httpx.get(
        f"{demo.base}/api/v1/sanitation/compliance?date={date}",
        headers={"Authorization": "Bearer demo-viewer"},
    ).json()["items"]
    row = next(r for r in rows if r["missed_segments"] and r["route"])
    page.locator(f'#compliance tbody tr[data-vehicle="{row["vehicle"]}"] button.track').click()
    missed = page.locator("#map path.track.missed")
    expect(missed.first).to_be_attached()
    drawn = {missed.nth(k).get_attribute("data-segment") for k in range(missed.count())}
    assert drawn == set(row["missed_segments"])
    replay = page.evaluate("() => window.telemetryTrack")
    assert replay["vehicle"] == row["vehicle"]
    if replay["fixes"] > 1:
        expect(page.locator("#map path.track.covered, #map path.track.overspeed").first).to_be_attached()
