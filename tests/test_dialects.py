"""The ground station's dialect logic as pure functions: what is uploaded and how a vehicle is
started per autopilot, when a mission is done, why a start is refused, commands that answer
IN_PROGRESS first, and no position without a GPS fix. Integration against vehicles:
tests/test_autopilots.py."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from drones.convert import StreamFilter
from drones.dialects import dialect
from drones.fleet import DroneStatus, Fleet, MissionProgress
from drones.launch import start_problem
from drones.mavlink import mavutil
from drones.mission_service import Mission
from drones.missions import (
    FRAME_GLOBAL,
    NAV_LOITER_TIME,
    NAV_RETURN_TO_LAUNCH,
    NAV_TAKEOFF,
    NAV_WAYPOINT,
    Checks,
    MissionItem,
    item,
)
from drones.upload import _wire, command, same
from telemetry.config_drones import DroneTypeConfig
from telemetry.records import DroneState, MissionEvent

PLAN = [
    item(NAV_TAKEOFF, 29.87, 121.54, 30.0),
    item(NAV_WAYPOINT, 29.871, 121.541, 30.0),
    item(178, None, None, None, p2=5.0),  # DO_CHANGE_SPEED: not a navigation item
    item(NAV_RETURN_TO_LAUNCH, None, None, None),
]
HOME = (29.8699, 121.5399, 4.5)


def test_ardupilot_missions_go_behind_a_home_item_px4_and_generic_from_zero() -> None:
    ardu = dialect("ardupilot").wire_items(PLAN, HOME)
    assert len(ardu) == len(PLAN) + 1
    assert (ardu[0].command, ardu[0].frame, ardu[0].lat, ardu[0].lon, ardu[0].alt_m) == (
        NAV_WAYPOINT, FRAME_GLOBAL, 29.8699, 121.5399, 4.5,
    )  # fmt: skip
    assert ardu[1:] == PLAN
    assert dialect("ardupilot").plan_items(ardu) == PLAN
    assert dialect("px4").wire_items(PLAN, HOME) == PLAN
    assert dialect("generic").wire_items(PLAN, HOME) == PLAN
    assert dialect(None).name == dialect("something else").name == "generic"


def test_start_sequences_per_dialect() -> None:
    m = mavutil().mavlink
    steps = {
        d: [(s.command, s.params) for s in dialect(d).start_steps()] for d in ("ardupilot", "px4", "generic")
    }
    custom = float(m.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED)
    arm, go = (m.MAV_CMD_COMPONENT_ARM_DISARM, (1.0,)), (m.MAV_CMD_MISSION_START, (0.0, 0.0))
    assert steps["ardupilot"] == [(m.MAV_CMD_DO_SET_MODE, (custom, 4.0)), arm, go]  # GUIDED: arming allowed
    assert steps["px4"] == [(m.MAV_CMD_DO_SET_MODE, (custom, 4.0, 4.0)), arm, go]  # AUTO.MISSION
    assert steps["generic"] == [arm, go]
    assert dialect("ardupilot").start_problem(PLAN[1:]) is not None  # AUTO on the ground needs TAKEOFF first
    assert dialect("ardupilot").start_problem(PLAN) is None
    assert dialect("px4").start_problem(PLAN[1:]) is None
    terrain = [replace(i, frame=10) if i.has_position else i for i in PLAN]
    assert "terrain" in (dialect("px4").upload_problem(terrain) or "")
    assert dialect("ardupilot").upload_problem(terrain) is None
    assert dialect("px4").upload_problem(PLAN) is None


def _fleet(offset: int) -> Fleet:
    fleet = Fleet()
    fleet.observe(DroneState(7, 1, armed=False), "udp", heartbeat=True)
    fleet.set_mission(7, MissionProgress("m1", 0, len(PLAN), "running", offset, last_nav=3))
    return fleet


def _mission(fleet: Fleet) -> MissionProgress:
    (status,) = fleet.snapshot()
    assert status.mission is not None
    return status.mission


def test_progress_maps_vehicle_seqs_and_seq_equal_total_is_not_done() -> None:
    fleet = _fleet(offset=1)  # ArduPilot: the plan's item k is the vehicle's k + 1
    fleet.observe(DroneState(7, 2, armed=True, mission_seq=2), "udp")
    assert (_mission(fleet).current, _mission(fleet).state) == (1, "running")
    fleet.observe(DroneState(7, 3, mission_seq=len(PLAN)), "udp")  # our old simulator's "seq == total"
    assert _mission(fleet).state == "running"


def test_done_when_the_last_navigation_item_is_reached() -> None:
    fleet = _fleet(offset=1)
    fleet.observe(MissionEvent(7, "m1", 2, "item_reached", seq=3), "udp")  # plan item 2: DO_CHANGE_SPEED
    assert _mission(fleet).state == "running"
    fleet.observe(MissionEvent(7, "m1", 3, "item_reached", seq=4), "udp")  # plan item 3: RTL, the last
    assert (_mission(fleet).current, _mission(fleet).state) == (len(PLAN), "done")


def test_done_when_mission_state_says_complete() -> None:
    fleet = _fleet(offset=0)
    fleet.observe(DroneState(7, 2, mission_seq=1, mission_state=3), "udp")  # ACTIVE
    assert _mission(fleet).state == "running"
    fleet.observe(DroneState(7, 3, mission_seq=3, mission_state=5), "udp")  # COMPLETE
    assert _mission(fleet).state == "done"


def test_done_when_disarmed_after_the_last_item_but_not_before_it_flew() -> None:
    fleet = _fleet(offset=0)
    fleet.observe(DroneState(7, 2, armed=False), "udp")  # before the arm shows: not done
    assert _mission(fleet).state == "running"
    fleet.observe(DroneState(7, 3, armed=True, mission_seq=3), "udp")
    fleet.observe(DroneState(7, 4, armed=False), "udp")  # landed after RTL
    assert _mission(fleet).state == "done"


class _Acks:
    """A session whose vehicle answers IN_PROGRESS first, then the final result."""

    def __init__(self, results: list[int]) -> None:
        self.sent: list[Any] = []
        self._results = results

    def send(self, msg: Any) -> None:
        self.sent.append(msg)

    def receive(self, timeout_s: float) -> Any | None:
        if not self._results:
            return None
        m = mavutil().mavlink
        return m.MAVLink_command_ack_message(m.MAV_CMD_MISSION_START, self._results.pop(0), 0, 0, 255, 190)


def _wire_back(it: MissionItem, **changes: Any) -> Any:
    w = _wire(it, 0, 1)
    for k, v in changes.items():
        setattr(w, k, v)
    return w


def test_a_read_back_is_compared_as_the_autopilot_keeps_items() -> None:
    loiter = item(NAV_LOITER_TIME, 29.87, 121.54, 30.0, p1=30.5, p4=0.0)
    wp = item(NAV_WAYPOINT, 29.87, 121.54, 30.0, frame=6, p4=-90.0)
    assert same([loiter], [_wire_back(loiter, param1=30.0, param3=1.0)])  # ArduPilot: whole seconds, flag
    assert same([wp], [_wire_back(wp, frame=3, param4=270.0)])  # the same reference; PX4's yaw in 0-360
    assert same([wp], [_wire_back(wp, z=30.004)])  # kept to the cm
    assert not same([wp], [_wire_back(wp, z=30.5)])
    assert not same([wp], [_wire_back(wp, frame=0)])  # AMSL is not relative
    assert not same([wp], [_wire_back(wp, x=298700001)])
    assert not same([loiter], [_wire_back(loiter, param1=12.0)])
    assert not same([loiter], [_wire_back(loiter, command=NAV_WAYPOINT)])
    rtl = PLAN[-1]
    assert same([rtl], [_wire_back(rtl, frame=0)])  # a positionless item's frame is the autopilot's


def test_in_progress_waits_for_the_final_ack_without_sending_again() -> None:
    m = mavutil().mavlink
    session = _Acks([m.MAV_RESULT_IN_PROGRESS, m.MAV_RESULT_IN_PROGRESS, m.MAV_RESULT_ACCEPTED])
    assert command(session, 1, m.MAV_CMD_MISSION_START, 0.0, 0.0) == m.MAV_RESULT_ACCEPTED
    assert len(session.sent) == 1
    refused = _Acks([m.MAV_RESULT_IN_PROGRESS, m.MAV_RESULT_FAILED])
    assert command(refused, 1, m.MAV_CMD_MISSION_START, 0.0, 0.0) == m.MAV_RESULT_FAILED


def _ready_mission() -> Mission:
    checks = Checks(40.0, 120.0, (), False, (), 660.0, 50.0, True, "flat")
    return Mission("m9", "points", list(PLAN), checks, (121.5399, 29.8699), 8.0, state="verified", drone=7)


def _status(**kw: Any) -> DroneStatus:
    base = DroneStatus(7, True, 1, 29.87, 121.54, 0.0, 90.0, "GUIDED", False, "udp", None, "ardupilot", 3)
    return replace(base, **kw)


def test_start_is_refused_with_the_reason() -> None:
    quad = DroneTypeConfig(endurance_s=1320, reserve_pct=25)  # 660 s is 50 %: 75 % needed
    m = _ready_mission()
    assert start_problem(m, _status(), quad) is None
    assert "offline" in (start_problem(m, _status(online=False), quad) or "")
    assert "offline" in (start_problem(m, None, quad) or "")
    assert "no 3D GPS fix" in (start_problem(m, _status(gps_fix=2), quad) or "")
    assert "no 3D GPS fix" in (start_problem(m, _status(gps_fix=None), quad) or "")
    assert "needs 75 %" in (start_problem(m, _status(battery_pct=70.0), quad) or "")
    assert start_problem(m, _status(battery_pct=75.0), quad) is None
    bigger = quad.model_copy(update={"endurance_s": 2200})  # 660 s is 30 %: 55 % needed
    assert "needs 55 %" in (start_problem(m, _status(battery_pct=50.0), bigger) or "")
    assert "verify" in (start_problem(replace(m, state="planned"), _status(), quad) or "")
    approval = replace(m.checks, approval_required=True, approval_reasons=("ZSNB",))
    assert "approval" in (start_problem(replace(m, checks=approval), _status(), quad) or "")
    assert start_problem(replace(m, checks=approval, approval_id="A-1"), _status(), quad) is None
    assert "TAKEOFF" in (start_problem(replace(m, items=PLAN[1:]), _status(), quad) or "")


def test_no_fix_no_position() -> None:
    stream = StreamFilter()
    at = DroneState(1, 1, lat=29.87, lon=121.54, alt_msl_m=8.0, alt_rel_m=3.0)
    assert stream.apply(at) == at  # no GPS_RAW_INT heard yet: taken
    assert stream.apply(DroneState(1, 2, lat=0.0, lon=0.0, alt_msl_m=0.0)) is None  # "Null Island"
    stream.apply(DroneState(1, 3, gps_fix=1, satellites=0))
    assert stream.apply(at) == DroneState(1, 1, alt_rel_m=3.0)
    stream.apply(DroneState(1, 4, gps_fix=3))
    assert stream.apply(at) == at
    assert stream.apply(DroneState(2, 5, lat=29.0, lon=121.0)) is not None  # per vehicle


def test_the_fleet_forgets_a_position_when_the_fix_is_lost() -> None:
    fleet = Fleet()
    fleet.observe(DroneState(8, 1, lat=29.87, lon=121.54), "udp", heartbeat=True)
    fleet.observe(DroneState(8, 2, gps_fix=1, satellites=0), "udp")
    (status,) = fleet.snapshot()
    assert (status.lat, status.lon, status.gps_fix) == (None, None, 1)
