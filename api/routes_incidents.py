"""Officers and incidents (CONTRACT §6, issue 19): list, open (from an alert or by hand), assign
(the suggested officer when no body names one), close, and the day's response measures. Every
change is durable before it is answered and is a line of the audit log."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Manager, Pilot, Reader
from api.errors import ApiError, error_responses
from api.mission_store import plan_locked, save
from api.params import day_bounds, iso
from api.routes_data import Collection
from api.runtime import Runtime, runtime_of
from telemetry.durable import DURABLE_TIMEOUT_S, write_durably
from telemetry.incidents.desk import NoOfficerError, Outcome, UnknownIncidentError
from telemetry.incidents.rules import Group, Incident, Officer, TransitionError, report
from telemetry.incidents.service import IncidentService
from telemetry.instants import now_ms

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["incidents"])
_STATE_TIME = {"assigned": "assigned_at", "accepted": "accepted_at", "on_scene": "on_scene_at",
               "resolved": "resolved_at", "closed": "closed_at"}  # fmt: skip


class FromAlert(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alert_id: str = Field(min_length=1, max_length=200)


class ByHand(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field("complaint", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    reason: str = Field(min_length=1, max_length=2000)


class EyesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    altitude_agl_m: float = Field(60.0, gt=0, le=500)
    loiter_s: float = Field(60.0, ge=0, le=1800)
    speed_ms: float | None = Field(None, gt=0, le=30)
    home: tuple[float, float] | None = None  # lon, lat


class Assignment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    officer: str | None = Field(None, min_length=1, max_length=64)


def _service(request: Request) -> tuple[Runtime, IncidentService]:
    rt = runtime_of(request)
    if rt.incidents is None:
        raise ApiError(503, "incidents are not running")
    return rt, rt.incidents


def officer_json(o: Officer, busy: set[str]) -> dict[str, Any]:
    status = "busy" if o.id in busy and o.status == "available" else o.status
    return {"id": o.id, "name": o.name, "unit": o.unit, "lat": o.lat, "lon": o.lon, "status": status,
            "last_seen": iso(o.seen_ms) if o.seen_ms is not None else None}  # fmt: skip


def incident_json(i: Incident, service: IncidentService, at_ms: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": i.id, "kind": i.kind, "subject": i.subject, "lat": i.lat, "lon": i.lon, "state": i.state,
        "officer": i.officer, "opened_at": iso(i.opened_at_ms), "reason": i.reason, "alert_id": i.alert_id,
        "assigned_by": i.assigned_by, "eyes_on_scene_at": iso(i.eyes_at_ms) if i.eyes_at_ms else None,
        "passed_over": list(i.passed_over), "note": i.note, "evidence_sha256": i.evidence_sha256,
        "overdue": i.overdue, "eyes_mission": i.eyes_mission,
    }  # fmt: skip
    for state, key in _STATE_TIME.items():
        reached = i.times.get(state)
        out[key] = iso(reached) if reached is not None else None
    if i.state == "open":
        best = service.desk.suggested(i, at_ms)
        out["suggested_officer"] = (
            None
            if best is None
            else {"id": best[0].id, "name": best[0].name, "unit": best[0].unit, "eta_s": round(best[1])}
        )
    return out


async def _durable(rt: Runtime, service: IncidentService, out: Outcome) -> None:
    """Store the outcome's records and wait until they are durable; then audit and send."""
    if rt.submit is not None and not await write_durably(rt.submit, service.name, out.records):
        log.warning("incident change not durable after %.0f s (the pipeline keeps it)", DURABLE_TIMEOUT_S)
    service.settle(Outcome(commands=out.commands, events=out.events))


@router.get("/officers", response_model=Collection)
async def officers(request: Request, user: Reader) -> Collection:
    """Duty officers: registry and last position and status (``busy`` while holding an incident)."""
    _, service = _service(request)
    busy = service.desk.busy()
    items = [officer_json(o, busy) for o in sorted(service.desk.officers.values(), key=lambda o: o.id)]
    return Collection(items=items, count=len(items))


@router.get("/incidents", response_model=Collection, responses=error_responses(400))
async def incidents(
    request: Request, user: Reader, state: Literal["active", "all"] = "active", date: str | None = None
) -> Collection:
    """Incidents, newest first: the active ones (not resolved or closed), or all; ``date``: opened
    on that site day."""
    rt, service = _service(request)
    bounds = day_bounds(date, rt.settings.site.timezone) if date is not None else None
    now = now_ms()
    chosen = [
        i for i in service.desk.incidents.values()
        if (state == "all" or i.active) and (bounds is None or bounds[0] <= i.opened_at_ms < bounds[1])
    ]  # fmt: skip
    items = [
        incident_json(i, service, now) for i in sorted(chosen, key=lambda i: i.opened_at_ms, reverse=True)
    ]
    return Collection(items=items, count=len(items))


