"""MAVLink message → typed records: one converter per message type, in a table.

Each converter returns the fields the message carries (``DroneState``) or a ``MissionEvent``.
Sentinel values ("unknown", and NaN, MAVLink's "unknown" for floats) are left out rather than
stored as numbers; a message that then knows nothing is no point. A value no vehicle can have
(latitude 214°, battery 127 %, an infinite speed) raises ``DecodeError``: the message becomes a
dead letter (:func:`dead_letter`), as a bad MQTT payload does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from functools import cache, lru_cache
from typing import Any

from drones.mavlink import mavutil
from telemetry.errors import DecodeError
from telemetry.records import DeadLetter, DroneState, MissionEvent, Record

Converter = Callable[[Any, int, str], Record | None]
MIN_MS = 946_684_800_000  # 2000-01-01, as for MQTT timestamps
MAX_MS = 4_102_444_800_000  # 2100-01-01


def _within(name: str, value: float, lo: float, hi: float) -> float:
    if not lo <= value <= hi:  # also refuses NaN
        raise DecodeError("out_of_range", f"{name}={value} outside [{lo}, {hi}]")
    return value


def _battery_pct(remaining: int) -> float | None:
    """``battery_remaining``: -1 (any negative) is unknown; above 100 % is impossible."""
    if remaining < 0:
        return None
    return float(_within("battery_remaining", remaining, 0, 100))


_STATE_FIELDS = tuple(f.name for f in fields(DroneState) if f.name not in ("drone", "time_ms"))


def _known(state: DroneState) -> DroneState | None:
    """The state if it knows anything (a field of its point), without building the point."""
    return state if any(getattr(state, f) is not None for f in _STATE_FIELDS) else None


def autopilot_name(autopilot: int) -> str:
    """The dialect a HEARTBEAT's ``autopilot`` names: ardupilot, px4, or generic (anything else)."""
    m = mavutil().mavlink
    return {m.MAV_AUTOPILOT_ARDUPILOTMEGA: "ardupilot", m.MAV_AUTOPILOT_PX4: "px4"}.get(autopilot, "generic")


class _Heartbeat:
    """What pymavlink's ``mode_string_v10`` reads of a HEARTBEAT."""

    def __init__(self, kind: int, autopilot: int, base_mode: int, custom_mode: int) -> None:
        self.type, self.autopilot, self.base_mode, self.custom_mode = kind, autopilot, base_mode, custom_mode

    def get_type(self) -> str:
        return "HEARTBEAT"


@lru_cache(maxsize=1024)
def _mode(kind: int, autopilot: int, base_mode: int, custom_mode: int) -> str:
    mode: str = mavutil().mode_string_v10(_Heartbeat(kind, autopilot, base_mode, custom_mode))
    return mode


@cache
def _max_fix_type() -> int:
    return int(max(mavutil().mavlink.enums["GPS_FIX_TYPE"]))


# The converters proper, on field values: the pymavlink messages of a link (:func:`convert`) and
# the unpacked payloads of a .tlog (drones/wire.py) both go through them, with the same checks.
# Each takes (system id, time in ms, mission, *the values of its FIELDS, in that order).


def _heartbeat(
    sysid: int, t: int, mission: str, kind: int, autopilot: int, base_mode: int, custom: int
) -> Record | None:
    m = mavutil().mavlink
    if autopilot == m.MAV_AUTOPILOT_INVALID or kind == m.MAV_TYPE_GCS:
        return None  # a ground station or a peripheral, not the vehicle
    armed = bool(base_mode & m.MAV_MODE_FLAG_SAFETY_ARMED)
    mode = _mode(kind, autopilot, base_mode, custom)
    return DroneState(sysid, t, mode=mode, armed=armed, autopilot=autopilot_name(autopilot))


