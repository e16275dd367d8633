"""Sanitation-route compliance for a local day (read role): JSON, or CSV for Accept: text/csv."""

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
    "dropped_fixes", "note",
)  # fmt: skip


@router.get(
    "/sanitation/compliance",
    response_model=Collection,
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
    """Per vehicle and route: coverage, valid/planned passes, overspeed, off-route and gap time,
    missed segments, garbage stops served. Judged from the day's fixes in the store, and written
    back as ``route_compliance`` points."""
    rt = runtime_of(request)
    start, stop = day_bounds(date, rt.settings.site.timezone)
    results = await rt.sanitation.report(rt.store, start, stop, vehicle) if rt.sanitation else []
    if rt.sanitation and rt.submit:
        await rt.sanitation.store_report(rt.submit, results, start)
    items = [{k: list(v) if isinstance(v := getattr(c, k), tuple) else v for k in COLUMNS} for c in results]
    if "text/csv" in request.headers.get("accept", ""):
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for item in items:
            writer.writerow([" ".join(v) if isinstance(v := item[k], list) else v for k in COLUMNS])
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8")
    return Collection(items=items, count=len(items))
