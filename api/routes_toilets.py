"""Toilet metrics for a local day, aggregated by the store (read role)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api.auth import Reader
from api.errors import error_responses
from api.params import day_bounds
from api.routes_data import Collection
from api.runtime import runtime_of
from telemetry.queries import SeriesQuery

router = APIRouter(prefix="/api/v1", tags=["toilets"])
HOUR_MS = 3_600_000


@router.get("/toilets/metrics", response_model=Collection, responses=error_responses(400))
async def toilet_metrics(
    request: Request,
    user: Reader,
    date: Annotated[str, Query(description="YYYY-MM-DD, local to [site] timezone")],
) -> Collection:
    """Per toilet for one local day: entries and entries per hour (24 numbers), cleanings done,
    overdue cleanings, air-quality exceedances; all aggregated by the store."""
    rt = runtime_of(request)
    start, stop = day_bounds(date, rt.settings.site.timezone)
    store = rt.store
    toilets = sorted(
        {d.id for d in rt.registry.of_kind("toilet")}
        | {v.device for v in await store.latest("toilet_footfall")}
    )
    items: list[dict[str, Any]] = []
    for toilet in toilets:
        hourly = await store.query_series(
            SeriesQuery("toilet_footfall", ("entries",), toilet, start, stop, every_ms=HOUR_MS, fn="sum")
        )
        per_hour = [0] * 24
        for row in hourly:
            slot = (row.time_ms - start) // HOUR_MS  # windows are UTC hours: whole-hour zones line up
            if 0 <= slot < 24:
                per_hour[slot] += int(row.values[0][1] or 0)

        async def count(measurement: str, field: str, toilet: str = toilet, **extra: Any) -> int:
            rows = await store.query_series(
                SeriesQuery(measurement, (field,), toilet, start, stop, fn="count", **extra)
            )
            return int(rows[0].values[0][1] or 0) if rows else 0

        nh3_limit, h2s_limit = rt.toilets.engine.limits(toilet) if rt.toilets else (0.3, 0.01)
        items.append(
            {
                "toilet": toilet,
                "date": date,
                "entries": sum(per_hour),
                "entries_per_hour": per_hour,
                "cleanings_done": await count("toilet_event", "by", tags=(("type", "cleaned"),)),
                "cleaning_overdue": await count("toilet_event", "by", tags=(("type", "overdue"),)),
                "cleaning_overdue_now": rt.toilets.engine.overdue(toilet) if rt.toilets else None,
                "air_exceedances": await count("toilet_footfall", "nh3_mg_m3", above=nh3_limit)
                + await count("toilet_footfall", "h2s_mg_m3", above=h2s_limit),
            }
        )
    return Collection(items=items, count=len(items))