def _degrees(names: tuple[str, str], lat_e7: int, lon_e7: int) -> tuple[float, float]:
    """A position in degrees × 1e7, range-checked (a dead letter beyond ±90°, ±180°)."""
    lat = _within(names[0], lat_e7, -900_000_000, 900_000_000) / 1e7
    return lat, _within(names[1], lon_e7, -1_800_000_000, 1_800_000_000) / 1e7


def _home_position(sysid: int, t: int, mission: str, lat_e7: int, lon_e7: int, alt_mm: int) -> Record | None:
    lat, lon = _degrees(("home latitude", "home longitude"), lat_e7, lon_e7)
    return DroneState(sysid, t, home_lat=lat, home_lon=lon, home_alt_msl_m=alt_mm / 1000)


def _global_position_int(
    sysid: int, t: int, mission: str, lat_e7: int, lon_e7: int, alt_mm: int, rel_mm: int, hdg: int
) -> Record | None:
    lat, lon = _degrees(("lat", "lon"), lat_e7, lon_e7)
    heading = None if hdg == 65535 else _within("hdg", hdg, 0, 35_999) / 100
    return DroneState(sysid, t, lat, lon, alt_mm / 1000, rel_mm / 1000, None, heading)


def _sys_status(sysid: int, t: int, mission: str, voltage_mv: int, remaining: int) -> Record | None:
    voltage = None if voltage_mv in (0, 65535) else voltage_mv / 1000
    pct = _battery_pct(remaining)
    if voltage is None and pct is None:
        return None  # knows nothing
    return DroneState(sysid, t, battery_pct=pct, voltage_v=voltage)


def _battery_status(
    sysid: int, t: int, mission: str, voltages: Sequence[int], remaining: int
) -> Record | None:
    cells = [v for v in voltages if v != 65535]
    voltage = sum(cells) / 1000 if cells else None
    pct = _battery_pct(remaining)
    if voltage is None and pct is None:
        return None  # knows nothing
    return DroneState(sysid, t, battery_pct=pct, voltage_v=voltage)


def _gps_raw_int(sysid: int, t: int, mission: str, fix_type: int, satellites: int) -> Record | None:
    sats = None if satellites == 255 else int(satellites)
    fix = int(_within("fix_type", fix_type, 0, _max_fix_type()))
    return DroneState(sysid, t, gps_fix=fix, satellites=sats)


def _vfr_hud(sysid: int, t: int, mission: str, groundspeed: float) -> Record | None:
    if math.isnan(groundspeed):  # unknown, and the only field we keep of VFR_HUD
        return None
    return DroneState(sysid, t, groundspeed_ms=_within("groundspeed", groundspeed, 0, 1e4))


def _mission_current(sysid: int, t: int, mission: str, seq: int, mission_state: int | None) -> Record | None:
    # mission_state is a MAVLink 2 extension: 0 (UNKNOWN) from autopilots that do not send it
    state = int(mission_state or 0) or None
    return DroneState(sysid, t, mission_seq=int(seq), mission_state=state)


def _statustext(sysid: int, t: int, mission: str, text: str | bytes) -> Record | None:
    text = text if isinstance(text, str) else bytes(text).decode("utf-8", "replace")
    return MissionEvent(sysid, mission, t, "statustext", detail=text.rstrip("\x00")[:200])


def _mission_item_reached(sysid: int, t: int, mission: str, seq: int) -> Record | None:
    return MissionEvent(sysid, mission, t, "item_reached", seq=int(seq))


