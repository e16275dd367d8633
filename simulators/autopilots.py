"""How ArduPilot (ArduCopter) and PX4 number their modes, answer commands and report a mission.

Each rule names the autopilot source it follows; docs/autopilots.md lists the files. Numbers are
MAVLink's (common.xml) so that this module needs no pymavlink. Commands answer an
:class:`Answer`: the MAV_RESULT and, where the autopilot says why, its STATUSTEXT.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from simulators.drone_model import NAV_TAKEOFF, PX4_TAKEOFF_ALT_M, Mode, Run, Vehicle

# MAV_RESULT
ACCEPTED, TEMPORARILY_REJECTED, DENIED, UNSUPPORTED, FAILED, IN_PROGRESS = 0, 1, 2, 3, 4, 5
# MISSION_STATE
NO_MISSION, NOT_STARTED, ACTIVE, PAUSED, COMPLETE = 1, 2, 3, 4, 5
# MAV_MODE_FLAG
CUSTOM, AUTO_FLAG, GUIDED_FLAG, STABILIZE_FLAG, MANUAL_FLAG, ARMED_FLAG = 1, 4, 8, 16, 64, 128
MAV_STATE_STANDBY, MAV_STATE_ACTIVE = 3, 4
SEVERITY_CRITICAL, SEVERITY_NOTICE, SEVERITY_INFO = 2, 5, 6
FORCE_ARM = (2989.0, 21196.0)  # ArduPilot magic_force_arm_value / magic_force_arm_disarm_value
PX4_FORCE = 21196.0
NAV_DELAY, NAV_TAKEOFF_LOCAL = 93, 24


@dataclass(frozen=True)
class Answer:
    result: int
    text: str = ""
    severity: int = SEVERITY_INFO


class Autopilot(ABC):
    """What both dialects share; the subclasses hold what differs."""

    name: ClassVar[str]
    mav_autopilot: ClassVar[int]
    first_item: ClassVar[int]
    modes: ClassVar[dict[Mode, int]]
    # mission transfer (simulators.mission_protocol)
    request_message: ClassVar[str]  # what the vehicle asks items with
    re_request_s: ClassVar[float]
    upload_timeout_s: ClassVar[float]
    atomic_upload: ClassVar[bool]  # the new plan replaces the old only when complete
    home_interval_s: ClassVar[float]  # HOME_POSITION stream, 0: only on request and on change
    reached_repeats: ClassVar[int]  # times the last MISSION_ITEM_REACHED is sent again at 1 Hz

    @abstractmethod
    def vehicle(self, home: tuple[float, float], speed_ms: float) -> Vehicle: ...

    def custom_mode(self, mode: Mode) -> int:
        return self.modes[mode]

    @abstractmethod
    def base_mode(self, v: Vehicle) -> int: ...

    @abstractmethod
    def system_status(self, v: Vehicle) -> int: ...

    @abstractmethod
    def set_mode(self, v: Vehicle, mode: Mode) -> Answer: ...

    @abstractmethod
    def do_set_mode(self, v: Vehicle, p1: float, p2: float, p3: float) -> Answer: ...

    @abstractmethod
    def arm(self, v: Vehicle, force: float) -> Answer: ...

    @abstractmethod
    def disarm(self, v: Vehicle, force: float) -> Answer: ...

    @abstractmethod
    def mission_start(self, v: Vehicle, p1: float, p2: float) -> Answer: ...

    @abstractmethod
    def takeoff(self, v: Vehicle, p7: float) -> Answer: ...

    def pause_continue(self, v: Vehicle, p1: float) -> Answer:
        return Answer(UNSUPPORTED)

    @abstractmethod
    def mission_current(self, v: Vehicle) -> tuple[int, int, int, int]:
        """MISSION_CURRENT's seq, total, mission_state, mission_mode."""
        ...

    def on_upload(self, v: Vehicle, current: int) -> None:  # noqa: B027 - an optional hook, nothing by default
        """A new plan is on board (``current``: the item uploaded with current = 1, or -1)."""

    def on_disarm(self, v: Vehicle) -> None:  # noqa: B027 - an optional hook, nothing by default
        """What the autopilot resets when the vehicle disarms."""

    @abstractmethod
    def breach_text(self) -> Answer: ...

    def mode_name(self, mode: Mode) -> str:
        return mode.value


