"""Frozen, typed records: what every input becomes once, at the edge.

Each record knows its stored form (:class:`Point`, CONTRACT §4). Units are in the names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from telemetry.points import FieldValue as FieldValue  # noqa: PLC0414 - re-exported
from telemetry.points import Point as Point  # noqa: PLC0414 - re-exported
from telemetry.points import tags_of
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
class DroneState:
    """What one MAVLink message said about a vehicle (only the fields it carries are set)."""

    drone: int  # MAVLink system id
    time_ms: int
    lat: float | None = None
    lon: float | None = None
    alt_msl_m: float | None = None
    alt_rel_m: float | None = None
    groundspeed_ms: float | None = None
    heading_deg: float | None = None
    battery_pct: float | None = None
    voltage_v: float | None = None
    mode: str | None = None
    armed: bool | None = None
    mission_seq: int | None = None
    gps_fix: int | None = None
    satellites: int | None = None
    autopilot: str | None = None  # ardupilot | px4 | generic (HEARTBEAT.autopilot)
    mission_state: int | None = None  # MISSION_CURRENT.mission_state (MAVLink MISSION_STATE)
    home_lat: float | None = None  # HOME_POSITION
    home_lon: float | None = None
    home_alt_msl_m: float | None = None

    def to_point(self) -> Point:
        # every field but drone and time_ms, in declaration order, the unknown ones left out
        # (built directly rather than through Point.make: replay's hot path, issue 22)
        values = (
            ("lat", self.lat), ("lon", self.lon), ("alt_msl_m", self.alt_msl_m),
            ("alt_rel_m", self.alt_rel_m), ("groundspeed_ms", self.groundspeed_ms),
            ("heading_deg", self.heading_deg), ("battery_pct", self.battery_pct),
            ("voltage_v", self.voltage_v), ("mode", self.mode), ("armed", self.armed),
            ("mission_seq", self.mission_seq), ("gps_fix", self.gps_fix),
            ("satellites", self.satellites), ("autopilot", self.autopilot),
            ("mission_state", self.mission_state), ("home_lat", self.home_lat),
            ("home_lon", self.home_lon), ("home_alt_msl_m", self.home_alt_msl_m),
        )  # fmt: skip
        fields = tuple((k, v) for k, v in values if v is not None)
        return Point("drone_state", tags_of(("drone", str(self.drone))), fields, self.time_ms)


@dataclass(frozen=True, slots=True)
class MissionEvent:
    """A mission-related event of a vehicle: an item reached, a status text, a command given."""

    drone: int
    mission: str
    time_ms: int
    event: str
    seq: int | None = None
    detail: str | None = None

    def to_point(self) -> Point:
        return Point.make(
            "mission_event",
            {"drone": str(self.drone), "mission": self.mission},
            {"event": self.event, "seq": self.seq, "detail": self.detail},
            self.time_ms,
        )


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    """A patrol schedule as it stands after a change (extension measurement ``schedule``): its
    JSON document (recurrence, mission, last run) and its state (``active``, ``deleted``). The
    newest point of a schedule is its current form (api/schedules.py)."""

    schedule: str
    time_ms: int
    document: str
    state: str

    def to_point(self) -> Point:
        fields = {"document": self.document, "state": self.state}
        return Point.make("schedule", {"schedule": self.schedule}, fields, self.time_ms)


@dataclass(frozen=True, slots=True)
class MissionRecord:
    """A planned mission as it stands after a change (extension measurement ``mission``): its
    JSON document (items, checks, home, fence, speed, type) and its state, drone and approval.
    The newest point of a mission is its current form (drones/mission_store.py)."""

    mission: str
    time_ms: int
    document: str
    state: str
    drone: int | None = None
    approval_id: str | None = None
    approved_by: str | None = None
    approved_at_ms: int | None = None

    def to_point(self) -> Point:
        return Point.make(
            "mission",
            {"mission": self.mission},
            {
                "document": self.document,
                "state": self.state,
                "drone": self.drone,
                "approval_id": self.approval_id,
                "approved_by": self.approved_by,
                "approved_at_ms": self.approved_at_ms,
            },
            self.time_ms,
        )


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
class AlertAck:
    """Who acknowledged an alert, and when (extension measurement ``alert_ack``)."""

    alert: str
    kind: str
    by: str
    time_ms: int

    def to_point(self) -> Point:
        return Point.make(
            "alert_ack", {"alert": self.alert, "kind": self.kind}, {"by": self.by}, self.time_ms
        )


@dataclass(frozen=True, slots=True)
class AlertChange:
    """An alert raised, escalated or cleared (extension measurement ``alert``), for the kinds not
    stored with their derivation's own records; ``since_ms``: since when its condition holds."""

    alert: str
    kind: str
    subject: str
    level: str
    state: str  # active | cleared
    reason: str
    raised_at_ms: int
    time_ms: int
    cleared_at_ms: int | None = None
    since_ms: int | None = None

    def to_point(self) -> Point:
        return Point.make(
            "alert",
            {"alert": self.alert, "kind": self.kind},
            {
                "subject": self.subject,
                "level": self.level,
                "state": self.state,
                "reason": self.reason,
                "raised_at_ms": self.raised_at_ms,
                "cleared_at_ms": self.cleared_at_ms,
                "since_ms": self.since_ms,
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


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One alert's delivery to one webhook as it stands (extension measurement
    ``webhook_delivery``, telemetry/alerts/deliveries.py): ``pending`` until the receiver answers
    2xx (``delivered``) or the tries are spent (``failed``). ``url`` is shown with its secrets
    masked; ``hook`` (a digest of the real URL) finds the configured hook again; ``body`` is the
    alert JSON exactly as posted."""

    delivery: str  # the id, sent as the Idempotency-Key header
    time_ms: int
    url: str
    hook: str
    kind: str
    level: str
    state: str  # pending | delivered | failed
    attempts: int
    body: str
    alert: str | None = None
    last_error: str | None = None
    status_code: int | None = None

    def to_point(self) -> Point:
        return Point.make(
            "webhook_delivery",
            {"delivery": self.delivery, "alert": self.alert or None},
            {
                "url": self.url,
                "hook": self.hook,
                "kind": self.kind,
                "level": self.level,
                "state": self.state,
                "attempts": self.attempts,
                "body": self.body,
                "last_error": self.last_error,
                "status_code": self.status_code,
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
