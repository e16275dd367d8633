"""Sanitation-route compliance end to end: synthetic GPS tracks published over a real Mosquitto,
stored, judged by the API, and live alerts on the retained alert topic."""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from telemetry.assets import load_registry, sample_assets_dir
from telemetry.config import load_settings
from telemetry.sanitation.rules import Fixes
from tests.mqtt_util import Subscriber, publish_all, wait_until
from tests.servers import Mosquitto
from tests.tracks import along, parked

pytestmark = pytest.mark.integration
ROOT = "city/haishu"
AUTH = {"Authorization": "Bearer v"}
TZ = ZoneInfo("Asia/Shanghai")


def messages(vehicle: str, f: Fixes, chunk: int = 500) -> list[tuple[str, Any]]:
    items = [
        {
            "ts": int(t),
            "lat": float(la),
            "lon": float(lo),
            "speed_kmh": float(s),
            "hdop": 0.8,
            "working": bool(w),
        }
        for t, la, lo, s, w in zip(f.t_ms, f.lat, f.lon, f.speed_kmh, f.working, strict=True)
    ]
    topic = f"{ROOT}/vehicle/{vehicle}/telemetry"
    return [(topic, items[k : k + chunk]) for k in range(0, len(items), chunk)]


def test_compliance_report_and_live_alerts(mosquitto: Mosquitto, tmp_path: Path) -> None:
    yesterday = datetime.now(TZ).date() - timedelta(days=1)
    night = int(datetime(yesterday.year, yesterday.month, yesterday.day, 2, 0, tzinfo=TZ).timestamp() * 1000)
    settings = load_settings(
        overrides={
            "store": {"path": str(tmp_path / "store")},
            "spool": {"path": str(tmp_path / "spool")},
            "mqtt": {"url": mosquitto.url, "client_id": "sanitation-test"},
            "mavlink": {"endpoints": []},
            "api": {"tokens": [{"token": "v", "role": "viewer"}, {"token": "m", "role": "manager"}]},
        }
    )
    alerts = Subscriber(mosquitto.url, f"{ROOT}/alert/sanitation/#")
    tracks = {
        "SW001": along("R01", 6.0, night),
        "SW002": along("R01", 14.0, night),
        "SW003": along("R03", 6.0, night, gcj02=True),  # GCJ-02 sent without saying so
        "GT001": along("R02", 20.0, night, dwell_at=(121.5479, 29.8712, 90)),
    }
    try:
        with TestClient(create_app(settings, registry=load_registry(sample_assets_dir()))) as c:
            wait_until(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
            for vehicle, f in tracks.items():
                publish_all(mosquitto.url, messages(vehicle, f))
            total = sum(len(f.t_ms) for f in tracks.values())

            def stored() -> int:
                n = 0
                for v in tracks:
                    r = c.get(
                        "/api/v1/series/vehicle_position",
                        params={"device": v, "field": "lat", "fn": "count"},
                        headers=AUTH,
                    )
                    n += int(r.json()["items"][0]["lat"]) if r.json()["items"] else 0
                return n

            wait_until(lambda: stored() == total, 30, "every fix stored")
            r = c.get("/api/v1/sanitation/compliance", params={"date": str(yesterday)}, headers=AUTH)
            assert r.status_code == 200, r.text
            by = {(i["vehicle"], i["route"]): i for i in r.json()["items"]}
            assert by[("SW001", "R01")]["compliant"] is True
            assert by[("SW001", "R01")]["coverage_ratio"] == 1.0
            assert by[("SW002", "R01")]["compliant"] is False
            assert by[("SW002", "R01")]["overspeed_ratio"] == 1.0
            sw003 = by[("SW003", "R03")]
            assert sw003["compliant"] is False
            assert "GCJ-02" in sw003["note"]
            gt = by[("GT001", "R02")]
            assert (gt["stops_served"], gt["stops_planned"]) == (1, 3)
            assert by[("SW004", "R03")]["fixes"] == 0  # assigned, no data: nothing passed

            csv_r = c.get(
                "/api/v1/sanitation/compliance",
                params={"date": str(yesterday)},
                headers={**AUTH, "Accept": "text/csv"},
            )
            assert csv_r.headers["content-type"].startswith("text/csv")
            rows = list(csv.DictReader(io.StringIO(csv_r.text)))
            assert {r["vehicle"] for r in rows} == {"SW001", "SW002", "SW003", "SW004", "GT001"}
            sw001 = next(r for r in rows if r["vehicle"] == "SW001")
            assert float(sw001["valid_km"]) == pytest.approx(2.9, rel=0.01)
            assert sw001["route_compliant"] == "True"

            def stored_report() -> int:
                r = c.get(
                    "/api/v1/series/route_compliance",
                    params={"device": "SW001", "field": "coverage_ratio"},
                    headers=AUTH,
                )
                return int(r.json()["count"])

            assert stored_report() == 0  # GET reads; POST (a manager) judges again and writes
            posted = c.post(
                "/api/v1/sanitation/compliance",
                params={"date": str(yesterday)},
                headers={"Authorization": "Bearer m"},
            )
            assert posted.status_code == 200
            assert posted.json() == r.json()
            wait_until(lambda: stored_report() > 1, 10, "route_compliance points")

            wait_until(
                lambda: {t.rsplit("/", 1)[1] for t, _, _ in alerts.messages} >= {"SW002", "SW003"},
                10,
                "alerts",
            )
            levels = {t.rsplit("/", 1)[1]: p["level"] for t, p, _ in alerts.messages}
            assert levels["SW003"] == "off_route"
            assert levels["SW002"] in ("overspeed", "green")  # raised, maybe cleared at the route's end
            assert "SW001" not in levels
    finally:
        alerts.close()


INTERVALS = {"I01": 1, "I05": 5, "I10": 10, "I15": 15, "I30": 30}


def test_the_same_drive_at_every_reporting_interval_gets_the_same_verdict(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """One drive of R01 at 7 km/h with 5 m of GPS noise, reported every 1, 5, 10, 15 and 30 s by
    five vehicles sharing the route, through the real broker and service: the same coverage and
    verdict for each; and a sweeper parked at the depot at 14:00 (in R01's day window) raises
    nothing until it drives off."""
    assets = tmp_path / "assets"
    shutil.copytree(sample_assets_dir(), assets)
    doc = json.loads((assets / "routes.geojson").read_text(encoding="utf-8"))
    (r01,) = [f for f in doc["features"] if f["properties"]["id"] == "R01"]
    r01["properties"]["vehicles"] = [*INTERVALS, "DEP"]
    (assets / "routes.geojson").write_text(json.dumps(doc), encoding="utf-8")
    yesterday = datetime.now(TZ).date() - timedelta(days=1)
    midnight = int(datetime(yesterday.year, yesterday.month, yesterday.day, tzinfo=TZ).timestamp() * 1000)
    tracks = {
        v: along("R01", 7.0, midnight + 3 * 3_600_000, interval_s=s, noise_m=5.0, seed=7, through_m=100.0)
        for v, s in INTERVALS.items()
    }
    two_pm = midnight + 14 * 3_600_000
    parked_then_aside = (
        parked(121.5205, 29.8771, two_pm, 600),  # in the depot D01 for 10 minutes
        parked(121.5205, 29.8800, two_pm + 615_000, 180),  # then 600 m off the route for 3
    )
    settings = load_settings(
        overrides={
            "store": {"path": str(tmp_path / "store")},
            "spool": {"path": str(tmp_path / "spool")},
            "mqtt": {"url": mosquitto.url, "client_id": "sanitation-intervals"},
            "mavlink": {"endpoints": []},
            "assets": {"dir": str(assets)},
            "api": {"tokens": [{"token": "v", "role": "viewer"}]},
        }
    )
    alerts = Subscriber(mosquitto.url, f"{ROOT}/alert/sanitation/#")
    try:
        with TestClient(create_app(settings, registry=load_registry(assets))) as c:
            wait_until(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
            for vehicle, f in tracks.items():
                publish_all(mosquitto.url, messages(vehicle, f))
            for f in parked_then_aside:
                publish_all(mosquitto.url, messages("DEP", f))
            expected = {v: len(f.t_ms) for v, f in tracks.items()}
            expected["DEP"] = sum(len(f.t_ms) for f in parked_then_aside)

            def stored(v: str) -> int:
                r = c.get(
                    "/api/v1/series/vehicle_position",
                    params={"device": v, "field": "lat", "fn": "count"},
                    headers=AUTH,
                )
                return int(r.json()["items"][0]["lat"]) if r.json()["items"] else 0

            wait_until(lambda: all(stored(v) == n for v, n in expected.items()), 30, "every fix stored")
            r = c.get("/api/v1/sanitation/compliance", params={"date": str(yesterday)}, headers=AUTH)
            assert r.status_code == 200, r.text
            rows = {i["vehicle"]: i for i in r.json()["items"] if i["route"] == "R01"}
            for vehicle in INTERVALS:
                row = rows[vehicle]
                assert row["compliant"] is True, (vehicle, row)
                assert (row["coverage_ratio"], row["valid_passes"], row["missed_segments"]) == (1.0, 1, [])
                assert row["valid_km"] == pytest.approx(2.9, rel=0.05)
                assert row["route_compliant"] is True
            assert rows["DEP"]["compliant"] is False  # no pass of its own; the route's verdict is its too
            assert rows["DEP"]["route_compliant"] is True
            (route,) = [v for v in r.json()["routes"] if v["route"] == "R01"]
            assert route["compliant"] is True
            assert route["valid_passes"] == len(INTERVALS)  # the union: every drive counts
            assert route["valid_km"] == pytest.approx(5 * 2.9, rel=0.05)
            assert sorted(route["vehicles"]) == sorted([*INTERVALS, "DEP"])

            wait_until(lambda: any(t.endswith("/DEP") for t, _, _ in alerts.messages), 10, "DEP's alert")
            dep = [p for t, p, _ in alerts.messages if t.endswith("/DEP")]
            assert dep[0]["level"] == "off_route"
            assert int(str(dep[0]["since"])) > two_pm + 615_000 + 60_000  # nothing while at the depot
            assert not any(t.rsplit("/", 1)[1] in INTERVALS for t, _, _ in alerts.messages)
    finally:
        alerts.close()
