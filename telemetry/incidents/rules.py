"""Incidents, pure (issue 19): the life cycle ``open → assigned → accepted → on_scene → resolved
→ closed``, which officer to suggest, and the response-time measures. No I/O and no clock: every
function takes the time it is asked about (``at_ms``)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from pyproj import Geod

from telemetry.errors import TelemetryError

STATES = ("open", "assigned", "accepted", "on_scene", "resolved", "closed")
MEASURES = ("assign", "accept", "eyes", "on_scene", "resolve")
"""Response times, each from the incident's opening: to the first assignment, to the first
acceptance, to a drone's eyes on scene, to an officer on scene, to resolution."""
_GEOD = Geod(ellps="WGS84")


class TransitionError(TelemetryError):
    """An event that the incident's state does not allow (answered 409 by the API)."""


@dataclass(frozen=True, slots=True)
class Officer:
    id: str
    name: str = ""
    unit: str = ""
    lat: float | None = None
    lon: float | None = None
    status: str = "off"  # available | busy | off
    seen_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Incident:
    id: str
    kind: str
    subject: str  # the alert's subject (a gauge, a toilet) or "manual"
    lat: float | None
    lon: float | None
    reason: str
    opened_at_ms: int
    alert_id: str | None = None
    state: str = "open"
    officer: str | None = None
    assigned_by: str | None = None
    assigned_at_ms: int | None = None  # of the current assignment (the accept timer)
    times: Mapping[str, int] = field(default_factory=dict)  # state → when first reached
    eyes_at_ms: int | None = None  # a drone first over it
    eyes_mission: str | None = None  # the mission a pilot planned over it
    passed_over: tuple[str, ...] = ()  # officers who declined or stayed silent
    note: str | None = None
    evidence_sha256: str | None = None
    overdue: bool = False  # the live alert of the 5-minute measure was raised

    @property
    def active(self) -> bool:
        return self.state not in ("resolved", "closed")

    def reached(self, state: str, at_ms: int, **changes: object) -> Incident:
        times = dict(self.times)
        times.setdefault(state, at_ms)
        return replace(self, state=state, times=times, **changes)  # type: ignore[arg-type]


def opened(
    incident_id: str, kind: str, subject: str, lat: float | None, lon: float | None, reason: str,
    at_ms: int, alert_id: str | None = None,
) -> Incident:  # fmt: skip
    return Incident(incident_id, kind, subject, lat, lon, reason, at_ms, alert_id, times={"open": at_ms})


def assign(incident: Incident, officer: str, by: str, at_ms: int) -> Incident:
    """Give the incident to ``officer`` (a reassignment too, while nobody is on scene)."""
    if incident.state not in ("open", "assigned", "accepted"):
        raise TransitionError(f"incident {incident.id} is {incident.state}: it cannot be assigned")
    return incident.reached("assigned", at_ms, officer=officer, assigned_by=by, assigned_at_ms=at_ms)


def accept(incident: Incident, officer: str, at_ms: int) -> Incident:
    _check_officer(incident, officer, "accept")
    if incident.state == "accepted":
        return incident  # a repeated accept (QoS 1 redelivery)
    if incident.state != "assigned":
        raise TransitionError(f"incident {incident.id} is {incident.state}: nothing to accept")
    return incident.reached("accepted", at_ms)


def pass_over(incident: Incident, officer: str, at_ms: int) -> Incident:
    """The officer declined, or did not accept in time: the incident is open again and that
    officer is not suggested for it any more."""
    _check_officer(incident, officer, "decline")
    if incident.state not in ("assigned", "accepted"):
        raise TransitionError(f"incident {incident.id} is {incident.state}: nothing to decline")
    passed = (*incident.passed_over, officer) if officer not in incident.passed_over else incident.passed_over
    return replace(incident, state="open", officer=None, assigned_at_ms=None, passed_over=passed)


def arrive(incident: Incident, officer: str, at_ms: int) -> Incident:
    """On scene: by an ``arrived`` event or by the officer's fixes (:func:`within`)."""
    _check_officer(incident, officer, "arrive")
    if incident.state == "on_scene":
        return incident
    if incident.state not in ("assigned", "accepted"):
        raise TransitionError(f"incident {incident.id} is {incident.state}: cannot arrive")
    return incident.reached("on_scene", at_ms)


def resolve(incident: Incident, officer: str, at_ms: int, note: str | None, evidence: str | None) -> Incident:
    _check_officer(incident, officer, "resolve")
    if incident.state == "resolved":
        return incident
    if incident.state not in ("accepted", "on_scene"):
        raise TransitionError(f"incident {incident.id} is {incident.state}: cannot be resolved")
    return incident.reached("resolved", at_ms, note=note, evidence_sha256=evidence)


def close(incident: Incident, at_ms: int) -> Incident:
    """A manager closes it: after resolution, or at any time (a false alarm, a duplicate)."""
    if incident.state == "closed":
        raise TransitionError(f"incident {incident.id} is already closed")
    return incident.reached("closed", at_ms)


def eyes_on(incident: Incident, at_ms: int) -> Incident:
    return incident if incident.eyes_at_ms is not None else replace(incident, eyes_at_ms=at_ms)


def _check_officer(incident: Incident, officer: str, what: str) -> None:
    if incident.officer != officer:
        raise TransitionError(f"officer {officer} cannot {what} incident {incident.id}: it is not theirs")


