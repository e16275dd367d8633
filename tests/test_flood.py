"""Flood alerts end to end (real Mosquitto, real store): readings published over MQTT, alerts
received as retained MQTT messages, stored as flood_alert points and served by the API."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from telemetry.assets import load_registry, sample_assets_dir
from telemetry.config import load_settings
from tests.mqtt_util import Subscriber, publish_all, wait_until
from tests.servers import Mosquitto

pytestmark = pytest.mark.integration
ROOT = "city/haishu"
MIN = 60_000
TOKENS = {"viewer": "v", "manager": "m"}


def service(broker: Mosquitto, tmp: Path, **flood: Any) -> TestClient:
    settings = load_settings(
        overrides={
            "store": {"path": str(tmp / "store")},
            "spool": {"path": str(tmp / "spool")},
            "mqtt": {"url": broker.url, "client_id": "flood-test"},
            "mavlink": {"endpoints": []},
            "api": {"tokens": [{"token": t, "role": r} for r, t in TOKENS.items()]},
            "pipeline": {"flush_interval_s": 0.05},
            "flood": flood,
        }
    )
    return TestClient(create_app(settings, registry=load_registry(sample_assets_dir())))


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


@pytest.fixture
def alerts(mosquitto: Mosquitto) -> Iterator[Subscriber]:
    sub = Subscriber(mosquitto.url, f"{ROOT}/alert/flood/#")
    yield sub
    sub.close()


def readings(gauge: str, depths: list[float], step_ms: int, end_ms: int) -> list[tuple[str, dict[str, Any]]]:
    start = end_ms - (len(depths) - 1) * step_ms
    return [
        (f"{ROOT}/gauge/{gauge}/telemetry", {"ts": start + k * step_ms, "depth_cm": d})
        for k, d in enumerate(depths)
    ]


def grades_per_reading(change_times: list[tuple[int, str]], reading_times: list[int]) -> list[str]:
    out = []
    for t in reading_times:
        level = "green"
        for ct, lv in change_times:
            if ct <= t:
                level = lv
        out.append(level)
    return out


def test_the_domain_sequences_over_mqtt(mosquitto: Mosquitto, tmp_path: Path, alerts: Subscriber) -> None:
    now = int(time.time() * 1000)
    minute = readings("G01", [0, 8, 16, 29, 31], MIN, now)
    hourly = readings("G02", [0, 8, 16, 29, 31], 60 * MIN, now)
    with service(mosquitto, tmp_path) as c:
        wait_until(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
        for m in minute + hourly:  # one message at a time, in order
            publish_all(mosquitto.url, [m])
        wait_until(lambda: len(alerts.levels("G01")) == 2 and len(alerts.levels("G02")) == 2, 15, "alerts")
        assert alerts.levels("G01") == ["yellow", "red"]
        assert alerts.levels("G02") == ["yellow", "red"]
        for gauge, msgs in (("G01", minute), ("G02", hourly)):
            changes = [(int(p["since"]), str(p["level"])) for t, p, _ in alerts.messages if t.endswith(gauge)]
            per_reading = grades_per_reading(changes, [int(m[1]["ts"]) for m in msgs])
            expected = (
                ["green", "yellow", "red", "red", "red"]
                if gauge == "G01"
                else ["green", "green", "yellow", "yellow", "red"]
            )
            assert per_reading == expected
        (_topic, payload, _retained) = alerts.messages[-1]
        assert set(payload) == {
            "gauge",
            "level",
            "depth_cm",
            "rise_cm_per_10min",
            "since",
            "reason",
            "alert_id",
        }
        red = next(p for t, p, _ in alerts.messages if t.endswith("G01") and p["level"] == "red")
        assert red["depth_cm"] == 16
        assert red["rise_cm_per_10min"] == 16

        def rows() -> list[dict[str, Any]]:
            r = c.get(
                "/api/v1/series/flood_alert",
                params={"device": "G01", "field": "alert_id,reason"},
                headers=auth("viewer"),
            )
            items: list[dict[str, Any]] = r.json()["items"]
            return items

        wait_until(lambda: len(rows()) == 2, 10, "flood_alert points")
        first, second = rows()
        assert first["alert_id"] == second["alert_id"] == red["alert_id"]  # one alert, escalated
    late = Subscriber(mosquitto.url, f"{ROOT}/alert/flood/G01")  # retained: a newcomer sees red
    wait_until(lambda: bool(late.messages), 10, "retained alert")
    assert late.messages[0][1]["level"] == "red"
    assert late.messages[0][2] is True
    late.close()


def test_a_12_cm_rise_below_15_is_yellow_never_red(
    mosquitto: Mosquitto, tmp_path: Path, alerts: Subscriber
) -> None:
    now = int(time.time() * 1000)
    with service(mosquitto, tmp_path) as c:
        wait_until(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
        for m in readings("G03", [0, 2, 4, 6, 8, 10, 12, 12, 12, 12, 12], MIN, now):
            publish_all(mosquitto.url, [m])
        wait_until(lambda: alerts.levels("G03") == ["yellow"], 10, "yellow")
        time.sleep(0.5)
        assert "red" not in alerts.levels("G03")


def test_recovery_only_after_the_dwell_and_ack(
    mosquitto: Mosquitto, tmp_path: Path, alerts: Subscriber
) -> None:
    now = int(time.time() * 1000)
    depths = [20, 20] + [5] * 12  # yellow, then 5 cm for 11 minutes of event time
    with service(mosquitto, tmp_path) as c:
        wait_until(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
        msgs = readings("G04", depths, MIN, now)
        for m in msgs[:12]:
            publish_all(mosquitto.url, [m])
        wait_until(lambda: alerts.levels("G04") == ["yellow"], 10, "yellow")
        (active,) = c.get("/api/v1/alerts", params={"kind": "flood"}, headers=auth("viewer")).json()["items"]
        assert (active["subject"], active["level"], active["state"]) == ("G04", "yellow", "active")
        assert c.post(f"/api/v1/alerts/{active['id']}/ack", headers=auth("viewer")).status_code == 403
        r = c.post(f"/api/v1/alerts/{active['id']}/ack", headers=auth("manager"))
        assert r.status_code == 200, r.text
        assert r.json()["acknowledged_by"].startswith("manager:")
        assert c.post("/api/v1/alerts/nope/ack", headers=auth("manager")).status_code == 404
        time.sleep(0.3)
        assert alerts.levels("G04") == ["yellow"]  # 9 minutes below: not yet
        for m in msgs[12:]:
            publish_all(mosquitto.url, [m])
        wait_until(lambda: alerts.levels("G04") == ["yellow", "green"], 10, "green after the dwell")
        assert c.get("/api/v1/alerts", headers=auth("viewer")).json()["count"] == 0
        (cleared,) = c.get("/api/v1/alerts", params={"state": "all"}, headers=auth("viewer")).json()["items"]
        assert cleared["state"] == "cleared"
        assert cleared["cleared_at"] is not None


def test_backlog_array_out_of_order_gives_one_alert(
    mosquitto: Mosquitto, tmp_path: Path, alerts: Subscriber
) -> None:
    now = int(time.time() * 1000)
    items = [m[1] for m in readings("G01", [0, 8, 16, 29, 31], MIN, now)]
    random.Random(3).shuffle(items)
    with service(mosquitto, tmp_path) as c:
        wait_until(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
        publish_all(mosquitto.url, [(f"{ROOT}/gauge/G01/telemetry", items)])
        wait_until(lambda: alerts.levels("G01") == ["red"], 10, "red")
        time.sleep(0.3)
        assert alerts.levels("G01") == ["red"]  # no flapping through yellow


def test_offline_after_silence_by_timer(mosquitto: Mosquitto, tmp_path: Path, alerts: Subscriber) -> None:
    with service(mosquitto, tmp_path, offline_after_s=1.0, check_interval_s=0.1) as c:
        wait_until(
            lambda: (
                {"G01", "G02", "G03", "G04", "G05"} <= {t.rsplit("/", 1)[1] for t, _, _ in alerts.messages}
            ),
            10,
            "offline",
        )
        assert all(p["level"] == "offline" for _, p, _ in alerts.messages)
        publish_all(mosquitto.url, readings("G05", [3], MIN, int(time.time() * 1000)))
        wait_until(lambda: alerts.levels("G05")[-1:] == ["green"], 10, "back online")
        geo = {
            f["properties"]["id"]: f
            for f in c.get("/api/v1/flood/gauges", headers=auth("viewer")).json()["features"]
        }
        assert geo["G05"]["properties"]["level"] == "green"
        assert geo["G05"]["geometry"] == {"type": "Point", "coordinates": [121.506, 29.848]}


def test_restart_raises_no_duplicate_alert(mosquitto: Mosquitto, tmp_path: Path, alerts: Subscriber) -> None:
    now = int(time.time() * 1000)
    with service(mosquitto, tmp_path) as c:
        wait_until(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
        for m in readings("G01", [0, 8, 16, 29, 31], MIN, now):
            publish_all(mosquitto.url, [m])
        wait_until(lambda: alerts.levels("G01") == ["yellow", "red"], 10, "alerts")
        (alert,) = c.get("/api/v1/alerts", headers=auth("viewer")).json()["items"]
        c.post(f"/api/v1/alerts/{alert['id']}/ack", headers=auth("manager"))
    with service(mosquitto, tmp_path) as c:
        wait_until(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
        publish_all(mosquitto.url, readings("G01", [32], MIN, now + MIN))  # still red
        time.sleep(1.0)
        assert alerts.levels("G01") == ["yellow", "red"]
        (again,) = c.get("/api/v1/alerts", headers=auth("viewer")).json()["items"]
        assert again["id"] == alert["id"]
        assert again["level"] == "red"
        assert again["acknowledged_by"] is not None
        rows = c.get("/api/v1/series/flood_alert", params={"device": "G01"}, headers=auth("viewer")).json()[
            "items"
        ]
        assert len(rows) == 2


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []
    failures_left = 1

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if _Hook.failures_left > 0:
            _Hook.failures_left -= 1
            self.send_response(500)
        else:
            _Hook.received.append(body)
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


def test_webhook_posts_red_alerts_with_retries(mosquitto: Mosquitto, tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/sms"
    settings = load_settings(
        overrides={
            "store": {"path": str(tmp_path / "store")},
            "spool": {"path": str(tmp_path / "spool")},
            "mqtt": {"url": mosquitto.url, "client_id": "hook-test"},
            "mavlink": {"endpoints": []},
            "api": {"tokens": [{"token": "v", "role": "viewer"}]},
            "alerts": {"webhooks": [{"url": url, "levels": ["red"]}], "webhook_retries": 2},
        }
    )
    try:
        with TestClient(create_app(settings, registry=load_registry(sample_assets_dir()))) as c:
            wait_until(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
            for m in readings("G03", [0, 8, 16, 29, 31], MIN, int(time.time() * 1000)):
                publish_all(mosquitto.url, [m])
            wait_until(lambda: len(_Hook.received) == 1, 15, "the red alert delivered after one failure")
            (payload,) = _Hook.received
            assert (payload["gauge"], payload["level"]) == ("G03", "red")
            assert payload["alert_id"]
            assert _Hook.failures_left == 0
            time.sleep(0.5)
            assert len(_Hook.received) == 1  # yellow is not configured for this hook
    finally:
        server.shutdown()
