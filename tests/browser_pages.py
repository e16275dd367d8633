"""The browser and the guarded page every Playwright test uses: Debian's chromium (never a
downloaded browser), and a page that fails its test on a JavaScript error or on any request that
would leave this machine. Import it only after the chromium check (tests/browser_demo.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, Page, Route, sync_playwright

from tests.browser_demo import CHROMIUM, CHROMIUM_ARGS, is_local


@contextmanager
def launched() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@contextmanager
def guarded_page(browser: Browser, width: int, height: int, locale: str = "en-US") -> Iterator[Page]:
    context = browser.new_context(viewport={"width": width, "height": height}, locale=locale)
    outside: list[str] = []  # without a tile URL nothing may leave this machine

    def guard(route: Route) -> None:
        if is_local(route.request.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"
    assert not outside, f"requests left localhost: {outside}"
