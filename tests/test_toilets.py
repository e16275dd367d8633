"""Toilet footfall, cleaning and air quality end to end (real Mosquitto, real store)."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from telemetry.alerts.book import AlertBook
from telemetry.assets import load_registry, sample_assets_dir
from telemetry.config import ToiletsConfig, load_settings
from telemetry.records import ToiletEvent, ToiletReading
from telemetry.toilets.engine import ToiletEngine
from telemetry.toilets.rules import ToiletInfo
from tests.mqtt_util import Subscriber, publish_all, wait_until
from tests.servers import Mosquitto

ROOT = "city/haishu"
AUTH = {"Authorization": "Bearer v"}
MIN = 60_000


def test_engine_counter_reset_duplicates_and_late_totals() -> None:
    e = ToiletEngine(ToiletsConfig(), AlertBook(), {"T9": ToiletInfo()}, 0)
    t0 = 1_795_564_800_000

    def total(t: int, n: int) -> list[int]:
        derived, _ = e.observe((ToiletReading("T9", "haishu", t, total=n),), t)
        return [r.entries for r in derived if isinstance(r, ToiletReading) and r.entries is not None]

    assert total(t0, 100) == [0]  # the first total is a baseline
    assert total(t0 + MIN, 105) == [5]
    assert total(t0 + MIN, 105) == []  # redelivered: counted once
    assert total(t0 + 3 * MIN, 4) == [4]  # the counter reset to 0 and counted 4
    assert total(t0 + 2 * MIN, 110) == [
        4,
        5,
    ]  # late: its successor is recomputed (4 - reset), itself 110 - 105
    assert e.entries_since_clean("T9") == 5 + 4 + 5
    e.observe((ToiletEvent("T9", "haishu", t0 + 4 * MIN, "cleaned"),), t0)
    assert e.entries_since_clean("T9") == 0


@pytest.mark.integration
def test_footfall_cleaning_air_and_surge(mosquitto: Mosquitto, tmp_path: Path) -> None:
    settings = load_settings(
        overrides={
            "store": {"path": str(tmp_path / "store")},
            "spool": {"path": str(tmp_path / "spool")},
            "mqtt": {"url": mosquitto.url, "client_id": "toilet-test"},
            "mavlink": {"endpoints": []},
            "api": {"tokens": [{"token": "v", "role": "viewer"}]},
            "pipeline": {"flush_interval_s": 0.05},
            "toilets": {"entries_due": 20, "check_interval_s": 0.1},
        }
    )
    alerts = Subscriber(mosquitto.url, f"{ROOT}/alert/toilet/#")
    now = int(time.time() * 1000)
    start = now - 20 * MIN
    topic = f"{ROOT}/toilet/T01/telemetry"
    try:
        with TestClient(create_app(settings, registry=load_registry(sample_assets_dir()))) as c:
            wait_until(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
            msgs: list[tuple[str, Any]] = [
                (topic, {"ts": start, "total": 100}),
                (topic, {"ts": start + MIN, "total": 105}),
                (topic, {"ts": start + 2 * MIN, "total": 112}),
                (topic, {"ts": start + 2 * MIN, "total": 112}),  # a duplicate message
                (topic, {"ts": start + 3 * MIN, "total": 3}),  # the counter was reset
                (
                    topic,
                    [{"ts": start + 5 * MIN, "total": 10}, {"ts": start + 4 * MIN, "total": 6}],
                ),  # backlog
            ]
            for m in msgs:
                publish_all(mosquitto.url, [m])

            def alert_levels(kind: str) -> list[str]:
                return [str(p["level"]) for t, p, _ in alerts.messages if t.endswith(f"T01/{kind}")]

            wait_until(
                lambda: alert_levels("cleaning") == ["overdue"], 15, "cleaning overdue after 22 entries"
            )
            cleaning = next(p for t, p, _ in alerts.messages if t.endswith("T01/cleaning"))
            assert "22 entries" in str(cleaning["reason"])
            publish_all(
                mosquitto.url,
                [(f"{ROOT}/toilet/T01/event", {"ts": start + 6 * MIN, "type": "cleaned", "by": "张"})],
            )
            wait_until(lambda: alert_levels("cleaning") == ["overdue", "green"], 10, "cleaned")

            publish_all(
                mosquitto.url,
                [(f"{ROOT}/toilet/T03/telemetry", {"ts": start, "entries": 1, "nh3_mg_m3": 1.5})],
            )
            wait_until(
                lambda: [p["level"] for t, p, _ in alerts.messages if t.endswith("T03/air")] == ["exceeded"],
                10,
                "air",
            )
            surge = [
                (f"{ROOT}/toilet/T02/telemetry", {"ts": start + k * MIN, "entries": 9}) for k in range(5)
            ]
            publish_all(mosquitto.url, surge)  # 45 entries in 5 minutes > half of 80
            wait_until(lambda: any(t.endswith("T02/surge") for t, _, _ in alerts.messages), 10, "surge")

            active = {
                (a["kind"], a["subject"]) for a in c.get("/api/v1/alerts", headers=AUTH).json()["items"]
            }
            assert {("toilet_air", "T03"), ("toilet_surge", "T02")} <= active
            assert ("toilet", "T01") not in active

            day = datetime.fromtimestamp(start / 1000, ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d")

            def metrics() -> dict[str, dict[str, Any]]:
                r = c.get("/api/v1/toilets/metrics", params={"date": day}, headers=AUTH)
                assert r.status_code == 200, r.text
                return {m["toilet"]: m for m in r.json()["items"]}

            wait_until(lambda: metrics()["T01"]["entries"] == 22, 10, "derived entries stored")
            t01 = metrics()["T01"]
            assert sum(t01["entries_per_hour"]) == 22
            assert len(t01["entries_per_hour"]) == 24
            assert (t01["cleanings_done"], t01["cleaning_overdue"], t01["cleaning_overdue_now"]) == (
                1,
                1,
                False,
            )
            assert metrics()["T03"]["air_exceedances"] == 1
            assert metrics()["T02"]["entries"] == 45
            assert (
                c.get("/api/v1/toilets/metrics", params={"date": "25-11-2026"}, headers=AUTH).status_code
                == 400
            )
    finally:
        alerts.close()
