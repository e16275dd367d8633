"""Regenerate the README's dashboard screenshots against a running `telemetry demo`:

    telemetry demo --port 8765 &   # wait ~30 s for the storm
    .venv/bin/python docs/make_screenshots.py http://127.0.0.1:8765

Drives Debian's /usr/bin/chromium with Playwright (no browser download). The page is shown in
Chinese (the bureau's language; `--lang en` for English) on a 1400 px desk and a 390 px phone."""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import Browser, Page, expect, sync_playwright

OUT = Path(__file__).parent / "screenshots"


def log_in(page: Page, base: str, token: str) -> None:
    page.goto(base + "/")
    page.fill("#token", token)
    page.click("#login-button")
    expect(page.locator('#gauges tbody tr[data-level="red"]').first).to_be_visible(timeout=60_000)


def pilot(browser: Browser, base: str, lang: str) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 900}, locale=lang)
    log_in(page, base, "demo-pilot")
    page.select_option("#plan-drone", "1")
    page.click("#plan")
    expect(page.locator("#mission")).to_be_visible()
    if page.locator("#approval-row").is_visible():
        page.fill("#approval-id", "UOM-2026-0412")
        page.click("#approve")
    page.click("#upload")
    expect(page.locator("#mission-message")).to_contain_text("verified", timeout=60_000)
    page.click("#launch")
    expect(page.locator("#mission-progress-text")).to_contain_text("D1", timeout=30_000)
    expect(page.locator("#mission-progress")).not_to_have_attribute("value", "0", timeout=60_000)
    red = page.locator('#gauges tbody tr[data-level="red"]').first
    red.click()  # its depth over 24 h, thresholds and alerts
    page.wait_for_function("() => window.telemetryCharts && window.telemetryCharts.gauge")
    page.locator("#map").scroll_into_view_if_needed()
    page.screenshot(path=OUT / "dashboard-pilot.png", full_page=True)
    page.locator("#map-panel").screenshot(path=OUT / "map.png")
    page.locator("#chart-panel").screenshot(path=OUT / "gauge-chart.png")
    page.locator("#planner").screenshot(path=OUT / "mission-planner.png")
    page.close()


def manager(browser: Browser, base: str, lang: str) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 900}, locale=lang)
    log_in(page, base, "demo-manager")
    page.locator("#alerts-panel").screenshot(path=OUT / "alerts-manager.png")
    expect(page.locator("#compliance tbody tr").first).to_be_visible()
    page.locator("#compliance-panel").screenshot(path=OUT / "compliance.png")
    row = page.locator('#compliance tbody tr[data-compliant="false"]').first
    row.locator("button.track").click()
    expect(page.locator("#map path.track.missed").first).to_be_attached()
    page.wait_for_timeout(500)  # the map's fit to the track
    page.locator("#map-panel").screenshot(path=OUT / "track-replay.png")
    page.close()


def phone(browser: Browser, base: str, lang: str) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844}, locale=lang, device_scale_factor=2)
    log_in(page, base, "demo-manager")
    page.screenshot(path=OUT / "phone.png")
    page.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base", nargs="?", default="http://127.0.0.1:8000")
    parser.add_argument("--lang", default="zh-CN")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        pilot(browser, args.base, args.lang)
        manager(browser, args.base, args.lang)
        phone(browser, args.base, args.lang)
        browser.close()


if __name__ == "__main__":
    main()
