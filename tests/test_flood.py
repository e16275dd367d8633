"""Flood alerts end to end (real Mosquitto, real store): readings published over MQTT, alerts
received as retained MQTT messages, stored as flood_alert points and served by the API."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.params import iso
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


def gauges(c: TestClient) -> list[dict[str, Any]]:
    features: list[dict[str, Any]] = c.get("/api/v1/flood/gauges", headers=auth("viewer")).json()["features"]
    return features


@pytest.fixture
def alerts(mosquitto: Mosquitto) -> Iterator[Subscriber]:
    sub = Subscriber(mosquitto.url, f"{ROOT}/alert/flood/#")
    yield sub
    sub.close()


def readings(
    gauge: str, depths: Sequence[float], step_ms: int, end_ms: int
) -> list[tuple[str, dict[str, Any]]]:
    start = end_ms - (len(depths) - 1) * step_ms
    return [
        (f"{ROOT}/gauge/{gauge}/telemetry", {"ts": start + k * step_ms, "depth_cm": d})
        for k, d in enumerate(depths)
    ]


def marker(broker: Mosquitto, alerts: Subscriber, gauge: str = "G05") -> None:
    """A positive signal instead of "nothing happened after a short sleep": a reading that turns
    ``gauge`` red, published after everything before it. Messages are derived and announced in
    order, so once its alert arrives every earlier message has had its say."""
    before = alerts.levels(gauge).count("red")
    publish_all(
        broker.url, [(f"{ROOT}/gauge/{gauge}/telemetry", {"ts": int(time.time() * 1000), "depth_cm": 45.0})]
    )
    wait_until(lambda: alerts.levels(gauge).count("red") > before, 10, f"the marker alert of {gauge}")


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
            changes = [
                (int(str(p["since"])), str(p["level"])) for t, p, _ in alerts.messages if t.endswith(gauge)
            ]
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
        marker(mosquitto, alerts)
        assert alerts.levels("G03") == ["yellow"]  # never red


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
        assert r.json()["acknowledged_by"] == "manager"  # no user configured: the role
        assert c.post("/api/v1/alerts/nope/ack", headers=auth("manager")).status_code == 404
        marker(mosquitto, alerts)
        assert alerts.levels("G04") == ["yellow"]  # 9 minutes below: not yet
        for m in msgs[12:]:
            publish_all(mosquitto.url, [m])
        wait_until(lambda: alerts.levels("G04") == ["yellow", "green"], 10, "green after the dwell")
        active_now = c.get("/api/v1/alerts", params={"kind": "flood"}, headers=auth("viewer")).json()["items"]
        assert [a["subject"] for a in active_now] == ["G05"]  # the marker's
        every_alert = c.get("/api/v1/alerts", params={"state": "all"}, headers=auth("viewer")).json()["items"]
        (cleared,) = [a for a in every_alert if a["subject"] == "G04"]
        assert cleared["state"] == "cleared"
        assert cleared["cleared_at"] is not None


def test_backlog_array_out_of_order_gives_one_alert_since_the_transition(
    mosquitto: Mosquitto, tmp_path: Path, alerts: Subscriber
) -> None:
    now = int(time.time() * 1000)
    items = [m[1] for m in readings("G01", [0, 8, 16, 29, 31], MIN, now)]
    red_at = int(items[2]["ts"])  # the 16 cm reading: red by its rise
    random.Random(3).shuffle(items)
    with service(mosquitto, tmp_path) as c:
        wait_until(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
        publish_all(mosquitto.url, [(f"{ROOT}/gauge/G01/telemetry", list[object](items))])
        wait_until(lambda: alerts.levels("G01") == ["red"], 10, "red")
        marker(mosquitto, alerts)
        assert alerts.levels("G01") == ["red"]  # no flapping through yellow
        (red,) = [p for t, p, _ in alerts.messages if t.endswith("/G01")]
        assert red["since"] == red_at  # not the backlog's last reading
        geo = {f["properties"]["id"]: f["properties"] for f in gauges(c)}
        assert geo["G01"]["since"] == iso(red_at)


def test_the_peak_then_10_cm_for_15_minutes_turns_green(
    mosquitto: Mosquitto, tmp_path: Path, alerts: Subscriber
) -> None:
    """The issue's sequence: the old rate rule read 10 - 0 as a rise and kept the gauge red."""
    now = int(time.time() * 1000)
    start = now - 20 * MIN
    depths = [(start + k * MIN, d) for k, d in enumerate([0, 8, 16, 29, 31])]
    depths += [(start + 5 * MIN + k * 45_000, 10) for k in range(20)]  # 20 readings over 15 min
    with service(mosquitto, tmp_path) as c:
        wait_until(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
        for t, d in depths:
            publish_all(mosquitto.url, [(f"{ROOT}/gauge/G01/telemetry", {"ts": t, "depth_cm": d})])
        wait_until(lambda: alerts.levels("G01") == ["yellow", "red", "green"], 10, "green")
        green = [p for t, p, _ in alerts.messages if t.endswith("/G01")][-1]
        assert green["since"] == start + 5 * MIN + 14 * 45_000  # the first reading 10 min under 27 cm


def test_a_gauge_every_5_minutes_is_graded_and_spike_checked(
    mosquitto: Mosquitto, tmp_path: Path, alerts: Subscriber
) -> None:
    """A fielded reporting rate (DOMAIN.md: every 5-15 min dry), in event time with explicit
    timestamps: the 9,999 cm spike is ignored (the old rule graded it red), the rise, the fall
    through yellow's hysteresis band and the dwell all count in event time."""
    now = int(time.time() * 1000)
    depths = [0, 0, 9999, 0, 10, 18, 26, 34, 31, 20, 14, 14, 14, 10, 10, 10, 10]
    start = now - (len(depths) - 1) * 5 * MIN
    with service(mosquitto, tmp_path) as c:
        wait_until(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
        for k, d in enumerate(depths):
            payload: dict[str, object] = {"ts": start + k * 5 * MIN, "depth_cm": d}
            publish_all(mosquitto.url, [(f"{ROOT}/gauge/G02/telemetry", payload)])
            if d == 9999:
                marker(mosquitto, alerts)
                assert alerts.levels("G02") == []  # the spike graded nothing
                (g02,) = [f["properties"] for f in gauges(c) if f["properties"]["id"] == "G02"]
                assert g02["sensor_fault"] is not None
                assert "spike" in g02["sensor_fault"]
        wait_until(lambda: len(alerts.levels("G02")) == 4, 10, "four changes")
        changes = [
            (p["level"], (int(str(p["since"])) - start) // MIN)
            for t, p, _ in alerts.messages
            if t.endswith("/G02")
        ]
        # yellow by a 10 cm rise at minute 20, red by rising 18 at 25, yellow after 10 minutes
        # under 27 cm (14 + 3 lies in yellow's band) at 55, green after 10 minutes under 12 at 75
        assert changes == [("yellow", 20), ("red", 25), ("yellow", 55), ("green", 75)]
        assert all("offline" not in p for t, p, _ in alerts.messages if t.endswith("/G02"))


def test_offline_keeps_the_grade_and_raises_its_own_alert(
    mosquitto: Mosquitto, tmp_path: Path, alerts: Subscriber
) -> None:
    offline_alerts = Subscriber(mosquitto.url, f"{ROOT}/alert/gauge_offline/#")
    try:
        with service(mosquitto, tmp_path, offline_after_s=1.0, check_interval_s=0.1) as c:
            wait_until(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
            backlog = [m[1] for m in readings("G01", [0, 8, 16], MIN, int(time.time() * 1000))]
            publish_all(mosquitto.url, [(f"{ROOT}/gauge/G01/telemetry", list[object](backlog))])

            def offline(gauge: str) -> dict[str, object] | None:
                msgs = [p for t, p, _ in alerts.messages if t.endswith(f"/{gauge}")]
                return msgs[-1] if msgs and msgs[-1].get("offline") is True else None

            gauges_ids = ("G01", "G02", "G03", "G04", "G05")
            wait_until(lambda: all(offline(g) for g in gauges_ids), 10, "every gauge offline")
            red = offline("G01")
            assert red is not None
            assert (red["level"], red["alert_id"] != "") == ("red", True)  # the flood is not hidden
            assert {str(offline(g)["level"]) for g in gauges_ids[1:]} == {"green"}  # type: ignore[index]
            assert all(p["level"] != "offline" for _, p, _ in alerts.messages)
            wait_until(lambda: len(offline_alerts.messages) >= 5, 10, "the offline alerts")
            assert {p["level"] for _, p, _ in offline_alerts.messages} == {"offline"}
            active = c.get("/api/v1/alerts", headers=auth("viewer")).json()["items"]
            assert sorted((a["kind"], a["subject"]) for a in active) == [("flood", "G01")] + [
                ("gauge_offline", g) for g in gauges_ids
            ]
            geo = {f["properties"]["id"]: f for f in gauges(c)}
            assert (geo["G01"]["properties"]["level"], geo["G01"]["properties"]["offline"]) == ("red", True)

            publish_all(mosquitto.url, readings("G05", [3], MIN, int(time.time() * 1000)))
            wait_until(lambda: "offline" not in alerts.messages[-1][1], 10, "back online")
            back = [p for t, p, _ in alerts.messages if t.endswith("/G05")][-1]
            assert back["level"] == "green"
            assert "offline" not in back
            wait_until(
                lambda: (
                    [p["level"] for t, p, _ in offline_alerts.messages if t.endswith("/G05")]
                    == ["offline", "green"]
                ),
                10,
                "the offline alert cleared",
            )
            geo = {f["properties"]["id"]: f for f in gauges(c)}
            assert (geo["G05"]["properties"]["level"], geo["G05"]["properties"]["offline"]) == (
                "green",
                False,
            )
            assert geo["G05"]["geometry"] == {"type": "Point", "coordinates": [121.506, 29.848]}
    finally:
        offline_alerts.close()


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
        marker(mosquitto, alerts)
        assert alerts.levels("G01") == ["yellow", "red"]
        again = next(
            a
            for a in c.get("/api/v1/alerts", headers=auth("viewer")).json()["items"]
            if a["subject"] == "G01"
        )
        assert again["id"] == alert["id"]
        assert again["level"] == "red"
        assert again["acknowledged_by"] is not None
        rows = c.get("/api/v1/series/flood_alert", params={"device": "G01"}, headers=auth("viewer")).json()[
            "items"
        ]
        assert len(rows) == 2
        (g01,) = [f["properties"] for f in gauges(c) if f["properties"]["id"] == "G01"]
        assert g01["since"] == iso(now - 2 * MIN)  # restored: red since the 16 cm reading


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
            # a positive signal: a later red (G05) is posted after anything G03 could still post
            publish_all(mosquitto.url, readings("G05", [45], MIN, int(time.time() * 1000)))
            wait_until(lambda: len(_Hook.received) == 2, 15, "the marker's red alert")
            assert [(p["gauge"], p["level"]) for p in _Hook.received] == [("G03", "red"), ("G05", "red")]
            # (yellow is not configured for this hook)
    finally:
        server.shutdown()
