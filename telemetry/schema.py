"""The stored schema of CONTRACT §4 as data: one declaration per measurement.

Stores build their tables from it and the API validates queries against it, so a new
measurement is one entry here and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

FieldType = Literal["float", "int", "str", "bool"]


@dataclass(frozen=True, slots=True)
class MeasurementSchema:
    name: str
    device_tag: str  # the tag that names the device (gauge, toilet, vehicle, drone)
    tags: tuple[str, ...]  # every tag, device tag first
    fields: MappingProxyType[str, FieldType]


def _m(name: str, tags: tuple[str, ...], fields: dict[str, FieldType]) -> MeasurementSchema:
    return MeasurementSchema(name, tags[0], tags, MappingProxyType(fields))


MEASUREMENTS: MappingProxyType[str, MeasurementSchema] = MappingProxyType(
    {
        s.name: s
        for s in (
            _m(
                "water_depth",
                ("gauge", "district", "road"),
                {"depth_cm": "float", "battery_v": "float"},
            ),
            _m(
                "toilet_footfall",
                ("toilet", "district"),
                {
                    "entries": "int",
                    "total": "int",
                    "occupancy": "int",
                    "nh3_mg_m3": "float",
                    "h2s_mg_m3": "float",
                },
            ),
            _m("toilet_event", ("toilet", "district", "type"), {"by": "str"}),
            _m(
                "vehicle_position",
                ("vehicle", "district", "fleet"),
                {
                    "lat": "float",
                    "lon": "float",
                    "speed_kmh": "float",
                    "heading_deg": "float",
                    "hdop": "float",
                    "working": "bool",
                    "crs": "str",  # extension: the source CRS the fix arrived in
                },
            ),
            _m(
                "drone_state",
                ("drone",),
                {
                    "lat": "float",
                    "lon": "float",
                    "alt_msl_m": "float",
                    "alt_rel_m": "float",
                    "groundspeed_ms": "float",
                    "heading_deg": "float",
                    "battery_pct": "float",
                    "voltage_v": "float",
                    "mode": "str",
                    "armed": "bool",
                    "mission_seq": "int",
                    "gps_fix": "int",
                    "satellites": "int",
                    # extensions: the autopilot's dialect, its mission state, its home
                    "autopilot": "str",
                    "mission_state": "int",
                    "home_lat": "float",
                    "home_lon": "float",
                    "home_alt_msl_m": "float",
                },
            ),
            _m(
                "flood_alert",
                ("gauge", "level"),
                {
                    "depth_cm": "float",
                    "rise_cm_per_10min": "float",
                    "reason": "str",
                    "alert_id": "str",
                    # extensions: since when the level holds, offline, a sensor fault
                    "since_ms": "int",
                    "offline": "bool",
                    "offline_alert_id": "str",
                    "sensor_fault": "str",
                    "fault_alert_id": "str",
                },
            ),
            _m(
                "route_compliance",
                ("vehicle", "route", "segment"),
                {
                    "coverage_ratio": "float",
                    "valid_passes": "int",
                    "planned_passes": "int",
                    "overspeed_ratio": "float",
                    "off_route_s": "float",
                    "gap_s": "float",
                    "valid_km": "float",  # extension: valid mileage of the vehicle's row
                },
            ),
            _m(
                "mission_event",
                ("drone", "mission"),
                {"event": "str", "seq": "int", "detail": "str"},
            ),
            _m(  # extension: a mission's current document and state (newest point per mission)
                "mission",
                ("mission",),
                {
                    "document": "str",
                    "state": "str",
                    "drone": "int",
                    "approval_id": "str",
                    "approved_by": "str",
                    "approved_at_ms": "int",
                },
            ),
            _m("schedule", ("schedule",), {"document": "str", "state": "str"}),  # extension: patrol schedule
            _m("alert_ack", ("alert", "kind"), {"by": "str"}),  # extension: who acknowledged an alert
            _m(  # extension: an alert raised, escalated or cleared (the kinds without their own record)
                "alert",
                ("alert", "kind"),
                {
                    "subject": "str",
                    "level": "str",
                    "state": "str",
                    "reason": "str",
                    "raised_at_ms": "int",
                    "cleared_at_ms": "int",
                    "since_ms": "int",
                },
            ),
            _m(  # extension: an alert's delivery to a webhook (telemetry/alerts/deliveries.py)
                "webhook_delivery",
                ("delivery", "alert"),
                {
                    "url": "str",
                    "hook": "str",
                    "kind": "str",
                    "level": "str",
                    "state": "str",
                    "attempts": "int",
                    "body": "str",
                    "last_error": "str",
                    "status_code": "int",
                },
            ),
            _m(
                "officer_position", ("officer", "district"), {"lat": "float", "lon": "float", "status": "str"}
            ),
            _m(  # extension: an officer's report as sent (officer/event)
                "officer_event",
                ("officer", "district", "type"),
                {"incident": "str", "note": "str", "evidence_sha256": "str"},
            ),
            _m(  # step (= event): two steps of one millisecond stay apart
                "incident_event",
                ("incident", "kind", "step"),
                {"event": "str", "officer": "str", "actor": "str", "detail": "str"},
            ),
            _m("incident", ("incident", "kind"), {"state": "str", "document": "str"}),  # extension
            _m("gauge_event", ("gauge", "district", "type"), {"interval_s": "int"}),  # extension
            _m("mode", ("district",), {"level": "str", "by": "str", "previous": "str"}),  # extension
        )
    }
)

# The device kinds of the MQTT contract and the measurement holding their telemetry.
KIND_MEASUREMENT: MappingProxyType[str, str] = MappingProxyType(
    {
        "gauge": "water_depth",
        "toilet": "toilet_footfall",
        "vehicle": "vehicle_position",
        "drone": "drone_state",
        "officer": "officer_position",
    }
)
