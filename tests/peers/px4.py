"""A PX4 stand-in: MavlinkMissionManager, Commander::handle_command and the navigator's mission.

Items count from seq 0 (no home item); item requests follow the GCS: MISSION_REQUEST until it uses an
_INT message (_int_mode starts false); MISSION_START switches to AUTO.MISSION and arms. Sources: SOURCES.md.
"""

from __future__ import annotations

import math
import time
from functools import partial
from typing import Any

from tests.peers.common import M, MissionItem, Peer, ids

MANUAL, ALTCTL, POSCTL, AUTO, ACRO, OFFBOARD, STABILIZED = 1, 2, 3, 4, 5, 6, 7  # PX4_CUSTOM_MAIN_MODE
READY, TAKEOFF, LOITER, MISSION, RTL, LAND = 1, 2, 3, 4, 5, 6  # PX4_CUSTOM_SUB_MODE_AUTO


def custom_mode(main: int, sub: int = 0) -> int:
    """px4_custom_mode.h: {uint16 reserved, uint8 main_mode, uint8 sub_mode} as a uint32."""
    return main << 16 | sub << 24


AUTO_MISSION, AUTO_RTL, AUTO_LAND = custom_mode(AUTO, MISSION), custom_mode(AUTO, RTL), custom_mode(AUTO, 6)
AUTO_TAKEOFF, AUTO_LOITER = custom_mode(AUTO, TAKEOFF), custom_mode(AUTO, LOITER)
AUTO_SUBS = frozenset({TAKEOFF, LOITER, MISSION, RTL, LAND, 8, 9})  # + FOLLOW_TARGET, PRECLAND
MISSION_MODES = frozenset({AUTO_MISSION, AUTO_TAKEOFF, AUTO_LAND})  # update_mission_state: ACTIVE


# parse_mavlink_mission_item: commands stored with a global frame (NAV_WAYPOINT/LOITER_*/LAND/TAKEOFF/ROI,
# VTOL_*, DO_SET_ROI*, CONDITION_GATE, NAV_FENCE_*, NAV_RALLY_POINT, ARM_DISARM, DO_AUTOTUNE_ENABLE) ...
GLOBAL_CMDS = ids("16 17 19 21 22 31 80 84 85 195 201 212 400 4501 5000 5001 5002 5003 5004 5100")
# ... and with MAV_FRAME_MISSION (NAV_RETURN_TO_LAUNCH 20, NAV_DELAY, CONDITION_*, DO_JUMP, DO_CHANGE_SPEED,
# DO_SET_HOME, DO_LAND_START, camera/gimbal/winch/gripper items, DO_VTOL_TRANSITION, ...)
MISSION_FRAME_CMDS = ids("""20 80 93 112 114 177 178 179 187 189 196 197 200 201 203 204 205 206 211 212 214
    260 400 530 532 534 1000 1001 2000 2001 2003 2500 2501 3000 42600""")
FENCE_OR_RALLY, POLYGON = ids("5001 5002 5003 5004 5100"), ids("5001 5002")  # NAV_FENCE_*, NAV_RALLY_POINT
MAX_COUNT = {0: 2000, 1: 63, 2: 8}  # dataman sizes differ per board; only the check matters here
RETRY_S, PROTOCOL_TIMEOUT_S = 0.25, 5.0  # MAVLINK_MISSION_RETRY_TIMEOUT_DEFAULT, ..._PROTOCOL_TIMEOUT_DEFAULT
SLOW_S = 1.0  # _slow_rate_limiter: MISSION_CURRENT (and repeated MISSION_ITEM_REACHED) at 1 Hz
TAKEOFF_ALT_M = 2.5  # MIS_TAKEOFF_ALT


