"""An ArduCopter stand-in: ArduPilot's mission item protocol, AP_Mission and Copter's mode/arming rules.

Every rule below names its source in SOURCES.md. In short: item 0 is HOME (stored on upload, read
back as the current home); execution starts at item 1; the vehicle asks for items with
MISSION_REQUEST (ArduPilot still sends the non-INT request) and accepts MISSION_ITEM_INT; a
duplicate item is nacked MAV_MISSION_INVALID_SEQUENCE; an item after the transfer ended is nacked
MAV_MISSION_ERROR; arming is refused in AUTO (AUTO_OPTIONS = 0) with MAV_RESULT_FAILED.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from tests.peers.common import GLOBAL_FRAMES, M, MissionItem, Peer

STABILIZE, AUTO, GUIDED, LOITER, RTL, LAND = 0, 3, 4, 5, 6, 9
MODES = frozenset({STABILIZE, AUTO, GUIDED, LOITER, RTL, LAND})
ARMABLE = frozenset({STABILIZE, GUIDED, LOITER})  # Mode*::allows_arming (AUTO: AUTO_OPTIONS bit 0 unset)
NEEDS_POSITION = frozenset({AUTO, GUIDED, LOITER, RTL})  # Mode*::requires_GPS
FENCE_CMDS = frozenset({5000, 5001, 5002, 5003, 5004})  # RETURN_POINT, POLYGON_VERTEX_*, CIRCLE_*
LOCATION_CMDS = frozenset({16, 17, 18, 19, 21, 22, 30, 31, 82, 84, 85, 92, 94, 179, 189, 191, 201})
TAKEOFF_CMDS = frozenset({22, 84})
# AP_Mission::verify_command answers these itself, so no MISSION_ITEM_REACHED is sent for them
# (DO_SET_RELAY/SERVO + REPEATs, DIGICAM_*, SET_CAM_TRIGG_DIST, GRIPPER, PARACHUTE, SET_RESUME_REPEAT_DIST,
# SPRAYER, SEND_SCRIPT_MESSAGE, AUX_FUNCTION, GIMBAL_MANAGER_PITCHYAW)
SILENT_DO = frozenset({181, 182, 183, 184, 202, 203, 206, 208, 211, 215, 216, 217, 218, 1000})
UPLOAD_TIMEOUT_S = 8.0  # MissionItemProtocol::upload_timeout_ms
REQUEST_RESEND_S = 1.0  # MissionItemProtocol::update, wp_recv_timeout_ms
MAX_ITEMS = 724  # storage-dependent on a real board
INT_TO_FLOAT_FRAME = {5: 0, 6: 3, 11: 10}  # mission_cmd_to_mavlink_int reports the non-INT frames
STATES = {"STOPPED": "NOT_STARTED", "RUNNING": "ACTIVE", "COMPLETE": "COMPLETE"}  # GCS_MAVLINK::mission_state
# REQUEST_MESSAGE ids this stand-in answers (others: mavlink_id_to_ap_message_id -> MSG_LAST -> FAILED)
REPLIES = {0: "heartbeat", 1: "status", 24: "position", 33: "position", 42: "status", 242: "home"}


def is_nav(cmd: int) -> bool:
    """AP_Mission::is_nav_cmd."""
    return cmd <= 95 or cmd in (213, 42702, 42703)


@dataclass
class _Upload:
    """MissionItemProtocol state for one mission_type."""

    receiving: bool = False
    request_i: int = 0
    request_last: int = 0
    dest: tuple[int, int] = (0, 0)
    t_recv: float = 0.0
    t_req: float = 0.0
    new_items: list[MissionItem | None] = field(default_factory=list)


class ArduCopterPeer(Peer):
    AUTOPILOT = 3  # MAV_AUTOPILOT_ARDUPILOTMEGA
    DEFAULT_MODE = STABILIZE
    HOME_Q = (float("nan"),) * 4  # GCS_MAVLINK::send_home_position sends q = NaN

    def __init__(self, url: str, *, disarm_delay_s: float = 10.0, **kw: Any) -> None:
        super().__init__(url, **kw)
        self.disarm_delay_s = disarm_delay_s  # DISARM_DELAY (Copter::auto_disarm_check)
        lat, lon, alt = self.home
        self.mission = [MissionItem(0, 0, 16, 0, 1, 0, 0, 0, 0, round(lat * 1e7), round(lon * 1e7), alt)]
        self.mission_state = "STOPPED"  # AP_Mission::mission_state: STOPPED / RUNNING / COMPLETE
        self.nav_index: int | None = None  # AP_MISSION_CMD_INDEX_NONE
        self._up = {0: _Upload(), 1: _Upload()}
        on = self._handlers
        on["MISSION_COUNT"], on["SET_MODE"] = self._on_count, self._on_set_mode
        on["MISSION_ITEM_INT"] = on["MISSION_ITEM"] = self._on_item
        on["MISSION_REQUEST_LIST"], on["MISSION_CLEAR_ALL"] = self._on_request_list, self._on_clear
        on["MISSION_REQUEST_INT"] = on["MISSION_REQUEST"] = self._on_request

    # ---- mission item protocol (GCS_MAVLink/MissionItemProtocol*.cpp) -----------------------------
    def _for_me(self, m: Any) -> bool:
        return bool(m.target_system in (0, self.sysid))

    def _on_count(self, m: Any) -> None:
        t = m.mission_type
        if not self._for_me(m):
            return
        if t not in self._up:
            self.mission_ack(m, t, M.MAV_MISSION_UNSUPPORTED)
            return
        up, src = self._up[t], (m.get_srcSystem(), m.get_srcComponent())
        if up.receiving and src != up.dest:  # cancel_upload: only the uploader may restart
            self.mission_ack(m, t, M.MAV_MISSION_DENIED)
            return
        if m.count > MAX_ITEMS:
            self.mission_ack(m, t, M.MAV_MISSION_NO_SPACE)
            return
        if t == 0:
            del self.mission[m.count :]  # MissionItemProtocol_Waypoints::truncate
        up.new_items = [None] * m.count if t == 1 else []
        up.receiving, up.dest, up.t_recv = True, src, time.monotonic()
        if m.count == 0:
            self._transfer_complete(m, t)
            return
        up.request_i, up.request_last = 0, m.count - 1
        self._request(t)

    def _request(self, t: int) -> None:
        up = self._up[t]
        up.t_req = time.monotonic()
        self.send("mission_request", up.dest[0], up.dest[1], up.request_i, t)  # queued_request_send

    def _transfer_complete(self, m: Any, t: int) -> None:
        up = self._up[t]
        if t == 1:
            self.fence = [i for i in up.new_items if i is not None]  # AC_PolyFence_loader::write_fence
        up.receiving = False
        self.mission_ack(m, t, M.MAV_MISSION_ACCEPTED)

    def _check_item(self, item: MissionItem) -> int:
        """mavlink_int_to_mission_cmd / convert_MISSION_ITEM_INT_to_AC_PolyFenceItem, reduced."""
        if item.mission_type == 1:
            if item.frame not in GLOBAL_FRAMES:
                return int(M.MAV_MISSION_UNSUPPORTED_FRAME)
            return int(M.MAV_MISSION_ACCEPTED if item.command in FENCE_CMDS else M.MAV_MISSION_UNSUPPORTED)
        if item.command in FENCE_CMDS or item.command == 5100:
            return int(M.MAV_MISSION_UNSUPPORTED)
        if item.command in LOCATION_CMDS and item.frame not in GLOBAL_FRAMES:
            return int(M.MAV_MISSION_UNSUPPORTED_FRAME)
        return int(M.MAV_MISSION_ACCEPTED)

    def _on_item(self, m: Any) -> None:
        if not self._for_me(m):
            return
        item, t = MissionItem.from_msg(m), m.mission_type
        up = self._up.get(t)
        if up is None:
            self.mission_ack(m, t, M.MAV_MISSION_UNSUPPORTED)
            return
        if not up.receiving:
            self.mission_ack(m, t, M.MAV_MISSION_ERROR)  # GCS_MAVLINK::handle_mission_item: not receiving
            return
        if item.seq != up.request_i:
            self.mission_ack(m, t, M.MAV_MISSION_INVALID_SEQUENCE)  # duplicates too; the transfer goes on
            return
        if (m.get_srcSystem(), m.get_srcComponent()) != up.dest:
            self.mission_ack(m, t, M.MAV_MISSION_DENIED)
            return
        result = self._check_item(item)
        if result == M.MAV_MISSION_ACCEPTED:
            if t == 1:  # AP stores a fence vertex as type + lat/lon (+ count or radius)
                stored = (item.seq, 0, item.command, 0, 0, item.param1, 0, 0, 0, item.x, item.y, 0.0, 1)
                up.new_items[item.seq] = MissionItem(*stored)
            elif item.seq < len(self.mission):
                self.mission[item.seq] = item
            elif item.seq == len(self.mission):
                self.mission.append(item)
            else:
                result = int(M.MAV_MISSION_ERROR)
        if result != M.MAV_MISSION_ACCEPTED:
            self.mission_ack(m, t, result)
            up.receiving = False
            return
        up.t_recv = time.monotonic()
        up.request_i += 1
        if up.request_i > up.request_last:
            self._transfer_complete(m, t)
        else:
            self._request(t)

    def _on_request_list(self, m: Any) -> None:
        t = m.mission_type
        if not self._for_me(m):
            return
        if t not in self._up:
            self.mission_ack(m, t, M.MAV_MISSION_UNSUPPORTED)
        elif self._up[t].receiving:
            self.mission_ack(m, t, M.MAV_MISSION_DENIED)
        else:
            self.send("mission_count", m.get_srcSystem(), m.get_srcComponent(), self._count(t), t)

    def _count(self, t: int) -> int:
        return len(self.mission if t == 0 else self.fence)

    def _on_request(self, m: Any) -> None:
        t, seq = m.mission_type, m.seq
        if not self._for_me(m) or t not in self._up:
            return
        if self._up[t].receiving:
            self.mission_ack(m, t, M.MAV_MISSION_DENIED)
            return
        if (t == 0 and seq != 0 and seq >= len(self.mission)) or (t == 1 and seq >= len(self.fence)):
            # "try to educate the GCS on the actual size of the mission"
            self.send("mission_count", m.get_srcSystem(), m.get_srcComponent(), self._count(t), t)
            self.mission_ack(m, t, M.MAV_MISSION_INVALID_SEQUENCE)
            return
        if t == 1:
            item = self.fence[seq]
        elif seq == 0:  # AP_Mission::read_cmd_from_storage: index 0 is always the current home
            lat, lon, alt = self.home if self.home_set else (0.0, 0.0, 0.0)
            item = MissionItem(0, 0, 16, 0, 1, 0, 0, 0, 0, round(lat * 1e7), round(lon * 1e7), alt)
        else:
            s = self.mission[seq]
            item = s._replace(frame=INT_TO_FLOAT_FRAME.get(s.frame, s.frame), current=0, autocontinue=1)
        self.send_item(m, item._replace(mission_type=t), m.get_type() == "MISSION_REQUEST_INT")

    def _on_clear(self, m: Any) -> None:
        t = m.mission_type
        if not self._for_me(m) or t not in self._up:
            return
        up = self._up[t]
        if up.receiving and (m.get_srcSystem(), m.get_srcComponent()) != up.dest:
            self.mission_ack(m, t, M.MAV_MISSION_DENIED)
            return
        up.receiving = False
        if t == 0 and self.mission_state == "RUNNING":  # AP_Mission::clear refuses a running mission
            self.mission_ack(m, t, M.MAV_MISSION_ERROR)
            return
        if t == 0:
            self.mission = []
        else:
            self.fence = []
        self.mission_ack(m, t, M.MAV_MISSION_ACCEPTED)

    def _protocol_tick(self, now: float) -> None:
        for t, up in self._up.items():
            if not up.receiving:
                continue
            if now - up.t_recv > UPLOAD_TIMEOUT_S:
                up.receiving = False
                self.send("mission_ack", up.dest[0], up.dest[1], M.MAV_MISSION_OPERATION_CANCELLED, t)
            elif now - up.t_req > REQUEST_RESEND_S:
                self._request(t)

    # ---- modes, arming, commands (GCS_Common.cpp, GCS_MAVLink_Copter.cpp, mode.cpp) -------------
    def _on_set_mode(self, m: Any) -> None:
        if m.target_system == self.sysid:
            self._set_mode_common(m.base_mode, m.custom_mode)

    def _set_mode_common(self, base_mode: int, custom_mode: int) -> int:
        if not int(base_mode) & M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED:
            return int(M.MAV_RESULT_DENIED)
        return int(M.MAV_RESULT_ACCEPTED if self.set_mode(int(custom_mode)) else M.MAV_RESULT_FAILED)

    def set_mode(self, new: int) -> bool:
        """Copter::set_mode: checks are skipped while disarmed; AUTO needs a takeoff first when armed."""
        if new == self.mode:
            return True
        if new not in MODES:
            return False
        checks = self.armed
        if checks and new in NEEDS_POSITION and not self.position_ok:
            return False
        if new == AUTO:  # ModeAuto::init: mission.present() unless checks are ignored (disarmed)
            if checks and len(self.mission) <= 1:
                return False
            if self.armed and self.landed and not self._starts_with_takeoff():
                return False  # "Auto: Missing Takeoff Cmd"
        if new == RTL and checks and not self.home_set:
            return False
        if self.mode == AUTO and self.mission_state == "RUNNING":  # ModeAuto::exit
            self.mission_state = "STOPPED"
        self._cancel_leg()
        self.mode = new
        if new == AUTO and self.position_ok:  # ModeAuto::run: start once the EKF has an origin
            self._start_or_resume()
        elif new == RTL and self.armed and not self.landed:
            self.fly_home_and_land(self._disarm)  # ModeRTL::run(disarm_on_land=true)
        elif new == LAND and self.armed and not self.landed:
            self._schedule(self.touch_down, self._disarm)  # ModeLand disarms once landed
        return True

    def _starts_with_takeoff(self) -> bool:
        """AP_Mission::starts_with_takeoff_cmd (MIS_RESTART = 0): first nav item, skipping delays."""
        start = 1 if self.nav_index is None else self.nav_index
        for item in self.mission[start:]:
            if is_nav(item.command) and item.command != 93:  # NAV_DELAY is skipped
                return item.command in TAKEOFF_CMDS
        return False

    def _arm(self, forced: bool) -> bool:
        """AP_Arming_Copter::arm_checks (skipped when forced) and mandatory_position_checks (always)."""
        if self.mode in NEEDS_POSITION and not self.position_ok:
            return False
        if self.mode not in ARMABLE and not forced:  # "%s mode not armable"
            return False
        self.armed = True
        self._reset_home_here()  # AP_Arming_Copter::arm: home moves to where we arm
        return True

    def _disarm(self) -> None:
        super()._disarm()
        self.nav_index = None  # AP_Arming_Copter::disarm -> AP_Mission::reset (state is kept)
        self._cancel_leg()

    def _disarm_delay(self) -> float | None:
        return self.disarm_delay_s if self.disarm_delay_s > 0 else None

    def _command(self, cmd: int, p: tuple[float, ...], m: Any) -> int:
        ok, failed = int(M.MAV_RESULT_ACCEPTED), int(M.MAV_RESULT_FAILED)
        if cmd == M.MAV_CMD_DO_SET_MODE:
            return self._set_mode_common(int(p[0]), int(p[1]))
        if cmd == M.MAV_CMD_COMPONENT_ARM_DISARM:
            forced = round(p[1]) in (2989, 21196)
            if p[0] == 1:
                return ok if self.armed or self._arm(forced) else failed
            if p[0] == 0:
                if self.armed and not self.landed and not forced:  # "do not allow disarm ... if flying"
                    return failed
                if self.armed:
                    self._disarm()
                return ok
            return int(M.MAV_RESULT_UNSUPPORTED)
        if cmd == M.MAV_CMD_MISSION_START:  # handle_MAV_CMD_MISSION_START
            if p[0] != 0 or p[1] != 0:
                return int(M.MAV_RESULT_DENIED)
            if not self.set_mode(AUTO):
                return failed
            if self.mission_state != "RUNNING":
                self._start_or_resume()
            return ok
        if cmd == M.MAV_CMD_REQUEST_MESSAGE:
            name = REPLIES.get(int(p[0]))
            if name is not None:
                self._after_ack.append(getattr(self, f"_send_{name}"))  # send_message(id): after the ACK
            return failed if name is None else ok
        if cmd == M.MAV_CMD_GET_HOME_POSITION:
            self._after_ack.append(self._send_home)
            return ok if self.home_set else failed
        if cmd in (M.MAV_CMD_NAV_RETURN_TO_LAUNCH, M.MAV_CMD_NAV_LAND):
            return ok if self.set_mode(RTL if cmd == M.MAV_CMD_NAV_RETURN_TO_LAUNCH else LAND) else failed
        if cmd == M.MAV_CMD_NAV_TAKEOFF:  # Mode::do_user_takeoff: GUIDED/LOITER, armed, on the ground
            if self.mode not in (GUIDED, LOITER) or not self.armed or not self.landed or p[6] <= 0:
                return failed
            self.takeoff(p[6], lambda: None)
            return ok
        return int(M.MAV_RESULT_UNSUPPORTED)

    # ---- AP_Mission execution (AP_Mission.cpp, ArduCopter/mode_auto.cpp) -------------------------
    def _start_or_resume(self) -> None:
        if self.mission_state == "STOPPED" and self.nav_index is not None:
            self.mission_state = "RUNNING"  # resume(): restart the active nav command
            self._begin_leg(self.nav_index)
            return
        self.mission_state, self.nav_index, self.complete = "RUNNING", None, False  # start()
        self._advance()

    def _advance(self) -> None:
        """advance_current_nav_cmd: run the DO items up to the next nav item, or complete()."""
        i = 1 if self.nav_index is None else self.nav_index + 1  # AP_MISSION_FIRST_REAL_COMMAND
        while i < len(self.mission):
            cmd = self.mission[i].command
            if is_nav(cmd):
                self.nav_index = i
                self._begin_leg(i)
                return
            if cmd != 177 and cmd not in SILENT_DO:  # DO_JUMP is followed, not run (not modelled)
                self.reached_item(i)
            i += 1
        self.mission_state, self.complete = "COMPLETE", True  # complete() -> ModeAuto::exit_mission
        if self.landed and self.armed:
            self._disarm()  # "if we've landed it's safe to disarm"

    def _begin_leg(self, i: int) -> None:
        item = self.mission[i]
        if not self.armed or (self.landed and item.command not in TAKEOFF_CMDS):
            return  # make_safe_ground_handling: nothing verifies on the ground
        lat, lon, alt = self.target_of(item)
        if item.command in TAKEOFF_CMDS:  # takeoff_start keeps the current lat/lon
            self.takeoff(max(alt, 1.0), lambda: self._leg_done(i))
        elif item.command == M.MAV_CMD_NAV_LAND:
            self._schedule(partial(self.move, lat, lon, 0.0), self.touch_down, partial(self._leg_done, i))
        elif item.command == M.MAV_CMD_NAV_RETURN_TO_LAUNCH:  # verify_RTL: done once landed at home
            self.fly_home_and_land(lambda: self._leg_done(i))
        elif item.command != 17:  # LOITER_UNLIM never completes
            self._schedule(partial(self.move, lat, lon, alt), partial(self._leg_done, i))

    def _leg_done(self, i: int) -> None:
        self.reached_item(i)  # verify_command -> GCS::send_mission_item_reached_message
        if self.mode == AUTO and self.mission_state == "RUNNING":
            self._advance()

    # ---- telemetry -------------------------------------------------------------------------
    def _send_heartbeat(self) -> None:
        base = M.MAV_MODE_FLAG_STABILIZE_ENABLED | M.MAV_MODE_FLAG_MANUAL_INPUT_ENABLED
        base |= M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
        if self.armed:
            base |= M.MAV_MODE_FLAG_SAFETY_ARMED
        if not self.landed and self.mode in NEEDS_POSITION:  # pos_control->NE_is_active()
            base |= M.MAV_MODE_FLAG_GUIDED_ENABLED
        status = M.MAV_STATE_STANDBY if self.landed else M.MAV_STATE_ACTIVE
        self.send("heartbeat", M.MAV_TYPE_QUADROTOR, self.AUTOPILOT, base, self.mode, status)

    def _send_status(self) -> None:
        super()._send_status()
        if len(self.mission) <= 1:  # GCS_MAVLINK::mission_state: !mission.present()
            state = M.MISSION_STATE_NO_MISSION
        else:
            state = getattr(M, f"MISSION_STATE_{STATES[self.mission_state]}")
        total = max(len(self.mission) - 1, 0)  # "exclude home location from the count"
        self.send("mission_current", self.nav_index or 0, total, state, 1 if self.mode == AUTO else 0)
