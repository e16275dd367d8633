"""What the dashboard stands on: the page and its assets come from the package (no internet),
who a token is, the map layers, and the live views as server-sent events (real app, real
embedded store, real broker)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.routes_dashboard import STATIC
from tests.apps import app_client
from tests.mqtt_util import publish_all, wait_until
from tests.servers import Mosquitto

pytestmark = pytest.mark.integration
TOKENS = {"viewer": "v-token", "manager": "m-token", "pilot": "p-token", "admin": "a-token"}


@pytest.fixture
def client(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[TestClient]:
    with app_client(mosquitto, tmp_path, {t: r for r, t in TOKENS.items()}, "dashboard-test") as c:
        yield c


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


def test_the_page_and_its_assets_need_nothing_from_the_internet(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    referenced = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert "/static/app.js" in referenced
    assert "/static/app.css" in referenced
    for ref in referenced:
        assert not ref.startswith(("http:", "https:", "//")), f"external reference {ref}"
        if ref.startswith("/static/"):
            assert client.get(ref).status_code == 200
    assert "/static/vendor/leaflet/leaflet.js" in referenced
    own = [p.name for p in STATIC.iterdir() if p.suffix in {".js", ".css", ".html"}]
    assert {"app.js", "map.js", "datum.js", "i18n.js", "planner.js", "charts.js"} <= set(own)
    for name in own:
        text = (STATIC / name).read_text(encoding="utf-8")
        # the SVG namespace is an identifier, not a download
        urls = set(re.findall(r"https?://[^\s\"'`)]+", text)) - {"http://www.w3.org/2000/svg"}
        assert not urls, f"{name} refers to {urls}"


@pytest.mark.parametrize(
    ("role", "permissions"),
    [
        ("viewer", ["read"]),
        ("manager", ["ack", "audit", "read"]),
        ("pilot", ["missions", "read"]),
        ("admin", ["ack", "admin", "audit", "missions", "read"]),
    ],
)
def test_me_tells_the_page_what_the_role_may_do(
    client: TestClient, role: str, permissions: list[str]
) -> None:
    me = client.get("/api/v1/me", headers=auth(role)).json()
    assert me["role"] == role
    assert me["permissions"] == permissions
    assert me["timezone"] == "Asia/Shanghai"
    assert me["map"] == {"tiles": "", "subdomains": "", "attribution": "", "datum": "wgs84"}  # no basemap
    assert client.get("/api/v1/me").status_code == 401


def test_map_layers_come_from_the_assets_and_the_airspace(client: TestClient) -> None:
    layers = client.get("/api/v1/assets", headers=auth("viewer")).json()
    assert {f["properties"]["id"] for f in layers["gauges"]["features"]} == {
        "G01",
        "G02",
        "G03",
        "G04",
        "G05",
    }
    assert {f["properties"]["id"] for f in layers["routes"]["features"]} == {"R01", "R02", "R03"}
    assert len(layers["toilets"]["features"]) == 3
    areas = {f["properties"]["id"]: f for f in layers["areas"]["features"]}
    assert areas["P01"]["properties"]["kind"] == "patrol"
    zsnb = next(f for f in layers["areas"]["features"] if f["properties"]["kind"] == "controlled")
    assert zsnb["geometry"]["type"] == "Polygon"
    ring = zsnb["geometry"]["coordinates"][0]
    lons = [p[0] for p in ring]
    assert min(lons) < 121.46 < max(lons)  # the airport (121.46 E) lies inside its protection zone
    assert client.get("/api/v1/assets").status_code == 401


def read_events(client: TestClient, query: str) -> dict[str, object]:
    events: dict[str, object] = {}
    with client.stream("GET", f"/api/v1/events?{query}", headers=auth("viewer")) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        name = ""
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events[name] = json.loads(line[6:])
    return events


def test_events_stream_the_live_views_and_follow_a_flood(client: TestClient, mosquitto: Mosquitto) -> None:
    first = read_events(client, "interval_s=0.2&max_s=1")
    assert set(first) == {"alerts", "gauges", "drones", "vehicles"}
    assert first["alerts"] == []
    # G01 floods: 30 cm is red ([flood] red_cm)
    now_ms = int(time.time() * 1000)
    publish_all(
        mosquitto.url,
        [
            ("city/haishu/gauge/G01/telemetry", {"ts": now_ms - 1000 * (5 - i), "depth_cm": 30.0})
            for i in range(5)
        ],
    )

    def red() -> bool:
        gauges = client.get("/api/v1/flood/gauges", headers=auth("viewer")).json()
        return any(f["properties"]["level"] == "red" for f in gauges["features"])

    wait_until(red, 20, "G01 red")
    later = read_events(client, "interval_s=0.2&max_s=1")
    gauges = later["gauges"]
    assert isinstance(gauges, dict)
    levels = {f["properties"]["id"]: f["properties"]["level"] for f in gauges["features"]}
    assert levels["G01"] == "red"
    alerts = later["alerts"]
    assert isinstance(alerts, list)
    assert [(a["subject"], a["level"]) for a in alerts] == [("G01", "red")]


def test_events_need_a_token_and_bounded_parameters(client: TestClient) -> None:
    assert client.get("/api/v1/events?max_s=1").status_code == 401
    assert client.get("/api/v1/events?interval_s=0.01", headers=auth("viewer")).status_code == 422


def test_the_page_gets_the_configured_basemap(mosquitto: Mosquitto, tmp_path: Path) -> None:
    tiles = {
        "tiles": "https://t{s}.example.cn/vec/{z}/{x}/{y}.png?tk=k",
        "subdomains": "0123",
        "datum": "gcj02",
    }
    with app_client(mosquitto, tmp_path, {"v": "viewer"}, "dashboard-map", sections={"map": tiles}) as c:
        me = c.get("/api/v1/me", headers={"Authorization": "Bearer v"}).json()
    assert me["map"] == {**tiles, "attribution": ""}
