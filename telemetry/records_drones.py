"""Records of drones and their missions (CONTRACT §4 ``drone_state``, ``mission_event``, and the
extensions ``mission`` and ``schedule``)."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from operator import attrgetter

from telemetry.points import Point, tags_of


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
        values = _STATE_VALUES(self)
        fields = tuple([(k, v) for k, v in zip(_STATE_FIELDS, values, strict=True) if v is not None])
        tags = _DRONE_TAGS.get(self.drone)
        if tags is None:
            tags = tags_of(("drone", str(self.drone)))
            if len(_DRONE_TAGS) < 4096:
                _DRONE_TAGS[self.drone] = tags
        return Point("drone_state", tags, fields, self.time_ms)


_STATE_FIELDS = tuple(f.name for f in dataclass_fields(DroneState))[2:]  # after drone, time_ms
_STATE_VALUES = attrgetter(*_STATE_FIELDS)
_DRONE_TAGS: dict[int, tuple[tuple[str, str], ...]] = {}  # system id → its tags (a few)


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
        values = (("event", self.event), ("seq", self.seq), ("detail", self.detail))
        fields = tuple([(k, v) for k, v in values if v is not None])
        return Point(
            "mission_event",
            tags_of(("drone", str(self.drone)), ("mission", self.mission)),
            fields,
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
