"""The event stream seen from outside, over real HTTP (uvicorn on a loopback port): a client that
is cut off, or whose stream ends, reconnects and keeps receiving, with Last-Event-ID when the
server numbers its events. The compliance CSV: CONTRACT §6's columns first, and values with
commas, quotes, a line break and Chinese quoted so that the csv module reads back the JSON."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from api.app import create_app
from simulators.sensors import SensorFleet
from telemetry.assets import load_registry, sample_assets_dir
from telemetry.config import load_settings
from tests.mqtt_util import publish_all, wait_until
from tests.servers import Mosquitto, free_port

pytestmark = pytest.mark.integration
AUTH = {"Authorization": "Bearer v"}
ROOT = "city/haishu"
CONTRACT_COLUMNS = [
    "vehicle", "route", "coverage_ratio", "valid_passes", "planned_passes", "overspeed_ratio",
    "off_route_s", "gap_s", "missed_segments", "stops_served", "stops_planned", "compliant",
]  # fmt: skip
VIEWS = {"alerts", "gauges", "drones"}  # what every (re)connected client is sent first
AWKWARD_ROUTE = 'R01, "东门"\n北段'  # a comma, quotes, a line break and Chinese


def build(mosquitto: Mosquitto, folder: Path, assets: Path, client_id: str) -> FastAPI:
    settings = load_settings(
        overrides={
            "store": {"path": str(folder / "store")},
            "spool": {"path": str(folder / "spool")},
            "mqtt": {"url": mosquitto.url, "client_id": client_id},
            "mavlink": {"endpoints": []},
            "api": {"tokens": [{"token": "v", "role": "viewer"}]},
            "pipeline": {"flush_interval_s": 0.05},
            "assets": {"dir": str(assets)},
        }
    )
    return create_app(settings, registry=load_registry(assets))


@contextlib.contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """The app behind a real uvicorn on a free loopback port (the test client reads whole bodies,
    so it cannot see a stream as it goes)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: server.started, 20, "uvicorn started")
        wait_until(lambda: httpx.get(f"{base}/readyz").status_code == 200, 20, "readiness")
        yield base
    finally:
        server.should_exit = True
        thread.join(20)


class Events:
    """One event-stream connection, parsed per the SSE format: each event's name, data and id;
    ``retry`` as the server set it."""

    def __init__(self, base: str, last_event_id: str | None = None, **params: float) -> None:
        headers = dict(AUTH) | ({"Last-Event-ID": last_event_id} if last_event_id else {})
        self._client = httpx.Client(timeout=httpx.Timeout(10, read=30))
        request = self._client.build_request("GET", f"{base}/api/v1/events", headers=headers, params=params)
        self.response = self._client.send(request, stream=True)
        assert self.response.status_code == 200, self.response.read()
        assert self.response.headers["content-type"].startswith("text/event-stream")
        self._lines = self.response.iter_lines()
        self.retry_ms: int | None = None
        self.last_id: str | None = None
        self.ended = False

    def next(self, deadline: float = float("inf")) -> tuple[str, Any] | None:
        """The next event (name, parsed data), or None when the server ended the stream."""
        name, data = "message", []
        for line in self._lines:
            if time.monotonic() > deadline:
                raise AssertionError("no event in time (keep-alive comments only)")
            if line == "":
                if data:
                    return name, json.loads("\n".join(data))
                name = "message"
                continue
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
            elif field == "id":
                self.last_id = value
            elif field == "retry":
                self.retry_ms = int(value)
        self.ended = True
        return None

    def until(self, check: Any, what: str, timeout_s: float = 20) -> dict[str, Any]:
        """Read events until ``check(views)`` holds for the latest view of each name."""
        views: dict[str, Any] = {}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            event = self.next(deadline)
            if event is None:
                raise AssertionError(f"the stream ended before {what}")
            views[event[0]] = event[1]
            if check(views):
                return views
        raise AssertionError(f"no {what} within {timeout_s} s")

    def close(self) -> None:
        self.response.close()
        self._client.close()


def level(views: dict[str, Any], gauge: str) -> str | None:
    for f in views.get("gauges", {}).get("features", []):
        if f["properties"]["id"] == gauge:
            return str(f["properties"]["level"])
    return None


def flood(mosquitto: Mosquitto, gauge: str) -> None:
    """The gauge goes red (45 cm at once) now."""
    payload = {"ts": int(time.time() * 1000), "depth_cm": 45.0}
    publish_all(mosquitto.url, [(f"{ROOT}/gauge/{gauge}/telemetry", payload)])


