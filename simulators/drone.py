"""``telemetry simulate drone``: one quadrotor speaking MAVLink 2 as ArduPilot (ArduCopter) or PX4.

Each dialect follows its autopilot's own source (docs/autopilots.md): mode numbers and HEARTBEAT
(:mod:`simulators.autopilots`), the mission protocol for missions and geofences
(:mod:`simulators.mission_protocol`), which items it accepts (:mod:`simulators.mission_items`),
and how it flies a mission (:mod:`simulators.drone_model`). It reports MISSION_ITEM_REACHED and
MISSION_CURRENT with ``total`` and ``mission_state``, HOME_POSITION on request (and streamed where
the autopilot streams it), STATUSTEXT where the autopilot explains a refusal or a fence breach,
and drops outgoing packets with probability ``drop``. Deterministic for a given ``seed``. Runs in
its own thread (``start``/``stop``) or in the foreground (``run``).
"""

from __future__ import annotations

import logging
import math
import os
import random
import threading
import time
from typing import Any, Literal

from simulators import autopilots as ap
from simulators.drone_model import Mode
from simulators.mission_protocol import MissionServer, item_from

log = logging.getLogger(__name__)

_TICK_S = 0.05
# HEARTBEAT, SYS_STATUS, GPS_RAW_INT, ATTITUDE, GLOBAL_POSITION_INT, MISSION_CURRENT, VFR_HUD,
# HOME_POSITION, EXTENDED_SYS_STATE, AUTOPILOT_VERSION, BATTERY_STATUS: what _emit can send
_EMITTED = frozenset({0, 1, 24, 30, 33, 42, 74, 242, 245, 148, 147})
_CALIBRATION_S = 1.0  # how long the simulated baro calibration runs with in_progress_acks
MAV_CMD = {
    "ARM_DISARM": 400, "DO_SET_MODE": 176, "MISSION_START": 300, "NAV_TAKEOFF": 22, "NAV_RTL": 20,
    "NAV_LAND": 21, "DO_PAUSE_CONTINUE": 193, "REQUEST_MESSAGE": 512, "SET_MESSAGE_INTERVAL": 511,
    "REQUEST_AUTOPILOT_CAPABILITIES": 520, "GET_HOME_POSITION": 410, "PREFLIGHT_CALIBRATION": 241,
}  # fmt: skip


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
        autopilot: Literal["ardupilot", "px4"] = "ardupilot",
        in_progress_acks: bool = False,
        fence_action: Literal["rtl", "report"] = "rtl",
        autopilot_readback: bool = False,
    ) -> None:
        self._url = connect
        self.sysid = sysid
        self.autopilot = ap.autopilot(autopilot)
        self.vehicle = self.autopilot.vehicle(home, speed_ms)
        self._drop = drop
        self._rng = random.Random(seed)
        self._signing_key = signing_key
        self._scale = time_scale
        self._in_progress = in_progress_acks
        self._fence_action = fence_action
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mav: Any = None
        self._m: Any = None  # the mavlink module (constants)
        self._intervals_s: dict[int, float] = {}
        self._last_sent: dict[int, float] = {}
        self._later: list[tuple[float, int, int, tuple[int, int]]] = []  # (due, command, result, peer)
        self._reached_repeats = 0
        self._queued: list[int] = []  # messages a command asked for, sent behind its COMMAND_ACK
        self.missions = MissionServer(
            self.autopilot, self.vehicle, self._send, self._statustext, autopilot_readback=autopilot_readback
        )
        self.sent = 0
        self.refused = 0  # packets refused for a missing or wrong signature (with a key)
        self.texts: list[str] = []  # every STATUSTEXT sent (for tests and logs)
        self.commands: list[tuple[int, tuple[float, ...]]] = []  # every command received, with params

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
        if self.autopilot.home_interval_s > 0:  # PX4 streams HOME_POSITION and EXTENDED_SYS_STATE
            self._intervals_s[m.MAVLINK_MSG_ID_HOME_POSITION] = self.autopilot.home_interval_s
            self._intervals_s[m.MAVLINK_MSG_ID_EXTENDED_SYS_STATE] = 1.0
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
                self.missions.tick()
                self._answer_later(now)
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

    def _statustext(self, text: str, severity: int) -> None:
        self.texts.append(text)
        self._send("statustext", severity, text.encode()[:50])

    def _periodic(self, now: float) -> None:
        for msgid, interval in self._intervals_s.items():
            if interval > 0 and now - self._last_sent.get(msgid, 0.0) >= interval:
                self._last_sent[msgid] = now
                self._emit(msgid)

    def _emit(self, msgid: int) -> bool:
        m, v, a = self._m, self.vehicle, self.autopilot
        if msgid == m.MAVLINK_MSG_ID_HEARTBEAT:
            self._send(
                "heartbeat", m.MAV_TYPE_QUADROTOR, a.mav_autopilot, a.base_mode(v), a.custom_mode(v.mode),
                a.system_status(v),
            )  # fmt: skip
        elif msgid == m.MAVLINK_MSG_ID_GLOBAL_POSITION_INT:
            self._send(
                "global_position_int", self._boot_ms(), round(v.lat * 1e7), round(v.lon * 1e7),
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
                "gps_raw_int", self._boot_ms() * 1000, 3, round(v.lat * 1e7), round(v.lon * 1e7),
                int((v.home_alt_msl_m + v.alt_rel_m) * 1000), 80, 120, int(v.groundspeed_ms * 100),
                int(v.heading_deg * 100), 14,
            )  # fmt: skip
        elif msgid == m.MAVLINK_MSG_ID_VFR_HUD:
            self._send(
                "vfr_hud", v.groundspeed_ms, v.groundspeed_ms, int(v.heading_deg), 40 if v.flying else 0,
                v.home_alt_msl_m + v.alt_rel_m, 0.0,
            )  # fmt: skip
        elif msgid == m.MAVLINK_MSG_ID_ATTITUDE:
            self._send("attitude", self._boot_ms(), 0.0, 0.0, math.radians(v.heading_deg), 0.0, 0.0, 0.0)
        elif msgid == m.MAVLINK_MSG_ID_MISSION_CURRENT:
            self._mission_current()
        elif msgid == m.MAVLINK_MSG_ID_EXTENDED_SYS_STATE:
            landed = m.MAV_LANDED_STATE_IN_AIR if v.flying else m.MAV_LANDED_STATE_ON_GROUND
            self._send("extended_sys_state", m.MAV_VTOL_STATE_UNDEFINED, landed)
        elif msgid == m.MAVLINK_MSG_ID_AUTOPILOT_VERSION:
            caps = (
                m.MAV_PROTOCOL_CAPABILITY_MISSION_INT | m.MAV_PROTOCOL_CAPABILITY_MAVLINK2
                | m.MAV_PROTOCOL_CAPABILITY_COMMAND_INT | m.MAV_PROTOCOL_CAPABILITY_MISSION_FENCE
                | m.MAV_PROTOCOL_CAPABILITY_MISSION_FLOAT
            )  # fmt: skip
            version = 0x040500FF if a.name == "ardupilot" else 0x010E00FF  # 4.5.0 / 1.14.0 official
            zeros = [0] * 8
            self._send("autopilot_version", caps, version, 0, 0, 0, zeros, zeros, zeros, 0, 0, self.sysid)
        elif msgid == m.MAVLINK_MSG_ID_HOME_POSITION:
            self._send(
                "home_position", round(v.home_lat * 1e7), round(v.home_lon * 1e7),
                int(v.home_alt_msl_m * 1000), 0.0, 0.0, 0.0, [1.0, 0.0, 0.0, 0.0], 0.0, 0.0, 0.0,
            )  # fmt: skip
        else:
            return False
        return True

    def _mission_current(self) -> None:
        seq, total, state, mode = self.autopilot.mission_current(self.vehicle)
        self._send("mission_current", seq, total, state, mode)
        v = self.vehicle  # PX4 sends the last MISSION_ITEM_REACHED again, up to 10 times
        if self._reached_repeats < self.autopilot.reached_repeats and v.reached >= 0:
            self._reached_repeats += 1
            self._send("mission_item_reached", v.reached)

    def _boot_ms(self) -> int:
        return int(time.monotonic() * 1000) & 0xFFFFFFFF

    def _flush_events(self) -> None:
        v, m = self.vehicle, self._m
        events, v.events = v.events, []
        for kind, seq in events:
            if kind == "reached":
                self._reached_repeats = 0
                self._send("mission_item_reached", seq)
            elif kind == "disarmed":
                self.autopilot.on_disarm(v)
            elif kind == "home":
                self._emit(m.MAVLINK_MSG_ID_HOME_POSITION)  # both send HOME_POSITION when home is set
            elif kind == "breach":
                self._fence_breach()
            if kind in ("reached", "current", "disarmed"):
                self._mission_current()

    def _fence_breach(self) -> None:
        """ArduCopter Copter::fence_check (FENCE_ACTION RTL, LAND if RTL refuses); PX4 Navigator's
        geofence check with GF_ACTION 3 (RTL). ``fence_action="report"`` only tells."""
        answer = self.autopilot.breach_text()
        self._statustext(answer.text, answer.severity)
        v = self.vehicle
        if self._fence_action != "rtl" or v.mode in (Mode.RTL, Mode.LAND):
            return
        if self.autopilot.set_mode(v, Mode.RTL).result != ap.ACCEPTED:
            self.autopilot.set_mode(v, Mode.LAND)

    def _answer_later(self, now: float) -> None:
        due = [x for x in self._later if x[0] <= now]
        self._later = [x for x in self._later if x[0] > now]
        for _, command, result, peer in due:
            self._send("command_ack", command, result, 100, 0, peer[0], peer[1])

    # --- receiving --------------------------------------------------------------------------
    def _handle(self, msg: Any) -> None:
        kind = msg.get_type()
        if kind == "BAD_DATA" or getattr(msg, "target_system", self.sysid) not in (0, self.sysid):
            return
        handler = getattr(self, f"_on_{kind.lower()}", None)
        if handler is not None:
            handler(msg)

    def _on_command_long(self, msg: Any) -> None:
        p = (msg.param1, msg.param2, msg.param3, msg.param4, msg.param5, msg.param6, msg.param7)
        self._command(msg, msg.command, p)

    def _on_command_int(self, msg: Any) -> None:
        p = (msg.param1, msg.param2, msg.param3, msg.param4, float(msg.x), float(msg.y), msg.z)
        self._command(msg, msg.command, p)

    def _command(self, msg: Any, cmd: int, p: tuple[float, ...]) -> None:
        """The COMMAND_ACK goes out at once; what the command asked for (a message) and the
        autopilot's STATUSTEXT are queued behind it, as both autopilots queue them."""
        peer = (msg.get_srcSystem(), msg.get_srcComponent())
        self.commands.append((cmd, p))
        self._queued = []
        answer = self._execute(cmd, p, peer)
        self._send("command_ack", cmd, answer.result, 0, 0, peer[0], peer[1])
        for msgid in self._queued:
            self._emit(msgid)
        if answer.text:
            self._statustext(answer.text, answer.severity)

    def _execute(self, cmd: int, p: tuple[float, ...], peer: tuple[int, int]) -> ap.Answer:
        a, v, m = self.autopilot, self.vehicle, self._m
        if cmd == MAV_CMD["ARM_DISARM"]:
            if p[0] == 1:
                return a.arm(v, p[1])
            return a.disarm(v, p[1]) if p[0] == 0 else ap.Answer(ap.UNSUPPORTED)
        if cmd == MAV_CMD["DO_SET_MODE"]:
            return a.do_set_mode(v, p[0], p[1], p[2])
        if cmd == MAV_CMD["MISSION_START"]:
            return a.mission_start(v, p[0], p[1])
        if cmd == MAV_CMD["NAV_TAKEOFF"]:
            return a.takeoff(v, p[6])
        if cmd in (MAV_CMD["NAV_RTL"], MAV_CMD["NAV_LAND"]):
            return a.set_mode(v, Mode.RTL if cmd == MAV_CMD["NAV_RTL"] else Mode.LAND)
        if cmd == MAV_CMD["DO_PAUSE_CONTINUE"]:
            return a.pause_continue(v, p[0])
        if cmd == MAV_CMD["REQUEST_MESSAGE"]:
            if int(p[0]) not in _EMITTED:
                return ap.Answer(ap.FAILED)  # GCS_MAVLINK: mavlink_id_to_ap_message_id → MSG_LAST
            self._queued.append(int(p[0]))
            return ap.Answer(ap.ACCEPTED)
        if cmd == MAV_CMD["GET_HOME_POSITION"]:
            self._queued.append(m.MAVLINK_MSG_ID_HOME_POSITION)
            return ap.Answer(ap.ACCEPTED)
        if cmd == MAV_CMD["SET_MESSAGE_INTERVAL"]:
            us = p[1]
            self._intervals_s[int(p[0])] = 0.0 if us < 0 else (us / 1e6 if us > 0 else 1.0)
            return ap.Answer(ap.ACCEPTED)
        if cmd == MAV_CMD["REQUEST_AUTOPILOT_CAPABILITIES"]:
            self._queued.append(m.MAVLINK_MSG_ID_AUTOPILOT_VERSION)
            return ap.Answer(ap.ACCEPTED)
        if cmd == MAV_CMD["PREFLIGHT_CALIBRATION"]:
            if v.armed:
                return ap.Answer(ap.FAILED, "Disarm to allow calibration", ap.SEVERITY_NOTICE)
            if self._in_progress and a.name == "ardupilot" and p[2] == 1:
                # GCS_MAVLINK::_handle_command_preflight_calibration_baro with an airspeed
                # sensor: IN_PROGRESS now, the final ACCEPTED when the calibration is done
                self._later.append((time.monotonic() + _CALIBRATION_S / self._scale, cmd, ap.ACCEPTED, peer))
                return ap.Answer(ap.IN_PROGRESS)
            return ap.Answer(ap.ACCEPTED)
        return ap.Answer(ap.UNSUPPORTED)

    def _on_set_mode(self, msg: Any) -> None:
        """SET_MODE, the message: ArduPilot acks it as command 11 (GCS_MAVLINK::handle_set_mode); PX4
        turns it into DO_SET_MODE (main and sub mode from custom_mode) and acks that command."""
        a, v = self.autopilot, self.vehicle
        custom = int(msg.custom_mode)
        if a.name == "ardupilot":
            command, answer = self._m.MAVLINK_MSG_ID_SET_MODE, a.do_set_mode(v, msg.base_mode, custom, 0)
        else:
            main, sub = (custom >> 16) & 0xFF, (custom >> 24) & 0xFF
            command, answer = MAV_CMD["DO_SET_MODE"], a.do_set_mode(v, msg.base_mode, main, sub)
        self._send("command_ack", command, answer.result, 0, 0, msg.get_srcSystem(), msg.get_srcComponent())

    # --- mission protocol (simulators.mission_protocol) ---------------------------------------
    def _on_mission_count(self, msg: Any) -> None:
        self.missions.on_count(msg)

    def _on_mission_item_int(self, msg: Any) -> None:
        self.missions.on_item(msg, item_from(msg, as_int=True))

    def _on_mission_item(self, msg: Any) -> None:
        self.missions.on_item(msg, item_from(msg, as_int=False))

    def _on_mission_request_list(self, msg: Any) -> None:
        self.missions.on_request_list(msg)

    def _on_mission_request_int(self, msg: Any) -> None:
        self.missions.on_request(msg, as_int=True)

    def _on_mission_request(self, msg: Any) -> None:
        self.missions.on_request(msg, as_int=False)

    def _on_mission_clear_all(self, msg: Any) -> None:
        self.missions.on_clear_all(msg)

    def _on_mission_set_current(self, msg: Any) -> None:
        if self.missions.on_set_current(msg):
            self._mission_current()  # "volunteer the new current waypoint"