def accept_overdue(incident: Incident, at_ms: int, accept_timeout_s: float) -> bool:
    """Assigned and still not accepted after the timeout: to be reassigned."""
    started = incident.assigned_at_ms
    return incident.state == "assigned" and started is not None and at_ms - started >= accept_timeout_s * 1000


def on_scene_overdue(incident: Incident, at_ms: int, target_s: float) -> bool:
    """Past the target with nobody on scene (the live alert of the 5-minute measure)."""
    return (
        incident.state in ("open", "assigned", "accepted")
        and at_ms - incident.opened_at_ms >= target_s * 1000
    )


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return float(_GEOD.inv(lon1, lat1, lon2, lat2)[2])


def within(officer: Officer, incident: Incident, radius_m: float) -> bool:
    if None in (officer.lat, officer.lon, incident.lat, incident.lon):
        return False
    return distance_m(officer.lat, officer.lon, incident.lat, incident.lon) <= radius_m  # type: ignore[arg-type]


class TravelTime(Protocol):
    """Seconds from an officer to a place: the seam where a routing engine plugs in."""

    def seconds(self, lat1: float, lon1: float, lat2: float, lon2: float) -> float: ...


@dataclass(frozen=True, slots=True)
class StraightLine:
    """Straight-line distance at an urban speed (the estimate until a routing engine is set)."""

    speed_kmh: float = 25.0

    def seconds(self, lat1: float, lon1: float, lat2: float, lon2: float) -> float:
        return distance_m(lat1, lon1, lat2, lon2) / (self.speed_kmh / 3.6)


def suggest(
    incident: Incident, officers: Iterable[Officer], travel: TravelTime, at_ms: int, stale_after_s: float
) -> tuple[Officer, float] | None:
    """The available officer who reaches the incident first (and the seconds it takes), skipping
    those passed over and those whose position is older than ``stale_after_s``; None when there
    is no one or the incident has no place."""
    if incident.lat is None or incident.lon is None:
        return None
    best: tuple[Officer, float] | None = None
    for o in officers:
        if o.status != "available" or o.id in incident.passed_over or o.lat is None or o.lon is None:
            continue
        if o.seen_ms is None or at_ms - o.seen_ms > stale_after_s * 1000:
            continue
        t = travel.seconds(o.lat, o.lon, incident.lat, incident.lon)
        if best is None or (t, o.id) < (best[1], best[0].id):
            best = (o, t)
    return best


def response_s(incident: Incident) -> dict[str, float | None]:
    """Each measure of :data:`MEASURES` in seconds from the opening, None when not reached."""
    at = {
        "assign": incident.times.get("assigned"),
        "accept": incident.times.get("accepted"),
        "eyes": incident.eyes_at_ms,
        "on_scene": incident.times.get("on_scene"),
        "resolve": incident.times.get("resolved"),
    }
    return {k: (None if v is None else (v - incident.opened_at_ms) / 1000) for k, v in at.items()}


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile (``q`` in 0..100): always one of the values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class Group:
    """The measures of one kind or unit on one day."""

    count: int
    p50_s: dict[str, float | None]
    p90_s: dict[str, float | None]
    on_scene_within_target: int
    decided: int  # incidents on scene, or past the target without: the share's denominator

    @property
    def share_within_target(self) -> float | None:
        return None if self.decided == 0 else self.on_scene_within_target / self.decided


def measure(incidents: Sequence[Incident], target_s: float, at_ms: int) -> Group:
    """Count, p50 and p90 of each response time, and the share on scene within the target. An
    incident still inside its target with nobody on scene yet is not decided and not counted in
    the share (it may still make it); past the target it counts as missed; one closed inside its
    target with nobody sent on scene (a false alarm, a duplicate) is left out."""
    times = [response_s(i) for i in incidents]
    p50 = {k: percentile([t[k] for t in times if t[k] is not None], 50) for k in MEASURES}  # type: ignore[misc]
    p90 = {k: percentile([t[k] for t in times if t[k] is not None], 90) for k in MEASURES}  # type: ignore[misc]
    within_target = decided = 0
    for i, t in zip(incidents, times, strict=True):
        on_scene = t["on_scene"]
        if on_scene is not None:
            decided += 1
            within_target += on_scene <= target_s
        elif min(at_ms, i.times.get("closed", at_ms)) - i.opened_at_ms > target_s * 1000:
            decided += 1  # missed (closed earlier without anyone on scene: a false alarm, left out)
    return Group(len(incidents), p50, p90, within_target, decided)


def report(
    incidents: Sequence[Incident], unit_of: Mapping[str, str], target_s: float, at_ms: int
) -> dict[str, dict[str, Group]]:
    """The day's measures per kind and per unit (the unit of the officer who has or had it;
    ``"unassigned"`` when nobody), and over all."""
    by_kind: dict[str, list[Incident]] = {}
    by_unit: dict[str, list[Incident]] = {}
    for i in incidents:
        by_kind.setdefault(i.kind, []).append(i)
        unit = unit_of.get(i.officer, "") if i.officer else ""
        by_unit.setdefault(unit or "unassigned", []).append(i)
    return {
        "all": {"all": measure(incidents, target_s, at_ms)},
        "kind": {k: measure(v, target_s, at_ms) for k, v in sorted(by_kind.items())},
        "unit": {k: measure(v, target_s, at_ms) for k, v in sorted(by_unit.items())},
    }