class ArduPilot(Autopilot):
    name = "ardupilot"
    mav_autopilot = 3  # MAV_AUTOPILOT_ARDUPILOTMEGA
    first_item = 1  # AP_MISSION_FIRST_REAL_COMMAND; item 0 is home (AP_Mission::read_cmd_from_storage)
    modes: ClassVar[dict[Mode, int]] = {
        Mode.MANUAL: 0, Mode.MISSION: 3, Mode.GUIDED: 4, Mode.LOITER: 5, Mode.RTL: 6, Mode.LAND: 9,
    }  # fmt: skip
    names: ClassVar[dict[Mode, str]] = {
        Mode.MANUAL: "STABILIZE", Mode.MISSION: "AUTO", Mode.GUIDED: "GUIDED", Mode.LOITER: "LOITER",
        Mode.RTL: "RTL", Mode.LAND: "LAND",
    }  # fmt: skip
    armable = frozenset({Mode.MANUAL, Mode.GUIDED, Mode.LOITER})  # ArduCopter/mode.h allows_arming
    user_takeoff = frozenset({Mode.GUIDED, Mode.LOITER})  # has_user_takeoff
    request_message = "mission_request"  # MissionItemProtocol::queued_request_send
    re_request_s = 1.0
    upload_timeout_s = 8.0  # MissionItemProtocol.h upload_timeout_ms
    atomic_upload = False
    home_interval_s = 0.0  # in no stream of GCS_MAVLink_Parameters.cpp
    reached_repeats = 0

    def vehicle(self, home: tuple[float, float], speed_ms: float) -> Vehicle:
        return Vehicle(
            home[0], home[1], speed_ms=speed_ms, first_item=1, do_items_current=False,
            rtl_item_switches_mode=False, needs_auto_armed=True,
        )  # fmt: skip

    def mode_name(self, mode: Mode) -> str:
        return self.names.get(mode, mode.value)

    def base_mode(self, v: Vehicle) -> int:
        # GCS_MAVLINK_Copter::base_mode: guided flag while the position controller runs
        guided = GUIDED_FLAG if v.mode is not Mode.MANUAL else 0
        return STABILIZE_FLAG | guided | MANUAL_FLAG | (ARMED_FLAG if v.armed else 0) | CUSTOM

    def system_status(self, v: Vehicle) -> int:
        return MAV_STATE_STANDBY if v.landed else MAV_STATE_ACTIVE  # vehicle_system_status()

    def set_mode(self, v: Vehicle, mode: Mode) -> Answer:
        if mode is v.mode:
            return Answer(ACCEPTED)
        if mode is Mode.MISSION:  # ModeAuto::init
            if len(v.mission) <= 1:  # AP_Mission::present(): more than the home item
                return Answer(FAILED)
            if v.armed and v.landed and not self._starts_with_takeoff(v):
                return Answer(FAILED, "Auto: Missing Takeoff Cmd", SEVERITY_CRITICAL)
        if v.mode is Mode.MISSION and v.run is Run.RUNNING:
            v.run = Run.STOPPED  # ModeAuto::exit: mission.stop()
        v.paused = False
        v.set_mode(mode)
        if mode is Mode.MISSION:
            v.resume_mission()  # ModeAuto::run: mission.start_or_resume(), MIS_RESTART = 0
        return Answer(ACCEPTED)

    def _starts_with_takeoff(self, v: Vehicle) -> bool:
        """AP_Mission::starts_with_takeoff_cmd: the next NAV item (NAV_DELAY skipped) is a takeoff."""
        k = v.current if v.current >= self.first_item else self.first_item
        for it in v.mission[k:]:
            if not it.is_nav or it.command == NAV_DELAY:
                continue
            return it.command in (NAV_TAKEOFF, NAV_TAKEOFF_LOCAL)
        return False

    def do_set_mode(self, v: Vehicle, p1: float, p2: float, p3: float) -> Answer:
        """GCS_MAVLINK::_set_mode_common: custom modes only; FAILED when the mode refuses."""
        if not int(p1) & CUSTOM:
            return Answer(UNSUPPORTED)
        mode = next((m for m, n in self.modes.items() if n == int(p2)), None)
        return Answer(FAILED) if mode is None else self.set_mode(v, mode)

    def arm(self, v: Vehicle, force: float) -> Answer:
        """GCS_MAVLINK::handle_command_component_arm_disarm, AP_Arming_Copter::arm_checks."""
        if v.armed:
            return Answer(ACCEPTED)
        if force not in FORCE_ARM and v.mode not in self.armable:
            return Answer(FAILED, f"Arm: {self.mode_name(v.mode)} mode not armable", SEVERITY_CRITICAL)
        v.arm()
        return Answer(ACCEPTED)

    def disarm(self, v: Vehicle, force: float) -> Answer:
        if not v.armed:
            return Answer(ACCEPTED)
        if v.flying and force != FORCE_ARM[1]:
            return Answer(FAILED)
        v.disarm()
        return Answer(ACCEPTED)

    def on_disarm(self, v: Vehicle) -> None:
        v.current = -1  # AP_Arming_Copter::disarm: mission.reset() (no current NAV command)

    def mission_start(self, v: Vehicle, p1: float, p2: float) -> Answer:
        """GCS_MAVLINK_Copter::handle_MAV_CMD_MISSION_START."""
        if p1 != 0 or p2 != 0:
            return Answer(DENIED)  # first-item/last-item not supported
        answer = self.set_mode(v, Mode.MISSION)
        if answer.result != ACCEPTED:
            return Answer(FAILED, answer.text, answer.severity)
        v.auto_armed = True  # copter.set_auto_armed(true)
        if v.run is not Run.RUNNING:
            v.resume_mission()
        return Answer(ACCEPTED)

    def takeoff(self, v: Vehicle, p7: float) -> Answer:
        """Mode::do_user_takeoff: armed, landed, in a mode with a user takeoff (GUIDED, LOITER)."""
        if v.mode not in self.user_takeoff or not v.armed or not v.landed or not p7 > 0:
            return Answer(FAILED)
        v.auto_armed = True
        v.takeoff_target_m = p7
        return Answer(ACCEPTED)

    def pause_continue(self, v: Vehicle, p1: float) -> Answer:
        """GCS_MAVLINK_Copter::handle_command_pause_continue: AUTO pauses (MISSION_STATE_PAUSED)."""
        if int(p1) not in (0, 1):
            return Answer(DENIED)
        if v.mode is not Mode.MISSION or v.run is not Run.RUNNING:
            return Answer(FAILED, f"Failed to {'pause' if int(p1) == 0 else 'resume'}")
        v.paused = int(p1) == 0
        return Answer(ACCEPTED)

    def mission_current(self, v: Vehicle) -> tuple[int, int, int, int]:
        """GCS_MAVLINK::send_mission_current: total excludes home; GCS_MAVLINK_Copter::mission_state."""
        total = max(len(v.mission) - 1, 0)
        if len(v.mission) <= 1:
            state = NO_MISSION
        elif v.paused and v.mode is Mode.MISSION:
            state = PAUSED
        else:
            state = {Run.STOPPED: NOT_STARTED, Run.RUNNING: ACTIVE, Run.COMPLETE: COMPLETE}[v.run]
        return max(v.current, 0), total, state, 1 if v.mode is Mode.MISSION else 0

    def breach_text(self) -> Answer:
        return Answer(ACCEPTED, "Polygon fence breached", SEVERITY_NOTICE)  # AC_Fence::print_fence_message


