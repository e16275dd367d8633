"""Records of duty officers and incidents (issue 19; CONTRACT §4 ``officer_position``,
``incident_event``, and the extensions ``officer_event`` and ``incident``)."""

from __future__ import annotations

from dataclasses import dataclass

from telemetry.points import Point

OFFICER_STATUSES = ("available", "busy", "off")
OFFICER_EVENTS = ("accept", "decline", "arrived", "resolved")


@dataclass(frozen=True, slots=True)
class OfficerPosition:
    """``{root}/officer/{id}/telemetry``: where an officer is and whether they can be sent."""

    officer: str
    district: str
    time_ms: int
    lat: float
    lon: float
    status: str
    source_crs: str = "WGS84"
    seq: int | None = None

    def to_point(self) -> Point:
        return Point.make(
            "officer_position",
            {"officer": self.officer, "district": self.district},
            {"lat": self.lat, "lon": self.lon, "status": self.status},
            self.time_ms,
        )


@dataclass(frozen=True, slots=True)
class OfficerReport:
    """``{root}/officer/{id}/event``: an officer's answer to an assignment (extension measurement
    ``officer_event``, kept as sent; the incident's changes it causes are ``incident_event``)."""

    officer: str
    district: str
    time_ms: int
    type: str  # accept | decline | arrived | resolved
    incident: str
    note: str | None = None
    evidence_sha256: str | None = None
    seq: int | None = None

    def to_point(self) -> Point:
        return Point.make(
            "officer_event",
            {"officer": self.officer, "district": self.district, "type": self.type},
            {"incident": self.incident, "note": self.note, "evidence_sha256": self.evidence_sha256},
            self.time_ms,
        )


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    """One step of an incident's life (CONTRACT §4 ``incident_event``): opened, assigned,
    accepted, declined, on_scene, eyes_on_scene, resolved, closed, overdue, ... The extra tag
    ``step`` (= ``event``) keeps two steps of one millisecond apart (opened and auto-assigned at once)."""

    incident: str
    kind: str
    time_ms: int
    event: str
    officer: str | None = None
    actor: str | None = None
    detail: str | None = None

    def to_point(self) -> Point:
        return Point.make(
            "incident_event",
            {"incident": self.incident, "kind": self.kind, "step": self.event},
            {"event": self.event, "officer": self.officer, "actor": self.actor, "detail": self.detail},
            self.time_ms,
        )


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    """The incident as it is after a change (extension measurement ``incident``: its JSON
    ``document`` and ``state``); the newest per incident restores it at start-up."""

    incident: str
    kind: str
    time_ms: int
    state: str
    document: str

    def to_point(self) -> Point:
        return Point.make(
            "incident",
            {"incident": self.incident, "kind": self.kind},
            {"state": self.state, "document": self.document},
            self.time_ms,
        )
