"""``telemetry simulate drone``: one vehicle speaking MAVLink 2 as an ArduPilot quadrotor.

It implements the mission protocol both ways (MISSION_COUNT / MISSION_REQUEST_INT /
MISSION_ITEM_INT / MISSION_ACK, download, clear), COMMAND_LONG arm and disarm, DO_SET_MODE (and
SET_MODE) with ArduCopter mode numbers, MISSION_START, NAV_TAKEOFF, RTL, REQUEST_MESSAGE and
SET_MESSAGE_INTERVAL; it flies the mission (:mod:`simulators.drone_model`), reports
MISSION_CURRENT and MISSION_ITEM_REACHED, and drops outgoing packets with probability ``drop``.
Deterministic for a given ``seed``. Runs in its own thread (``start``/``stop``) or in the
foreground (``run``).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from typing import Any

from simulators.drone_model import AUTO, GUIDED, LAND, RTL, Item, Vehicle

log = logging.getLogger(__name__)

_TICK_S = 0.05
_UPLOAD_ITEM_TIMEOUT_S = 1.0
_UPLOAD_RETRIES = 5


def _mavutil() -> Any:
    os.environ.setdefault("MAVLINK20", "1")  # before pymavlink picks its wire protocol
    from pymavlink import mavutil  # noqa: PLC0415

    return mavutil


class DroneSimulator:
    def __init__(
        self,
        connect: str,
        *,
        sysid: int = 1,
        home: tuple[float, float] = (29.8737, 121.5453),
        speed_ms: float = 8.0,
        drop: float = 0.0,
        seed: int = 1,
        signing_key: bytes | None = None,
        time_scale: float = 1.0,
    ) -> None:
        self._url = connect
        self.sysid = sysid
        self.vehicle = Vehicle(home[0], home[1], speed_ms=speed_ms)
        self._drop = drop
        self._rng = random.Random(seed)
        self._signing_key = signing_key
        self._scale = time_scale
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mav: Any = None
        self._m: Any = None  # the mavlink module (constants)
        self._intervals_s: dict[int, float] = {}
        self._last_sent: dict[int, float] = {}
        self._upload: dict[str, Any] | None = None  # an upload in progress
        self.sent = 0
        self.refused = 0  # packets refused for a missing or wrong signature (with a key)

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=f"drone-sim-{self.sysid}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def run(self, duration_s: float | None = None) -> None:
        mavutil = _mavutil()
        self._m = mavutil.mavlink
        conn = mavutil.mavlink_connection(self._url, source_system=self.sysid, source_component=1)
        self._mav = conn
        if self._signing_key is not None:
            conn.setup_signing(self._signing_key, sign_outgoing=True, allow_unsigned_callback=self._unsigned)
        m = self._m
        self._intervals_s = {
            m.MAVLINK_MSG_ID_HEARTBEAT: 1.0,
            m.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: 0.25,
            m.MAVLINK_MSG_ID_SYS_STATUS: 1.0,
            m.MAVLINK_MSG_ID_BATTERY_STATUS: 1.0,
            m.MAVLINK_MSG_ID_GPS_RAW_INT: 1.0,
            m.MAVLINK_MSG_ID_VFR_HUD: 0.5,
            m.MAVLINK_MSG_ID_MISSION_CURRENT: 1.0,
            m.MAVLINK_MSG_ID_ATTITUDE: 0.25,
        }
        deadline = None if duration_s is None else time.monotonic() + duration_s
        last = time.monotonic()
        try:
            while not self._stop.is_set() and (deadline is None or time.monotonic() < deadline):
                msg = conn.recv_match(blocking=True, timeout=_TICK_S)
                while msg is not None:
                    self._handle(msg)
                    msg = conn.recv_match(blocking=False)
                now = time.monotonic()
                self.vehicle.step((now - last) * self._scale)
                last = now
                self._flush_events()
                self._periodic(now)
                self._upload_timeouts(now)
        finally:
            conn.close()

    def _unsigned(self, mav: Any, msgid: int) -> bool:
        # pymavlink asks this for unsigned packets and for badly signed ones: both are refused
        # (parsed as BAD_DATA, never handled, never acknowledged) and counted.
        self.refused += 1
        return False

    # --- sending ----------------------------------------------------------------------------
    def _send(self, name: str, *args: Any, force: bool = False) -> None:
        if not force and self._drop > 0 and self._rng.random() < self._drop:
            return
        getattr(self._mav.mav, f"{name}_send")(*args)
        self.sent += 1

    def _periodic(self, now: float) -> None:
        for msgid, interval in self._intervals_s.items():
            if interval > 0 and now - self._last_sent.get(msgid, 0.0) >= interval:
                self._last_sent[msgid] = now
                self._emit(msgid)

    def _emit(self, msgid: int) -> None:
        m, v = self._m, self.vehicle
        if msgid == m.MAVLINK_MSG_ID_HEARTBEAT:
            base = m.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | (m.MAV_MODE_FLAG_SAFETY_ARMED if v.armed else 0)
            state = m.MAV_STATE_ACTIVE if v.armed else m.MAV_STATE_STANDBY
            self._send("heartbeat", m.MAV_TYPE_QUADROTOR, m.MAV_AUTOPILOT_ARDUPILOTMEGA, base, v.mode, state)
        elif msgid == m.MAVLINK_MSG_ID_GLOBAL_POSITION_INT:
            self._send(
                "global_position_int", self._boot_ms(), int(v.lat * 1e7), int(v.lon * 1e7),
                int((v.home_alt_msl_m + v.alt_rel_m) * 1000), int(v.alt_rel_m * 1000), 0, 0, 0,
                int(v.heading_deg * 100),
            )  # fmt: skip
        elif msgid == m.MAVLINK_MSG_ID_SYS_STATUS:
            sensors = 0x3FFFFFFF
            self._send(
                "sys_status", sensors, sensors, sensors, 200, int(v.voltage_v * 1000), 1500,
                int(v.battery_pct), 0, 0, 0, 0, 0, 0,
            )  # fmt: skip
        elif msgid == m.MAVLINK_MSG_ID_BATTERY_STATUS:
            cells = [int(v.voltage_v * 1000 / 3)] * 3 + [65535] * 7
            self._send("battery_status", 0, 1, 1, 2500, cells, 1500, -1, -1, int(v.battery_pct))
        elif msgid == m.MAVLINK_MSG_ID_GPS_RAW_INT:
            self._send(
                "gps_raw_int", self._boot_ms() * 1000, 3, int(v.lat * 1e7), int(v.lon * 1e7),
                int((v.home_alt_msl_m + v.alt_rel_m) * 1000), 80, 120, int(v.groundspeed_ms * 100),
                int(v.heading_deg * 100), 14,
            )  # fmt: skip
        elif msgid == m.MAVLINK_MSG_ID_VFR_HUD:
            self._send(
                "vfr_hud", v.groundspeed_ms, v.groundspeed_ms, int(v.heading_deg), 40 if v.flying else 0,
                v.home_alt_msl_m + v.alt_rel_m, 0.0,
            )  # fmt: skip
        elif msgid == m.MAVLINK_MSG_ID_ATTITUDE:
            self._send("attitude", self._boot_ms(), 0.0, 0.0, v.heading_deg * 3.14159 / 180, 0.0, 0.0, 0.0)
        elif msgid == m.MAVLINK_MSG_ID_MISSION_CURRENT:
            self._mission_current()
        elif msgid == m.MAVLINK_MSG_ID_AUTOPILOT_VERSION:
            caps = (
                m.MAV_PROTOCOL_CAPABILITY_MISSION_INT
                | m.MAV_PROTOCOL_CAPABILITY_MAVLINK2
                | (m.MAV_PROTOCOL_CAPABILITY_COMMAND_INT)
            )
            self._send(
                "autopilot_version", caps, 0x04050000, 0, 0, 0, [0] * 8, [0] * 8, [0] * 8, 0, 0, self.sysid
            )
        elif msgid == m.MAVLINK_MSG_ID_HOME_POSITION:
            self._send(
                "home_position", int(v.home_lat * 1e7), int(v.home_lon * 1e7), int(v.home_alt_msl_m * 1000),
                0.0, 0.0, 0.0, [1.0, 0.0, 0.0, 0.0], 0.0, 0.0, 0.0,
            )  # fmt: skip

    def _mission_current(self) -> None:
        m, v = self._m, self.vehicle
        total = len(v.mission)
        seq = total if v.mission_done else v.current
        state = (
            m.MISSION_STATE_NO_MISSION if not total
            else m.MISSION_STATE_COMPLETE if v.mission_done
            else m.MISSION_STATE_ACTIVE if v.mode == AUTO and v.armed
            else m.MISSION_STATE_NOT_STARTED
        )  # fmt: skip
        self._send("mission_current", seq, total, state, 1 if v.mode == AUTO else 0)

    def _boot_ms(self) -> int:
        return int(time.monotonic() * 1000) & 0xFFFFFFFF

    def _flush_events(self) -> None:
        for kind, seq in self.vehicle.events:
            if kind == "reached":
                self._send("mission_item_reached", seq)
            self._mission_current()
        self.vehicle.events.clear()

    # --- receiving --------------------------------------------------------------------------
    def _handle(self, msg: Any) -> None:
        kind = msg.get_type()
        if kind == "BAD_DATA" or getattr(msg, "target_system", self.sysid) not in (0, self.sysid):
            return
        handler = getattr(self, f"_on_{kind.lower()}", None)
        if handler is not None:
            handler(msg)

    def _on_command_long(self, msg: Any) -> None:
        m, v = self._m, self.vehicle
        cmd = msg.command
        result = m.MAV_RESULT_ACCEPTED
        if cmd == m.MAV_CMD_COMPONENT_ARM_DISARM:
            ok = v.arm(msg.param1 >= 0.5) or msg.param2 == 21196  # 21196: forced
            result = m.MAV_RESULT_ACCEPTED if ok else m.MAV_RESULT_DENIED
        elif cmd == m.MAV_CMD_DO_SET_MODE:
            result = m.MAV_RESULT_ACCEPTED if v.set_mode(int(msg.param2)) else m.MAV_RESULT_DENIED
        elif cmd == m.MAV_CMD_MISSION_START:
            result = m.MAV_RESULT_ACCEPTED if v.start_mission() else m.MAV_RESULT_DENIED
        elif cmd == m.MAV_CMD_NAV_TAKEOFF:
            v.mode = GUIDED if v.mode != AUTO else v.mode
            result = m.MAV_RESULT_ACCEPTED if v.takeoff(msg.param7) else m.MAV_RESULT_DENIED
        elif cmd == m.MAV_CMD_NAV_RETURN_TO_LAUNCH:
            v.set_mode(RTL)
        elif cmd == m.MAV_CMD_NAV_LAND:
            v.set_mode(LAND)
        elif cmd == m.MAV_CMD_REQUEST_MESSAGE:
            self._emit(int(msg.param1))
        elif cmd == m.MAV_CMD_SET_MESSAGE_INTERVAL:
            us = msg.param2
            self._intervals_s[int(msg.param1)] = 0.0 if us < 0 else (us / 1e6 if us > 0 else 1.0)
        elif cmd == m.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES:
            self._emit(m.MAVLINK_MSG_ID_AUTOPILOT_VERSION)
        else:
            result = m.MAV_RESULT_UNSUPPORTED
        self._send("command_ack", cmd, result, 0, 0, msg.get_srcSystem(), msg.get_srcComponent(), force=False)

    def _on_set_mode(self, msg: Any) -> None:
        self.vehicle.set_mode(int(msg.custom_mode))

    # mission upload: MISSION_COUNT → (MISSION_REQUEST_INT → MISSION_ITEM_INT)* → MISSION_ACK
    def _on_mission_count(self, msg: Any) -> None:
        if getattr(msg, "mission_type", 0) != 0:
            self._ack(msg, self._m.MAV_MISSION_UNSUPPORTED)
            return
        if msg.count == 0:
            self.vehicle.mission = []
            self._ack(msg, self._m.MAV_MISSION_ACCEPTED)
            return
        peer = (msg.get_srcSystem(), msg.get_srcComponent())
        self._upload = {"count": msg.count, "items": {}, "peer": peer, "next": 0, "asked_at": 0.0, "tries": 0}
        self._request_next()

    def _request_next(self) -> None:
        up = self._upload
        assert up is not None
        up["asked_at"] = time.monotonic()
        self._send("mission_request_int", up["peer"][0], up["peer"][1], up["next"], 0)

    def _upload_timeouts(self, now: float) -> None:
        up = self._upload
        if up is None or now - up["asked_at"] < _UPLOAD_ITEM_TIMEOUT_S:
            return
        up["tries"] += 1
        if up["tries"] > _UPLOAD_RETRIES:
            self._send(
                "mission_ack", up["peer"][0], up["peer"][1], self._m.MAV_MISSION_OPERATION_CANCELLED, 0
            )
            self._upload = None
            return
        self._request_next()  # re-request the same item

    def _on_mission_item_int(self, msg: Any) -> None:
        up = self._upload
        if up is None:
            return
        if msg.seq != up["next"]:
            if msg.seq < up["next"]:
                return  # a duplicate of an item we have: ignore
            self._request_next()  # out of order: ask again for the one we need
            return
        up["items"][msg.seq] = Item(
            msg.seq, msg.frame, msg.command, msg.current, msg.autocontinue, msg.param1, msg.param2,
            msg.param3, msg.param4, msg.x, msg.y, msg.z,
        )  # fmt: skip
        up["next"] += 1
        up["tries"] = 0
        if up["next"] < up["count"]:
            self._request_next()
            return
        self.vehicle.mission = [up["items"][i] for i in range(up["count"])]
        self.vehicle.current = 0
        self.vehicle.mission_done = False
        self._send("mission_ack", up["peer"][0], up["peer"][1], self._m.MAV_MISSION_ACCEPTED, 0, force=True)
        self._upload = None
        self._mission_current()

    def _on_mission_item(self, msg: Any) -> None:  # legacy float item: ask for the INT one
        if self._upload is not None:
            self._request_next()

    # download: MISSION_REQUEST_LIST → MISSION_COUNT → (MISSION_REQUEST_INT → MISSION_ITEM_INT)*
    def _on_mission_request_list(self, msg: Any) -> None:
        self._send("mission_count", msg.get_srcSystem(), msg.get_srcComponent(), len(self.vehicle.mission), 0)

    def _on_mission_request_int(self, msg: Any) -> None:
        if msg.seq >= len(self.vehicle.mission):
            self._ack(msg, self._m.MAV_MISSION_INVALID_SEQUENCE)
            return
        it = self.vehicle.mission[msg.seq]
        self._send(
            "mission_item_int", msg.get_srcSystem(), msg.get_srcComponent(), it.seq, it.frame, it.command,
            1 if it.seq == self.vehicle.current else 0, it.autocontinue, it.param1, it.param2, it.param3,
            it.param4, it.x, it.y, it.z, 0,
        )  # fmt: skip

    def _on_mission_request(self, msg: Any) -> None:
        self._on_mission_request_int(msg)

    def _on_mission_ack(self, msg: Any) -> None:
        return None  # the end of a download

    def _on_mission_clear_all(self, msg: Any) -> None:
        self.vehicle.mission = []
        self.vehicle.current = 0
        self._ack(msg, self._m.MAV_MISSION_ACCEPTED)

    def _on_mission_set_current(self, msg: Any) -> None:
        if msg.seq < len(self.vehicle.mission):
            self.vehicle.current = msg.seq
            self._mission_current()

    def _ack(self, msg: Any, result: int) -> None:
        self._send("mission_ack", msg.get_srcSystem(), msg.get_srcComponent(), result, 0, force=True)
