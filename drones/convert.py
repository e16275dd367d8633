"""MAVLink message → typed records: one converter per message type, in a table.

Each converter returns the fields the message carries (``DroneState``) or a ``MissionEvent``.
Sentinel values ("unknown", and NaN, MAVLink's "unknown" for floats) are left out rather than
stored as numbers; a message that then knows nothing is no point. A value no vehicle can have
(latitude 214°, battery 127 %, an infinite speed) raises ``DecodeError``: the message becomes a
dead letter (:func:`dead_letter`), as a bad MQTT payload does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import fields, replace
from typing import Any

from drones.mavlink import mavutil
from telemetry.errors import DecodeError
from telemetry.records import DeadLetter, DroneState, MissionEvent, Record

Converter = Callable[[Any, int, str], Record | None]
_MIN_MS = 946_684_800_000  # 2000-01-01, as for MQTT timestamps
_MAX_MS = 4_102_444_800_000  # 2100-01-01


def _within(name: str, value: float, lo: float, hi: float) -> float:
    if not lo <= value <= hi:  # also refuses NaN
        raise DecodeError("out_of_range", f"{name}={value} outside [{lo}, {hi}]")
    return value


def _battery_pct(msg: Any) -> float | None:
    """``battery_remaining``: -1 (any negative) is unknown; above 100 % is impossible."""
    if msg.battery_remaining < 0:
        return None
    return float(_within("battery_remaining", msg.battery_remaining, 0, 100))


_STATE_FIELDS = tuple(f.name for f in fields(DroneState) if f.name not in ("drone", "time_ms"))


def _known(state: DroneState) -> DroneState | None:
    """The state if it knows anything (a field of its point), without building the point."""
    return state if any(getattr(state, f) is not None for f in _STATE_FIELDS) else None


def autopilot_name(autopilot: int) -> str:
    """The dialect a HEARTBEAT's ``autopilot`` names: ardupilot, px4, or generic (anything else)."""
    m = mavutil().mavlink
    return {m.MAV_AUTOPILOT_ARDUPILOTMEGA: "ardupilot", m.MAV_AUTOPILOT_PX4: "px4"}.get(autopilot, "generic")


def _heartbeat(msg: Any, t: int, mission: str) -> Record | None:
    m = mavutil().mavlink
    if msg.autopilot == m.MAV_AUTOPILOT_INVALID or msg.type == m.MAV_TYPE_GCS:
        return None  # a ground station or a peripheral, not the vehicle
    armed = bool(msg.base_mode & m.MAV_MODE_FLAG_SAFETY_ARMED)
    return DroneState(
        msg.get_srcSystem(), t, mode=mavutil().mode_string_v10(msg), armed=armed,
        autopilot=autopilot_name(msg.autopilot),
    )  # fmt: skip


def _degrees(names: tuple[str, str], lat_e7: int, lon_e7: int) -> tuple[float, float]:
    """A position in degrees × 1e7, range-checked (a dead letter beyond ±90°, ±180°)."""
    lat = _within(names[0], lat_e7, -900_000_000, 900_000_000) / 1e7
    return lat, _within(names[1], lon_e7, -1_800_000_000, 1_800_000_000) / 1e7


def _home_position(msg: Any, t: int, mission: str) -> Record | None:
    lat, lon = _degrees(("home latitude", "home longitude"), msg.latitude, msg.longitude)
    return DroneState(msg.get_srcSystem(), t, home_lat=lat, home_lon=lon, home_alt_msl_m=msg.altitude / 1000)


def _global_position_int(msg: Any, t: int, mission: str) -> Record | None:
    lat, lon = _degrees(("lat", "lon"), msg.lat, msg.lon)
    return DroneState(
        msg.get_srcSystem(),
        t,
        lat=lat,
        lon=lon,
        alt_msl_m=msg.alt / 1000,
        alt_rel_m=msg.relative_alt / 1000,
        heading_deg=None if msg.hdg == 65535 else _within("hdg", msg.hdg, 0, 35_999) / 100,
    )


