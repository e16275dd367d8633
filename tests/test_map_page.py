"""The map on a basemap drawn in GCJ-02 (issue 21): a local tile server draws a mark at G01's
GCJ-02 position; with ``[map] datum = "gcj02"`` the page must draw G01 (WGS84 in the registry)
on the mark, a click on the mark must plan a point at G01's WGS84 position, and a polygon drawn
on the map must become a survey mission over the same area (every vertex shifted back to WGS84).
The page's datum.js is checked against telemetry/geo.py. Playwright drives Debian's chromium."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator

import pytest
from pyproj import Geod

from telemetry.assets import sample_assets_dir
from telemetry.geo import gcj02_to_wgs84, wgs84_to_gcj02
from tests.browser_demo import CHROMIUM, Demo, run_demo
from tests.tile_server import TileServer, tile_server, world_latlon, world_px

pytestmark = pytest.mark.integration
if not os.path.exists(CHROMIUM) and not os.environ.get("CI"):
    pytest.skip(f"{CHROMIUM} is missing", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect  # noqa: E402

from tests.browser_pages import guarded_page, launched  # noqa: E402

GEOD = Geod(ellps="WGS84")
G01 = next(
    f["geometry"]["coordinates"]
    for f in json.loads((sample_assets_dir() / "gauges.geojson").read_text())["features"]
    if f["properties"]["id"] == "G01"
)  # [lon, lat], WGS84
MARK = wgs84_to_gcj02(G01[1], G01[0])  # (lat, lon) where GCJ-02 tiles show G01


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Distance between two (lon, lat)."""
    return float(GEOD.inv(a[0], a[1], b[0], b[1])[2])


@pytest.fixture(scope="module")
def tiles() -> Iterator[TileServer]:
    with tile_server(MARK) as server:
        yield server


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, tiles: TileServer) -> Iterator[Demo]:
    env = {
        "TELEMETRY_MAP__TILES": tiles.url,
        "TELEMETRY_MAP__DATUM": "gcj02",
        "TELEMETRY_MAP__ATTRIBUTION": "test tiles",
    }
    with run_demo(tmp_path_factory.mktemp("demo-gcj"), env) as d:
        yield d


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched() as b:
        yield b


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with guarded_page(browser, 1280, 900) as p:
        yield p


def log_in(page: Page, demo: Demo, token: str = "demo-pilot") -> None:  # noqa: S107 - the demo's
    page.goto(demo.base + "/")
    page.fill("#token", token)
    page.click("#login-button")
    expect(page.locator('#map .gauge[data-id="G01"]')).to_be_attached()


def set_view(page: Page, zoom: int) -> None:
    """Centre the map on the mark at ``zoom`` and wait for its tiles."""
    page.evaluate(
        "([lat, lon, z]) => window.telemetry.state.map.leaflet.setView([lat, lon], z, {animate: false})",
        [MARK[0], MARK[1], zoom],
    )
    page.wait_for_function(
        "z => [...document.querySelectorAll('#map img.leaflet-tile')].some((i) =>"
        " i.src.includes(`/${z}/`) && i.complete && i.naturalWidth > 0)",
        arg=zoom,
    )


