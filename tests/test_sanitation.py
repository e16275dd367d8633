"""Sanitation-route compliance end to end: synthetic GPS tracks published over a real Mosquitto,
stored, judged by the API, and live alerts on the retained alert topic."""

from __future__ import annotations

import csv
import io
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
from tests.tracks import along

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
            "api": {"tokens": [{"token": "v", "role": "viewer"}]},
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

            def stored_report() -> int:
                r = c.get(
                    "/api/v1/series/route_compliance",
                    params={"device": "SW001", "field": "coverage_ratio"},
                    headers=AUTH,
                )
                return int(r.json()["count"])

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
