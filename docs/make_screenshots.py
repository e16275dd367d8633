"""Regenerate the README's dashboard screenshots against a running `telemetry demo`:

    telemetry demo --port 8765 &   # wait ~30 s for the storm
    .venv/bin/python docs/make_screenshots.py http://127.0.0.1:8765

Drives Debian's /usr/bin/chromium with Playwright (no browser download)."""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

OUT = Path(__file__).parent / "screenshots"


def log_in(page: Page, base: str, token: str) -> None:
    page.goto(base + "/")
    page.fill("#token", token)
    page.click("#login-button")
    expect(page.locator('#gauges tbody tr[data-level="red"]').first).to_be_visible(timeout=60_000)


def main(base: str) -> None:
    OUT.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
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
        expect(page.locator("#mission-progress-text")).to_contain_text("D1: item", timeout=30_000)
        expect(page.locator("#mission-progress-text")).not_to_contain_text("item 0 of", timeout=60_000)
        page.screenshot(path=OUT / "dashboard-pilot.png", full_page=True)
        page.locator("#planner").screenshot(path=OUT / "mission-planner.png")
        page.context.clear_cookies()
        page.evaluate("sessionStorage.clear()")
        log_in(page, base, "demo-manager")
        page.locator("#alerts-panel").screenshot(path=OUT / "alerts-manager.png")
        page.locator("#compliance-panel").screenshot(path=OUT / "compliance.png")
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000")
