"""Sanitation-route compliance for a local day (read role): JSON, or CSV for Accept: text/csv.
One row per vehicle and route (its own passes), with its route's verdict over all the route's
vehicles (the union of their valid passes); the JSON also lists the routes' verdicts."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.auth import Reader
from api.errors import error_responses
from api.params import day_bounds
from api.routes_data import Collection
from api.runtime import runtime_of

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


@router.get(
    "/sanitation/compliance",
    response_model=ComplianceCollection,
    responses={
        200: {"content": {"text/csv": {}}, "description": "JSON, or CSV for Accept: text/csv"},
        **error_responses(400),
    },
)
async def compliance(
    request: Request,
    user: Reader,
    date: Annotated[str, Query(description="YYYY-MM-DD, local to [site] timezone")],
    vehicle: str | None = None,
) -> Any:
    """Per vehicle and route: coverage, valid/planned passes, valid mileage (km), overspeed,
    off-route and gap time, missed segments, garbage stops served, and the route's verdict over
    all its vehicles. Judged from the day's fixes in the store, and written back as
    ``route_compliance`` points."""
    rt = runtime_of(request)
    start, stop = day_bounds(date, rt.settings.site.timezone)
    results, verdicts = (
        await rt.sanitation.judge_day(rt.store, start, stop, vehicle) if rt.sanitation else ([], [])
    )
    if rt.sanitation and rt.submit:
        await rt.sanitation.store_report(rt.submit, results, start)
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
