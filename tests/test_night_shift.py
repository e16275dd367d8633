"""The sweepers scenario's night shift: each sweeper uploads last night's pass as a backlog, and
the compliance table judges them at once, end to end over MQTT (real Mosquitto, real app): one
compliant, one speeding, one off its route, and one sending (declared) GCJ-02 that the service
converts, so it is judged on its true track."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from simulators.devices import Rates
from simulators.sensors import SensorFleet
from tests.apps import app_client
from tests.mqtt_util import publish_all, wait_until
from tests.servers import Mosquitto

pytestmark = pytest.mark.integration
AUTH = {"Authorization": "Bearer v-token"}


@pytest.fixture
def client(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[TestClient]:
    with app_client(mosquitto, tmp_path, {"v-token": "viewer"}, "night-shift-test") as c:
        yield c


def test_night_shift_is_one_pass_per_sweeper_in_the_window() -> None:
    now = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 10:00 in Ningbo: last night is today's
    shift = SensorFleet("mqtt://127.0.0.1:1", scenario="sweepers").night_shift(now)
    vehicles = {topic.split("/")[3] for topic, _ in shift}
    assert vehicles == {"SW001", "SW002", "SW003", "SW004"}  # sweepers only, not the truck
    for _, fixes in shift:
        times = [datetime.fromisoformat(f["ts"]).astimezone(ZoneInfo("Asia/Shanghai")) for f in fixes]
        assert times[0].strftime("%F %H:%M") == "2026-11-25 00:30"
        assert times[-1].hour < 6  # inside the 00:00-06:30 window
        assert len(fixes) <= 2000
        gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(times[:-1])}
        assert gaps == {15.0}  # a GPS terminal's fix every 15 s (the last one ends the pass)
        assert 0 < (times[-1] - times[-2]).total_seconds() <= 15
    early = datetime(2026, 11, 24, 16, 40, tzinfo=UTC)  # 00:40 local: tonight's pass is not over
    first = SensorFleet("mqtt://127.0.0.1:1", scenario="sweepers").night_shift(early)[0][1][0]
    assert first["ts"].startswith("2026-11-23T16:30")  # so it is yesterday's


@pytest.mark.parametrize("gps_interval_s", [10.0, 30.0])  # terminals report every 10-30 s
def test_the_compliance_table_judges_the_night_shift(
    client: TestClient, mosquitto: Mosquitto, gps_interval_s: float
) -> None:
    now = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # a fixed day: no dependence on the wall clock
    fleet = SensorFleet(mosquitto.url, scenario="sweepers", rates=Rates(gps_interval_s=gps_interval_s))
    shift = fleet.night_shift(now)
    publish_all(mosquitto.url, shift)
    date = datetime.fromisoformat(shift[0][1][0]["ts"]).astimezone(ZoneInfo("Asia/Shanghai")).strftime("%F")
    expected = sum(len(fixes) for _, fixes in shift)

    def stored() -> int:
        rows = client.get("/api/v1/series/vehicle_position?fn=count&field=speed_kmh", headers=AUTH).json()
        return int(rows["items"][0]["speed_kmh"]) if rows["items"] else 0

    wait_until(lambda: stored() >= expected, 30, "the night shift stored")
    table = client.get(f"/api/v1/sanitation/compliance?date={date}", headers=AUTH).json()["items"]
    by_vehicle = {c["vehicle"]: c for c in table}
    assert by_vehicle["SW001"]["compliant"] is True
    assert by_vehicle["SW001"]["valid_passes"] >= 1
    assert by_vehicle["SW002"]["compliant"] is False
    assert by_vehicle["SW002"]["overspeed_ratio"] > 0.9
    assert by_vehicle["SW003"]["compliant"] is False
    assert by_vehicle["SW003"]["off_route_s"] > 0
    # SW004 declares its GCJ-02 coordinates ("crs"): converted to WGS 84 on intake, it is on route
    assert by_vehicle["SW004"]["compliant"] is True
