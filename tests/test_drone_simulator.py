"""The simulator's mission protocol from a plain pymavlink ground station: clear, download,
and an upload that re-sends, duplicates and answers out of order (lossy links)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from drones.mavlink import mavutil
from simulators.drone import DroneSimulator
from simulators.drone_model import AUTO, RTL
from tests.servers import free_udp_port

pytestmark = pytest.mark.integration


@pytest.fixture
def link() -> Iterator[tuple[Any, DroneSimulator]]:
    port = free_udp_port()
    gcs = mavutil().mavlink_connection(f"udpin:127.0.0.1:{port}", source_system=255, source_component=190)
    sim = DroneSimulator(f"udpout:127.0.0.1:{port}", sysid=3, seed=3, home=(29.87, 121.54), time_scale=10)
    sim.start()
    assert gcs.wait_heartbeat(timeout=10) is not None
    try:
        yield gcs, sim
    finally:
        sim.stop()
        gcs.close()


def wait(gcs: Any, kind: str, timeout: float = 5.0) -> Any:
    msg = gcs.recv_match(type=kind, blocking=True, timeout=timeout)
    assert msg is not None, f"no {kind}"
    return msg


def item(gcs: Any, seq: int) -> Any:
    m = mavutil().mavlink
    lat, lon = int(29.87e7) + seq * 1000, int(121.54e7)
    return m.MAVLink_mission_item_int_message(3, 1, seq, 6, 16, 0, 1, 0, 0, 0, 0, lat, lon, 30.0, 0)


def test_upload_tolerates_duplicates_and_out_of_order_items(link: tuple[Any, DroneSimulator]) -> None:
    gcs, sim = link
    gcs.mav.mission_count_send(3, 1, 4, 0)
    sent_dup = False
    while True:
        msg = gcs.recv_match(type=["MISSION_REQUEST_INT", "MISSION_ACK"], blocking=True, timeout=5)
        assert msg is not None
        if msg.get_type() == "MISSION_ACK":
            break
        if msg.seq == 1 and not sent_dup:
            gcs.mav.send(item(gcs, 3))  # out of order: the simulator asks again for 1
            gcs.mav.send(item(gcs, 0))  # a duplicate of one it has
            sent_dup = True
            continue
        gcs.mav.send(item(gcs, msg.seq))
    assert msg.type == mavutil().mavlink.MAV_MISSION_ACCEPTED
    assert [i.x for i in sim.vehicle.mission] == [int(29.87e7) + s * 1000 for s in range(4)]


def test_an_unanswered_request_is_sent_again(link: tuple[Any, DroneSimulator]) -> None:
    gcs, _sim = link
    gcs.mav.mission_count_send(3, 1, 1, 0)
    first = wait(gcs, "MISSION_REQUEST_INT")
    again = wait(gcs, "MISSION_REQUEST_INT", timeout=3)  # we stayed silent: re-requested after 1 s
    assert first.seq == again.seq == 0
    gcs.mav.send(item(gcs, 0))
    assert wait(gcs, "MISSION_ACK").type == 0


def test_download_clear_and_commands(link: tuple[Any, DroneSimulator]) -> None:
    gcs, sim = link
    m = mavutil().mavlink
    gcs.mav.mission_count_send(3, 1, 2, 0)
    for _ in range(2):
        req = wait(gcs, "MISSION_REQUEST_INT")
        gcs.mav.send(item(gcs, req.seq))
    wait(gcs, "MISSION_ACK")
    gcs.mav.mission_request_list_send(3, 1, 0)
    assert wait(gcs, "MISSION_COUNT").count == 2
    gcs.mav.mission_request_int_send(3, 1, 1, 0)
    got = wait(gcs, "MISSION_ITEM_INT")
    assert (got.seq, got.x, got.z) == (1, int(29.87e7) + 1000, 30.0)
    gcs.mav.mission_ack_send(3, 1, 0, 0)

    gcs.mav.command_long_send(3, 1, m.MAV_CMD_COMPONENT_ARM_DISARM, 0, 1, 0, 0, 0, 0, 0, 0)
    assert wait(gcs, "COMMAND_ACK").result == m.MAV_RESULT_ACCEPTED
    gcs.mav.command_long_send(3, 1, m.MAV_CMD_DO_SET_MODE, 0, 1, AUTO, 0, 0, 0, 0, 0)
    assert wait(gcs, "COMMAND_ACK").result == m.MAV_RESULT_ACCEPTED
    gcs.mav.command_long_send(3, 1, m.MAV_CMD_MISSION_START, 0, 0, 0, 0, 0, 0, 0, 0)
    assert wait(gcs, "COMMAND_ACK").result == m.MAV_RESULT_ACCEPTED
    assert wait(gcs, "MISSION_ITEM_REACHED", timeout=30).seq == 0
    gcs.mav.command_long_send(3, 1, m.MAV_CMD_NAV_RETURN_TO_LAUNCH, 0, 0, 0, 0, 0, 0, 0, 0)
    wait(gcs, "COMMAND_ACK")
    assert sim.vehicle.mode == RTL
    gcs.mav.command_long_send(
        3, 1, m.MAV_CMD_SET_MESSAGE_INTERVAL, 0, m.MAVLINK_MSG_ID_VFR_HUD, 100_000, 0, 0, 0, 0, 0
    )
    wait(gcs, "COMMAND_ACK")
    start = time.monotonic()
    huds = 0
    while time.monotonic() - start < 1.0:
        if gcs.recv_match(type="VFR_HUD", blocking=True, timeout=0.2) is not None:
            huds += 1
    assert huds >= 5  # 10 Hz asked (2 Hz by default)
    gcs.mav.command_long_send(
        3, 1, m.MAV_CMD_REQUEST_MESSAGE, 0, m.MAVLINK_MSG_ID_AUTOPILOT_VERSION, 0, 0, 0, 0, 0, 0
    )
    assert wait(gcs, "AUTOPILOT_VERSION").capabilities & m.MAV_PROTOCOL_CAPABILITY_MISSION_INT
    gcs.mav.mission_clear_all_send(3, 1, 0)
    assert wait(gcs, "MISSION_ACK").type == 0
    assert sim.vehicle.mission == []


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
