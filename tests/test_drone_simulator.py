"""The simulator in each autopilot dialect, driven by a plain pymavlink ground station that follows
the MAVLink mission and command protocols (mavlink.io), not by drones/: ArduPilot's home at item 0,
its arming and AUTO rules, a mission flown to MISSION_CURRENT COMPLETE in each dialect, fences,
a breach, and the lossy-link behaviour of each autopilot's mission protocol."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest

from drones.mavlink import mavutil
from simulators import autopilots as ap
from simulators.drone import DroneSimulator
from simulators.drone_model import Mode
from tests.servers import free_udp_port

pytestmark = pytest.mark.integration
HOME = (29.87, 121.54)
SYS = 3
TAKEOFF, WAYPOINT, LOITER_TIME, RTL, LAND = 22, 16, 19, 20, 21
REL, REL_INT, MISSION_FRAME, GLOBAL, TERRAIN_INT = 3, 6, 2, 0, 11
COMPLETE, ACTIVE, NOT_STARTED, PAUSED = 5, 3, 2, 4


@contextlib.contextmanager
def vehicle(autopilot: str, **kw: Any) -> Iterator[tuple[Any, DroneSimulator]]:
    port = free_udp_port()
    gcs = mavutil().mavlink_connection(f"udpin:127.0.0.1:{port}", source_system=255, source_component=190)
    options: dict[str, Any] = {"seed": 3, "home": HOME, "time_scale": 10, "speed_ms": 15} | kw
    sim = DroneSimulator(f"udpout:127.0.0.1:{port}", sysid=SYS, autopilot=autopilot, **options)  # type: ignore[arg-type]
    sim.start()
    try:
        assert gcs.wait_heartbeat(timeout=10) is not None
        yield gcs, sim
    finally:
        sim.stop()
        gcs.close()


# --- a ground station, step by step from mavlink.io's mission and command protocols ------------
def wait(gcs: Any, kind: str | list[str], timeout: float = 5.0, **match: Any) -> Any:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        msg = gcs.recv_match(type=kind, blocking=True, timeout=left)
        if msg is not None and all(getattr(msg, k) == v for k, v in match.items()):
            return msg
    raise AssertionError(f"no {kind} {match}")


def wire(seq: int, command: int, frame: int = REL_INT, lat: float = 0.0, lon: float = 0.0, alt: float = 0.0,
         p1: float = 0.0, mission_type: int = 0, current: int = 0) -> Any:  # fmt: skip
    m = mavutil().mavlink
    x, y = round(lat * 1e7), round(lon * 1e7)
    return m.MAVLink_mission_item_int_message(
        SYS, 1, seq, frame, command, current, 1, p1, 0, 0, 0, x, y, alt, mission_type
    )


def upload(gcs: Any, items: list[Any], mission_type: int = 0) -> int:
    """MISSION_COUNT, then answer MISSION_REQUEST(_INT) with MISSION_ITEM_INT until MISSION_ACK."""
    gcs.mav.mission_count_send(SYS, 1, len(items), mission_type)
    while True:
        msg = wait(gcs, ["MISSION_REQUEST_INT", "MISSION_REQUEST", "MISSION_ACK"], 10)
        assert msg.mission_type == mission_type
        if msg.get_type() == "MISSION_ACK":
            return int(msg.type)
        gcs.mav.send(items[msg.seq])


def download(gcs: Any, mission_type: int = 0) -> list[Any]:
    gcs.mav.mission_request_list_send(SYS, 1, mission_type)
    count = wait(gcs, "MISSION_COUNT", mission_type=mission_type).count
    items = []
    for seq in range(count):
        gcs.mav.mission_request_int_send(SYS, 1, seq, mission_type)
        items.append(wait(gcs, "MISSION_ITEM_INT", seq=seq, mission_type=mission_type))
    gcs.mav.mission_ack_send(SYS, 1, 0, mission_type)
    return items


def command(gcs: Any, cmd: int, *params: float) -> int:
    """COMMAND_LONG; IN_PROGRESS means the final COMMAND_ACK is still to come."""
    p = [*params, *([0.0] * (7 - len(params)))]
    gcs.mav.command_long_send(SYS, 1, cmd, 0, *p)
    while True:
        ack = wait(gcs, "COMMAND_ACK", 10, command=cmd)
        if ack.result != ap.IN_PROGRESS:
            return int(ack.result)


def set_mode(gcs: Any, *params: float) -> int:
    return command(gcs, mavutil().mavlink.MAV_CMD_DO_SET_MODE, 1, *params)


def arm(gcs: Any) -> int:
    return command(gcs, mavutil().mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 1)


def follow(gcs: Any, timeout: float = 60.0, modes: list[int] | None = None) -> tuple[list[int], list[Any]]:
    """Every MISSION_ITEM_REACHED and MISSION_CURRENT until mission_state is COMPLETE (and the
    HEARTBEATs' custom modes into ``modes``)."""
    reached: list[int] = []
    currents: list[Any] = []
    deadline = time.monotonic() + timeout
    kinds = ["MISSION_ITEM_REACHED", "MISSION_CURRENT", "HEARTBEAT"]
    while time.monotonic() < deadline:
        msg = gcs.recv_match(type=kinds, blocking=True, timeout=1)
        if msg is None:
            continue
        if msg.get_type() == "HEARTBEAT":
            if modes is not None and (not modes or modes[-1] != msg.custom_mode):
                modes.append(msg.custom_mode)
            continue
        if msg.get_type() == "MISSION_ITEM_REACHED":
            if not reached or reached[-1] != msg.seq:  # PX4 repeats the last one
                reached.append(msg.seq)
            continue
        currents.append(msg)
        if msg.mission_state == COMPLETE:
            return reached, currents
    raise AssertionError(f"no COMPLETE; reached {reached}")


def patrol(first: int, rtl_frame: int = REL_INT) -> list[Any]:
    lat, lon = HOME
    return [
        wire(first, TAKEOFF, alt=20.0, current=1 if first == 0 else 0),
        wire(first + 1, WAYPOINT, lat=lat + 0.0005, lon=lon, alt=20.0),
        wire(first + 2, WAYPOINT, lat=lat + 0.0005, lon=lon + 0.0005, alt=25.0),
        wire(first + 3, RTL, frame=rtl_frame),
    ]


def home_placeholder() -> Any:
    return wire(0, WAYPOINT, frame=GLOBAL, current=1)  # what a ground station sends ArduPilot as item 0


# --- ArduPilot --------------------------------------------------------------------------------
def test_ardupilot_returns_its_home_as_item_0() -> None:
    with vehicle("ardupilot") as (gcs, sim):
        assert upload(gcs, [home_placeholder(), *patrol(1)]) == 0
        assert sim.vehicle.mission[0].x == 0  # the upload's item 0 is stored …
        got = download(gcs)
        assert (got[0].command, got[0].frame) == (WAYPOINT, GLOBAL)  # … but the vehicle's home reads back
        assert (got[0].x, got[0].y) == (round(HOME[0] * 1e7), round(HOME[1] * 1e7))
        assert got[0].z == pytest.approx(sim.vehicle.home_alt_msl_m)
        assert [(g.seq, g.command, g.x) for g in got[1:]] == [(i.seq, i.command, i.x) for i in patrol(1)]


def test_ardupilot_refuses_to_arm_in_auto_and_auto_without_a_takeoff() -> None:
    m = mavutil().mavlink
    with vehicle("ardupilot") as (gcs, sim):
        lat, lon = HOME
        no_takeoff = [home_placeholder(), wire(1, WAYPOINT, lat=lat + 0.0005, lon=lon, alt=20.0)]
        assert upload(gcs, no_takeoff) == 0
        assert set_mode(gcs, 3) == m.MAV_RESULT_ACCEPTED  # AUTO while disarmed is allowed
        assert arm(gcs) == m.MAV_RESULT_FAILED
        assert "AUTO mode not armable" in wait(gcs, "STATUSTEXT").text
        assert not sim.vehicle.armed
        assert set_mode(gcs, 4) == m.MAV_RESULT_ACCEPTED  # GUIDED
        assert arm(gcs) == m.MAV_RESULT_ACCEPTED
        assert set_mode(gcs, 3) == m.MAV_RESULT_FAILED  # armed on the ground: item 1 must be a takeoff
        assert wait(gcs, "STATUSTEXT").text == "Auto: Missing Takeoff Cmd"
        assert command(gcs, m.MAV_CMD_MISSION_START, 1, 1) == m.MAV_RESULT_DENIED  # first/last item: no


def test_ardupilot_guided_arm_mission_start_flies_items_1_to_n() -> None:
    m = mavutil().mavlink
    with vehicle("ardupilot") as (gcs, sim):
        assert upload(gcs, [home_placeholder(), *patrol(1)]) == 0
        assert wait(gcs, "MISSION_CURRENT", mission_state=NOT_STARTED).total == 4  # home not counted
        assert set_mode(gcs, 4) == m.MAV_RESULT_ACCEPTED
        assert arm(gcs) == m.MAV_RESULT_ACCEPTED
        assert command(gcs, m.MAV_CMD_MISSION_START, 0, 0) == m.MAV_RESULT_ACCEPTED
        modes: list[int] = []
        reached, currents = follow(gcs, modes=modes)
        assert modes[0] == 3  # MISSION_START switched to AUTO itself, and AUTO it stays
        assert reached == [1, 2, 3, 4]  # never item 0
        active = [(c.seq, c.total) for c in currents if c.mission_state == ACTIVE]
        assert (4, 4) in active  # seq == total while the RTL item still flies: not the end
        assert not sim.vehicle.armed  # RTL landed, and ArduPilot disarmed at the mission's end
        assert sim.vehicle.alt_rel_m == 0


def test_ardupilot_auto_after_arming_waits_for_mission_start_or_a_takeoff() -> None:
    """ArduCopter takes off in AUTO only once auto-armed: MISSION_START or a GUIDED takeoff set it
    (Copter::update_auto_armed); without an RC throttle an AUTO switch alone sits on the ground."""
    m = mavutil().mavlink
    with vehicle("ardupilot") as (gcs, sim):
        assert upload(gcs, [home_placeholder(), *patrol(1)]) == 0
        assert set_mode(gcs, 4) == m.MAV_RESULT_ACCEPTED
        assert arm(gcs) == m.MAV_RESULT_ACCEPTED
        assert set_mode(gcs, 3) == m.MAV_RESULT_ACCEPTED
        assert wait(gcs, "MISSION_CURRENT", mission_state=ACTIVE).seq == 1
        time.sleep(0.5)  # 5 simulated seconds
        assert sim.vehicle.alt_rel_m == 0
        assert command(gcs, m.MAV_CMD_MISSION_START, 0, 0) == m.MAV_RESULT_ACCEPTED
        wait(gcs, "MISSION_ITEM_REACHED", 20, seq=1)


# --- PX4 -------------------------------------------------------------------------------------
def test_px4_mission_mode_arm_and_start_fly_items_0_to_n() -> None:
    m = mavutil().mavlink
    with vehicle("px4") as (gcs, sim):
        assert upload(gcs, patrol(0, rtl_frame=MISSION_FRAME)) == 0
        assert set_mode(gcs, 4, 4) == m.MAV_RESULT_ACCEPTED  # AUTO.MISSION: main 4, sub 4
        hb = wait(gcs, "HEARTBEAT", custom_mode=4 << 16 | 4 << 24)
        assert hb.autopilot == m.MAV_AUTOPILOT_PX4
        assert arm(gcs) == m.MAV_RESULT_ACCEPTED  # PX4 arms in mission mode
        assert command(gcs, m.MAV_CMD_MISSION_START, 0, 0) == m.MAV_RESULT_ACCEPTED
        modes: list[int] = []
        reached, currents = follow(gcs, modes=modes)
        assert modes[0] == 4 << 16 | 4 << 24
        assert reached == [0, 1, 2, 3]
        assert currents[-1].total == 4
        wait(gcs, "HEARTBEAT", custom_mode=4 << 16 | 5 << 24)  # the RTL item hands over to AUTO.RTL
        deadline = time.monotonic() + 30
        while sim.vehicle.armed and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not sim.vehicle.armed  # landed at home and disarmed
        assert sim.vehicle.breaches_fence() is False


def test_px4_mission_start_arms_and_switches_mode_itself() -> None:
    m = mavutil().mavlink
    with vehicle("px4") as (gcs, sim):
        assert upload(gcs, patrol(0, rtl_frame=MISSION_FRAME)) == 0
        assert command(gcs, m.MAV_CMD_MISSION_START, 0, 0) == m.MAV_RESULT_ACCEPTED
        assert sim.vehicle.armed
        assert sim.vehicle.mode is Mode.MISSION
        wait(gcs, "MISSION_ITEM_REACHED", 20, seq=0)


def test_each_autopilot_refuses_the_items_its_source_refuses() -> None:
    m = mavutil().mavlink
    lat, lon = HOME
    with vehicle("px4") as (gcs, _sim):
        assert upload(gcs, patrol(0)) == m.MAV_MISSION_UNSUPPORTED  # RTL in a global frame
        terrain = [wire(0, WAYPOINT, frame=TERRAIN_INT, lat=lat, lon=lon, alt=30)]
        assert upload(gcs, terrain) == m.MAV_MISSION_UNSUPPORTED_FRAME
    with vehicle("ardupilot") as (gcs, _sim):
        loiter = wire(1, LOITER_TIME, lat=lat, lon=lon, alt=30, p1=5)
        loiter.param4 = float("nan")  # unset, as some ground stations send it
        assert upload(gcs, [home_placeholder(), loiter]) == m.MAV_MISSION_INVALID_PARAM4


def test_autopilot_readback_gives_items_back_as_each_autopilot_stores_them() -> None:
    """With ``autopilot_readback`` a download returns what the autopilot kept: ArduPilot the
    non-INT frame and only the params AP_Mission stores; PX4 the INT frame and its own mapping."""
    lat, lon = HOME
    wp = wire(1, WAYPOINT, frame=REL_INT, lat=lat, lon=lon, alt=20.5, p1=3)
    wp.param2, wp.param3 = 2.0, 1.0  # acceptance radius and pass radius: copter keeps neither
    rtl = wire(2, RTL, frame=REL_INT)
    with vehicle("ardupilot", autopilot_readback=True) as (gcs, _sim):
        assert upload(gcs, [home_placeholder(), wp, rtl]) == 0
        got = download(gcs)
        assert (got[1].frame, got[1].param1, got[1].param2, got[1].param3, got[1].z) == (REL, 3, 0, 0, 20.5)
        assert (got[2].frame, got[2].x) == (GLOBAL, 0)
    px4_wp = wire(0, WAYPOINT, frame=REL, lat=lat, lon=lon, alt=20.0, p1=3)
    px4_wp.param3 = 1.0
    with vehicle("px4", autopilot_readback=True) as (gcs, _sim):
        assert upload(gcs, [px4_wp]) == 0
        (got_wp,) = download(gcs)
        assert (got_wp.frame, got_wp.param1, got_wp.param3) == (REL_INT, 3, 0)


# --- both: fences, breaches, telemetry -----------------------------------------------------------
@pytest.mark.parametrize("autopilot", ["ardupilot", "px4"])
def test_home_position_on_request_and_gps_fix(autopilot: str) -> None:
    m = mavutil().mavlink
    with vehicle(autopilot) as (gcs, _sim):
        assert wait(gcs, "GPS_RAW_INT").fix_type == 3
        assert (
            command(gcs, m.MAV_CMD_REQUEST_MESSAGE, m.MAVLINK_MSG_ID_HOME_POSITION) == m.MAV_RESULT_ACCEPTED
        )
        home = wait(gcs, "HOME_POSITION")
        assert (home.latitude, home.longitude) == (round(HOME[0] * 1e7), round(HOME[1] * 1e7))
        if autopilot == "px4":  # PX4 streams it at 0.5 Hz, ArduPilot only answers and tells changes
            wait(gcs, "HOME_POSITION", 3)


def test_in_progress_then_accepted_where_ardupilot_does_so() -> None:
    m = mavutil().mavlink
    with vehicle("ardupilot", in_progress_acks=True) as (gcs, _sim):
        gcs.mav.command_long_send(SYS, 1, m.MAV_CMD_PREFLIGHT_CALIBRATION, 0, 0, 0, 1, 0, 0, 0, 0)
        first = wait(gcs, "COMMAND_ACK", command=m.MAV_CMD_PREFLIGHT_CALIBRATION)
        final = wait(gcs, "COMMAND_ACK", command=m.MAV_CMD_PREFLIGHT_CALIBRATION)
        assert (first.result, final.result) == (m.MAV_RESULT_IN_PROGRESS, m.MAV_RESULT_ACCEPTED)


def test_set_mode_message_is_acknowledged_per_dialect() -> None:
    m = mavutil().mavlink
    with vehicle("ardupilot") as (gcs, sim):
        gcs.mav.set_mode_send(SYS, m.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, 4)
        assert wait(gcs, "COMMAND_ACK", command=m.MAVLINK_MSG_ID_SET_MODE).result == 0
        assert sim.vehicle.mode is Mode.GUIDED
    with vehicle("px4") as (gcs, sim):
        gcs.mav.set_mode_send(SYS, m.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, 4 << 16 | 3 << 24)
        assert wait(gcs, "COMMAND_ACK", command=m.MAV_CMD_DO_SET_MODE).result == 0
        assert sim.vehicle.mode is Mode.LOITER


# --- the mission protocol on a lossy link, per autopilot --------------------------------------
def test_ardupilot_nacks_an_item_out_of_sequence_and_keeps_receiving() -> None:
    m = mavutil().mavlink
    with vehicle("ardupilot") as (gcs, sim):
        items = [home_placeholder(), *patrol(1)]
        gcs.mav.mission_count_send(SYS, 1, len(items), 0)
        nacks, sent_dup = [], False
        while True:
            msg = wait(gcs, ["MISSION_REQUEST", "MISSION_ACK"])
            if msg.get_type() == "MISSION_ACK":
                if msg.type == m.MAV_MISSION_INVALID_SEQUENCE:
                    nacks.append(msg.type)
                    continue
                break
            if msg.seq == 2 and not sent_dup:
                gcs.mav.send(items[1])  # a duplicate of one it has
                sent_dup = True
            gcs.mav.send(items[msg.seq])
        assert msg.type == m.MAV_MISSION_ACCEPTED
        assert nacks == [m.MAV_MISSION_INVALID_SEQUENCE]
        assert [i.command for i in sim.vehicle.mission] == [it.command for it in items]


def test_px4_ignores_an_item_out_of_sequence() -> None:
    with vehicle("px4") as (gcs, sim):
        items = patrol(0, MISSION_FRAME)
        gcs.mav.mission_count_send(SYS, 1, len(items), 0)
        sent_out_of_order = False
        while True:
            msg = wait(gcs, ["MISSION_REQUEST_INT", "MISSION_ACK"])
            if msg.get_type() == "MISSION_ACK":
                break
            if msg.seq == 1 and not sent_out_of_order:
                gcs.mav.send(items[3])  # ignored: asked again for 1 after 0.25 s
                sent_out_of_order = True
                continue
            gcs.mav.send(items[msg.seq])
        assert msg.type == 0
        assert [i.seq for i in sim.vehicle.mission] == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("autopilot", "asks_with", "gap"),
    [("ardupilot", "MISSION_REQUEST", 1.0), ("px4", "MISSION_REQUEST_INT", 0.25)],
)
def test_an_unanswered_request_is_sent_again(autopilot: str, asks_with: str, gap: float) -> None:
    with vehicle(autopilot) as (gcs, _sim):
        gcs.mav.mission_count_send(SYS, 1, 1, 0)
        first = wait(gcs, asks_with)
        t0 = time.monotonic()
        again = wait(gcs, asks_with, 3)  # we stayed silent
        assert first.seq == again.seq == 0
        assert time.monotonic() - t0 == pytest.approx(gap, abs=0.2)
        item = home_placeholder() if autopilot == "ardupilot" else wire(0, TAKEOFF, alt=10)
        gcs.mav.send(item)
        assert wait(gcs, "MISSION_ACK").type == 0


