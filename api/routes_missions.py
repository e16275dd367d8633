"""Missions (CONTRACT §6): plan (pilot), read and export (read), record an airspace approval
(pilot). Every command is logged with the user who gave it."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from pyproj.exceptions import ProjError

from api import flight_logs
from api.auth import Pilot, Reader
from api.errors import ApiError, error_responses
from api.mission_store import plan_locked, save
from api.params import day_bounds
from api.runtime import runtime_of
from drones.collector import SessionBusyError
from drones.dialects import dialect
from drones.fence import fence_items
from drones.fleet import DroneStatus, MissionProgress
from drones.formats import MissionFormatError
from drones.launch import start_problem
from drones.mission_link import last_nav, launch, send_fence, send_plan, vehicle_home
from drones.mission_service import Mission
from drones.upload import QueueSession
from telemetry.instants import now_ms
from telemetry.ports import Envelope
from telemetry.records import Decoded, MissionEvent

router = APIRouter(prefix="/api/v1", tags=["missions"])
log = logging.getLogger("drones.missions")
RANK = {"yellow": 1, "red": 2}


# A position is [lon, lat] in range: JSON's 1e400 parses as infinity, and a planner given one
# (or an empty ring) failed with a 500 (found by tests/test_fuzz_api.py).
Position = tuple[Annotated[float, Field(ge=-180, le=180)], Annotated[float, Field(ge=-90, le=90)]]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    speed_ms: float | None = Field(None, gt=0, le=30)
    home: Position | None = None  # lon, lat


class Polygon(BaseModel):
    type: Literal["Polygon"]
    coordinates: list[Annotated[list[Position], Field(min_length=4)]] = Field(min_length=1)  # GeoJSON rings


class CameraModel(BaseModel):
    sensor_width_mm: float = Field(gt=0)
    focal_mm: float = Field(gt=0)
    image_width_px: int = Field(gt=0)
    image_height_px: int = Field(gt=0)


class SurveyRequest(_Body):
    type: Literal["survey"]
    area: Polygon
    altitude_agl_m: float = Field(gt=0, le=500)
    front_overlap: float | None = Field(None, ge=0, lt=1)
    side_overlap: float | None = Field(None, ge=0, lt=1)
    camera: CameraModel | None = None


class HotspotsRequest(_Body):
    type: Literal["hotspots"]
    source: Literal["flood_alerts"] = "flood_alerts"
    min_level: Literal["yellow", "red"] = "yellow"
    altitude_agl_m: float = Field(60.0, gt=0, le=500)
    loiter_s: float = Field(30.0, ge=0)


class PointsRequest(_Body):
    type: Literal["points"]
    points: list[Position] = Field(min_length=1)
    altitude_agl_m: float = Field(gt=0, le=500)
    loiter_s: float | None = Field(None, ge=0)


class ImportRequest(_Body):
    type: Literal["import"]
    plan: dict[str, Any] | str | None = None  # the .plan object, or the file's text
    waypoints: str | None = None


MissionRequest = Annotated[
    SurveyRequest | HotspotsRequest | PointsRequest | ImportRequest, Field(discriminator="type")
]


class ApprovalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approval_id: str = Field(min_length=1, max_length=100)


def _mission(request: Request, mission_id: str) -> Mission:
    planner = runtime_of(request).missions
    if planner is None or mission_id not in planner.missions:
        raise ApiError(404, f"no mission {mission_id!r}")
    return planner.missions[mission_id]


# What a malformed import raises beyond ValueError and KeyError (found by tests/test_missions_api.py):
# 1e400 or a 400-digit integer (inf or too large for a float), a list where a number belongs, a
# latitude of infinity reaching pyproj.
_MALFORMED: tuple[type[Exception], ...] = (TypeError, IndexError, AttributeError, ArithmeticError, ProjError)


def _format(body: BaseModel) -> str:
    return ".plan" if getattr(body, "plan", None) is not None else ".waypoints"


@router.post("/missions", status_code=201, responses=error_responses(400))
async def plan_mission(
    request: Request, user: Pilot, body: Annotated[MissionRequest, Body()]
) -> dict[str, Any]:
    """Plan a mission: waypoints, checks (true height, no-fly, approval, battery) and a preview."""
    rt = runtime_of(request)
    if rt.missions is None:
        raise ApiError(503, "mission planning is not available")
    hotspots = None
    if isinstance(body, HotspotsRequest):
        view = rt.flood.engine.view() if rt.flood else {}
        hotspots = []
        for gauge, g in sorted(view.items()):
            device = rt.registry.get("gauge", gauge)
            if (
                RANK.get(g.level, 0) >= RANK[body.min_level]
                and device
                and device.lon is not None
                and device.lat is not None
            ):
                hotspots.append((device.lon, device.lat))
    request_doc = body.model_dump()
    if isinstance(body, ImportRequest) and isinstance(body.plan, str):
        try:  # a .plan file's text
            request_doc["plan"] = json.loads(body.plan)
        except ValueError as exc:
            raise ApiError(400, f"plan: not JSON: {exc}") from exc
        if not isinstance(request_doc["plan"], dict):
            raise ApiError(400, "plan: not a QGroundControl .plan (a JSON object)")
    planner = rt.missions
    malformed = _MALFORMED if isinstance(body, ImportRequest) else ()
    try:  # off the event loop: the DEM, the checks and the fence are numpy and pyproj work
        mission = await asyncio.to_thread(plan_locked, planner, request_doc, hotspots)
    except (ValueError, KeyError, MissionFormatError) as exc:
        raise ApiError(400, str(exc)) from exc
    except malformed as exc:  # an imported file's values no planner step expected
        raise ApiError(400, f"malformed {_format(body)}: {type(exc).__name__}: {exc}") from exc
    mission.log.append({"user": user.name, "action": "plan"})
    await save(rt.submit, mission)
    rt.audit.record(
        user.name, "mission_plan", mission.id, {"type": mission.type, "items": len(mission.items)}
    )
    log.info(
        "mission %s planned by %s (%s, %d items)", mission.id, user.name, mission.type, len(mission.items)
    )
    return mission.to_json()


@router.get("/missions", responses=error_responses(400))
async def list_missions(
    request: Request,
    user: Reader,
    state: str | None = None,
    drone: int | None = None,
    date: str | None = None,
) -> list[dict[str, Any]]:
    """Every mission (restored from the store at start-up), newest first; ``date`` is the local
    day (site time zone) it was planned on."""
    rt = runtime_of(request)
    bounds = day_bounds(date, rt.settings.site.timezone) if date is not None else None
    missions = list(rt.missions.missions.values()) if rt.missions is not None else []
    return [
        m.to_json()
        for m in sorted(missions, key=lambda m: (m.planned_at_ms, m.id), reverse=True)
        if (state is None or m.state == state)
        and (drone is None or m.drone == drone)
        and (bounds is None or bounds[0] <= m.planned_at_ms < bounds[1])
    ]


@router.get("/missions/{mission_id}.plan", responses=error_responses(404))
async def mission_plan_file(request: Request, user: Reader, mission_id: str) -> JSONResponse:
    """The mission as a QGroundControl .plan."""
    m = _mission(request, mission_id)
    headers = {"Content-Disposition": f'attachment; filename="{m.id}.plan"'}
    return JSONResponse(m.plan_file(), headers=headers)


@router.get(
    "/missions/{mission_id}.waypoints", response_class=PlainTextResponse, responses=error_responses(404)
)
async def mission_waypoints_file(request: Request, user: Reader, mission_id: str) -> PlainTextResponse:
    """The mission as a QGC WPL 110 .waypoints file."""
    m = _mission(request, mission_id)
    return PlainTextResponse(
        m.waypoints_file(), headers={"Content-Disposition": f'attachment; filename="{m.id}.waypoints"'}
    )


@router.get("/missions/{mission_id}", responses=error_responses(404))
async def get_mission(request: Request, user: Reader, mission_id: str) -> dict[str, Any]:
    return _mission(request, mission_id).to_json()


@router.post("/missions/{mission_id}/approval", responses=error_responses(400, 404))
async def approve(request: Request, user: Pilot, mission_id: str, body: ApprovalRequest) -> dict[str, Any]:
    """Record the airspace approval a controlled-area mission needs before it may start."""
    _mission(request, mission_id)
    planner = runtime_of(request).missions
    assert planner is not None
    m = planner.approve(mission_id, body.approval_id, user.name)
    await save(runtime_of(request).submit, m)
    log.info("mission %s: approval %s recorded by %s", m.id, body.approval_id, user.name)
    runtime_of(request).audit.record(user.name, "mission_approval", m.id, {"approval_id": body.approval_id})
    return m.to_json()


class UploadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    drone: int = Field(ge=1, le=255)


async def _event(request: Request, m: Mission, drone: int, event: str, detail: str) -> None:
    rt = runtime_of(request)
    if rt.submit is not None:
        record = MissionEvent(drone, m.id, now_ms(), event, detail=detail)
        await rt.submit(Envelope("missions", Decoded(records=(record,))))


def _status(request: Request, drone: int) -> DroneStatus | None:
    return next((d for d in runtime_of(request).fleet.snapshot() if d.drone == drone), None)


def _session(request: Request, drone: int) -> QueueSession:
    rt = runtime_of(request)
    try:
        session = rt.mavlink.open_session(drone) if rt.mavlink else None
    except SessionBusyError as exc:
        raise ApiError(409, str(exc)) from exc
    if session is None:
        raise ApiError(409, f"drone {drone} is not connected")
    return session


def _close(request: Request, drone: int) -> None:
    rt = runtime_of(request)
    if rt.mavlink is not None:
        rt.mavlink.close_session(drone)


@router.post("/missions/{mission_id}/upload", responses=error_responses(400, 404, 409))
async def upload_mission(
    request: Request, user: Pilot, mission_id: str, body: UploadRequest
) -> dict[str, Any]:
    """Upload in the vehicle's dialect (behind a home item for ArduPilot), read it back and
    compare: only a verified mission may start. One mission command per drone at a time."""
    m = _mission(request, mission_id)
    rt = runtime_of(request)
    if m.checks.missing_altitude:  # a null altitude would go on the wire as 0 m (sea level in AMSL)
        items = ", ".join(str(k) for k in m.checks.missing_altitude)
        raise ApiError(409, f"items {items} have no altitude (AltitudeMode 3 without terrain data)")
    status = _status(request, body.drone)
    vehicle = dialect(status.autopilot if status else None)
    problem = vehicle.upload_problem(m.items)
    if problem is not None:
        raise ApiError(409, problem)
    session = _session(request, body.drone)
    log.info("mission %s: upload to drone %d (%s) by %s", m.id, body.drone, vehicle.name, user.name)
    await flight_logs.start(rt.flights, rt.audit, body.drone, m.id)  # evidence: upload to landing
    try:
        home = await asyncio.to_thread(
            vehicle_home, session, body.drone, lambda: _known_home(request, body.drone)
        )
        result = await asyncio.to_thread(send_plan, session, body.drone, vehicle, m.items, home or m.home3)
        if result.verified:
            fence = fence_items(m.fence)
            fenced = await asyncio.to_thread(send_fence, session, body.drone, fence)
            result = fenced if not fenced.verified else result
    finally:
        _close(request, body.drone)
    verified = result.verified
    m.drone = body.drone
    m.state = "verified" if verified else "failed"
    m.vehicle_offset = vehicle.offset
    m.log.append({"user": user.name, "action": "upload", "drone": body.drone, "ok": verified})
    await save(rt.submit, m)
    rt.audit.record(
        user.name, "mission_upload", m.id, {"drone": body.drone, "ok": verified, "error": result.error}
    )
    if not verified:
        await flight_logs.finish(rt.flights, rt.audit, body.drone, m.id)
    progress = MissionProgress(m.id, 0, len(m.items), m.state, vehicle.offset, last_nav(m.items))
    rt.fleet.set_mission(body.drone, progress)
    await _event(request, m, body.drone, "uploaded" if verified else "upload_failed", f"by {user.name}")
    return {"ok": verified, "items": result.items, "verified": verified, "error": result.error,
            "autopilot": vehicle.name}  # fmt: skip


def _known_home(request: Request, drone: int) -> tuple[float, float, float] | None:
    status = _status(request, drone)
    return status.home if status else None


@router.post("/missions/{mission_id}/start", responses=error_responses(404, 409))
async def start_mission(request: Request, user: Pilot, mission_id: str) -> dict[str, Any]:
    """Start a verified, flyable and (where controlled airspace asks for it) approved mission
    on an online drone with a 3D fix and the battery it needs, in the vehicle's dialect:
    ArduPilot GUIDED, arm, MISSION_START; PX4 AUTO.MISSION, arm, MISSION_START."""
    m = _mission(request, mission_id)
    rt = runtime_of(request)
    status = _status(request, m.drone) if m.drone is not None else None
    problem = start_problem(m, status, rt.settings.drones.type_of(m.drone))
    if problem is not None:
        raise ApiError(409, problem)
    assert m.drone is not None
    vehicle = dialect(status.autopilot if status else None)
    session = _session(request, m.drone)
    try:
        error = await asyncio.to_thread(launch, session, m.drone, vehicle)
    finally:
        _close(request, m.drone)
    m.log.append({"user": user.name, "action": "start", "drone": m.drone, "error": error})
    rt.audit.record(user.name, "mission_start", m.id, {"drone": m.drone, "error": error})
    log.info("mission %s: start on drone %d by %s: %s", m.id, m.drone, user.name, error or "ok")
    if error:
        raise ApiError(409, error)
    m.state = "running"
    assert rt.mavlink is not None
    rt.mavlink.missions[m.drone] = m.id
    rt.fleet.set_mission(
        m.drone, MissionProgress(m.id, 0, len(m.items), "running", vehicle.offset, last_nav(m.items))
    )
    await save(rt.submit, m)
    await _event(request, m, m.drone, "started", f"by {user.name}")
    return m.to_json()
