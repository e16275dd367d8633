"""Alerts that live in the store (decision 85): a toilet air alert and a sanitation off-route
alert raised, acknowledged, the service stopped and started again on the same embedded store and
real Mosquitto: the same alerts are active with their ids and acknowledgements, nothing is
announced again while the conditions hold, and clearing input after the restart clears them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from storage.embedded import EmbeddedStore
from telemetry.alerts.book import AlertBook
from telemetry.assets import load_registry, sample_assets_dir
from telemetry.config import Settings, ToiletsConfig, load_settings
from telemetry.records import AlertAck, AlertChange, ToiletEvent, ToiletReading
from telemetry.sanitation.rules import Fixes
from telemetry.toilets.service import ToiletService
from tests.clock import Clock
from tests.mqtt_util import Subscriber, publish_all, wait_until
from tests.servers import Mosquitto
from tests.test_toilet_rules import at
from tests.tracks import parked

ROOT = "city/haishu"
VIEWER, MANAGER = {"Authorization": "Bearer v"}, {"Authorization": "Bearer m"}
MIN = 60_000
ASIDE = (121.5205, 29.8800)  # about 600 m north of R01, no depot
ON_R01 = (121.5200, 29.87445)
AIR = f"{ROOT}/alert/toilet/T03/air"
OFF = f"{ROOT}/alert/sanitation/SW001"


@pytest.fixture
def announced(mosquitto: Mosquitto) -> Iterator[Subscriber]:
    sub = Subscriber(mosquitto.url, f"{ROOT}/alert/#")
    yield sub
    sub.close()


def settings(mosquitto: Mosquitto, tmp_path: Path) -> Settings:
    return load_settings(
        overrides={
            "store": {"path": str(tmp_path / "store")},
            "spool": {"path": str(tmp_path / "spool")},
            "mqtt": {"url": mosquitto.url, "client_id": "durable-alerts"},
            "mavlink": {"endpoints": []},
            "api": {"tokens": [{"token": "v", "role": "viewer"}, {"token": "m", "role": "manager"}]},
            "pipeline": {"flush_interval_s": 0.05},
            "toilets": {"check_interval_s": 0.1},
        }
    )


def app(s: Settings) -> TestClient:
    return TestClient(create_app(s, registry=load_registry(sample_assets_dir())))


def fixes(f: Fixes) -> list[tuple[str, Any]]:
    items = [
        {"ts": int(t), "lat": float(la), "lon": float(lo), "speed_kmh": 0.0, "hdop": 0.8, "working": True}
        for t, la, lo in zip(f.t_ms, f.lat, f.lon, strict=True)
    ]
    return [(f"{ROOT}/vehicle/SW001/telemetry", items)]


def active(c: TestClient) -> dict[tuple[str, str], dict[str, Any]]:
    items = c.get("/api/v1/alerts", headers=VIEWER).json()["items"]
    return {(a["kind"], a["subject"]): a for a in items}


def count(c: TestClient, measurement: str, device: str, field: str) -> int:
    params = {"device": device, "field": field, "fn": "count"}
    rows = c.get(f"/api/v1/series/{measurement}", params=params, headers=VIEWER).json()["items"]
    return int(rows[0][field] or 0) if rows else 0


def live(sub: Subscriber, topic: str) -> list[str]:
    """The levels announced on ``topic`` while the subscriber listened (not retained copies)."""
    return [str(p["level"]) for t, p, retained in sub.messages if t == topic and not retained]


@pytest.mark.integration
def test_air_and_off_route_alerts_survive_a_restart(
    mosquitto: Mosquitto, tmp_path: Path, clock: Clock, announced: Subscriber
) -> None:
    s = settings(mosquitto, tmp_path)
    t0 = at(0, "09:10")
    with app(s) as c:
        wait_until(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
        publish_all(
            mosquitto.url, [(f"{ROOT}/toilet/T03/telemetry", {"ts": t0, "entries": 1, "nh3_mg_m3": 1.5})]
        )
        publish_all(mosquitto.url, fixes(parked(*ASIDE, t0, 180)))  # 3 min off R01 in its window
        wait_until(lambda: live(announced, AIR) == ["exceeded"], 10, "air alert")
        wait_until(lambda: live(announced, OFF) == ["off_route"], 10, "off-route alert")
        before = active(c)
        air, off = before[("toilet_air", "T03")], before[("sanitation", "SW001")]
        r = c.post(f"/api/v1/alerts/{air['id']}/ack", headers=MANAGER)
        assert r.status_code == 200, r.text
        air = r.json()
        off = c.post(f"/api/v1/alerts/{off['id']}/ack", headers=MANAGER).json()
        assert air["acknowledged_by"] is not None
        assert off["acknowledged_by"] == air["acknowledged_by"]
        wait_until(lambda: count(c, "alert", air["id"], "state") >= 1, 10, "air alert stored")
        wait_until(lambda: count(c, "alert", off["id"], "state") >= 1, 10, "off-route alert stored")

    announced.messages.clear()
    clock.ms += 10 * MIN
    with app(s) as c:  # the restart, on the same store
        wait_until(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
        after = active(c)
        assert after[("toilet_air", "T03")] == air  # same id, raise time and acknowledgement
        assert after[("sanitation", "SW001")] == off

        # the conditions still hold: nothing is announced again
        still = {"ts": t0 + 4 * MIN, "entries": 1, "nh3_mg_m3": 1.6}
        publish_all(mosquitto.url, [(f"{ROOT}/toilet/T03/telemetry", still)])
        publish_all(mosquitto.url, fixes(parked(*ASIDE, t0 + 195_000, 60, seed=1)))
        wait_until(lambda: count(c, "toilet_footfall", "T03", "entries") == 2, 10, "T03 stored")
        wait_until(lambda: count(c, "vehicle_position", "SW001", "lat") == 13 + 5, 10, "fixes stored")
        assert live(announced, AIR) == []
        assert live(announced, OFF) == []
        assert active(c) == after

        # clearing input after the restart clears the stored alerts
        clean = {"ts": t0 + 5 * MIN, "entries": 1, "nh3_mg_m3": 0.2}
        publish_all(mosquitto.url, [(f"{ROOT}/toilet/T03/telemetry", clean)])
        publish_all(mosquitto.url, fixes(parked(*ON_R01, t0 + 6 * MIN, 30, seed=2)))
        wait_until(lambda: live(announced, AIR) == ["green"], 10, "air cleared")
        wait_until(lambda: live(announced, OFF) == ["green"], 10, "off route cleared")
        cleared = {(a["kind"], a["subject"]): a for a in c.get(
            "/api/v1/alerts", params={"state": "all"}, headers=VIEWER).json()["items"]}  # fmt: skip
        assert cleared[("toilet_air", "T03")]["id"] == air["id"]
        assert cleared[("toilet_air", "T03")]["state"] == "cleared"
        assert cleared[("sanitation", "SW001")]["id"] == off["id"]
        assert cleared[("sanitation", "SW001")]["state"] == "cleared"
        assert not {("toilet_air", "T03"), ("sanitation", "SW001")} & set(active(c))
        wait_until(lambda: count(c, "alert", off["id"], "state") >= 2, 10, "the clear stored")

    clock.ms += 10 * MIN
    with app(s) as c:  # cleared stays cleared
        wait_until(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
        assert not {("toilet_air", "T03"), ("sanitation", "SW001")} & set(active(c))


def test_toilet_service_restores_surge_and_every_acknowledgement(tmp_path: Path) -> None:
    """At the derivation, on the real embedded store: a surge comes back from its ``alert``
    point (not re-derived from the readings), a silent alert restored from its ``toilet_event``
    keeps its acknowledgement, and the surge's clear after the restart is stored."""

    async def scenario() -> None:
        async with EmbeddedStore(tmp_path / "store") as store:
            registry = load_registry(sample_assets_dir())
            a = ToiletService(ToiletsConfig(), registry, AlertBook(), "haishu", at(0, "10:00"))
            await a.restore(store, at(0, "10:00"))
            surge = tuple(
                ToiletReading("T02", "haishu", at(0, "10:00") + k * MIN, entries=9) for k in range(6)
            )
            derived = a.observe([surge], at(0, "10:05"))
            derived2 = a.tick(at(0, "13:00"))  # silence in opening hours
            await store.write([r.to_point() for r in (*surge, *derived.records, *derived2.records)])
            raised = a.engine.book.active("toilet_surge", "T02")
            silent = a.engine.book.active("toilet_silent", "T01")
            assert raised is not None
            assert silent is not None
            await store.write([AlertAck(silent.id, silent.kind, "duty-07", at(0, "13:01")).to_point()])
            # a cleaning just after the first reading: the readings since it would surge later
            await store.write([ToiletEvent("T02", "haishu", at(0, "10:00") + 30_000, "cleaned").to_point()])

            b = ToiletService(ToiletsConfig(), registry, AlertBook(), "haishu", at(0, "13:05"))
            await b.restore(store, at(0, "13:05"))
            assert b.engine.book.active("toilet_surge", "T02") == raised
            assert b.engine.book.list("active", "toilet_surge") == [raised]  # no second one re-derived
            back = b.engine.book.active("toilet_silent", "T01")
            assert back is not None
            assert (back.id, back.acknowledged_by) == (silent.id, "duty-07")
            calm = b.observe([(ToiletReading("T02", "haishu", at(0, "13:06"), entries=1),)], at(0, "13:06"))
            assert [n.payload["level"] for n in calm.notices if n.topic.endswith("/surge")] == ["green"]
            stored = [r for r in calm.records if isinstance(r, AlertChange) and r.kind == "toilet_surge"]
            assert [(r.alert, r.state) for r in stored] == [(raised.id, "cleared")]

    asyncio.run(scenario())