class PX4Peer(Peer):
    AUTOPILOT = 12  # MAV_AUTOPILOT_PX4
    DEFAULT_MODE = custom_mode(POSCTL)

    def __init__(
        self, url: str, *, land_disarm_s: float = 2.0, preflight_disarm_s: float = 10.0, **kw: Any
    ) -> None:
        super().__init__(url, **kw)
        self.land_disarm_s, self.preflight_disarm_s = land_disarm_s, preflight_disarm_s  # COM_DISARM_*
        self.current_seq, self.seq_reached, self.finished = 0, -1, False  # mission_result
        self.mission_state = int(M.MISSION_STATE_UNKNOWN)
        self._state, self._mtype, self._int_mode, self._partner = "IDLE", 0, False, (0, 0)  # _int_mode{false}
        self._tseq = self._tcount = self._reached_sent = 0
        self._t_recv = self._t_sent = self._next_slow = 0.0
        self._buffer: list[MissionItem] = []
        self._leg_for: int | None = None
        self._tcurrent, self._activated, self._disarmed_inactive = -1, False, False
        on = self._handlers
        on["MISSION_ACK"], on["SET_MODE"] = self._on_ack, self._on_set_mode
        on["MISSION_COUNT"], on["MISSION_CLEAR_ALL"] = self._on_count, self._on_clear
        on["MISSION_REQUEST_LIST"] = self._on_request_list
        on["MISSION_REQUEST_INT"] = on["MISSION_REQUEST"] = self._on_request
        on["MISSION_ITEM_INT"] = on["MISSION_ITEM"] = self._on_item

    # ---- MavlinkMissionManager (src/modules/mavlink/mavlink_mission.cpp) ------------------------
    def _mine(self, m: Any, partner: bool = False) -> bool:
        """CHECK_SYSID_COMPID_MISSION, and (``partner``) sent by the one we are transferring with."""
        mine = m.target_system == self.sysid and m.target_component in (1, 190, 0)
        return bool(mine and (not partner or (m.get_srcSystem(), m.get_srcComponent()) == self._partner))

    def _count_of(self, t: int) -> int:
        return len(self.mission if t == 0 else self.fence) if t in (0, 1) else 0

    def _ack(self, result: int, dest: tuple[int, int] | None = None) -> None:
        self.send("mission_ack", *(dest or self._partner), result, self._mtype)

    def _request(self) -> None:
        self._t_sent = time.monotonic()
        name = "mission_request_int" if self._int_mode else "mission_request"
        self.send(name, self._partner[0], self._partner[1], self._tseq, self._mtype)

    def _on_ack(self, m: Any) -> None:
        if not self._mine(m, partner=True):
            return
        if self._state == "SENDLIST" and m.mission_type == self._mtype:
            self._state = "IDLE"
        elif self._state == "GETLIST" and m.type == M.MAV_MISSION_UNSUPPORTED:
            self._int_mode = not self._int_mode  # the GCS can't do this mode: ask again in the other
            self._request()
        elif self._state == "GETLIST" and m.type == M.MAV_MISSION_OPERATION_CANCELLED:
            self._state = "IDLE"

    def _on_request_list(self, m: Any) -> None:
        if not self._mine(m):
            return
        if self._tseq == self._count_of(self._mtype):  # all sent: the GCS's ACK may have been lost
            self._state = "IDLE"
        same = self._state == "SENDLIST" and m.mission_type == self._mtype and self._mine(m, partner=True)
        if self._state != "IDLE" and not same:
            return  # "Mission download request ignored, already active"
        self._t_recv, self._state, self._mtype = time.monotonic(), "SENDLIST", m.mission_type
        self._tseq, self._tcount = 0, self._count_of(m.mission_type)
        self._partner = (m.get_srcSystem(), m.get_srcComponent())
        self.send("mission_count", *self._partner, self._tcount, self._mtype)

    def _on_request(self, m: Any) -> None:
        self._int_mode = m.get_type() == "MISSION_REQUEST_INT"  # "The request comes in ... mode"
        if not self._mine(m, partner=True) or self._state != "SENDLIST":
            return
        if m.mission_type != self._mtype:
            return
        self._t_recv = time.monotonic()
        if m.seq == self._tseq and self._tseq < self._tcount:
            self._tseq += 1
        elif m.seq != self._tseq - 1 or m.seq >= self._count_of(self._mtype):
            self._state = "IDLE"  # "Unexpected waypoint index, aborting transfer"
            self._ack(M.MAV_MISSION_ERROR)
            return
        stored = (self.mission if self._mtype == 0 else self.fence)[m.seq]
        self.send_item(m, self._format(stored), self._int_mode)

    def _format(self, item: MissionItem) -> MissionItem:
        """format_mavlink_mission_item: global items come back relative/absolute in the current mode."""
        rel = item.frame in (3, 6) and item.mission_type == 0  # MAV_FRAME_MISSION (2) items stay as they are
        frame = 2 if item.frame == 2 else (6 if rel else 5) if self._int_mode else (3 if rel else 0)
        return item._replace(frame=frame, current=int(item.seq == self.current_seq and self._mtype == 0))

    def _on_count(self, m: Any) -> None:
        if not self._mine(m):
            return
        src = (m.get_srcSystem(), m.get_srcComponent())
        again = self._state == "GETLIST" and src == self._partner and self._tseq == 0  # our request was lost
        if self._state != "IDLE" and not again:  # "Mission upload busy, ignoring MISSION_COUNT"
            self._ack(M.MAV_MISSION_ERROR, src)
            return
        if not again:
            self._partner, self._mtype = src, m.mission_type
            if m.count == 0 or m.count > MAX_COUNT.get(self._mtype, 0):
                if m.count == 0:
                    self._commit([])  # "clearing waypoints list and staying in state IDLE"
                self._ack(M.MAV_MISSION_NO_SPACE if m.count else M.MAV_MISSION_ACCEPTED)
                return
            self._state, self._tseq, self._tcount = "GETLIST", 0, m.count
            self._tcurrent, self._buffer = -1, []
        self._t_recv = time.monotonic()
        self._request()

    def _on_item(self, m: Any) -> None:
        self._int_mode = m.get_type() == "MISSION_ITEM_INT"
        if not self._mine(m, partner=True):
            return
        if m.mission_type != self._mtype or self._state != "GETLIST":
            repeat = self._state == "IDLE" and m.mission_type == self._mtype and self._tseq == m.seq + 1
            self._ack(M.MAV_MISSION_ACCEPTED if repeat else M.MAV_MISSION_ERROR)  # repeat: our ACK was lost
            return
        self._t_recv = time.monotonic()
        if m.seq != self._tseq:
            return  # "Item sequence not expected, ignore item"
        item = MissionItem.from_msg(m)
        result = self._parse(item)
        if result == M.MAV_MISSION_ACCEPTED and self._mtype == 0 and item.command in FENCE_OR_RALLY:
            result = int(M.MAV_MISSION_ERROR)
        if result == M.MAV_MISSION_ACCEPTED and item.command in POLYGON and item.param1 < 3:
            result = int(M.MAV_MISSION_ERROR)  # "Fence: too few vertices"
        if result != M.MAV_MISSION_ACCEPTED:
            self._state = "IDLE"
            self._ack(result)
            return
        self._buffer.append(item)
        if item.current:
            self._tcurrent = item.seq
        self._tseq = item.seq + 1
        if self._tseq < self._tcount:
            self._request()
            return
        self._state = "IDLE"
        self._commit(self._buffer)
        self._ack(M.MAV_MISSION_ACCEPTED)

    def _parse(self, item: MissionItem) -> int:
        """parse_mavlink_mission_item: which frames and commands PX4 stores."""
        if item.frame in (0, 3) or (self._int_mode and item.frame in (5, 6)):
            ok = item.command in GLOBAL_CMDS
        elif item.frame == 2:
            ok = item.command in MISSION_FRAME_CMDS
        else:
            return int(M.MAV_MISSION_UNSUPPORTED_FRAME)
        return int(M.MAV_MISSION_ACCEPTED if ok else M.MAV_MISSION_UNSUPPORTED)

    def _commit(self, items: list[MissionItem]) -> None:
        if self._mtype == 1:
            self.fence = list(items)
            return
        self.mission = list(items)
        # update_active_mission(..., _transfer_current_seq); the navigator keeps its index if that is -1
        keep = min(self.current_seq, max(len(items) - 1, 0))
        self.current_seq = self._tcurrent if self._tcurrent >= 0 else keep
        # check_mission_valid resets the result; a new upload is flown from the start of its legs
        self.seq_reached, self.finished, self.complete, self._leg_for = -1, False, False, None
        self._cancel_leg()

    def _on_clear(self, m: Any) -> None:
        if not self._mine(m) or self._state != "IDLE":
            return
        self._mtype = m.mission_type
        if m.mission_type in (0, 255):  # MAV_MISSION_TYPE_ALL clears every plan
            self.mission, self.current_seq = [], 0
        if m.mission_type in (1, 255):
            self.fence = []
        self._ack(M.MAV_MISSION_ACCEPTED, (m.get_srcSystem(), m.get_srcComponent()))

    def _protocol_tick(self, now: float) -> None:
        if self._state == "GETLIST" and now - self._t_sent > RETRY_S:
            self._request()  # "try to request item again after timeout"
        elif self._state != "IDLE" and now - self._t_recv > PROTOCOL_TIMEOUT_S:
            self._state = "IDLE"  # "Operation timeout, aborting transfer"
        if now >= self._next_slow:
            self._next_slow = now + SLOW_S
            self._send_slow()
        active = self.armed and self.mode == AUTO_MISSION and not self.finished and self.mission
        if active and self._leg_for is None:
            self._leg_for = self.current_seq
            self._begin_leg(self.current_seq)

    # ---- Commander (src/modules/commander/Commander.cpp) ----------------------------------------
    def _can_run(self, mode: int) -> bool:
        """HealthAndArmingChecks::canRun, reduced to a 3D fix, a mission and a home (no offboard source)."""
        fix = self.position_ok or not (mode == custom_mode(POSCTL) or mode >> 16 & 0xFF == AUTO)
        plan = (mode != AUTO_MISSION or bool(self.mission)) and (mode != AUTO_RTL or self.home_set)
        return fix and plan and mode != custom_mode(OFFBOARD)

    def _change_mode(self, mode: int, force: bool = False) -> bool:
        """UserModeIntention::change: "Always allow mode change while disarmed"."""
        if not (force or not self.armed or self._can_run(mode)):
            return False
        if mode == self.mode:
            return True
        if self.mode == AUTO_MISSION:  # MissionBase::on_inactivation
            self.seq_reached, self._leg_for = -1, None
            self._disarmed_inactive = not self.armed
        self._cancel_leg()
        self.mode = mode
        if mode == AUTO_MISSION:
            self._activate()
        elif mode == AUTO_RTL and self.armed and not self.landed:
            self.fly_home_and_land(lambda: None)  # the land detector then lets commander disarm
        elif mode == AUTO_LAND and self.armed and not self.landed:
            self._schedule(self.touch_down)
        elif mode == AUTO_TAKEOFF and self.armed and self.landed:
            self.takeoff(TAKEOFF_ALT_M, lambda: self._change_mode(AUTO_LOITER, force=True))
        return True

    def _activate(self) -> None:
        """MissionBase::on_activation: checkMissionRestart, then update_mission resets the result."""
        last = len(self.mission) - 1
        if self._disarmed_inactive and self._activated and self.current_seq == last:
            self.current_seq = 0
        self._activated, self._disarmed_inactive = True, False
        self.seq_reached, self.finished, self._leg_for = -1, False, None

    def _arm(self) -> bool:
        if not self._can_run(self.mode):  # preflight checks include the current mode's requirements
            return False
        self.armed = True
        self._reset_home_here()  # Commander::arm: _home_position.setHomePosition()
        return True

    def _disarm(self) -> None:
        super()._disarm()
        if self.mode != AUTO_MISSION:
            self._disarmed_inactive = True

    def _disarm_delay(self) -> float | None:
        return self.land_disarm_s if self.flown else self.preflight_disarm_s

    def _set_mode_cmd(self, base: int, main: int, sub: int) -> int:
        wanted: int | None = None
        if base & M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED:
            if main == AUTO:
                if sub and sub not in AUTO_SUBS:
                    return int(M.MAV_RESULT_TEMPORARILY_REJECTED)  # "Unsupported auto mode"
                wanted = custom_mode(AUTO, sub or MISSION)
            elif main in (MANUAL, ALTCTL, POSCTL, ACRO, OFFBOARD, STABILIZED):
                wanted = custom_mode(main)
        elif base & M.MAV_MODE_FLAG_AUTO_ENABLED:
            wanted = AUTO_MISSION
        if wanted is None or self._change_mode(wanted, force=wanted == AUTO_LAND):
            return int(M.MAV_RESULT_ACCEPTED)
        return int(M.MAV_RESULT_TEMPORARILY_REJECTED)

    def _on_set_mode(self, m: Any) -> None:  # MavlinkReceiver: SET_MODE becomes VEHICLE_CMD_DO_SET_MODE
        if m.target_system == self.sysid:  # ... from_external, so Commander's answer goes back as an ACK
            result = self._set_mode_cmd(m.base_mode, m.custom_mode >> 16 & 0xFF, m.custom_mode >> 24 & 0xFF)
            self.send("command_ack", 176, result, 0, 0, m.get_srcSystem(), m.get_srcComponent())

    def _command(self, cmd: int, p: tuple[float, ...], m: Any) -> int:
        ok, rejected = int(M.MAV_RESULT_ACCEPTED), int(M.MAV_RESULT_TEMPORARILY_REJECTED)
        if cmd == M.MAV_CMD_DO_SET_MODE:
            return self._set_mode_cmd(int(p[0]), int(p[1]), int(p[2]))
        if cmd == M.MAV_CMD_COMPONENT_ARM_DISARM:
            action = round(p[0]) if math.isfinite(p[0]) else -1
            if action == 1:
                return ok if self.armed or self._arm() else rejected
            if action != 0:
                return int(M.MAV_RESULT_UNSUPPORTED)  # "Unsupported ARM_DISARM param"
            if self.armed and not self.landed and round(p[1]) != 21196:
                return rejected  # "Disarming denied: not landed"
            if self.armed:
                self._disarm()
            return ok
        if cmd == M.MAV_CMD_MISSION_START:
            if not self.mission or not (math.isfinite(p[0]) and -1 <= p[0] < len(self.mission)):
                return int(M.MAV_RESULT_DENIED)
            if p[0] >= 0:  # Navigator: VEHICLE_CMD_MISSION_START sets the current mission index
                self.current_seq, self._leg_for = int(p[0]), None
            if self._change_mode(AUTO_MISSION) and (self.armed or self._arm()):
                return ok
            return rejected  # "Mission start denied"
        if cmd == M.MAV_CMD_REQUEST_MESSAGE and int(p[0]) == 242:
            self._after_ack.append(self._send_home)
            return ok
        modes = {20: AUTO_RTL, 21: AUTO_LAND, 22: AUTO_TAKEOFF}  # NAV_RETURN_TO_LAUNCH, NAV_LAND, NAV_TAKEOFF
        if cmd in modes:
            return ok if self._change_mode(modes[cmd], force=cmd == 21) else rejected
        return int(M.MAV_RESULT_UNSUPPORTED)

    # ---- Navigator mission (src/modules/navigator/mission_base.cpp, mission_block.cpp) -------------
    def _begin_leg(self, seq: int) -> None:
        item = self.mission[seq]
        if item.frame == 2 or item.command == M.MAV_CMD_NAV_RETURN_TO_LAUNCH:
            self._leg_done(seq)  # commands without a position are issued and count as reached
            if item.command == M.MAV_CMD_NAV_RETURN_TO_LAUNCH:  # issued as VEHICLE_CMD_NAV_RETURN_TO_LAUNCH
                self._change_mode(AUTO_RTL, force=True)
            return
        lat, lon, alt = self.target_of(item)
        if item.command in (M.MAV_CMD_NAV_TAKEOFF, M.MAV_CMD_NAV_VTOL_TAKEOFF):
            self.takeoff(alt, lambda: self._leg_done(seq))
        elif item.command == M.MAV_CMD_NAV_LOITER_UNLIM:
            return  # never reached
        elif self.landed:  # a takeoff is inserted before the first position item (no REACHED for it)
            self.takeoff(TAKEOFF_ALT_M, lambda: self._schedule(partial(self._fly, item, seq, lat, lon, alt)))
        else:
            self._schedule(partial(self._fly, item, seq, lat, lon, alt))

    def _fly(self, item: MissionItem, seq: int, lat: float, lon: float, alt: float) -> None:
        is_land = item.command in (M.MAV_CMD_NAV_LAND, M.MAV_CMD_NAV_VTOL_LAND)
        self.move(lat, lon, 0.0 if is_land else alt)
        if is_land:
            self.touch_down()  # NAV_CMD_LAND is reached once the land detector says landed
        self._leg_done(seq)

    def _leg_done(self, seq: int) -> None:
        """set_mission_item_reached, then advance_mission (or setEndOfMissionItems)."""
        self.seq_reached, self._reached_sent = seq, 0
        self.reached_item(seq)
        if seq + 1 < len(self.mission):
            self.current_seq, self._leg_for = seq + 1, None
            self._send_mission_current()  # mission_result changed: MISSION_CURRENT goes out at once
        else:
            self.finished = self.complete = True  # mission_result.finished

    # ---- telemetry (mavlink_messages.cpp get_mavlink_navigation_mode, MavlinkMissionManager::send) ---
    def _send_heartbeat(self) -> None:
        main = self.mode >> 16 & 0xFF
        flags = {MANUAL: 64 | 16, ALTCTL: 64 | 16, POSCTL: 64 | 16 | 8, ACRO: 64, STABILIZED: 64 | 16}
        base = 1 | flags.get(main, 4 | 16 | 8) | (128 if self.armed else 0)  # AUTO/OFFBOARD: 4|16|8
        status = M.MAV_STATE_ACTIVE if self.armed else M.MAV_STATE_STANDBY
        self.send("heartbeat", M.MAV_TYPE_QUADROTOR, self.AUTOPILOT, base, self.mode, status)

    def _update_mission_state(self) -> None:
        if not self.mission:
            self.mission_state = int(M.MISSION_STATE_NO_MISSION)
        elif self.finished:
            self.mission_state = int(M.MISSION_STATE_COMPLETE)
        elif self.mode in MISSION_MODES:
            self.mission_state = int(M.MISSION_STATE_ACTIVE)
        elif self.seq_reached >= 0:
            self.mission_state = int(M.MISSION_STATE_PAUSED)
        elif self.current_seq < 1:
            self.mission_state = int(M.MISSION_STATE_NOT_STARTED)  # otherwise: unchanged

    def _send_mission_current(self) -> None:
        self._update_mission_state()
        total = len(self.mission) or 0xFFFF  # UINT16_MAX: no mission
        mission_mode = 1 if self.mode in MISSION_MODES else 2
        self.send("mission_current", self.current_seq, total, self.mission_state, mission_mode)

    def _send_slow(self) -> None:
        self._send_mission_current()
        if self.mission and self.seq_reached >= 0 and self._reached_sent < 10:
            self._reached_sent += 1  # "send the reached message another 10 times"
            self.send("mission_item_reached", self.seq_reached)
