"""Self-tests of the MAVLink test peers, driven by a plain pymavlink ground station written here.

The ground station follows the MAVLink mission and command protocols (mavlink.io) with the retries
those protocols prescribe, and checks each rule the peers take from the autopilots' sources.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
from pymavlink import mavutil

from tests.peers.ardupilot import AUTO, GUIDED, ArduCopterPeer
from tests.peers.common import M, MissionItem, Peer
from tests.peers.px4 import AUTO_MISSION, AUTO_RTL, PX4Peer, custom_mode
from tests.servers import free_udp_port

HOME = (29.8737, 121.5453, 5.0)
REQUESTS = {"MISSION_REQUEST", "MISSION_REQUEST_INT"}


def item(seq: int, cmd: int, lat: float = 0.0, lon: float = 0.0, alt: float = 0.0, **kw: Any) -> MissionItem:
    """A MISSION_ITEM_INT as a GCS writes it (relative altitude, degE7) unless ``kw`` says otherwise."""
    base = MissionItem(seq, 6, cmd, 0, 1, 0.0, 0.0, 0.0, 0.0, round(lat * 1e7), round(lon * 1e7), alt, 0)
    return base._replace(**kw)


def flight(first: int = 0) -> list[MissionItem]:
    """TAKEOFF, two waypoints, a DO_CHANGE_SPEED, RTL, numbered from ``first``."""
    cmds = [(22, 0.0, 0.0, 10.0), (16, 29.8740, 121.5456, 15.0), (178, 0.0, 0.0, 0.0)]
    cmds += [(16, 29.8742, 121.5450, 15.0), (20, 0.0, 0.0, 0.0)]
    out = [item(first + i, c, lat, lon, alt) for i, (c, lat, lon, alt) in enumerate(cmds)]
    return [i._replace(frame=2, param2=5.0) if i.command == 178 else i for i in out]


def ap_mission() -> list[MissionItem]:
    """ArduPilot: item 0 is home (here deliberately not the vehicle's), the flight from 1."""
    return [item(0, 16, 1.0, 2.0, 100.0, frame=0), *flight(1)]


def px4_mission() -> list[MissionItem]:
    """PX4: no home item; RTL is a MAV_FRAME_MISSION item (parse_mavlink_mission_item)."""
    return [i._replace(frame=2) if i.command == 20 else i for i in flight(0)]


class Gcs:
    """A ground station on ``udpin``: the peers send to it, it answers whoever sent."""

    def __init__(self) -> None:
        port = free_udp_port()
        self.url = f"udpout:127.0.0.1:{port}"
        self.conn = mavutil.mavlink_connection(
            f"udpin:127.0.0.1:{port}", source_system=255, source_component=190
        )
        self.seen: list[Any] = []
        self.sysid = 0

    def recv(self, types: set[str], timeout: float, cond: Callable[[Any], bool] | None = None) -> Any:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            m = self.conn.recv_match(blocking=True, timeout=min(left, 0.1))
            if m is None or m.get_type() == "BAD_DATA":
                continue
            self.seen.append(m)
            if m.get_type() in types and (cond is None or cond(m)):
                return m
        return None

    def types(self, name: str) -> list[Any]:
        return [m for m in self.seen if m.get_type() == name]

    def connect(self) -> None:
        hb = self.recv({"HEARTBEAT"}, 5)
        assert hb is not None, "no HEARTBEAT from the peer"
        self.sysid = hb.get_srcSystem()

    def command(self, cmd: int, *params: float, timeout: float = 1.0, tries: int = 8) -> list[int]:
        """COMMAND_LONG until a final COMMAND_ACK (confirmation counts the resends); every result seen."""
        results: list[int] = []
        args = [*params, *[0.0] * (7 - len(params))]
        for confirmation in range(tries):
            self.conn.mav.command_long_send(self.sysid, 1, cmd, confirmation, *args)
            while (ack := self.recv({"COMMAND_ACK"}, timeout, lambda m: m.command == cmd)) is not None:
                results.append(ack.result)
                if ack.result != M.MAV_RESULT_IN_PROGRESS:
                    return results
        raise AssertionError(f"no final COMMAND_ACK for command {cmd}: {results}")

    def upload(self, items: list[MissionItem], mission_type: int = 0, attempts: int = 4) -> int:
        """Mission protocol upload with retries; returns the final MISSION_ACK type."""
        for _ in range(attempts):
            self.conn.mav.mission_count_send(self.sysid, 1, len(items), mission_type)
            sent, quiet = -1, 0
            while quiet < 6:
                m = self.recv({*REQUESTS, "MISSION_ACK"}, 1.0, lambda m: m.mission_type == mission_type)
                if m is None:  # something was lost: repeat our last message
                    quiet += 1
                    if sent < 0:
                        self.conn.mav.mission_count_send(self.sysid, 1, len(items), mission_type)
                    else:
                        self.conn.mav.mission_item_int_send(self.sysid, 1, *items[sent])
                elif m.get_type() in REQUESTS:
                    quiet, sent = 0, m.seq
                    self.conn.mav.mission_item_int_send(self.sysid, 1, *items[m.seq])
                elif m.type == M.MAV_MISSION_INVALID_SEQUENCE:
                    continue  # ArduPilot nacks a duplicated item; the transfer goes on
                elif m.type == M.MAV_MISSION_ERROR and sent == len(items) - 1:
                    break  # the vehicle finished but its ACK was lost (ArduPilot): upload again
                else:
                    return int(m.type)
        raise AssertionError("upload did not complete")

    def download(self, mission_type: int = 0) -> list[Any]:
        """Mission protocol download: MISSION_REQUEST_LIST, then MISSION_REQUEST_INT per seq, then ACK."""
        count = None
        for _ in range(10):
            self.conn.mav.mission_request_list_send(self.sysid, 1, mission_type)
            count = self.recv({"MISSION_COUNT"}, 1.0, lambda m: m.mission_type == mission_type)
            if count is not None:
                break
        assert count is not None
        items = []
        for seq in range(count.count):
            for _ in range(10):
                self.conn.mav.mission_request_int_send(self.sysid, 1, seq, mission_type)
                got = self.recv({"MISSION_ITEM_INT"}, 1.0, partial(has_seq, seq=seq))
                if got is not None:
                    items.append(got)
                    break
        self.conn.mav.mission_ack_send(self.sysid, 1, M.MAV_MISSION_ACCEPTED, mission_type)
        assert len(items) == count.count
        return items

    def wait_state(self, state: int, timeout: float = 20.0) -> Any:
        mc = self.recv({"MISSION_CURRENT"}, timeout, lambda m: m.mission_state == state)
        assert mc is not None, f"no MISSION_CURRENT with mission_state {state}"
        return mc

    def heartbeat(self, cond: Callable[[Any], bool], timeout: float = 5.0) -> Any:
        hb = self.recv({"HEARTBEAT"}, timeout, cond)
        assert hb is not None
        return hb


@pytest.fixture
def gcs() -> Iterator[Gcs]:
    g = Gcs()
    yield g
    g.conn.close()


def has_seq(m: Any, seq: int) -> bool:
    return bool(m.seq == seq)


def armed(hb: Any) -> bool:
    return bool(hb.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED)


def wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


# ---- ArduCopter ---------------------------------------------------------------------------------
def test_ardupilot_home_is_item_0_and_download_returns_the_current_home(gcs: Gcs) -> None:
    with ArduCopterPeer(gcs.url, sysid=3, home=HOME, item_s=0.2) as v:
        gcs.connect()
        assert gcs.upload(ap_mission()) == M.MAV_MISSION_ACCEPTED
        assert {m.get_type() for m in gcs.seen} & REQUESTS == {"MISSION_REQUEST"}  # AP asks non-INT
        assert v.mission[0].x == round(1.0 * 1e7)  # item 0 is stored as uploaded...
        got = gcs.download()
        assert len(got) == 6
        assert (got[0].x, got[0].y, got[0].frame) == (round(HOME[0] * 1e7), round(HOME[1] * 1e7), 0)
        assert got[0].z == pytest.approx(HOME[2])  # ...but read back as the current home (AMSL)
        assert [m.command for m in got[1:]] == [22, 16, 178, 16, 20]
        assert got[2].frame == 3  # GLOBAL_RELATIVE_ALT_INT is reported as GLOBAL_RELATIVE_ALT
        mc = gcs.wait_state(M.MISSION_STATE_NOT_STARTED)
        assert mc.total == 5  # home excluded


def test_ardupilot_refuses_to_arm_in_auto(gcs: Gcs) -> None:
    with ArduCopterPeer(gcs.url, sysid=3, home=HOME, item_s=0.2) as v:
        gcs.connect()
        assert gcs.upload(ap_mission()) == M.MAV_MISSION_ACCEPTED
        assert gcs.command(M.MAV_CMD_DO_SET_MODE, M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, AUTO) == [0]
        gcs.heartbeat(lambda hb: hb.custom_mode == AUTO)
        assert gcs.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == [M.MAV_RESULT_FAILED]
        assert not v.armed
        assert not armed(gcs.heartbeat(lambda hb: hb.custom_mode == AUTO))
        assert gcs.command(M.MAV_CMD_DO_SET_MODE, M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, GUIDED) == [0]
        assert gcs.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == [M.MAV_RESULT_ACCEPTED]
        assert armed(gcs.heartbeat(armed))


def test_ardupilot_guided_arm_mission_start_completes_and_disarms(gcs: Gcs) -> None:
    with ArduCopterPeer(gcs.url, sysid=3, home=HOME, item_s=0.2) as v:
        gcs.connect()
        assert gcs.upload(ap_mission()) == M.MAV_MISSION_ACCEPTED
        assert gcs.command(M.MAV_CMD_DO_SET_MODE, M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, GUIDED) == [0]
        assert gcs.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == [0]
        assert gcs.command(M.MAV_CMD_MISSION_START, 0, 0) == [0]
        active = gcs.wait_state(M.MISSION_STATE_ACTIVE)
        assert active.seq >= 1
        assert active.total == 5
        assert active.mission_mode == 1
        done = gcs.wait_state(M.MISSION_STATE_COMPLETE)
        assert done.total == 5
        assert v.reached == [1, 2, 3, 4, 5]
        assert v.complete
        assert 5 in [m.seq for m in gcs.types("MISSION_ITEM_REACHED")]
        wait_for(lambda: not v.armed)  # RTL landed; exit_mission disarms
        assert v.mode == AUTO
        assert v.landed
        assert not armed(gcs.heartbeat(lambda hb: not armed(hb)))


def test_ardupilot_mission_start_armed_on_the_ground_needs_a_takeoff_first(gcs: Gcs) -> None:
    with ArduCopterPeer(gcs.url, sysid=3, home=HOME, item_s=0.2) as v:
        gcs.connect()
        no_takeoff = [ap_mission()[0], item(1, 16, 29.8740, 121.5456, 15.0), item(2, 20)]
        assert gcs.upload(no_takeoff) == M.MAV_MISSION_ACCEPTED
        assert gcs.command(M.MAV_CMD_DO_SET_MODE, 1, GUIDED) == [0]
        assert gcs.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == [0]
        assert gcs.command(M.MAV_CMD_MISSION_START, 0, 0) == [M.MAV_RESULT_FAILED]  # "Missing Takeoff Cmd"
        assert v.mode == GUIDED
        assert gcs.command(M.MAV_CMD_MISSION_START, 1, 2) == [M.MAV_RESULT_DENIED]  # first/last item


def test_ardupilot_mission_start_while_disarmed_is_accepted_but_goes_nowhere(gcs: Gcs) -> None:
    with ArduCopterPeer(gcs.url, sysid=3, home=HOME, item_s=0.2) as v:
        gcs.connect()
        assert gcs.upload(ap_mission()) == M.MAV_MISSION_ACCEPTED
        assert gcs.command(M.MAV_CMD_MISSION_START, 0, 0) == [M.MAV_RESULT_ACCEPTED]
        assert v.mode == AUTO
        assert not v.armed
        assert gcs.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == [M.MAV_RESULT_FAILED]
        time.sleep(0.6)
        assert v.reached == []
        assert v.nav_index == 1


def test_ardupilot_set_mode_message_and_home_position_request(gcs: Gcs) -> None:
    with ArduCopterPeer(gcs.url, sysid=3, home=HOME, item_s=0.2) as v:
        gcs.connect()
        gcs.conn.mav.set_mode_send(3, M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, GUIDED)
        gcs.heartbeat(lambda hb: hb.custom_mode == GUIDED)
        gcs.seen.clear()
        assert gcs.command(M.MAV_CMD_REQUEST_MESSAGE, 242) == [0]
        home = gcs.recv({"HOME_POSITION"}, 2)
        assert home is not None
        assert (home.latitude, home.longitude) == (298737000, 1215453000)
        assert home.altitude == 5000
        assert gcs.command(M.MAV_CMD_REQUEST_MESSAGE, 9999) == [M.MAV_RESULT_FAILED]
        assert v.commands[-1] == (M.MAV_CMD_REQUEST_MESSAGE, M.MAV_RESULT_FAILED)


def test_ardupilot_no_fix_refuses_arming_in_guided(gcs: Gcs) -> None:
    with ArduCopterPeer(gcs.url, sysid=3, home=HOME, item_s=0.2, fix_type=0, battery_pct=42) as v:
        gcs.connect()
        gps = gcs.recv({"GPS_RAW_INT"}, 2)
        assert gps is not None
        assert gps.fix_type == 0
        status = gcs.recv({"SYS_STATUS"}, 2)
        assert status is not None
        assert status.battery_remaining == 42
        assert gcs.command(M.MAV_CMD_DO_SET_MODE, 1, GUIDED) == [0]  # disarmed: checks skipped
        assert gcs.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == [M.MAV_RESULT_FAILED]
        v.fix_type = 3
        assert gcs.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == [M.MAV_RESULT_ACCEPTED]


# ---- PX4 ----------------------------------------------------------------------------------------
def test_px4_set_mode_4_4_then_mission_start_arms_and_completes(gcs: Gcs) -> None:
    with PX4Peer(gcs.url, sysid=4, home=HOME, item_s=0.2, land_disarm_s=0.2) as v:
        gcs.connect()
        assert gcs.upload(px4_mission()) == M.MAV_MISSION_ACCEPTED
        requests = [m.get_type() for m in gcs.seen if m.get_type() in REQUESTS]
        assert requests[0] == "MISSION_REQUEST"  # _int_mode{false} until the GCS sends an _INT message
        assert set(requests[1:]) == {"MISSION_REQUEST_INT"}
        assert gcs.command(M.MAV_CMD_DO_SET_MODE, M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, 4, 4) == [0]
        hb = gcs.heartbeat(lambda hb: hb.custom_mode == AUTO_MISSION)
        assert hb.custom_mode == custom_mode(4, 4) == 4 << 16 | 4 << 24
        assert not armed(hb)
        assert gcs.command(M.MAV_CMD_MISSION_START, 0, 0) == [M.MAV_RESULT_ACCEPTED]
        assert v.armed  # MISSION_START arms (Commander: "switch to AUTO_MISSION and ARM")
        done = gcs.wait_state(M.MISSION_STATE_COMPLETE)
        assert (done.seq, done.total) == (4, 5)
        assert v.reached == [0, 1, 2, 3, 4]
        assert v.complete
        assert 4 in [m.seq for m in gcs.types("MISSION_ITEM_REACHED")]
        gcs.heartbeat(lambda hb: hb.custom_mode == AUTO_RTL)  # the RTL item hands over to RTL mode
        wait_for(lambda: not v.armed)  # landed at home, then COM_DISARM_LAND
        assert v.landed
        assert (v.lat, v.lon) == HOME[:2]


def test_px4_rejects_mission_start_without_a_mission_and_rtl_in_a_global_frame(gcs: Gcs) -> None:
    with PX4Peer(gcs.url, sysid=4, home=HOME, item_s=0.2) as v:
        gcs.connect()
        assert gcs.command(M.MAV_CMD_MISSION_START, 0, 0) == [M.MAV_RESULT_DENIED]
        assert not v.armed
        global_rtl = [item(0, 22, alt=10.0), item(1, 20)]  # RTL only parses with MAV_FRAME_MISSION
        assert gcs.upload(global_rtl) == M.MAV_MISSION_UNSUPPORTED
        assert v.mission == []
        assert gcs.command(M.MAV_CMD_DO_SET_MODE, 1, 4, 1) == [M.MAV_RESULT_TEMPORARILY_REJECTED]  # READY


# ---- both ---------------------------------------------------------------------------------------
def fence_items() -> list[MissionItem]:
    corners = [(29.8730, 121.5440), (29.8730, 121.5460), (29.8745, 121.5460), (29.8745, 121.5440)]
    vertex = {"frame": 0, "param1": 4.0, "mission_type": 1}  # POLYGON_VERTEX_EXCLUSION, 4 vertices
    return [item(i, 5002, lat, lon, **vertex) for i, (lat, lon) in enumerate(corners)]


@pytest.mark.parametrize("cls", [ArduCopterPeer, PX4Peer])
def test_fence_is_stored_apart_from_the_mission_and_downloadable(gcs: Gcs, cls: type[Peer]) -> None:
    with cls(gcs.url, sysid=5, home=HOME, item_s=0.2) as v:
        gcs.connect()
        mission_before = list(v.mission)
        assert gcs.upload(fence_items(), mission_type=1) == M.MAV_MISSION_ACCEPTED
        assert len(v.fence) == 4
        assert v.mission == mission_before
        got = gcs.download(mission_type=1)
        assert [(m.command, m.param1, m.x, m.y) for m in got] == [
            (5002, 4.0, f.x, f.y) for f in fence_items()
        ]
        if cls is PX4Peer:  # PX4 also checks the polygon: fewer than 3 vertices is an error
            two = [f._replace(param1=2.0) for f in fence_items()[:2]]
            assert gcs.upload(two, mission_type=1) == M.MAV_MISSION_ERROR


@pytest.mark.parametrize("cls", [ArduCopterPeer, PX4Peer])
def test_in_progress_ack_precedes_the_final_result(gcs: Gcs, cls: type[Peer]) -> None:
    mode = GUIDED if cls is ArduCopterPeer else None  # a mode each autopilot arms in
    with cls(gcs.url, sysid=6, home=HOME, item_s=0.2, in_progress_acks=True, mode=mode):
        gcs.connect()
        assert gcs.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == [M.MAV_RESULT_IN_PROGRESS, 0]


@pytest.mark.parametrize("cls", [ArduCopterPeer, PX4Peer])
def test_loss_both_ways_still_completes_with_retries(gcs: Gcs, cls: type[Peer]) -> None:
    ardu = cls is ArduCopterPeer
    with cls(gcs.url, sysid=7, home=HOME, item_s=0.5, drop_in=0.2, drop_out=0.2, seed=11) as v:
        gcs.connect()
        assert gcs.upload(ap_mission() if ardu else px4_mission()) == M.MAV_MISSION_ACCEPTED
        assert v.mission[-1].command == 20
        if ardu:
            assert gcs.command(M.MAV_CMD_DO_SET_MODE, 1, GUIDED)[-1] == 0
            assert gcs.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1)[-1] == 0
        assert gcs.command(M.MAV_CMD_MISSION_START, 0, 0)[-1] == 0
        gcs.wait_state(M.MISSION_STATE_COMPLETE, timeout=30)
        assert v.complete
        assert v.reached[-1] == len(v.mission) - 1
        assert v.dropped_in > 0
        assert v.dropped_out > 0


