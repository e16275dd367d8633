"""Sanitation-route compliance for a local day (read role): JSON, or CSV for Accept: text/csv.
One row per vehicle and route (its own passes), with its route's verdict over all the route's
vehicles (the union of their valid passes); the JSON also lists the routes' verdicts. ``GET``
reads (:mod:`api.compliance_reports` keeps each day's report); ``POST`` (manager) judges the day
again and writes it."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.auth import Manager, Reader
from api.errors import error_responses
from api.params import day_bounds
from api.routes_data import Collection
from api.runtime import runtime_of
from telemetry.sanitation.rules import Compliance, RouteVerdict

router = APIRouter(prefix="/api/v1", tags=["sanitation"])
COLUMNS = (
    "vehicle", "route", "coverage_ratio", "valid_passes", "planned_passes", "overspeed_ratio",
    "off_route_s", "gap_s", "missed_segments", "stops_served", "stops_planned", "compliant", "fixes",
    "dropped_fixes", "note", "valid_km", "route_coverage_ratio", "route_compliant",
)  # fmt: skip
ROUTE_COLUMNS = (
    "route", "vehicles", "coverage_ratio", "valid_passes", "planned_passes", "missed_segments", "valid_km",
    "stops_served", "stops_planned", "compliant",
)  # fmt: skip


class ComplianceCollection(Collection):
    """The rows (``items``) and each route's verdict over all its vehicles (``routes``)."""

    routes: list[dict[str, Any]]


def _plain(obj: object, keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v := getattr(obj, k), tuple) else v for k in keys}


def _answer(request: Request, results: list[Compliance], verdicts: list[RouteVerdict]) -> Any:
    of_route = {v.route: v for v in verdicts}
    items = [
        _plain(c, COLUMNS[:-2])
        | {
            "route_coverage_ratio": of_route[c.route].coverage_ratio,
            "route_compliant": of_route[c.route].compliant,
        }
        for c in results
    ]
    if "text/csv" in request.headers.get("accept", ""):
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for item in items:
            writer.writerow([" ".join(v) if isinstance(v := item[k], list) else v for k in COLUMNS])
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8")
    return ComplianceCollection(
        items=items, count=len(items), routes=[_plain(v, ROUTE_COLUMNS) for v in verdicts]
    )


DateParam = Annotated[str, Query(description="YYYY-MM-DD, local to [site] timezone")]
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "JSON, or CSV for Accept: text/csv"},
    **error_responses(400),
}


@router.get("/sanitation/compliance", response_model=ComplianceCollection, responses=RESPONSES)
async def compliance(request: Request, user: Reader, date: DateParam, vehicle: str | None = None) -> Any:
    """Per vehicle and route: coverage, valid/planned passes, valid mileage (km), overspeed,
    off-route and gap time, missed segments, garbage stops served, and the route's verdict over
    all its vehicles. Read only: the day's report as last judged, judged again first (in a worker
    process) when the day's fixes in the store changed since."""
    rt = runtime_of(request)
    day = day_bounds(date, rt.settings.site.timezone)
    if rt.compliance is None:
        return _answer(request, [], [])
    return _answer(request, *(await rt.compliance.get(day)).of(vehicle))


@router.post("/sanitation/compliance", response_model=ComplianceCollection, responses=RESPONSES)
async def recompute_compliance(
    request: Request, user: Manager, date: DateParam, vehicle: str | None = None
) -> Any:
    """Judge the day again now (manager, admin) and write it as ``route_compliance`` points (per
    vehicle and route, and per segment); answers the report as ``GET`` does."""
    rt = runtime_of(request)
    day = day_bounds(date, rt.settings.site.timezone)
    if rt.compliance is None:
        return _answer(request, [], [])
    report = await rt.compliance.recompute(day, rt.submit)
    rt.audit.record(user.name, "compliance_recompute", date, {"rows": len(report.rows)})
    return _answer(request, *report.of(vehicle))