def _sys_status(msg: Any, t: int, mission: str) -> Record | None:
    return _known(
        DroneState(
            msg.get_srcSystem(),
            t,
            voltage_v=None if msg.voltage_battery in (0, 65535) else msg.voltage_battery / 1000,
            battery_pct=_battery_pct(msg),
        )
    )


def _battery_status(msg: Any, t: int, mission: str) -> Record | None:
    cells = [v for v in msg.voltages if v != 65535]
    return _known(
        DroneState(
            msg.get_srcSystem(),
            t,
            voltage_v=sum(cells) / 1000 if cells else None,
            battery_pct=_battery_pct(msg),
        )
    )


def _gps_raw_int(msg: Any, t: int, mission: str) -> Record | None:
    sats = None if msg.satellites_visible == 255 else int(msg.satellites_visible)
    fix = int(_within("fix_type", msg.fix_type, 0, max(mavutil().mavlink.enums["GPS_FIX_TYPE"])))
    return DroneState(msg.get_srcSystem(), t, gps_fix=fix, satellites=sats)


def _vfr_hud(msg: Any, t: int, mission: str) -> Record | None:
    if math.isnan(msg.groundspeed):
        return None  # unknown, and the only field we keep of VFR_HUD
    return DroneState(msg.get_srcSystem(), t, groundspeed_ms=_within("groundspeed", msg.groundspeed, 0, 1e4))


def _mission_current(msg: Any, t: int, mission: str) -> Record | None:
    # mission_state is a MAVLink 2 extension: 0 (UNKNOWN) from autopilots that do not send it
    state = int(getattr(msg, "mission_state", 0) or 0) or None
    return DroneState(msg.get_srcSystem(), t, mission_seq=int(msg.seq), mission_state=state)


def _statustext(msg: Any, t: int, mission: str) -> Record | None:
    text = msg.text if isinstance(msg.text, str) else bytes(msg.text).decode("utf-8", "replace")
    return MissionEvent(msg.get_srcSystem(), mission, t, "statustext", detail=text.rstrip("\x00")[:200])


def _mission_item_reached(msg: Any, t: int, mission: str) -> Record | None:
    return MissionEvent(msg.get_srcSystem(), mission, t, "item_reached", seq=int(msg.seq))


CONVERTERS: dict[str, Converter] = {
    "HEARTBEAT": _heartbeat,
    "GLOBAL_POSITION_INT": _global_position_int,
    "SYS_STATUS": _sys_status,
    "BATTERY_STATUS": _battery_status,
    "GPS_RAW_INT": _gps_raw_int,
    "VFR_HUD": _vfr_hud,
    "MISSION_CURRENT": _mission_current,
    "STATUSTEXT": _statustext,
    "MISSION_ITEM_REACHED": _mission_item_reached,
    "HOME_POSITION": _home_position,
}


def convert(msg: Any, time_ms: int, mission: str = "unassigned") -> Record | None:
    """The record of one message, or None for messages we do not store.

    Raises :class:`DecodeError` for a message with an impossible value, or a time (a .tlog's)
    outside 2000..2100.
    """
    fn = CONVERTERS.get(msg.get_type())
    if fn is None:
        return None
    if not _MIN_MS <= time_ms < _MAX_MS:
        raise DecodeError("bad_timestamp", f"time {time_ms} ms is not between 2000 and 2100")
    return fn(msg, time_ms, mission)


def dead_letter(msg: Any, err: DecodeError, received_ms: int, source: str) -> DeadLetter:
    """The dead letter of a message :func:`convert` refused: its raw packet and the reason."""
    topic = f"mavlink/{msg.get_srcSystem()}/{msg.get_type()}"
    return DeadLetter(received_ms, source, topic, bytes(msg.get_msgbuf()), err.reason, err.detail)


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
        if isinstance(record, MissionEvent):
            last = self._last.get(record.drone, -1)
            if record.time_ms <= last:
                record = replace(record, time_ms=last + 1)
            self._last[record.drone] = record.time_ms
            return record
        if not isinstance(record, DroneState):
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
