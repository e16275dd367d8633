"""Devices, time series and dead letters (read role)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from api.auth import Admin, Reader
from api.errors import ApiError, error_responses
from api.params import iso, parse_duration_ms, parse_time_ms
from api.runtime import runtime_of
from telemetry.queries import AGGREGATES, AggregateFn, SeriesQuery
from telemetry.schema import KIND_MEASUREMENT, MEASUREMENTS

router = APIRouter(prefix="/api/v1", tags=["data"])


class Collection(BaseModel):
    items: list[dict[str, Any]]
    count: int


@router.get("/devices", response_model=Collection, responses=error_responses(400))
async def devices(request: Request, user: Reader, kind: str | None = None) -> Collection:
    """Known devices (registered or seen) with their last-seen time and last values."""
    if kind is not None and kind not in KIND_MEASUREMENT:
        raise ApiError(400, f"kind: one of {', '.join(KIND_MEASUREMENT)}")
    rt = runtime_of(request)
    kinds = [kind] if kind else list(KIND_MEASUREMENT)
    items: list[dict[str, Any]] = []
    for k in kinds:
        seen = {v.device: v for v in await rt.store.latest(KIND_MEASUREMENT[k])}
        registered = {d.id: d for d in rt.registry.of_kind(k)}
        for device_id in sorted(seen.keys() | registered.keys()):
            last = seen.get(device_id)
            reg = registered.get(device_id)
            items.append(
                {
                    "id": device_id,
                    "kind": k,
                    "registered": reg is not None,
                    "name": reg.name if reg else None,
                    "last_seen": iso(last.time_ms) if last else None,
                    "last": dict(last.fields) if last else None,
                }
            )
    return Collection(items=items, count=len(items))


@router.get("/series/{measurement}", response_model=Collection, responses=error_responses(400, 404))
async def series(
    request: Request,
    user: Reader,
    measurement: str,
    device: str | None = None,
    field: Annotated[list[str] | None, Query()] = None,
    start: str | None = None,
    stop: str | None = None,
    every: str | None = None,
    fn: AggregateFn | None = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> Collection:
    """A time series, optionally aggregated per ``every`` window with ``fn``
    (mean, max, min, sum, count, last). ``field`` may repeat or be comma-separated."""
    if measurement not in MEASUREMENTS:
        raise ApiError(404, f"unknown measurement {measurement!r}; known: {', '.join(MEASUREMENTS)}")
    fields = tuple(f for item in field or [] for f in item.split(",") if f)
    every_ms = parse_duration_ms(every, "every")
    if every_ms is not None and fn is None:
        fn = "mean"
    if fn is not None and fn not in AGGREGATES:
        raise ApiError(400, f"fn: one of {', '.join(AGGREGATES)}")
    query = SeriesQuery(
        measurement=measurement,
        fields=fields,
        device=device,
        start_ms=parse_time_ms(start, "start"),
        stop_ms=parse_time_ms(stop, "stop"),
        every_ms=every_ms,
        fn=fn,
        limit=limit,
    )
    rows = await runtime_of(request).store.query_series(query)
    items = [{"time": iso(r.time_ms), **dict(r.values)} for r in rows]
    return Collection(items=items, count=len(items))


@router.get("/dead-letters", response_model=Collection)
async def dead_letters(
    request: Request, user: Admin, limit: Annotated[int, Query(ge=1, le=10_000)] = 100
) -> Collection:
    """The newest rejected inputs with their reason (admin: raw device payloads). The payload is
    shown as text, with replacement characters for bytes that are not UTF-8."""
    letters = await runtime_of(request).store.dead_letters(limit)
    items = [
        {
            "received": iso(d.received_ms),
            "source": d.source,
            "topic": d.topic,
            "reason": d.reason,
            "detail": d.detail,
            "payload": d.payload[:4096].decode("utf-8", "replace"),
        }
        for d in letters
    ]
    return Collection(items=items, count=len(items))
