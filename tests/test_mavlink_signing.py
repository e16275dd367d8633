"""MAVLink 2 signing between the service and a vehicle (real UDP sockets, our simulator as the
autopilot): a vehicle with a key refuses unsigned commands and commands signed with another key,
and accepts ours; the service with `[mavlink] signing_key` uploads and verifies a mission."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from drones.dialects import dialect
from drones.mavlink import mavutil
from drones.mission_link import send_plan
from drones.planning import points
from drones.upload import LinkSession, command
from simulators.drone import DroneSimulator
from telemetry.assets import load_registry, sample_assets_dir
from telemetry.config import load_settings
from tests.mqtt_util import wait_until
from tests.servers import Mosquitto, free_udp_port

pytestmark = pytest.mark.integration
KEY = bytes.fromhex("5a" * 32)
WRONG_KEY = bytes.fromhex("a5" * 32)
PILOT = {"Authorization": "Bearer p"}
VIEWER = {"Authorization": "Bearer v"}


@pytest.fixture
def vehicle() -> Iterator[tuple[DroneSimulator, int]]:
    port = free_udp_port()
    sim = DroneSimulator(f"udpout:127.0.0.1:{port}", sysid=21, signing_key=KEY, seed=21)
    sim.start()
    yield sim, port
    sim.stop()


def ground_station(port: int, sysid: int, key: bytes | None) -> Any:
    """A pymavlink ground station that has heard the vehicle (so that it knows where to send);
    with a key it then signs the way the collector does."""
    gcs = mavutil().mavlink_connection(f"udpin:127.0.0.1:{port}", source_system=sysid, source_component=190)
    assert gcs.wait_heartbeat(timeout=10) is not None  # signed packets parse without a key
    if key is not None:
        gcs.setup_signing(key, sign_outgoing=True, allow_unsigned_callback=lambda mav, msgid: False)
    return gcs


def arm(gcs: Any, target: int) -> None:
    m = mavutil().mavlink
    gcs.mav.command_long_send(target, 1, m.MAV_CMD_COMPONENT_ARM_DISARM, 0, 1, 0, 0, 0, 0, 0, 0)


def test_unsigned_and_wrongly_signed_commands_are_refused_and_ours_accepted(
    vehicle: tuple[DroneSimulator, int],
) -> None:
    sim, port = vehicle
    m = mavutil().mavlink
    unsigned = ground_station(port, 250, None)
    try:
        arm(unsigned, 21)
        wait_until(lambda: sim.refused >= 1, 10, "the unsigned arm refused")
        unsigned.mav.mission_count_send(21, 1, 3, 0)  # an unsigned upload is refused as well
        wait_until(lambda: sim.refused >= 2, 10, "the unsigned MISSION_COUNT refused")
        assert unsigned.recv_match(type=["COMMAND_ACK", "MISSION_REQUEST_INT"], blocking=False) is None
    finally:
        unsigned.close()
    assert not sim.vehicle.armed

    wrong = ground_station(port, 251, WRONG_KEY)
    try:
        arm(wrong, 21)
        wait_until(lambda: sim.refused >= 3, 10, "the arm signed with another key refused")
        wrong.mav.mission_count_send(21, 1, 3, 0)
        wait_until(lambda: sim.refused >= 4, 10, "the MISSION_COUNT signed with another key refused")
    finally:
        wrong.close()
    assert not sim.vehicle.armed
    assert sim.vehicle.mission == []

    ours = ground_station(port, 252, KEY)
    try:
        assert ours.wait_heartbeat(timeout=10) is not None  # the vehicle's signatures pass our key
        session = LinkSession(ours, 21)
        assert command(session, 21, m.MAV_CMD_COMPONENT_ARM_DISARM, 1.0) == m.MAV_RESULT_ACCEPTED
        assert sim.vehicle.armed
        assert sim.refused == 4  # nothing of ours was refused
    finally:
        ours.close()


def test_the_service_uploads_and_verifies_a_mission_over_a_signed_link(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    port = free_udp_port()
    settings = load_settings(
        overrides={
            "store": {"path": str(tmp_path / "store")},
            "spool": {"path": str(tmp_path / "spool")},
            "mqtt": {"url": mosquitto.url, "client_id": "signed-upload"},
            "mavlink": {"endpoints": [f"udpin:127.0.0.1:{port}"], "signing_key": KEY.hex()},
            "api": {"tokens": [{"token": "p", "role": "pilot"}, {"token": "v", "role": "viewer"}]},
        }
    )
    signed = DroneSimulator(f"udpout:127.0.0.1:{port}", sysid=22, signing_key=KEY, seed=22)
    impostor = DroneSimulator(f"udpout:127.0.0.1:{port}", sysid=23, signing_key=WRONG_KEY, seed=23)
    for s in (signed, impostor):
        s.start()
    try:
        with TestClient(create_app(settings, registry=load_registry(sample_assets_dir()))) as c:

            def online() -> set[int]:
                items = c.get("/api/v1/drones", headers=VIEWER).json()["items"]
                return {d["drone"] for d in items if d["online"]}

            wait_until(lambda: 22 in online(), 15, "the signed vehicle online")
            body = {
                "type": "points",
                "points": [[121.5460, 29.8740], [121.5470, 29.8745]],
                "altitude_agl_m": 30,
            }
            mission = c.post("/api/v1/missions", json=body, headers=PILOT).json()
            r = c.post(f"/api/v1/missions/{mission['id']}/upload", json={"drone": 22}, headers=PILOT)
            assert r.json() == {
                "ok": True,
                "items": len(mission["waypoints"]),
                "verified": True,
                "error": None,
                "autopilot": "ardupilot",
            }
            assert len(signed.vehicle.mission) == 1 + len(mission["waypoints"])  # behind ArduPilot's home
            assert signed.refused == 0  # every packet of the service was signed with the key
            assert impostor.refused > 0  # the service's packets do not pass the other key
            assert 23 not in online()  # and the service refuses the impostor's
            refused = c.post(f"/api/v1/missions/{mission['id']}/upload", json={"drone": 23}, headers=PILOT)
            assert refused.status_code == 409
            assert impostor.vehicle.mission == []
    finally:
        for s in (signed, impostor):
            s.stop()


def test_a_signed_link_reads_back_the_same_mission() -> None:
    items = points([(121.55 + k * 0.001, 29.88) for k in range(5)], 60.0, loiter_s=5)
    port = free_udp_port()
    sim = DroneSimulator(f"udpout:127.0.0.1:{port}", sysid=24, signing_key=KEY, seed=24)
    sim.start()
    gcs = ground_station(port, 255, KEY)
    try:
        session = LinkSession(gcs, 24)
        result = send_plan(session, 24, dialect("ardupilot"), items, (29.88, 121.55, 5.0))
        assert result.ok, result.error
        assert result.verified  # read back over the signed link and compared
        assert sim.refused == 0
    finally:
        sim.stop()
        gcs.close()
