"""Frozen, typed records: what every input becomes once, at the edge.

Each record knows its stored form (:class:`Point`, CONTRACT §4). Units are in the names. The
sensors' records are here; drones' and missions' in :mod:`telemetry.records_drones`, alerts' in
:mod:`telemetry.records_alerts`, officers' and incidents' in :mod:`telemetry.records_people`, the
response level's in :mod:`telemetry.records_mode`; :data:`Record` is their union, and every name
is importable from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from telemetry.points import FieldValue as FieldValue  # noqa: PLC0414 - re-exported
from telemetry.points import Point as Point  # noqa: PLC0414 - re-exported
from telemetry.points import tags_of
from telemetry.records_alerts import AlertAck as AlertAck  # noqa: PLC0414 - re-exported
from telemetry.records_alerts import AlertChange as AlertChange  # noqa: PLC0414
from telemetry.records_alerts import WebhookDelivery as WebhookDelivery  # noqa: PLC0414
from telemetry.records_drones import DroneState as DroneState  # noqa: PLC0414 - re-exported
from telemetry.records_drones import MissionEvent as MissionEvent  # noqa: PLC0414
from telemetry.records_drones import MissionRecord as MissionRecord  # noqa: PLC0414
from telemetry.records_drones import ScheduleRecord as ScheduleRecord  # noqa: PLC0414
from telemetry.records_mode import GaugeEvent, ModeRecord
from telemetry.records_people import IncidentEvent, IncidentRecord, OfficerPosition, OfficerReport


@dataclass(frozen=True, slots=True)
class GaugeReading:
    gauge: str
    district: str
    time_ms: int
    depth_cm: float
    road: str | None = None
    battery_v: float | None = None
    seq: int | None = None

    def to_point(self) -> Point:
        tags = tags_of(("gauge", self.gauge), ("district", self.district), ("road", self.road))
        if self.battery_v is None:
            return Point("water_depth", tags, (("depth_cm", self.depth_cm),), self.time_ms)
        fields = (("depth_cm", self.depth_cm), ("battery_v", self.battery_v))
        return Point("water_depth", tags, fields, self.time_ms)


@dataclass(frozen=True, slots=True)
class ToiletReading:
    toilet: str
    district: str
    time_ms: int
    entries: int | None = None
    total: int | None = None
    occupancy: int | None = None
    nh3_mg_m3: float | None = None
    h2s_mg_m3: float | None = None
    seq: int | None = None

    def to_point(self) -> Point:
        return Point.make(
            "toilet_footfall",
            {"toilet": self.toilet, "district": self.district},
            {
                "entries": self.entries,
                "total": self.total,
                "occupancy": self.occupancy,
                "nh3_mg_m3": self.nh3_mg_m3,
                "h2s_mg_m3": self.h2s_mg_m3,
            },
            self.time_ms,
        )


@dataclass(frozen=True, slots=True)
class ToiletEvent:
    toilet: str
    district: str
    time_ms: int
    type: str
    by: str | None = None
    seq: int | None = None

    def to_point(self) -> Point:
        return Point.make(
            "toilet_event",
            {"toilet": self.toilet, "district": self.district, "type": self.type},
            {"by": self.by if self.by is not None else ""},
            self.time_ms,
        )


@dataclass(frozen=True, slots=True)
class VehicleFix:
    """A GPS fix, already converted to WGS84; ``source_crs`` is what the device sent."""

    vehicle: str
    district: str
    fleet: str
    time_ms: int
    lat: float
    lon: float
    source_crs: str = "WGS84"
    speed_kmh: float | None = None
    heading_deg: float | None = None
    hdop: float | None = None
    working: bool | None = None
    seq: int | None = None

    def to_point(self) -> Point:
        return Point.make(
            "vehicle_position",
            {"vehicle": self.vehicle, "district": self.district, "fleet": self.fleet},
            {
                "lat": self.lat,
                "lon": self.lon,
                "speed_kmh": self.speed_kmh,
                "heading_deg": self.heading_deg,
                "hdop": self.hdop,
                "working": self.working,
                "crs": self.source_crs,
            },
            self.time_ms,
        )


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An input that was not written as telemetry, kept with why."""

    received_ms: int
    source: str  # "mqtt", "mavlink", ...
    topic: str
    payload: bytes
    reason: str  # short metric label
    detail: str  # human explanation


@dataclass(frozen=True, slots=True)
class Decoded:
    """What one input message became: records, or a dead letter (never both empty)."""

    records: tuple[Record, ...] = ()
    dead_letters: tuple[DeadLetter, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class FloodAlert:
    """A change of a gauge's flood state (CONTRACT §4 ``flood_alert``): its level, and (extension)
    when that level began, whether the gauge is offline or has a sensor fault, and the ids of
    those alerts, so that a restart restores all of it."""

    gauge: str
    level: str
    time_ms: int
    depth_cm: float
    rise_cm_per_10min: float
    reason: str
    alert_id: str  # the flood alert ("" when none)
    since_ms: int | None = None  # event time of the reading where the level began
    offline: bool | None = None
    offline_alert_id: str | None = None
    sensor_fault: str | None = None
    fault_alert_id: str | None = None

    def to_point(self) -> Point:
        return Point.make(
            "flood_alert",
            {"gauge": self.gauge, "level": self.level},
            {
                "depth_cm": self.depth_cm,
                "rise_cm_per_10min": self.rise_cm_per_10min,
                "reason": self.reason,
                "alert_id": self.alert_id,
                "since_ms": self.since_ms,
                "offline": self.offline,
                "offline_alert_id": self.offline_alert_id,
                "sensor_fault": self.sensor_fault,
                "fault_alert_id": self.fault_alert_id,
            },
            self.time_ms,
        )


@dataclass(frozen=True, slots=True)
class RouteCompliance:
    """A vehicle's compliance on a route for a day (CONTRACT §4 ``route_compliance``); with
    ``segment`` set, that segment's passes."""

    vehicle: str
    route: str
    time_ms: int
    segment: str | None = None
    coverage_ratio: float | None = None
    valid_passes: int | None = None
    planned_passes: int | None = None
    overspeed_ratio: float | None = None
    off_route_s: float | None = None
    gap_s: float | None = None
    valid_km: float | None = None  # km of corridor swept validly (extension)

    def to_point(self) -> Point:
        return Point.make(
            "route_compliance",
            {"vehicle": self.vehicle, "route": self.route, "segment": self.segment},
            {
                "coverage_ratio": self.coverage_ratio,
                "valid_passes": self.valid_passes,
                "planned_passes": self.planned_passes,
                "overspeed_ratio": self.overspeed_ratio,
                "off_route_s": self.off_route_s,
                "gap_s": self.gap_s,
                "valid_km": self.valid_km,
            },
            self.time_ms,
        )


Record = (
    GaugeReading
    | ToiletReading
    | ToiletEvent
    | VehicleFix
    | DroneState
    | MissionEvent
    | MissionRecord
    | ScheduleRecord
    | FloodAlert
    | AlertAck
    | AlertChange
    | RouteCompliance
    | WebhookDelivery
    | OfficerPosition
    | OfficerReport
    | IncidentEvent
    | IncidentRecord
    | GaugeEvent
    | ModeRecord
)