def mark_on_screen(page: Page) -> tuple[float, float, int]:
    """Where the tile layer shows the mark (viewport px) and the tiles' zoom."""
    zoom = round(page.evaluate("() => window.telemetry.state.map.leaflet.getZoom()"))
    mx, my = world_px(MARK[0], MARK[1], zoom)
    tx, ty = int(mx // 256), int(my // 256)
    tile: dict[str, float] = page.wait_for_function(
        "(end) => { const i = [...document.querySelectorAll('#map img.leaflet-tile')]"
        ".find((i) => i.src.endsWith(end) && i.complete && i.naturalWidth > 0);"
        " if (!i) return null; const r = i.getBoundingClientRect();"
        " return {left: r.left, top: r.top, width: r.width, height: r.height}; }",
        arg=f"/{zoom}/{tx}/{ty}.png",
    ).json_value()
    return (
        tile["left"] + (mx - tx * 256) / 256 * tile["width"],
        tile["top"] + (my - ty * 256) / 256 * tile["height"],
        zoom,
    )


def centre_of(page: Page, selector: str) -> tuple[float, float]:
    box = page.locator(selector).bounding_box()
    assert box is not None
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def screen_to_wgs84(page: Page, x: float, y: float) -> tuple[float, float]:
    """(lon, lat) in WGS84 of a viewport point, from the mark's position (independent of the page's
    own conversion: Web Mercator here, GCJ-02 inverse from telemetry/geo.py)."""
    sx, sy, zoom = mark_on_screen(page)
    mx, my = world_px(MARK[0], MARK[1], zoom)
    lat, lon = world_latlon(mx + (x - sx), my + (y - sy), zoom)
    wlat, wlon = gcj02_to_wgs84(lat, lon)
    return wlon, wlat


def test_datum_js_matches_telemetry_geo(page: Page, demo: Demo) -> None:
    page.goto(demo.base + "/")
    points = [(29.80 + 0.02 * i, 121.45 + 0.03 * j) for i in range(6) for j in range(6)]
    points += [(39.9, 116.4), (22.3, 114.2), (48.85, 2.35), (0.5, 100.0), (-33.9, 151.2)]
    got = page.evaluate(
        "async (pts) => { const d = await import('/static/datum.js');"
        " return pts.map(([lat, lon]) => [d.wgs84ToGcj02(lat, lon), d.gcj02ToWgs84(lat, lon)]); }",
        points,
    )
    for (lat, lon), (fwd, back) in zip(points, got, strict=True):
        for a, b in zip(fwd, wgs84_to_gcj02(lat, lon), strict=True):
            assert abs(a - b) < 1e-7, (lat, lon, fwd)
        for a, b in zip(back, gcj02_to_wgs84(lat, lon), strict=True):
            assert abs(a - b) < 1e-7, (lat, lon, back)


@pytest.mark.parametrize("zoom", [None, 18])
def test_a_gauge_is_drawn_on_its_place_of_a_gcj02_basemap(
    page: Page, demo: Demo, tiles: TileServer, zoom: int | None
) -> None:
    log_in(page, demo, "demo-viewer")
    if zoom is not None:  # else the fitted view: the gauges, routes and toilets
        set_view(page, zoom)
    sx, sy, z = mark_on_screen(page)
    gx, gy = centre_of(page, '#map .gauge[data-id="G01"]')
    assert math.hypot(gx - sx, gy - sy) <= 3.0, ((gx, gy), (sx, sy))
    # unshifted, G01 would be far from the mark: the test tells the datums apart
    wx, wy = world_px(G01[1], G01[0], z)
    mx, my = world_px(MARK[0], MARK[1], z)
    assert math.hypot(wx - mx, wy - my) > 20
    assert any(r.endswith(".png") for r in tiles.requests)
    expect(page.locator("#map .leaflet-control-attribution")).to_contain_text("test tiles")


def test_a_click_on_the_mark_plans_a_point_at_the_wgs84_position(page: Page, demo: Demo) -> None:
    log_in(page, demo)
    page.select_option("#plan-type", "points")
    set_view(page, 19)
    sx, sy, _ = mark_on_screen(page)
    page.mouse.click(sx, sy)
    expect(page.locator("#plan-points-count")).to_have_text("1")
    with page.expect_request(lambda r: r.url.endswith("/api/v1/missions") and r.method == "POST") as req:
        page.click("#plan")
    point = req.value.post_data_json["points"][0]
    assert metres(tuple(point), tuple(G01)) < 1.0, point
    expect(page.locator("#mission-type")).to_contain_text("points")
    # drag the point 60 px east: the mission is planned again where it was dropped
    before = page.locator("#mission-id").text_content()
    page.locator("#map").scroll_into_view_if_needed()  # planning scrolled the page
    sx, sy, _ = mark_on_screen(page)
    with page.expect_request(lambda r: r.url.endswith("/api/v1/missions") and r.method == "POST") as again:
        page.mouse.move(sx, sy)
        page.mouse.down()
        page.mouse.move(sx + 30, sy, steps=5)
        page.mouse.move(sx + 60, sy, steps=5)
        page.mouse.up()
    moved = again.value.post_data_json["points"][0]
    assert metres(tuple(moved), screen_to_wgs84(page, sx + 60, sy)) < 1.0
    expect(page.locator("#mission-id")).not_to_have_text(before or "")


def test_a_polygon_drawn_on_the_map_becomes_a_survey_of_that_area(page: Page, demo: Demo) -> None:
    log_in(page, demo)
    page.select_option("#plan-type", "survey")
    set_view(page, 16)
    page.click("#plan-draw")
    page.locator("#map").scroll_into_view_if_needed()
    sx, sy, _ = mark_on_screen(page)
    corners = [
        (round(sx) + dx, round(sy) + dy) for dx, dy in [(-140, -100), (150, -90), (130, 110), (-120, 100)]
    ]
    expected = [screen_to_wgs84(page, x, y) for x, y in corners]
    for x, y in [*corners, corners[0]]:
        page.mouse.click(x, y)
    expect(page.locator("#plan-area")).to_have_value("__drawn")
    with page.expect_request(lambda r: r.url.endswith("/api/v1/missions") and r.method == "POST") as req:
        page.click("#plan")
    body = req.value.post_data_json
    assert body["type"] == "survey"
    ring = body["area"]["coordinates"][0]
    assert ring[0] == ring[-1]
    assert len(ring) == 5
    for got, want in zip(ring[:4], expected, strict=True):
        assert metres(tuple(got), want) < 1.0, (got, want)
    area_drawn = abs(GEOD.polygon_area_perimeter([p[0] for p in ring], [p[1] for p in ring])[0])
    area_wanted = abs(GEOD.polygon_area_perimeter([p[0] for p in expected], [p[1] for p in expected])[0])
    assert area_drawn == pytest.approx(area_wanted, rel=1e-3)
    expect(page.locator("#mission-type")).to_contain_text("survey")
    assert int(page.locator("#mission-waypoints").text_content() or 0) > 2
