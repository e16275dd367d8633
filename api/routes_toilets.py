"""Toilet metrics for a local day, aggregated by the store (read role)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from api.auth import Reader
from api.errors import ApiError, error_responses
from api.params import day_bounds, local_hour
from api.routes_data import Collection
from api.runtime import Runtime, runtime_of
from telemetry.instants import now_ms
from telemetry.queries import SeriesQuery

router = APIRouter(prefix="/api/v1", tags=["toilets"])
HOUR_MS = 3_600_000
Day = Annotated[str, Query(description="YYYY-MM-DD, local to [site] timezone")]


@router.get("/toilets/metrics", response_model=Collection, responses=error_responses(400))
async def toilet_metrics(request: Request, user: Reader, date: Day) -> Collection:
    """Per toilet for one local day: entries and entries per hour (24 numbers), cleanings done
    and the daily minimum, overdue cleanings, air-quality exceedances; aggregated by the store."""
    rt = runtime_of(request)
    start, stop = day_bounds(date, rt.settings.site.timezone)
    items = [await _metrics(rt, toilet, date, start, stop) for toilet in await _toilets(rt)]
    return Collection(items=items, count=len(items))


@router.get("/toilets/{toilet}/metrics", responses=error_responses(400, 404))
async def one_toilet_metrics(
    request: Request, user: Reader, toilet: Annotated[str, Path()], date: Day
) -> dict[str, Any]:
    """One toilet's metrics for one local day (the same object as in the collection)."""
    rt = runtime_of(request)
    start, stop = day_bounds(date, rt.settings.site.timezone)
    if toilet not in await _toilets(rt):
        raise ApiError(404, f"no toilet {toilet!r}")
    return await _metrics(rt, toilet, date, start, stop)


async def _toilets(rt: Runtime) -> list[str]:
    return sorted(
        {d.id for d in rt.registry.of_kind("toilet")}
        | {v.device for v in await rt.store.latest("toilet_footfall")}
    )


async def _metrics(rt: Runtime, toilet: str, date: str, start: int, stop: int) -> dict[str, Any]:
    store = rt.store
    hourly = await store.query_series(
        SeriesQuery("toilet_footfall", ("entries",), toilet, start, stop, every_ms=HOUR_MS, fn="sum")
    )
    per_hour = [0] * 24
    for row in hourly:
        slot = local_hour(row.time_ms, rt.settings.site.timezone)  # a 25-hour day: twice the same hour
        per_hour[slot] += int(row.values[0][1] or 0)

    async def count(measurement: str, field: str, **extra: Any) -> int:
        rows = await store.query_series(
            SeriesQuery(measurement, (field,), toilet, start, stop, fn="count", **extra)
        )
        return int(rows[0].values[0][1] or 0) if rows else 0

    engine = rt.toilets.engine if rt.toilets else None
    nh3_limit, h2s_limit = engine.limits(toilet) if engine else (0.3, 0.01)
    done = await count("toilet_event", "by", tags=(("type", "cleaned"),))
    minimum = engine.daily_minimum(toilet) if engine else None
    judged = stop <= now_ms()  # the minimum is judged when the local day is over
    return {
        "toilet": toilet,
        "date": date,
        "entries": sum(per_hour),
        "entries_per_hour": per_hour,
        "cleanings_done": done,
        "cleanings_minimum": minimum,
        "cleanings_minimum_met": (done >= minimum) if judged and minimum is not None else None,
        "cleaning_overdue": await count("toilet_event", "by", tags=(("type", "overdue"),)),
        "cleaning_overdue_now": engine.overdue(toilet) if engine else None,
        "air_exceedances": await count("toilet_footfall", "nh3_mg_m3", above=nh3_limit)
        + await count("toilet_footfall", "h2s_mg_m3", above=h2s_limit),
    }