@router.post("/incidents", status_code=201, responses=error_responses(400, 404, 409))
async def open_incident(request: Request, user: Manager, body: FromAlert | ByHand) -> dict[str, Any]:
    """Open an incident from an alert (``{"alert_id"}``; the alert's incident if it has one) or by
    hand (``{"kind", "lat", "lon", "reason"}``, a complaint)."""
    rt, service = _service(request)
    now = now_ms()
    if isinstance(body, FromAlert):
        alert = rt.alerts.get(body.alert_id)
        if alert is None:
            raise ApiError(404, f"no alert {body.alert_id!r}")
        incident, out = service.desk.open_from_alert(alert, user.name, now)
    else:
        incident, out = service.desk.open_by_hand(body.kind, body.lat, body.lon, body.reason, user.name, now)
    await _durable(rt, service, out)
    return incident_json(service.desk.incidents[incident.id], service, now)


@router.post("/incidents/{incident_id}/assign", responses=error_responses(400, 404, 409))
async def assign(
    request: Request, user: Manager, incident_id: str, body: Assignment | None = None
) -> dict[str, Any]:
    """Send an officer (``{"officer"}``), or the suggested one without a body (manager)."""
    rt, service = _service(request)
    now = now_ms()
    try:
        incident, out = service.desk.assign(incident_id, body.officer if body else None, user.name, now)
    except UnknownIncidentError as exc:
        raise ApiError(404, f"no incident {incident_id!r}") from exc
    except (TransitionError, NoOfficerError) as exc:
        raise ApiError(409, str(exc)) from exc
    await _durable(rt, service, out)
    return incident_json(incident, service, now)


@router.post("/incidents/{incident_id}/close", responses=error_responses(404, 409))
async def close(request: Request, user: Manager, incident_id: str) -> dict[str, Any]:
    """Close it (manager): after resolution, or at any time (a false alarm, a duplicate)."""
    rt, service = _service(request)
    now = now_ms()
    try:
        incident, out = service.desk.close(incident_id, user.name, now)
    except UnknownIncidentError as exc:
        raise ApiError(404, f"no incident {incident_id!r}") from exc
    except TransitionError as exc:
        raise ApiError(409, str(exc)) from exc
    await _durable(rt, service, out)
    return incident_json(incident, service, now)


@router.post("/incidents/{incident_id}/eyes", status_code=201, responses=error_responses(400, 404, 409))
async def eyes(
    request: Request, user: Pilot, incident_id: str, body: EyesRequest | None = None
) -> dict[str, Any]:
    """Plan a ``points`` mission over the incident (pilot): checked, approved, uploaded and launched
    like any mission (/api/v1/missions/{id}/...); answers the mission, linked to the incident."""
    rt, service = _service(request)
    try:
        incident = service.desk.get(incident_id)
    except UnknownIncidentError as exc:
        raise ApiError(404, f"no incident {incident_id!r}") from exc
    if incident.lat is None or incident.lon is None:
        raise ApiError(409, f"incident {incident_id} has no place to fly to")
    if rt.missions is None:
        raise ApiError(503, "mission planning is not available")
    req = body or EyesRequest()
    doc = {"type": "points", "points": [[incident.lon, incident.lat]], **req.model_dump()}
    try:
        mission = await asyncio.to_thread(plan_locked, rt.missions, doc, None)
    except (ValueError, KeyError) as exc:
        raise ApiError(400, str(exc)) from exc
    mission.log.append({"user": user.name, "action": "plan", "incident": incident_id})
    await save(rt.submit, mission)
    rt.audit.record(user.name, "mission_plan", mission.id, {"type": mission.type, "incident": incident_id})
    _, out = service.desk.eyes_planned(incident_id, mission.id, user.name, now_ms())
    await _durable(rt, service, out)
    return mission.to_json()


def group_json(g: Group) -> dict[str, Any]:
    return {
        "count": g.count, "p50_s": g.p50_s, "p90_s": g.p90_s, "decided": g.decided,
        "on_scene_within_target": g.on_scene_within_target, "share_within_target": g.share_within_target,
    }  # fmt: skip


@router.get("/incidents/report", responses=error_responses(400))
async def incidents_report(request: Request, user: Reader, date: str | None = None) -> dict[str, Any]:
    """The day's measures (site day; today by default): per kind and per unit the count, p50 and
    p90 of the time to assign, accept, eyes on scene, on scene and resolve, and the share on scene
    within the target (``[dispatch] target_on_scene_s``)."""
    rt, service = _service(request)
    zone = rt.settings.site.timezone
    now = now_ms()
    day = date or datetime.fromtimestamp(now / 1000, ZoneInfo(zone)).date().isoformat()
    start, stop = day_bounds(day, zone)
    chosen = [i for i in service.desk.incidents.values() if start <= i.opened_at_ms < stop]
    units = {o.id: o.unit for o in service.desk.officers.values()}
    target = service.cfg.target_on_scene_s
    groups = report(chosen, units, target, now)
    return {
        "date": day,
        "target_on_scene_s": target,
        "all": group_json(groups["all"]["all"]),
        "kind": {k: group_json(g) for k, g in groups["kind"].items()},
        "unit": {k: group_json(g) for k, g in groups["unit"].items()},
    }


@router.get("/incidents/{incident_id}", responses=error_responses(404))
async def incident(request: Request, user: Reader, incident_id: str) -> dict[str, Any]:
    """One incident (declared after ``/incidents/report``, which it would otherwise shadow)."""
    _, service = _service(request)
    found = service.desk.incidents.get(incident_id)
    if found is None:
        raise ApiError(404, f"no incident {incident_id!r}")
    return incident_json(found, service, now_ms())