@pytest.mark.parametrize(
    ("cls", "mid_transfer", "after_ack"),
    [
        (ArduCopterPeer, M.MAV_MISSION_INVALID_SEQUENCE, M.MAV_MISSION_ERROR),  # nack, then "not receiving"
        (PX4Peer, None, M.MAV_MISSION_ACCEPTED),  # ignored, then the ACK repeated for a GCS that missed it
    ],
)
def test_a_repeated_item(gcs: Gcs, cls: type[Peer], mid_transfer: int | None, after_ack: int) -> None:
    items = px4_mission()[:3]
    with cls(gcs.url, sysid=8, home=HOME, item_s=0.2):
        gcs.connect()

        def ack() -> int | None:
            m = gcs.recv({"MISSION_ACK"}, 0.8)
            return None if m is None else int(m.type)

        gcs.conn.mav.mission_count_send(8, 1, len(items), 0)
        for seq in range(len(items)):
            assert gcs.recv(REQUESTS, 3, partial(has_seq, seq=seq)) is not None
            if seq == 1:
                gcs.conn.mav.mission_item_int_send(8, 1, *items[0])  # the GCS repeats item 0
                assert ack() == mid_transfer
            gcs.conn.mav.mission_item_int_send(8, 1, *items[seq])
        assert ack() == M.MAV_MISSION_ACCEPTED
        gcs.conn.mav.mission_item_int_send(8, 1, *items[-1])  # as if the ACK had been lost
        assert ack() == after_ack
