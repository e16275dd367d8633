"""Fences per dialect: uploaded and downloaded apart from the mission (MAV_MISSION_TYPE_FENCE),
and a breach that returns the vehicle to launch."""

from __future__ import annotations

import time
from typing import Any

import pytest

from drones.mavlink import mavutil
from simulators.drone_model import Mode
from tests.test_drone_simulator import (
    GLOBAL,
    HOME,
    LAND,
    MISSION_FRAME,
    TAKEOFF,
    WAYPOINT,
    arm,
    command,
    download,
    home_placeholder,
    patrol,
    set_mode,
    upload,
    vehicle,
    wait,
    wire,
)

pytestmark = pytest.mark.integration


def exclusion(lat: float, lon: float, half: float = 0.0003) -> list[Any]:
    corners = [
        (lat - half, lon - half),
        (lat - half, lon + half),
        (lat + half, lon + half),
        (lat + half, lon - half),
    ]
    return [
        wire(k, 5002, frame=GLOBAL, lat=a, lon=b, p1=4, mission_type=1) for k, (a, b) in enumerate(corners)
    ]


@pytest.mark.parametrize("autopilot", ["ardupilot", "px4"])
def test_fence_upload_and_download_keep_the_mission(autopilot: str) -> None:
    with vehicle(autopilot) as (gcs, sim):
        plan = [home_placeholder(), *patrol(1)] if autopilot == "ardupilot" else patrol(0, MISSION_FRAME)
        assert upload(gcs, plan) == 0
        fence = exclusion(HOME[0] + 0.001, HOME[1] + 0.001)
        assert upload(gcs, fence, mission_type=1) == 0
        got = download(gcs, mission_type=1)
        assert [(g.command, g.param1, g.x, g.y) for g in got] == [(f.command, 4, f.x, f.y) for f in fence]
        assert len(download(gcs)) == len(plan)  # the mission stays
        assert len(sim.vehicle.mission) == len(plan)


@pytest.mark.parametrize(
    ("autopilot", "text"), [("ardupilot", "Polygon fence breached"), ("px4", "Geofence violation")]
)
def test_a_breach_returns_to_launch(autopilot: str, text: str) -> None:
    m = mavutil().mavlink
    lat, lon = HOME
    with vehicle(autopilot) as (gcs, sim):
        first = 1 if autopilot == "ardupilot" else 0
        far = wire(first + 1, WAYPOINT, lat=lat + 0.003, lon=lon, alt=20.0)
        plan = [wire(first, TAKEOFF, alt=20.0), far, wire(first + 2, LAND)]
        assert upload(gcs, ([home_placeholder()] if first else []) + plan) == 0
        assert upload(gcs, exclusion(lat + 0.0015, lon), mission_type=1) == 0  # across the leg
        if autopilot == "ardupilot":
            assert set_mode(gcs, 4) == m.MAV_RESULT_ACCEPTED
            assert arm(gcs) == m.MAV_RESULT_ACCEPTED
        assert command(gcs, m.MAV_CMD_MISSION_START, 0, 0) == m.MAV_RESULT_ACCEPTED
        assert wait(gcs, "STATUSTEXT", 30, text=text).severity in (
            m.MAV_SEVERITY_NOTICE,
            m.MAV_SEVERITY_CRITICAL,
        )
        rtl = sim.autopilot.custom_mode(Mode.RTL)
        wait(gcs, "HEARTBEAT", custom_mode=rtl)
        assert sim.vehicle.reached < first + 1  # the far waypoint was never reached
        deadline = time.monotonic() + 30
        while sim.vehicle.armed and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not sim.vehicle.armed
        assert abs(sim.vehicle.lat - lat) < 1e-4  # back home
