"""Conformance against a ground station nobody here wrote: MAVSDK (PyPI `mavsdk` 4.x, the C++
library in-process) flies a mission on our simulator in each dialect, the way its users must for
that autopilot: ArduPilot with the home item at seq 0 (ArduPilot's own MAVSDK guide,
ArduPilot/ardupilot-mavsdk docs/ardupilot.md), PX4 with items from 0. Upload with mission_raw,
download back, arm, start_mission, see the progress reach n/n and the vehicle land and disarm;
the commands MAVSDK sends each autopilot to start; fences; clearing; and our upload received by
MAVSDK's mission server."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator

import pytest

from simulators.drone import DroneSimulator
from tests.servers import free_udp_port

mavsdk = pytest.importorskip("mavsdk", reason="mavsdk>=4,<5 is a test dependency (pip install -e '.[test]')")
from mavsdk import ComponentType, Configuration, Mavsdk  # noqa: E402
from mavsdk.plugins.action.action import Action  # noqa: E402
from mavsdk.plugins.mission_raw.mission_raw import MissionItem, MissionRaw  # noqa: E402

pytestmark = pytest.mark.integration
HOME = (29.8737, 121.5453)
HOME_ALT_M = 5.0  # the simulator's home altitude above sea level
GLOBAL, MISSION_FRAME, REL_ALT_INT = 0, 2, 6  # MAV_FRAME_*
TAKEOFF, WAYPOINT, LOITER_TIME, RTL, FENCE_EXCLUSION = 22, 16, 19, 20, 5002
ARM_DISARM, DO_SET_MODE, MISSION_START = 400, 176, 300  # MAV_CMD_*


def plan(autopilot: str) -> list[MissionItem]:
    """Takeoff, three waypoints and a 2 s loiter, RTL; behind a home item for ArduPilot. The RTL is
    in MAV_FRAME_MISSION: PX4 refuses an RTL item in a global frame (parse_mavlink_mission_item)."""
    lat, lon = (int(v * 1e7) for v in HOME)
    first = 1 if autopilot == "ardupilot" else 0
    body = [
        (TAKEOFF, REL_ALT_INT, 0.0, lat, lon, 20.0),
        (WAYPOINT, REL_ALT_INT, 0.0, lat + 5000, lon, 20.0),
        (WAYPOINT, REL_ALT_INT, 0.0, lat + 5000, lon + 5000, 25.0),
        (LOITER_TIME, REL_ALT_INT, 2.0, lat, lon + 5000, 25.0),
        (WAYPOINT, REL_ALT_INT, 0.0, lat, lon, 20.0),
        (RTL, MISSION_FRAME, 0.0, 0, 0, 0.0),
    ]
    items = [
        MissionItem(first + k, frame, cmd, 1 if first + k == 0 else 0, 1, p1, 0.0, 0.0, 0.0, x, y, z, 0)
        for k, (cmd, frame, p1, x, y, z) in enumerate(body)
    ]
    if first:  # ArduPilot's item 0 is home; ArduPilot/ardupilot-mavsdk sends it like this
        items.insert(0, MissionItem(0, GLOBAL, WAYPOINT, 1, 1, 0.0, 0.0, 0.0, 0.0, lat, lon, HOME_ALT_M, 0))
    return items


def fields(item: MissionItem) -> tuple[object, ...]:
    return (item.seq, item.frame, item.command, item.autocontinue, item.param1, item.param2,
            item.param3, item.param4, item.x, item.y, item.z, item.mission_type)  # fmt: skip


@pytest.fixture(params=["ardupilot", "px4"])
def ground_station(request: pytest.FixtureRequest) -> Iterator[tuple[Mavsdk, DroneSimulator, str]]:
    autopilot: str = request.param
    port = free_udp_port()
    gcs = Mavsdk(Configuration.create_with_component_type(ComponentType.GROUND_STATION))
    gcs.add_any_connection(f"udpin://127.0.0.1:{port}")
    sim = DroneSimulator(
        f"udpout:127.0.0.1:{port}", sysid=1, home=HOME, speed_ms=15, time_scale=5,
        autopilot=autopilot,  # type: ignore[arg-type]
    )  # fmt: skip
    sim.start()
    try:
        yield gcs, sim, autopilot
    finally:
        sim.stop()
        gcs.destroy()


def wait_for(check: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_mavsdk_uploads_downloads_flies_and_sees_n_of_n(
    ground_station: tuple[Mavsdk, DroneSimulator, str],
) -> None:
    gcs, sim, autopilot = ground_station
    system = gcs.first_autopilot(15)
    assert system is not None, "MAVSDK found no autopilot"
    mission = MissionRaw(system)
    items = plan(autopilot)
    mission.upload_mission(items)
    got = mission.download_mission()
    if autopilot == "ardupilot":  # item 0 reads back as the vehicle's home, the plan behind it
        assert (got[0].command, got[0].x, got[0].y) == (WAYPOINT, items[0].x, items[0].y)
        assert got[0].z == pytest.approx(HOME_ALT_M)
        assert [fields(i) for i in got[1:]] == [fields(i) for i in items[1:]]
    else:
        assert [fields(i) for i in got] == [fields(i) for i in items]

    progress: list[tuple[int, int]] = []
    finished = threading.Event()

    def on_progress(p: object, *_: object) -> None:
        progress.append((p.current, p.total))  # type: ignore[attr-defined]
        if p.current == p.total == len(items):  # type: ignore[attr-defined]
            finished.set()

    mission.subscribe_mission_progress(on_progress)
    Action(system).arm()
    assert sim.vehicle.armed
    mission.start_mission()
    assert finished.wait(90), f"progress stopped at {progress[-3:]}"
    upto = progress.index((len(items), len(items))) + 1
    assert [c for c, _ in progress[:upto]] == sorted(c for c, _ in progress[:upto])  # never goes back
    assert sim.vehicle.mission_done
    assert wait_for(lambda: not sim.vehicle.armed, 60)  # RTL landed and disarmed

    # How MAVSDK 4.1 starts each: arm, the mission flight mode, and for ArduPilot MISSION_START,
    # which ArduCopter needs to take off in AUTO without an RC throttle (Copter::update_auto_armed)
    # (MAVSDK leaves unused params NaN for PX4 and 0 for ArduPilot, whose MISSION_START denies NaN)
    starts = [
        (c, tuple(None if math.isnan(v) else v for v in p[:3]))
        for c, p in sim.commands
        if c in (ARM_DISARM, DO_SET_MODE, MISSION_START)
    ]
    if autopilot == "ardupilot":
        assert starts == [(ARM_DISARM, (1, 0, 0)), (DO_SET_MODE, (1, 3, 0)), (MISSION_START, (0, 0, 0))]
    else:
        assert starts == [(ARM_DISARM, (1, None, None)), (DO_SET_MODE, (1, 4, 4))]


def test_mavsdk_clears_the_mission(ground_station: tuple[Mavsdk, DroneSimulator, str]) -> None:
    gcs, sim, autopilot = ground_station
    system = gcs.first_autopilot(15)
    assert system is not None
    mission = MissionRaw(system)
    mission.upload_mission(plan(autopilot))
    assert len(sim.vehicle.mission) == len(plan(autopilot))
    mission.clear_mission()
    if autopilot == "ardupilot":
        # MAVSDK clears an ArduPilot mission by uploading one placeholder item (mission_raw_impl.cpp)
        assert [(i.seq, i.command) for i in sim.vehicle.mission] == [(0, WAYPOINT)]
        (home,) = mission.download_mission()  # which reads back as home
        assert (home.x, home.y) == (int(HOME[0] * 1e7), int(HOME[1] * 1e7))
    else:
        assert sim.vehicle.mission == []
        assert mission.download_mission() == []


def test_mavsdk_geofence_round_trip(ground_station: tuple[Mavsdk, DroneSimulator, str]) -> None:
    gcs, sim, autopilot = ground_station
    system = gcs.first_autopilot(15)
    assert system is not None
    mission = MissionRaw(system)
    mission.upload_mission(plan(autopilot))
    lat, lon = (int(v * 1e7) for v in HOME)
    square = [
        (lat + 9000, lon + 9000),
        (lat + 9000, lon + 12000),
        (lat + 12000, lon + 12000),
        (lat + 12000, lon + 9000),
    ]
    fence = [
        MissionItem(k, GLOBAL, FENCE_EXCLUSION, 0, 1, 4.0, 0, 0, 0, x, y, 0.0, 1)
        for k, (x, y) in enumerate(square)
    ]
    mission.upload_geofence(fence)
    assert [(i.command, i.param1, i.x, i.y) for i in sim.vehicle.fence] == [
        (FENCE_EXCLUSION, 4.0, x, y) for x, y in square
    ]
    got = mission.download_geofence()
    assert [(i.command, i.param1, i.x, i.y, i.mission_type) for i in got] == [
        (FENCE_EXCLUSION, 4.0, x, y, 1) for x, y in square
    ]
    assert len(sim.vehicle.mission) == len(plan(autopilot))  # the mission stays


def test_our_upload_to_mavsdk_as_the_autopilot() -> None:
    """MAVSDK's MissionRawServer receives exactly the items our ground-station side sends."""
    from mavsdk.plugins.mission_raw_server.mission_raw_server import MissionRawServer

    from drones.mavlink import mavutil
    from drones.planning import points
    from drones.upload import LinkSession, upload

    items = points([(121.546, 29.874), (121.547, 29.8745), (121.548, 29.875)], 40.0, loiter_s=5)
    port = free_udp_port()
    gcs = mavutil().mavlink_connection(f"udpin:127.0.0.1:{port}", source_system=255, source_component=190)
    autopilot = Mavsdk(Configuration.create_with_component_type(ComponentType.AUTOPILOT))
    autopilot.add_any_connection(f"udpout://127.0.0.1:{port}")
    server = MissionRawServer(autopilot.server_component())
    received: list[object] = []
    got = threading.Event()

    def incoming(result: object, plan: object, *_: object) -> None:
        received.append(plan)
        got.set()

    server.subscribe_incoming_mission(incoming)
    try:
        hb = gcs.wait_heartbeat(timeout=15)
        assert hb is not None
        result = upload(LinkSession(gcs, hb.get_srcSystem()), hb.get_srcSystem(), items)
        assert result.ok, result.error
        assert got.wait(10)
        theirs = received[-1].mission_items  # type: ignore[attr-defined]
        assert len(theirs) == len(items)
        for k, (t, ours) in enumerate(zip(theirs, items, strict=True)):
            assert (t.seq, t.command, t.frame) == (k, ours.command, ours.frame)
            if ours.has_position:
                assert (t.x, t.y) == (round((ours.lat or 0) * 1e7), round((ours.lon or 0) * 1e7))
                assert t.z == pytest.approx(ours.alt_m)
            assert t.param1 == pytest.approx(ours.params[0] or 0.0)
    finally:
        gcs.close()
        autopilot.destroy()
