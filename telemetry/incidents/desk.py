"""The duty desk (issue 19): every incident and officer, the changes people and devices make to
them, and the timers (auto-opening from alerts, reassignment without an accept, the live alert of
the 5-minute measure). Each change comes out as an :class:`Outcome`: records to store (the
incident's new form and one ``incident_event``), commands for officers, alert notices. The
clock is the caller's. Used from the event loop only."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from telemetry.alerts.book import Alert, AlertBook
from telemetry.alerts.durable import change_of
from telemetry.config_dispatch import DispatchConfig
from telemetry.derivation import Notice
from telemetry.errors import TelemetryError
from telemetry.incidents import rules
from telemetry.incidents.rules import Incident, Officer, TransitionError
from telemetry.records import DroneState, Record
from telemetry.records_people import IncidentEvent, IncidentRecord, OfficerPosition, OfficerReport

OVERDUE_KIND = "incident"  # the alert kind of an incident past its on-scene target
Place = Callable[[str, str], tuple[float, float] | None]
"""(alert kind, subject) → (lat, lon) of what alerted (a gauge, a toilet), or None."""


class UnknownIncidentError(TelemetryError):
    pass


class NoOfficerError(TelemetryError):
    """Nobody to assign: no officer given and none available to suggest."""


@dataclass(frozen=True, slots=True)
class Command:
    """Sent to ``{root}/officer/{officer}/command`` (QoS 1, not retained)."""

    officer: str
    payload: dict[str, object]


@dataclass
class Outcome:
    records: list[Record] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    events: list[IncidentEvent] = field(default_factory=list)  # also the audit log's lines

    def __bool__(self) -> bool:
        return bool(self.records or self.commands or self.notices)

    def add(self, other: Outcome) -> Outcome:
        self.records += other.records
        self.commands += other.commands
        self.notices += other.notices
        self.events += other.events
        return self


def document(incident: Incident) -> str:
    return json.dumps(dataclasses.asdict(incident), ensure_ascii=False, sort_keys=True)


def from_document(text: str) -> Incident:
    d = json.loads(text)
    d["passed_over"] = tuple(d.get("passed_over") or ())
    d["times"] = dict(d.get("times") or {})
    return Incident(**d)


class IncidentDesk:
    def __init__(
        self, cfg: DispatchConfig, book: AlertBook, officers: Iterable[Officer], place: Place,
        travel: rules.TravelTime | None = None,
    ) -> None:  # fmt: skip
        self.cfg = cfg
        self.book = book
        self.officers: dict[str, Officer] = {o.id: o for o in officers}
        self.incidents: dict[str, Incident] = {}
        self.travel = travel or rules.StraightLine(cfg.urban_speed_kmh)
        self._place = place
        self._by_alert: dict[str, str] = {}
        # What the timers, positions and drones can still change: the active incidents and those
        # whose overdue alert is still to be cleared (every incident ever stays in ``incidents``).
        self._watched: set[str] = set()
        self._armed: dict[int, bool] = {}  # system id → armed, from its last HEARTBEAT
        self._next = 1
        self._auto = {tuple(p.split(":", 1)) for p in cfg.auto_open}

    # --- restore ----------------------------------------------------------------------------
    def restore(self, incidents: Iterable[Incident], positions: Iterable[OfficerPosition]) -> None:
        for i in incidents:
            self._keep(i)
            if i.alert_id:
                self._by_alert[i.alert_id] = i.id
            number = i.id.rsplit("-", 1)[-1]
            if number.isdigit():
                self._next = max(self._next, int(number) + 1)
        for p in positions:
            self._moved(p)

    # --- people -----------------------------------------------------------------------------
    def open_from_alert(self, alert: Alert, actor: str, at_ms: int) -> tuple[Incident, Outcome]:
        """An incident for the alert (the one it already has, if any), at the place of its subject."""
        known = self._by_alert.get(alert.id)
        if known is not None:
            return self.incidents[known], Outcome()
        place = self._place(alert.kind, alert.subject)
        lat, lon = place if place is not None else (None, None)
        incident = rules.opened(
            self._new_id(), alert.kind, alert.subject, lat, lon, alert.reason, at_ms, alert.id
        )
        self._by_alert[alert.id] = incident.id
        out = self._changed(
            incident, "opened", at_ms, actor=actor, detail=f"alert {alert.id} ({alert.level})"
        )
        out.add(self._auto_assign(incident.id, at_ms))
        return self.incidents[incident.id], out

    def open_by_hand(
        self, kind: str, lat: float, lon: float, reason: str, actor: str, at_ms: int
    ) -> tuple[Incident, Outcome]:
        incident = rules.opened(self._new_id(), kind, "manual", lat, lon, reason, at_ms)
        out = self._changed(incident, "opened", at_ms, actor=actor, detail=reason)
        out.add(self._auto_assign(incident.id, at_ms))
        return self.incidents[incident.id], out

    def assign(
        self, incident_id: str, officer: str | None, actor: str, at_ms: int
    ) -> tuple[Incident, Outcome]:
        """Assign ``officer`` (None: the suggested one); a reassignment cancels the previous one."""
        incident = self.get(incident_id)
        if officer is None:
            best = self.suggested(incident, at_ms)
            if best is None:
                raise NoOfficerError(f"no available officer to suggest for incident {incident_id}")
            officer = best[0].id
        elif officer not in self.officers:
            raise NoOfficerError(f"unknown officer {officer!r}")
        previous = incident.officer
        changed = rules.assign(incident, officer, actor, at_ms)
        out = Outcome()
        if previous is not None and previous != officer:
            out.commands.append(self._command(incident, previous, "cancel"))
        out.add(self._changed(changed, "assigned", at_ms, officer=officer, actor=actor))
        out.commands.append(self._command(changed, officer, "assign"))
        return self.incidents[incident_id], out

    def eyes_planned(
        self, incident_id: str, mission_id: str, actor: str, at_ms: int
    ) -> tuple[Incident, Outcome]:
        """A pilot planned a mission over the incident (its drone's eyes)."""
        incident = dataclasses.replace(self.get(incident_id), eyes_mission=mission_id)
        out = self._changed(incident, "eyes_planned", at_ms, actor=actor, detail=f"mission {mission_id}")
        return self.incidents[incident_id], out

    def close(self, incident_id: str, actor: str, at_ms: int) -> tuple[Incident, Outcome]:
        incident = self.get(incident_id)
        changed = rules.close(incident, at_ms)
        out = Outcome()
        if incident.officer is not None and incident.state in ("assigned", "accepted", "on_scene"):
            out.commands.append(self._command(incident, incident.officer, "cancel"))
        out.add(self._changed(changed, "closed", at_ms, actor=actor))
        return self.incidents[incident_id], out

    # --- devices ----------------------------------------------------------------------------
    def observe(self, records: Iterable[Record], at_ms: int) -> Outcome:
        out = Outcome()
        for r in records:
            if isinstance(r, OfficerPosition):
                out.add(self._position(r))
            elif isinstance(r, OfficerReport):
                out.add(self._report(r))
            elif isinstance(r, DroneState):
                out.add(self._drone(r))
        return out

    def _moved(self, p: OfficerPosition) -> Officer:
        known = self.officers.get(p.officer) or Officer(p.officer)
        if known.seen_ms is not None and known.seen_ms > p.time_ms:
            return known  # an older fix (a redelivery, a backlog) does not move anyone back
        moved = dataclasses.replace(known, lat=p.lat, lon=p.lon, status=p.status, seen_ms=p.time_ms)
        self.officers[p.officer] = moved
        return moved

    def _position(self, p: OfficerPosition) -> Outcome:
        officer = self._moved(p)
        out = Outcome()
        for i in self._in_watch():
            radius = self.cfg.on_scene_radius_m
            if (
                i.officer == officer.id
                and i.state in ("assigned", "accepted")
                and rules.within(officer, i, radius)
            ):
                arrived = rules.arrive(i, officer.id, p.time_ms)
                out.add(
                    self._changed(arrived, "on_scene", p.time_ms, officer=officer.id, detail="by position")
                )
        return out

    def _report(self, r: OfficerReport) -> Outcome:
        incident = self.incidents.get(r.incident)
        if incident is None:
            return Outcome()  # stored as sent (officer_event); nothing to change
        try:
            if r.type == "accept":
                changed = rules.accept(incident, r.officer, r.time_ms)
            elif r.type == "decline":
                changed = rules.pass_over(incident, r.officer, r.time_ms)
            elif r.type == "arrived":
                changed = rules.arrive(incident, r.officer, r.time_ms)
            else:
                changed = rules.resolve(incident, r.officer, r.time_ms, r.note, r.evidence_sha256)
        except TransitionError as exc:
            event = IncidentEvent(
                incident.id, incident.kind, r.time_ms, "refused", r.officer, r.officer, str(exc)
            )
            return Outcome(records=[event], events=[event])
        if changed == incident:
            return Outcome()  # a repeated report (QoS 1 redelivers)
        name = {"accept": "accepted", "decline": "declined", "arrived": "on_scene"}.get(r.type, "resolved")
        out = self._changed(changed, name, r.time_ms, officer=r.officer, actor=r.officer, detail=r.note)
        if r.type == "decline":
            out.add(self._auto_assign(incident.id, r.time_ms, force=True))
        return out

    def _drone(self, d: DroneState) -> Outcome:
        """A drone's states come in parts (HEARTBEAT: armed; GLOBAL_POSITION_INT: where)."""
        if d.armed is not None:
            self._armed[d.drone] = d.armed
        if d.lat is None or d.lon is None or not self._armed.get(d.drone, False):
            return Outcome()
        out = Outcome()
        eye = Officer(f"drone-{d.drone}", lat=d.lat, lon=d.lon)
        for i in self._in_watch():
            if i.active and i.eyes_at_ms is None and rules.within(eye, i, self.cfg.on_scene_radius_m):
                seen = rules.eyes_on(i, d.time_ms)
                out.add(self._changed(seen, "eyes_on_scene", d.time_ms, detail=f"drone {d.drone}"))
        return out

    # --- timers -----------------------------------------------------------------------------
    def tick(self, at_ms: int) -> Outcome:
        out = Outcome()
        for alert in self.book.list("active"):
            if (alert.kind, alert.level) in self._auto and alert.id not in self._by_alert:
                out.add(self.open_from_alert(alert, "service", at_ms)[1])
        for i in self._in_watch():
            if i.officer is not None and rules.accept_overdue(i, at_ms, self.cfg.accept_timeout_s):
                silent = rules.pass_over(i, i.officer, at_ms)
                out.commands.append(self._command(i, i.officer, "cancel"))
                detail = f"not accepted within {self.cfg.accept_timeout_s:.0f} s"
                out.add(self._changed(silent, "unanswered", at_ms, officer=i.officer, detail=detail))
                out.add(self._auto_assign(i.id, at_ms, force=True))
            out.add(self._overdue(self.incidents[i.id], at_ms))
        return out

    def _overdue(self, i: Incident, at_ms: int) -> Outcome:
        target = self.cfg.target_on_scene_s
        late = rules.on_scene_overdue(i, at_ms, target)
        if late and not i.overdue:
            reason = f"nobody on scene {target / 60:.0f} minutes after it opened"
            alert = self.book.raise_or_update(OVERDUE_KIND, i.id, "red", reason, at_ms)
            out = self._changed(dataclasses.replace(i, overdue=True), "overdue", at_ms, detail=reason)
            return out.add(self._alerted(alert, i, at_ms))
        if i.overdue and not late:
            cleared = self.book.clear(OVERDUE_KIND, i.id, f"incident {i.state}", at_ms)
            out = self._changed(dataclasses.replace(i, overdue=False), "overdue_cleared", at_ms)
            return out.add(self._alerted(cleared, i, at_ms)) if cleared is not None else out
        return Outcome()

    def _alerted(self, alert: Alert, i: Incident, at_ms: int) -> Outcome:
        level = alert.level if alert.state == "active" else "green"
        payload = {"incident": i.id, "kind": i.kind, "subject": i.subject, "level": level,
                   "reason": alert.reason, "since": alert.raised_at_ms, "alert_id": alert.id}  # fmt: skip
        notice = Notice(f"alert/incident/{i.id}/overdue", OVERDUE_KIND, alert.level, payload)
        return Outcome(records=[change_of(alert, at_ms)], notices=[notice])

    # --- helpers ----------------------------------------------------------------------------
    def get(self, incident_id: str) -> Incident:
        incident = self.incidents.get(incident_id)
        if incident is None:
            raise UnknownIncidentError(incident_id)
        return incident

    def _keep(self, incident: Incident) -> None:
        self.incidents[incident.id] = incident
        if incident.active or incident.overdue:
            self._watched.add(incident.id)
        else:
            self._watched.discard(incident.id)

    def _in_watch(self) -> list[Incident]:
        """The watched incidents (a copy: a step may change them), oldest first."""
        return [self.incidents[i] for i in sorted(self._watched)]

    def busy(self) -> set[str]:
        """Officers who hold an active incident (not suggested again until it is over)."""
        holding = ("assigned", "accepted", "on_scene")
        return {i.officer for i in self._in_watch() if i.officer and i.state in holding}

    def suggested(self, incident: Incident, at_ms: int) -> tuple[Officer, float] | None:
        busy = self.busy()
        free = [o for o in self.officers.values() if o.id not in busy]
        return rules.suggest(incident, free, self.travel, at_ms, self.cfg.position_stale_s)

    def _auto_assign(self, incident_id: str, at_ms: int, *, force: bool = False) -> Outcome:
        """Assign the suggested officer when ``auto_assign`` is set, or (``force``) to replace one
        who declined or did not answer; nobody available: it stays open."""
        incident = self.incidents[incident_id]
        if not (self.cfg.auto_assign or force) or incident.state != "open":
            return Outcome()
        best = self.suggested(incident, at_ms)
        if best is None:
            return Outcome()
        return self.assign(incident_id, best[0].id, "service", at_ms)[1]

    def _new_id(self) -> str:
        incident_id = f"INC-{self._next:05d}"
        self._next += 1
        return incident_id

    def _changed(
        self, incident: Incident, event: str, at_ms: int, *, officer: str | None = None,
        actor: str | None = None, detail: str | None = None,
    ) -> Outcome:  # fmt: skip
        self._keep(incident)
        happened = IncidentEvent(
            incident.id, incident.kind, at_ms, event, officer, actor or "service", detail
        )
        stored = IncidentRecord(incident.id, incident.kind, at_ms, incident.state, document(incident))
        return Outcome(records=[stored, happened], events=[happened])

    def _command(self, incident: Incident, officer: str, action: str) -> Command:
        i = incident
        body: dict[str, object] = {"incident": i.id, "action": action, "lat": i.lat, "lon": i.lon,
                                   "kind": i.kind, "reason": i.reason}  # fmt: skip
        return Command(officer, body)