class PX4(Autopilot):
    name = "px4"
    mav_autopilot = 12  # MAV_AUTOPILOT_PX4
    first_item = 0
    # px4_custom_mode.h: custom_mode = main_mode << 16 | sub_mode << 24
    main_sub: ClassVar[dict[Mode, tuple[int, int]]] = {
        Mode.MANUAL: (1, 0), Mode.POSCTL: (3, 0), Mode.TAKEOFF: (4, 2), Mode.LOITER: (4, 3),
        Mode.MISSION: (4, 4), Mode.RTL: (4, 5), Mode.LAND: (4, 6),
    }  # fmt: skip
    modes: ClassVar[dict[Mode, int]] = {m: main << 16 | sub << 24 for m, (main, sub) in main_sub.items()}
    prevent_arming = frozenset({Mode.RTL, Mode.LAND})  # mode_requirements.cpp mode_req_prevent_arming
    request_message = "mission_request_int"  # MavlinkMissionManager::send_mission_request, int mode
    re_request_s = 0.25  # mavlink_mission.h MAVLINK_MISSION_RETRY_TIMEOUT_DEFAULT
    upload_timeout_s = 5.0  # MAVLINK_MISSION_PROTOCOL_TIMEOUT_DEFAULT
    atomic_upload = True  # written to the inactive dataman slot, swapped when complete
    home_interval_s = 2.0  # mavlink_main.cpp: HOME_POSITION at 0.5 Hz
    reached_repeats = 10  # MavlinkMissionManager::send: "send the reached message another 10 times"

    def __init__(self) -> None:
        self._state = NOT_STARTED  # update_mission_state keeps the last state when no rule applies

    def vehicle(self, home: tuple[float, float], speed_ms: float) -> Vehicle:
        return Vehicle(
            home[0], home[1], speed_ms=speed_ms, first_item=0, do_items_current=True,
            rtl_item_switches_mode=True, needs_auto_armed=False,
        )  # fmt: skip

    def base_mode(self, v: Vehicle) -> int:
        # mavlink_messages.cpp get_mavlink_navigation_mode
        if v.mode is Mode.MANUAL:
            flags = MANUAL_FLAG | STABILIZE_FLAG
        elif v.mode is Mode.POSCTL:
            flags = MANUAL_FLAG | STABILIZE_FLAG | GUIDED_FLAG
        else:
            flags = AUTO_FLAG | STABILIZE_FLAG | GUIDED_FLAG
        return CUSTOM | flags | (ARMED_FLAG if v.armed else 0)

    def system_status(self, v: Vehicle) -> int:
        return MAV_STATE_ACTIVE if v.armed else MAV_STATE_STANDBY

    def set_mode(self, v: Vehicle, mode: Mode) -> Answer:
        """Commander: the user intention changes only when the mode's requirements are met."""
        if mode is Mode.MISSION and not v.mission:  # mode_req_mission: auto_mission_missing
            return Answer(TEMPORARILY_REJECTED)
        if mode is v.mode:
            return Answer(ACCEPTED)
        v.set_mode(mode)
        if mode is Mode.MISSION:  # MissionBase::on_activation
            restart = v.disarmed_since_mission and v.current + 1 >= len(v.mission)  # checkMissionRestart
            v.disarmed_since_mission = False
            v.reached = -1  # update_mission: seq_reached = -1, finished = false
            if restart or not 0 <= v.current < len(v.mission):
                v.start_mission()
            else:
                v.run, v.paused = Run.RUNNING, False
                v.events.append(("current", v.current))
        return Answer(ACCEPTED)

    def do_set_mode(self, v: Vehicle, p1: float, p2: float, p3: float) -> Answer:
        """Commander::handle_command VEHICLE_CMD_DO_SET_MODE: param2 main mode, param3 sub mode."""
        base, main, sub = int(p1), int(p2), int(p3)
        if base & CUSTOM:
            if main == 4 and sub == 0:
                sub = 4  # AUTO without a sub mode is AUTO.MISSION
            mode = next((m for m, ms in self.main_sub.items() if ms == (main, sub)), None)
            if mode is None and main == 4 and sub not in (8, 9) and not 10 <= sub <= 17:
                return Answer(TEMPORARILY_REJECTED, "Unsupported auto mode", SEVERITY_CRITICAL)
            if mode is None:
                # a PX4 mode this simulator does not fly (ALTCTL, ACRO, OFFBOARD, STABILIZED,
                # FOLLOW_TARGET, PRECLAND, EXTERNALn) is refused as if its requirements were not
                # met; a main mode Commander does not know changes nothing and is ACCEPTED
                return Answer(TEMPORARILY_REJECTED if main in (2, 4, 5, 6, 7) else ACCEPTED)
        elif base & AUTO_FLAG:
            mode = Mode.MISSION
        elif base & MANUAL_FLAG:
            mode = Mode.POSCTL if base & GUIDED_FLAG else Mode.MANUAL
        else:
            return Answer(ACCEPTED)
        return self.set_mode(v, mode)

    def arm(self, v: Vehicle, force: float) -> Answer:
        """Commander: arming is TEMPORARILY_REJECTED in modes that prevent it."""
        if v.armed:
            return Answer(ACCEPTED)
        refused = v.mode in self.prevent_arming or (v.mode is Mode.MISSION and not v.mission)
        if refused and force != PX4_FORCE:
            return Answer(TEMPORARILY_REJECTED)
        v.arm()
        return Answer(ACCEPTED)

    def disarm(self, v: Vehicle, force: float) -> Answer:
        if not v.armed:
            return Answer(ACCEPTED)
        if v.flying and force != PX4_FORCE:
            return Answer(TEMPORARILY_REJECTED)
        v.disarm()
        return Answer(ACCEPTED)

    def on_disarm(self, v: Vehicle) -> None:
        v.disarmed_since_mission = True

    def mission_start(self, v: Vehicle, p1: float, p2: float) -> Answer:
        """Commander VEHICLE_CMD_MISSION_START: switch to AUTO.MISSION and arm."""
        if not v.mission:
            return Answer(DENIED, "Mission start denied! No valid mission", SEVERITY_CRITICAL)
        if not (math.isfinite(p1) and -1 <= p1 < len(v.mission)):
            return Answer(DENIED)
        if self.set_mode(v, Mode.MISSION).result != ACCEPTED or self.arm(v, 0.0).result != ACCEPTED:
            return Answer(TEMPORARILY_REJECTED)
        return Answer(ACCEPTED)

    def takeoff(self, v: Vehicle, p7: float) -> Answer:
        """Commander VEHICLE_CMD_NAV_TAKEOFF: AUTO.TAKEOFF to param7 (AMSL) or MIS_TAKEOFF_ALT."""
        self.set_mode(v, Mode.TAKEOFF)
        v.takeoff_target_m = p7 - v.home_alt_msl_m if math.isfinite(p7) else PX4_TAKEOFF_ALT_M
        return Answer(ACCEPTED)

    def mission_current(self, v: Vehicle) -> tuple[int, int, int, int]:
        """MavlinkMissionManager::send_mission_current and update_mission_state."""
        active = v.mode in (Mode.MISSION, Mode.TAKEOFF, Mode.LAND)
        if not v.mission:
            self._state = NO_MISSION
        elif v.run is Run.COMPLETE:
            self._state = COMPLETE
        elif active:
            self._state = ACTIVE
        elif v.reached >= 0:
            self._state = PAUSED
        elif v.current < 1:
            self._state = NOT_STARTED
        total = len(v.mission) if v.mission else 0xFFFF  # UINT16_MAX without a mission
        return v.current, total, self._state, 1 if active else 2

    def on_upload(self, v: Vehicle, current: int) -> None:
        # MavlinkMissionManager::update_active_mission; MissionBase::updateMavlinkMission
        v.current = current if current >= 0 else min(max(v.current, 0), max(len(v.mission) - 1, 0))
        v.reached = -1
        if v.run is Run.COMPLETE:
            v.run = Run.STOPPED
        if v.mode is Mode.MISSION and v.mission:
            v.run = Run.RUNNING
            v.events.append(("current", v.current))

    def breach_text(self) -> Answer:
        return Answer(ACCEPTED, "Geofence violation", SEVERITY_CRITICAL)  # Navigator geofence check


def autopilot(name: str) -> Autopilot:
    if name == "ardupilot":
        return ArduPilot()
    if name == "px4":
        return PX4()
    raise ValueError(f"autopilot must be ardupilot or px4, not {name!r}")