def test_commands_intervals_versions_and_clear() -> None:
    m = mavutil().mavlink
    with vehicle("ardupilot") as (gcs, sim):
        assert upload(gcs, [home_placeholder(), *patrol(1)]) == 0
        assert command(gcs, m.MAV_CMD_NAV_RETURN_TO_LAUNCH) == m.MAV_RESULT_ACCEPTED
        assert sim.vehicle.mode is Mode.RTL
        assert command(gcs, m.MAV_CMD_SET_MESSAGE_INTERVAL, m.MAVLINK_MSG_ID_VFR_HUD, 100_000) == 0
        start = time.monotonic()
        huds = 0
        while time.monotonic() - start < 1.0:
            if gcs.recv_match(type="VFR_HUD", blocking=True, timeout=0.2) is not None:
                huds += 1
        assert huds >= 5  # 10 Hz asked (2 Hz by default)
        assert command(gcs, m.MAV_CMD_REQUEST_MESSAGE, m.MAVLINK_MSG_ID_AUTOPILOT_VERSION) == 0
        assert wait(gcs, "AUTOPILOT_VERSION").capabilities & m.MAV_PROTOCOL_CAPABILITY_MISSION_INT
        assert command(gcs, m.MAV_CMD_REQUEST_MESSAGE, 12345) == m.MAV_RESULT_FAILED
        gcs.mav.mission_clear_all_send(SYS, 1, 0)
        assert wait(gcs, "MISSION_ACK").type == 0
        assert sim.vehicle.mission == []


# --- the dialects' state machines, without a link --------------------------------------------