# message type → (the fields its converter takes, in order; the converter)
FIELD_CONVERTERS: dict[str, tuple[tuple[str, ...], Callable[..., Record | None]]] = {
    "HEARTBEAT": (("type", "autopilot", "base_mode", "custom_mode"), _heartbeat),
    "GLOBAL_POSITION_INT": (("lat", "lon", "alt", "relative_alt", "hdg"), _global_position_int),
    "SYS_STATUS": (("voltage_battery", "battery_remaining"), _sys_status),
    "BATTERY_STATUS": (("voltages", "battery_remaining"), _battery_status),
    "GPS_RAW_INT": (("fix_type", "satellites_visible"), _gps_raw_int),
    "VFR_HUD": (("groundspeed",), _vfr_hud),
    "MISSION_CURRENT": (("seq", "mission_state"), _mission_current),
    "STATUSTEXT": (("text",), _statustext),
    "MISSION_ITEM_REACHED": (("seq",), _mission_item_reached),
    "HOME_POSITION": (("latitude", "longitude", "altitude"), _home_position),
}


def _on_message(names: tuple[str, ...], fn: Callable[..., Record | None]) -> Converter:
    def converter(msg: Any, t: int, mission: str) -> Record | None:
        # a field a dialect lacks (an extension: mission_state) is None
        return fn(msg.get_srcSystem(), t, mission, *[getattr(msg, f, None) for f in names])

    return converter


CONVERTERS: dict[str, Converter] = {name: _on_message(*spec) for name, spec in FIELD_CONVERTERS.items()}


def bad_time(time_ms: int) -> DecodeError:
    return DecodeError("bad_timestamp", f"time {time_ms} ms is not between 2000 and 2100")


def convert(msg: Any, time_ms: int, mission: str = "unassigned") -> Record | None:
    """The record of one message, or None for messages we do not store.

    Raises :class:`DecodeError` for a message with an impossible value, or a time (a .tlog's)
    outside 2000..2100.
    """
    fn = CONVERTERS.get(msg.get_type())
    if fn is None:
        return None
    if not MIN_MS <= time_ms < MAX_MS:
        raise bad_time(time_ms)
    return fn(msg, time_ms, mission)


def packet_letter(
    sysid: int, kind: str, packet: bytes, err: DecodeError, received_ms: int, source: str
) -> DeadLetter:
    """The dead letter of a packet (its raw bytes) whose message :func:`convert` refused."""
    return DeadLetter(received_ms, source, f"mavlink/{sysid}/{kind}", packet, err.reason, err.detail)


def dead_letter(msg: Any, err: DecodeError, received_ms: int, source: str) -> DeadLetter:
    """The dead letter of a message :func:`convert` refused: its raw packet and the reason."""
    return packet_letter(
        msg.get_srcSystem(), msg.get_type(), bytes(msg.get_msgbuf()), err, received_ms, source
    )


class StreamFilter:
    """What one stream of vehicles (a link, a .tlog) needs beyond single messages:

    - Mission events of one vehicle get strictly increasing times: two events in the same
      millisecond (an item completing as the next one does) must stay two points.
    - No fix, no position: a vehicle whose last GPS_RAW_INT says fix_type < 2 (no 2D/3D fix),
      or a position of exactly 0, 0 (what autopilots send before their first fix), has no
      latitude, longitude or AMSL altitude; a bench log is not a flight at "Null Island".
      Until a vehicle's first GPS_RAW_INT its positions are taken (only 0, 0 is refused).
    """

    def __init__(self) -> None:
        self._last: dict[int, int] = {}
        self._fix: dict[int, int] = {}

    def apply(self, record: Record) -> Record | None:
        if not isinstance(record, DroneState):
            if isinstance(record, MissionEvent):
                last = self._last.get(record.drone, -1)
                if record.time_ms <= last:
                    record = replace(record, time_ms=last + 1)
                self._last[record.drone] = record.time_ms
            return record
        if record.gps_fix is not None:
            self._fix[record.drone] = record.gps_fix
        if record.lat is None and record.lon is None:
            return record
        no_fix = self._fix.get(record.drone, FIX_2D) < FIX_2D or (record.lat == 0 and record.lon == 0)
        if not no_fix:
            return record
        return _known(replace(record, lat=None, lon=None, alt_msl_m=None))


FIX_2D = 2  # GPS_FIX_TYPE_2D_FIX
