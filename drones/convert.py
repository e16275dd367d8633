"""MAVLink message → typed records: one converter per message type, in a table.

Each converter returns the fields the message carries (``DroneState``) or a ``MissionEvent``.
Sentinel values ("unknown") are left out rather than stored as numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from drones.mavlink import mavutil
from telemetry.records import DroneState, MissionEvent, Record

Converter = Callable[[Any, int, str], Record | None]


def _heartbeat(msg: Any, t: int, mission: str) -> Record | None:
    m = mavutil().mavlink
    if msg.autopilot == m.MAV_AUTOPILOT_INVALID or msg.type == m.MAV_TYPE_GCS:
        return None  # a ground station or a peripheral, not the vehicle
    armed = bool(msg.base_mode & m.MAV_MODE_FLAG_SAFETY_ARMED)
    return DroneState(msg.get_srcSystem(), t, mode=mavutil().mode_string_v10(msg), armed=armed)


def _global_position_int(msg: Any, t: int, mission: str) -> Record | None:
    return DroneState(
        msg.get_srcSystem(),
        t,
        lat=msg.lat / 1e7,
        lon=msg.lon / 1e7,
        alt_msl_m=msg.alt / 1000,
        alt_rel_m=msg.relative_alt / 1000,
        heading_deg=None if msg.hdg == 65535 else msg.hdg / 100,
    )


def _sys_status(msg: Any, t: int, mission: str) -> Record | None:
    return DroneState(
        msg.get_srcSystem(),
        t,
        voltage_v=None if msg.voltage_battery in (0, 65535) else msg.voltage_battery / 1000,
        battery_pct=None if msg.battery_remaining < 0 else float(msg.battery_remaining),
    )


def _battery_status(msg: Any, t: int, mission: str) -> Record | None:
    cells = [v for v in msg.voltages if v != 65535]
    return DroneState(
        msg.get_srcSystem(),
        t,
        voltage_v=sum(cells) / 1000 if cells else None,
        battery_pct=None if msg.battery_remaining < 0 else float(msg.battery_remaining),
    )


def _gps_raw_int(msg: Any, t: int, mission: str) -> Record | None:
    sats = None if msg.satellites_visible == 255 else int(msg.satellites_visible)
    return DroneState(msg.get_srcSystem(), t, gps_fix=int(msg.fix_type), satellites=sats)


def _vfr_hud(msg: Any, t: int, mission: str) -> Record | None:
    return DroneState(msg.get_srcSystem(), t, groundspeed_ms=float(msg.groundspeed))


def _mission_current(msg: Any, t: int, mission: str) -> Record | None:
    return DroneState(msg.get_srcSystem(), t, mission_seq=int(msg.seq))


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
}


def convert(msg: Any, time_ms: int, mission: str = "unassigned") -> Record | None:
    """The record of one message, or None for messages we do not store."""
    fn = CONVERTERS.get(msg.get_type())
    return fn(msg, time_ms, mission) if fn is not None else None


class EventClock:
    """Mission events of one vehicle get strictly increasing times: two events in the same
    millisecond (an item completing as the next one does) must stay two points."""

    def __init__(self) -> None:
        self._last: dict[int, int] = {}

    def stamp(self, record: Record) -> Record:
        if not isinstance(record, MissionEvent):
            return record
        last = self._last.get(record.drone, -1)
        if record.time_ms <= last:
            record = replace(record, time_ms=last + 1)
        self._last[record.drone] = record.time_ms
        return record
