"""MISSION_CURRENT after the end and when paused, per dialect, and the simulator's determinism."""

from __future__ import annotations

from typing import Any

import pytest

from simulators import autopilots as ap
from simulators.drone import DroneSimulator
from simulators.drone_model import Item, Mode, Run
from tests.test_drone_simulator import (
    ACTIVE,
    COMPLETE,
    HOME,
    LAND,
    NOT_STARTED,
    PAUSED,
    REL_INT,
    TAKEOFF,
    WAYPOINT,
)

pytestmark = pytest.mark.integration


def item(seq: int, command: int, lat: float = 0.0, alt: float = 20.0) -> Item:
    lon = HOME[1] if lat else 0.0
    return Item(seq, REL_INT, command, 0, 1, 0, 0, 0, 0, round(lat * 1e7), round(lon * 1e7), alt)


def run(v: Any, seconds: float) -> None:
    for _ in range(int(seconds * 20)):
        v.step(0.05)


def test_ardupilot_mission_current_after_the_end_and_when_paused() -> None:
    a = ap.ArduPilot()
    v = a.vehicle(HOME, 15.0)
    v.mission = [item(0, WAYPOINT), item(1, TAKEOFF), item(2, WAYPOINT, HOME[0] + 0.001), item(3, LAND)]
    assert a.mission_current(v)[2] == NOT_STARTED
    assert a.set_mode(v, Mode.GUIDED).result == 0
    assert a.arm(v, 0).result == 0
    assert a.mission_start(v, 0, 0).result == 0
    run(v, 12)
    assert a.mission_current(v)[:3] == (2, 3, ACTIVE)
    assert a.pause_continue(v, 0).result == 0
    assert a.mission_current(v)[2] == PAUSED  # GCS_MAVLINK_Copter::mission_state
    assert a.pause_continue(v, 1).result == 0
    run(v, 60)
    assert v.run is Run.COMPLETE
    assert not v.armed
    a.on_disarm(v)  # the disarm resets the mission: seq 0, still COMPLETE
    assert a.mission_current(v)[:3] == (0, 3, COMPLETE)


def test_px4_reports_paused_after_leaving_mission_mode_and_complete_at_the_end() -> None:
    a = ap.PX4()
    v = a.vehicle(HOME, 15.0)
    assert a.set_mode(v, Mode.MISSION).result == ap.TEMPORARILY_REJECTED  # no mission: mode_req_mission
    assert a.mission_start(v, 0, 0).result == ap.DENIED
    v.mission = [item(0, TAKEOFF), item(1, WAYPOINT, HOME[0] + 0.001), item(2, WAYPOINT, HOME[0] + 0.002)]
    assert a.mission_current(v)[2] == NOT_STARTED
    assert a.set_mode(v, Mode.MISSION).result == 0
    assert a.mission_current(v)[2:] == (ACTIVE, 1)  # ACTIVE in mission mode, even on the ground
    assert a.arm(v, 0).result == 0
    run(v, 12)
    assert v.reached >= 0
    assert a.set_mode(v, Mode.LOITER).result == 0
    assert a.mission_current(v)[2:] == (PAUSED, 2)
    assert a.arm(v, 0).result == 0
    assert a.set_mode(v, Mode.RTL).result == 0
    assert a.disarm(v, 0).result == ap.TEMPORARILY_REJECTED  # in the air
    assert a.set_mode(v, Mode.MISSION).result == 0
    run(v, 60)
    assert a.mission_current(v)[:3] == (2, 3, COMPLETE)  # finished: loitering at the last item
    assert v.armed


def test_packet_drop_is_deterministic_for_a_seed() -> None:
    """The same seed drops the same outgoing packets; another seed drops others; about P of them."""

    def delivered(seed: int) -> list[int]:
        sim = DroneSimulator("udpout:127.0.0.1:9", drop=0.3, seed=seed)
        sent: list[int] = []
        sim._mav = type(
            "Link", (), {"mav": type("Mav", (), {"ping_send": lambda self, k: sent.append(k)})()}
        )()
        for k in range(1000):
            sim._send("ping", k)
        return sent

    a, b, other = delivered(42), delivered(42), delivered(43)
    assert a == b
    assert a != other
    assert 650 < len(a) < 750
