"""Live updates for the dashboard as server-sent events (``text/event-stream``).

Each event carries a whole view (``alerts``, ``gauges``, ``drones``, ``vehicles``), built once per
tick for all clients of the same ``interval_s`` (:mod:`api.broadcast`) and sent when it differs
from the last one sent on this stream, so a client that connects, or reconnects after a
drop, is complete after the first few events without replaying anything. A stream ends after
``max_s`` (the client reconnects; ``retry`` tells it when) or when the client goes away."""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from api.auth import Reader
from api.params import iso
from api.runtime import Runtime, runtime_of
from api.views import alert_json, drone_items, gauges_geojson
from telemetry.errors import StoreError

router = APIRouter(prefix="/api/v1", tags=["dashboard"])
VEHICLES_EVERY = 5  # ticks: vehicle positions come from the store, the rest from memory
KEEPALIVE_S = 15.0


async def _vehicles(rt: Runtime) -> list[dict[str, Any]] | None:
    try:
        latest = await rt.store.latest("vehicle_position")
    except StoreError:
        return None  # the store is away: keep the last positions the client has
    items = []
    for v in latest:
        fields = dict(v.fields)
        items.append(
            {
                "id": v.device,
                "time": iso(v.time_ms),
                **{k: fields.get(k) for k in ("lat", "lon", "speed_kmh")},
            }
        )
    return items


async def build_views(rt: Runtime, tick: int) -> dict[str, Any]:
    """The views of one tick (vehicle positions every ``VEHICLES_EVERY`` ticks): built once per
    tick for every client of an interval (:mod:`api.broadcast`)."""
    views: dict[str, Any] = {
        "alerts": [alert_json(a) for a in rt.alerts.list("active", None)],
        "gauges": gauges_geojson(rt),
        "drones": drone_items(rt),
    }
    if tick % VEHICLES_EVERY == 0 and (vehicles := await _vehicles(rt)) is not None:
        views["vehicles"] = vehicles
    return views


async def stream(rt: Runtime, request: Request, interval_s: float, max_s: float) -> AsyncIterator[str]:
    """One client's events: each view when it differs from the last sent on this stream."""
    sent: dict[str, str] = {}
    yield "retry: 2000\n\n"
    start = last_write = time.monotonic()
    if rt.events is None:
        return
    async with rt.events.subscribe(interval_s, functools.partial(build_views, rt)) as sub:
        while time.monotonic() - start < max_s and not await request.is_disconnected():
            frames = await sub.next()
            if frames is None:  # the service stops (or the views failed): the client reconnects
                return
            for name, text in frames.items():
                if sent.get(name) != text:
                    sent[name] = text
                    last_write = time.monotonic()
                    yield text
            if time.monotonic() - last_write > KEEPALIVE_S:
                last_write = time.monotonic()
                yield ": keep-alive\n\n"


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "a stream of events"}},
)
async def events(
    request: Request,
    user: Reader,
    interval_s: Annotated[float, Query(ge=0.2, le=60)] = 1.0,
    max_s: Annotated[float, Query(ge=1, le=3600)] = 600.0,
) -> StreamingResponse:
    """Server-sent events with the live views: ``alerts`` (active), ``gauges`` (the flood map),
    ``drones`` (with mission progress) and ``vehicles`` (last positions). Each is sent when it
    changed, checked every ``interval_s`` (the views are built once per tick for all clients of
    that interval); the stream ends after ``max_s`` and the client reconnects."""
    rt = runtime_of(request)
    return StreamingResponse(
        stream(rt, request, interval_s, max_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
