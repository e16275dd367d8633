"""Records of drones and their missions (CONTRACT §4 ``drone_state``, ``mission_event``, and the
extensions ``mission`` and ``schedule``)."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from operator import attrgetter

from telemetry.points import FieldValue, Point, tags_of


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
        return Point("drone_state", drone_tags(self.drone), fields, self.time_ms)


_STATE_FIELDS = tuple(f.name for f in dataclass_fields(DroneState))[2:]  # after drone, time_ms
_STATE_VALUES = attrgetter(*_STATE_FIELDS)
_DRONE_TAGS: dict[int, tuple[tuple[str, str], ...]] = {}  # system id → its tags (a few)


def drone_tags(drone: int) -> tuple[tuple[str, str], ...]:
    """A drone_state point's tags (cached: a stream has a few vehicles)."""
    tags = _DRONE_TAGS.get(drone)
    if tags is None:
        tags = tags_of(("drone", str(drone)))
        if len(_DRONE_TAGS) < 4096:
            _DRONE_TAGS[drone] = tags
    return tags


class DronePoint(DroneState):
    """A ``DroneState`` made from its stored point (replay's hot path, issue 22): the .tlog
    reader builds the point once, from the message's values, instead of the dataclass and then
    its point; :meth:`to_point` returns it. Its fields read as a ``DroneState``'s (from the
    point: a field it leaves out is None), so a reader of records sees no difference."""

    __slots__ = ("_point",)
    _point: Point

    def to_point(self) -> Point:
        return self._point

    def __getattr__(self, name: str) -> object:
        # only the dataclass fields the point holds are ever missing (never set: see of())
        if name == "_point":
            raise AttributeError(name)
        point = self._point
        if name == "drone":
            return int(point.tags[0][1])
        if name == "time_ms":
            return point.time_ms
        if name in _FIELD_SET:
            return point.field(name)
        raise AttributeError(name)

    def __repr__(self) -> str:
        values = ", ".join(f"{k}={getattr(self, k)!r}" for k in ("drone", "time_ms", *_STATE_FIELDS))
        return f"DronePoint({values})"


_FIELD_SET = frozenset(_STATE_FIELDS)
_NEW = object.__new__
_SET_POINT = DronePoint._point.__set__  # type: ignore[attr-defined]  # the slot's descriptor


def drone_point(drone: int, time_ms: int, fields: tuple[tuple[str, FieldValue], ...]) -> DronePoint:
    """The record of a drone_state point of ``fields`` (in DroneState's declaration order,
    without None), built without DroneState's ``__init__``."""
    record = _NEW(DronePoint)
    _SET_POINT(record, Point("drone_state", drone_tags(drone), fields, time_ms))
    return record


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
