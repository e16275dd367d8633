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
from dataclasses import replace
from functools import cache, lru_cache
from typing import Any

from drones.mavlink import mavutil
from telemetry.errors import DecodeError
from telemetry.points import FieldValue
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
# Each takes the values of its fields, in the order of its table entry (below); the mission event
# ones take (system id, time in ms, mission) before them.


# The drone_state ones give the point's fields (name, value), in DroneState's declaration order,
# the unknown ones left out (None: the message is no state): the .tlog reader stores them as they
# are (drones/wire.py), a link's messages become a DroneState of them (:func:`_state`).
Fields = tuple[tuple[str, FieldValue], ...]


def _heartbeat(kind: int, autopilot: int, base_mode: int, custom: int) -> Fields | None:
    m = mavutil().mavlink
    if autopilot == m.MAV_AUTOPILOT_INVALID or kind == m.MAV_TYPE_GCS:
        return None  # a ground station or a peripheral, not the vehicle
    armed = bool(base_mode & m.MAV_MODE_FLAG_SAFETY_ARMED)
    mode = _mode(kind, autopilot, base_mode, custom)
    return (("mode", mode), ("armed", armed), ("autopilot", autopilot_name(autopilot)))


def _degrees(names: tuple[str, str], lat_e7: int, lon_e7: int) -> tuple[float, float]:
    """A position in degrees × 1e7, range-checked (a dead letter beyond ±90°, ±180°)."""
    lat = _within(names[0], lat_e7, -900_000_000, 900_000_000) / 1e7
    return lat, _within(names[1], lon_e7, -1_800_000_000, 1_800_000_000) / 1e7


def _home_position(lat_e7: int, lon_e7: int, alt_mm: int) -> Fields | None:
    lat, lon = _degrees(("home latitude", "home longitude"), lat_e7, lon_e7)
    return (("home_lat", lat), ("home_lon", lon), ("home_alt_msl_m", alt_mm / 1000))


def _global_position_int(lat_e7: int, lon_e7: int, alt_mm: int, rel_mm: int, hdg: int) -> Fields | None:
    lat, lon = _degrees(("lat", "lon"), lat_e7, lon_e7)
    position = (("lat", lat), ("lon", lon), ("alt_msl_m", alt_mm / 1000), ("alt_rel_m", rel_mm / 1000))
    if hdg == 65535:
        return position
    return (*position, ("heading_deg", _within("hdg", hdg, 0, 35_999) / 100))


def _battery(pct: float | None, voltage: float | None) -> Fields | None:
    if pct is None:
        return None if voltage is None else (("voltage_v", voltage),)  # None: knows nothing
    return (("battery_pct", pct),) if voltage is None else (("battery_pct", pct), ("voltage_v", voltage))


def _sys_status(voltage_mv: int, remaining: int) -> Fields | None:
    voltage = None if voltage_mv in (0, 65535) else voltage_mv / 1000
    return _battery(_battery_pct(remaining), voltage)


def _battery_status(voltages: Sequence[int], remaining: int) -> Fields | None:
    cells = [v for v in voltages if v != 65535]
    voltage = sum(cells) / 1000 if cells else None
    return _battery(_battery_pct(remaining), voltage)


def _gps_raw_int(fix_type: int, satellites: int) -> Fields | None:
    fix = int(_within("fix_type", fix_type, 0, _max_fix_type()))
    return (("gps_fix", fix),) if satellites == 255 else (("gps_fix", fix), ("satellites", int(satellites)))


def _vfr_hud(groundspeed: float) -> Fields | None:
    if math.isnan(groundspeed):  # unknown, and the only field we keep of VFR_HUD
        return None
    return (("groundspeed_ms", _within("groundspeed", groundspeed, 0, 1e4)),)


def _mission_current(seq: int, mission_state: int | None) -> Fields | None:
    # mission_state is a MAVLink 2 extension: 0 (UNKNOWN) from autopilots that do not send it
    seq_field, state = ("mission_seq", int(seq)), int(mission_state or 0) or None
    return (seq_field,) if state is None else (seq_field, ("mission_state", state))


def _state(fn: Callable[..., Fields | None]) -> Callable[..., Record | None]:
    """The converter of a drone_state message: a DroneState of its fields."""

    def converter(sysid: int, t: int, mission: str, *values: Any) -> Record | None:
        known = fn(*values)
        return None if known is None else DroneState(sysid, t, **dict(known))  # type: ignore[arg-type]

    return converter


def _statustext(sysid: int, t: int, mission: str, text: str | bytes) -> Record | None:
    text = text if isinstance(text, str) else bytes(text).decode("utf-8", "replace")
    return MissionEvent(sysid, mission, t, "statustext", detail=text.rstrip("\x00")[:200])


def _mission_item_reached(sysid: int, t: int, mission: str, seq: int) -> Record | None:
    return MissionEvent(sysid, mission, t, "item_reached", seq=int(seq))


# drone_state message type → (the fields its converter takes, in order; the converter to fields)
STATE_CONVERTERS: dict[str, tuple[tuple[str, ...], Callable[..., Fields | None]]] = {
    "HEARTBEAT": (("type", "autopilot", "base_mode", "custom_mode"), _heartbeat),
    "GLOBAL_POSITION_INT": (("lat", "lon", "alt", "relative_alt", "hdg"), _global_position_int),
    "SYS_STATUS": (("voltage_battery", "battery_remaining"), _sys_status),
    "BATTERY_STATUS": (("voltages", "battery_remaining"), _battery_status),
    "GPS_RAW_INT": (("fix_type", "satellites_visible"), _gps_raw_int),
    "VFR_HUD": (("groundspeed",), _vfr_hud),
    "MISSION_CURRENT": (("seq", "mission_state"), _mission_current),
    "HOME_POSITION": (("latitude", "longitude", "altitude"), _home_position),
}
# message type → (the fields its converter takes, in order; the converter to a record)
FIELD_CONVERTERS: dict[str, tuple[tuple[str, ...], Callable[..., Record | None]]] = {
    **{name: (names, _state(fn)) for name, (names, fn) in STATE_CONVERTERS.items()},
    "STATUSTEXT": (("text",), _statustext),
    "MISSION_ITEM_REACHED": (("seq",), _mission_item_reached),
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
        fields = record.to_point().fields  # a link's rate: a few dozen a second
        kept = self.state(record.drone, fields) if fields else fields
        if kept is fields:
            return record
        return None if kept is None else DroneState(record.drone, record.time_ms, **dict(kept))  # type: ignore[arg-type]

    def state(self, drone: int, fields: Fields) -> Fields | None:
        """The rules on the fields of a drone_state point (a converter's, never empty): in
        declaration order a position's ``lat`` comes first, and ``gps_fix`` is first in the
        only message that carries it (GPS_RAW_INT)."""
        key, value = fields[0]
        if key == "gps_fix":
            self._fix[drone] = value  # type: ignore[assignment]
            return fields
        if key != "lat":
            return fields
        lon = next((v for k, v in fields if k == "lon"), None)
        if self._fix.get(drone, FIX_2D) >= FIX_2D and not (value == 0 and lon == 0):
            return fields
        return tuple([kv for kv in fields if kv[0] not in _POSITION]) or None


_POSITION = ("lat", "lon", "alt_msl_m")


FIX_2D = 2  # GPS_FIX_TYPE_2D_FIX
