"""Conformance against a ground station nobody here wrote: MAVSDK (PyPI `mavsdk` 4.x, the C++
library in-process) flies a mission on our simulator: upload 6 items with mission_raw,
download them back identical, arm, start, and see progress reach 6/6."""

from __future__ import annotations

import threading
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
REL_ALT_INT, TERRAIN = 6, 11  # MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, ..._TERRAIN_ALT_INT
TAKEOFF, WAYPOINT, LOITER_TIME, RTL = 22, 16, 19, 20


def six_items() -> list[MissionItem]:
    lat, lon = (int(v * 1e7) for v in HOME)
    return [
        MissionItem(0, REL_ALT_INT, TAKEOFF, 1, 1, 0.0, 0.0, 0.0, 0.0, lat, lon, 20.0, 0),
        MissionItem(1, REL_ALT_INT, WAYPOINT, 0, 1, 0.0, 2.0, 0.0, 0.0, lat + 5000, lon, 20.0, 0),
        MissionItem(2, REL_ALT_INT, WAYPOINT, 0, 1, 0.0, 2.0, 0.0, 0.0, lat + 5000, lon + 5000, 25.0, 0),
        MissionItem(3, REL_ALT_INT, LOITER_TIME, 0, 1, 2.0, 0.0, 0.0, 0.0, lat, lon + 5000, 25.0, 0),
        MissionItem(4, REL_ALT_INT, WAYPOINT, 0, 1, 0.0, 2.0, 0.0, 0.0, lat, lon, 20.0, 0),
        MissionItem(5, REL_ALT_INT, RTL, 0, 1, 0.0, 0.0, 0.0, 0.0, 0, 0, 0.0, 0),
    ]


def fields(item: MissionItem) -> tuple[object, ...]:
    return (item.seq, item.frame, item.command, item.current, item.autocontinue, item.param1, item.param2,
            item.param3, item.param4, item.x, item.y, item.z, item.mission_type)  # fmt: skip


@pytest.fixture
def ground_station() -> Iterator[tuple[Mavsdk, DroneSimulator]]:
    port = free_udp_port()
    gcs = Mavsdk(Configuration.create_with_component_type(ComponentType.GROUND_STATION))
    gcs.add_any_connection(f"udpin://127.0.0.1:{port}")
    sim = DroneSimulator(f"udpout:127.0.0.1:{port}", sysid=1, home=HOME, speed_ms=15, time_scale=5)
    sim.start()
    try:
        yield gcs, sim
    finally:
        sim.stop()
        gcs.destroy()


def test_mavsdk_uploads_downloads_arms_starts_and_sees_6_of_6(
    ground_station: tuple[Mavsdk, DroneSimulator],
) -> None:
    gcs, sim = ground_station
    system = gcs.first_autopilot(15)
    assert system is not None, "MAVSDK found no autopilot"
    mission = MissionRaw(system)
    items = six_items()
    mission.upload_mission(items)
    assert [fields(i) for i in mission.download_mission()] == [fields(i) for i in items]

    progress: list[tuple[int, int]] = []
    finished = threading.Event()

    def on_progress(p: object, *_: object) -> None:
        progress.append((p.current, p.total))  # type: ignore[attr-defined]
        if p.current == p.total == 6:  # type: ignore[attr-defined]
            finished.set()

    mission.subscribe_mission_progress(on_progress)
    Action(system).arm()
    assert sim.vehicle.armed
    mission.start_mission()
    assert finished.wait(60), f"progress stopped at {progress[-3:]}"
    assert [c for c, _ in progress] == sorted(c for c, _ in progress)  # never goes back
    assert sim.vehicle.mission_done
    assert not sim.vehicle.armed  # RTL landed and disarmed


def test_mavsdk_clear_mission(ground_station: tuple[Mavsdk, DroneSimulator]) -> None:
    gcs, sim = ground_station
    system = gcs.first_autopilot(15)
    assert system is not None
    mission = MissionRaw(system)
    mission.upload_mission(six_items())
    assert len(sim.vehicle.mission) == 6
    mission.clear_mission()
    # MAVSDK clears an ArduPilot mission by uploading just a placeholder home item.
    assert [(i.x, i.y) for i in sim.vehicle.mission] in ([], [(0, 0)])
    assert [(i.x, i.y) for i in mission.download_mission()] in ([], [(0, 0)])


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
