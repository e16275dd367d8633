"""Flight evidence (docs/missions.md): a mission's MAVLink stream from upload to landing as a
QGroundControl .tlog (read)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from api.auth import Reader
from api.errors import ApiError, error_responses
from api.runtime import runtime_of

router = APIRouter(prefix="/api/v1", tags=["missions"])


@router.get(
    "/missions/{mission_id}.tlog",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}, **error_responses(404)},
)
async def mission_flight_log(request: Request, user: Reader, mission_id: str) -> FileResponse:
    """The MAVLink stream of the mission's drone from upload to landing (each packet after its
    receive time, 8-byte big-endian microseconds); its SHA-256 is in the audit log
    (``flight_log``). 404 when the mission has none."""
    rt = runtime_of(request)
    planner, flights = rt.missions, rt.flights
    if planner is None or flights is None or mission_id not in planner.missions:
        raise ApiError(404, f"no flight log for mission {mission_id}")
    path = flights.path_of(mission_id)
    if not path.is_file():
        raise ApiError(404, f"no flight log for mission {mission_id}")
    return FileResponse(path, media_type="application/octet-stream", filename=f"{mission_id}.tlog")