def test_a_client_that_reconnects_keeps_receiving(mosquitto: Mosquitto, tmp_path: Path) -> None:
    app = build(mosquitto, tmp_path, sample_assets_dir(), "stream-test")
    with served(app) as base:
        first = Events(base, interval_s=0.2)
        try:
            first.until(lambda v: level(v, "G01") == "green", "the gauges view")
            assert first.retry_ms is not None  # the client is told when to come back
            flood(mosquitto, "G01")
            first.until(lambda v: level(v, "G01") == "red", "G01 red, live")
        finally:
            first.close()  # cut off, mid-stream

        flood(mosquitto, "G02")  # while the client is away
        wait_until(
            lambda: any(
                a["subject"] == "G02"
                for a in httpx.get(f"{base}/api/v1/alerts", headers=AUTH).json()["items"]
            ),
            10,
            "G02's alert",
        )
        second = Events(base, last_event_id=first.last_id, interval_s=0.2)
        try:  # what happened while away arrives, and the stream goes on live
            views = second.until(  # complete: the views that did not change while away as well
                lambda v: level(v, "G02") == "red" and v.keys() >= VIEWS, "every view after reconnecting"
            )
            assert level(views, "G01") == "red"
            assert {a["subject"] for a in views["alerts"]} >= {"G01", "G02"}
            flood(mosquitto, "G03")
            second.until(lambda v: level(v, "G03") == "red", "G03 red, live after the reconnect")
            if first.last_id is not None and second.last_id is not None:
                assert second.last_id != first.last_id  # numbered on: nothing replayed twice
        finally:
            second.close()


def test_a_stream_that_ends_is_resumed_by_the_next(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """``max_s`` ends a stream (as a proxy's timeout would); the next connection starts complete."""
    app = build(mosquitto, tmp_path, sample_assets_dir(), "stream-end-test")
    with served(app) as base:
        short = Events(base, interval_s=0.2, max_s=1)
        try:
            short.until(lambda v: "gauges" in v and "alerts" in v, "the first views")
            while short.next() is not None:  # read to the end the server chose
                pass
            assert short.ended
        finally:
            short.close()
        flood(mosquitto, "G04")
        again = Events(base, last_event_id=short.last_id, interval_s=0.2, max_s=5)
        try:
            again.until(lambda v: level(v, "G04") == "red" and v.keys() >= VIEWS, "every view, G04 red")
        finally:
            again.close()


def awkward_assets(folder: Path) -> Path:
    """The sample registry with route R01 renamed to ``AWKWARD_ROUTE``."""
    folder.mkdir()
    for src in sample_assets_dir().iterdir():
        if src.suffix == ".geojson":
            text = src.read_text(encoding="utf-8")
            if src.name == "routes.geojson":
                doc = json.loads(text)
                for f in doc["features"]:
                    if f["properties"]["id"] == "R01":
                        f["properties"]["id"] = AWKWARD_ROUTE
                        f["properties"]["name"] = '东门路, "北段"'
                text = json.dumps(doc, ensure_ascii=False)
            (folder / src.name).write_text(text, encoding="utf-8")
    return folder


def test_the_compliance_csv_has_the_contract_columns_and_quotes_what_it_must(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    assets = awkward_assets(tmp_path / "assets")
    fleet = SensorFleet(mosquitto.url, scenario="sweepers", assets=assets)
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    shift = fleet.night_shift(now, "Asia/Shanghai")  # each sweeper's pass of last night
    day = datetime.fromisoformat(shift[0][1][0]["ts"]).astimezone(ZoneInfo("Asia/Shanghai")).date()
    app = build(mosquitto, tmp_path, assets, "csv-test")
    with served(app) as base:
        publish_all(mosquitto.url, list(shift))

        def report() -> dict[str, Any]:
            r = httpx.get(f"{base}/api/v1/sanitation/compliance", params={"date": str(day)}, headers=AUTH)
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()
            return body

        wait_until(
            lambda: (
                {(i["vehicle"], i["fixes"] > 0) for i in report()["items"]}
                >= {("SW001", True), ("SW002", True)}
            ),
            30,
            "the night shift judged",
        )
        items = report()["items"]
        r = httpx.get(
            f"{base}/api/v1/sanitation/compliance",
            params={"date": str(day)},
            headers=AUTH | {"Accept": "text/csv"},
        )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8"), newline="")))
    header, body = rows[0], rows[1:]
    assert header[: len(CONTRACT_COLUMNS)] == CONTRACT_COLUMNS  # CONTRACT §6, in its order
    assert len(body) == len(items)
    assert all(len(row) == len(header) for row in body)
    as_dicts = [dict(zip(header, row, strict=True)) for row in body]
    assert {d["route"] for d in as_dicts} >= {AWKWARD_ROUTE}  # read back whole, line break and all
    for item, row in zip(items, as_dicts, strict=True):
        for column in header:
            value = item[column]
            if isinstance(value, list):
                expected = " ".join(value)
            elif value is None:
                expected = ""
            else:
                expected = str(value)
            assert row[column] == expected, (column, row[column], value)
