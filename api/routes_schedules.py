"""Patrol schedules (CONTRACT §6, docs/schedules.md): list with the next due times and the last
run (read), create, delete (pilot, admin). Each change is durable before the answer and audited."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from api.auth import Pilot, Reader
from api.errors import ApiError, error_responses
from api.routes_missions import MissionRequest
from api.runtime import runtime_of
from api.schedules import ScheduleBook, durable
from drones.schedules import Approval, Schedule, Weekly
from telemetry.instants import epoch_ms, now_ms

router = APIRouter(prefix="/api/v1", tags=["schedules"])
SysId = Annotated[int, Field(ge=1, le=255)]


class WeeklyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    days: list[str] = Field(min_length=1, max_length=7)
    time: str = Field(pattern=r"^[0-9]{2}:[0-9]{2}$")


class ApprovalBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    approval_id: str = Field(min_length=1, max_length=100)
    first: date = Field(alias="from")
    last: date = Field(alias="to")


class ScheduleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    mission: MissionRequest
    drone: SysId | None = None
    drones: list[SysId] | None = Field(None, min_length=1, max_length=32)
    start: AwareDatetime
    every_hours: float | None = Field(None, ge=1 / 60, le=24 * 366)
    weekly: WeeklyBody | None = None
    launch: bool = False
    approvals: list[ApprovalBody] = Field(default_factory=list, max_length=100)
    storm_every_hours: float | None = Field(None, ge=1 / 60, le=24 * 366)


def _book(request: Request) -> ScheduleBook:
    book = runtime_of(request).schedules
    if book is None:
        raise ApiError(503, "schedules are not available")
    return book


def _reason(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())


def parse(body: Any, schedule_id: str, user: str, at_ms: int) -> Schedule:
    """The schedule a request body asks for; ValueError with the reason when it cannot be one."""
    try:
        req = ScheduleRequest.model_validate(body)
    except ValidationError as exc:
        raise ValueError(_reason(exc)) from exc
    if (req.every_hours is None) == (req.weekly is None):
        raise ValueError("give one recurrence: every_hours or weekly")
    if req.drone is not None and req.drones is not None:
        raise ValueError("give drone or drones, not both")
    for a in req.approvals:
        if a.last < a.first:
            raise ValueError(f"approval {a.approval_id}: 'to' is before 'from'")
    mission = req.mission.model_dump()
    if isinstance(mission.get("plan"), str):  # a .plan file's text
        try:
            mission["plan"] = json.loads(mission["plan"])
        except ValueError as exc:
            raise ValueError(f"mission.plan: not JSON: {exc}") from exc
        if not isinstance(mission["plan"], dict):
            raise ValueError("mission.plan: not a QGroundControl .plan (a JSON object)")
    weekly = Weekly.parse(req.weekly.days, req.weekly.time) if req.weekly else None
    pool = tuple(req.drones or ([req.drone] if req.drone is not None else []))
    approvals = tuple(Approval(a.approval_id, a.first, a.last) for a in req.approvals)
    return Schedule(
        schedule_id, req.name, mission, pool, epoch_ms(req.start), req.every_hours, weekly, req.launch,
        approvals, req.storm_every_hours, user, at_ms,
    )  # fmt: skip


@router.get("/schedules")
async def list_schedules(request: Request, user: Reader) -> dict[str, Any]:
    """Every active schedule with its next 3 due times (RFC 3339) and its last run."""
    book, at = _book(request), now_ms()
    items = [book.view(s, at) for s in sorted(book.schedules.values(), key=lambda s: s.created_at_ms)]
    return {"items": items, "count": len(items)}


@router.post("/schedules", status_code=201, responses=error_responses(400))
async def create_schedule(request: Request, user: Pilot, body: Annotated[Any, Body()]) -> dict[str, Any]:
    """A recurring patrol: a mission request body, a drone or a pool, weekly days and a local
    time or every N hours from ``start``; it launches by itself only with ``launch`` and an
    approval covering the date (when the mission needs one)."""
    rt, book, at = runtime_of(request), _book(request), now_ms()
    try:
        s = parse(body, book.new_id(at), user.name, at)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from exc
    await durable(rt.submit, (book.put(s),))
    rt.audit.record(user.name, "schedule_create", s.id, s.to_document())
    return book.view(s, at)


@router.delete("/schedules/{schedule_id}", responses=error_responses(404))
async def delete_schedule(request: Request, user: Pilot, schedule_id: str) -> dict[str, Any]:
    """Stop a schedule (its missions stay); its point in the store says ``deleted``."""
    rt, book = runtime_of(request), _book(request)
    s = book.schedules.get(schedule_id)
    if s is None:
        raise ApiError(404, f"no schedule {schedule_id!r}")
    gone = replace(s, state="deleted")
    await durable(rt.submit, (book.put(gone),))
    rt.audit.record(user.name, "schedule_delete", s.id, {"name": s.name})
    return book.view(gone, now_ms())
