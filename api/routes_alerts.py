"""Alerts (read; acknowledge with the manager role) and the flood three-colour map."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request

from api.auth import Manager, Reader
from api.errors import ApiError, error_responses
from api.routes_data import Collection
from api.runtime import runtime_of
from api.views import alert_json, gauges_geojson
from telemetry.instants import now_ms
from telemetry.records import AlertAck

router = APIRouter(prefix="/api/v1", tags=["alerts"])


@router.get("/alerts", response_model=Collection)
async def alerts(
    request: Request, user: Reader, state: Literal["active", "all"] = "active", kind: str | None = None
) -> Collection:
    """Alerts, newest first: the active ones, or all (cleared ones too)."""
    items = [alert_json(a) for a in runtime_of(request).alerts.list(state, kind)]
    return Collection(items=items, count=len(items))


@router.post("/alerts/{alert_id}/ack", responses=error_responses(404))
async def acknowledge(request: Request, user: Manager, alert_id: str) -> dict[str, Any]:
    """Record who acknowledged the alert and when (manager role). Acknowledging twice keeps the
    first acknowledgement."""
    rt = runtime_of(request)
    alert = rt.alerts.get(alert_id)
    if alert is None:
        raise ApiError(404, f"no alert {alert_id!r}")
    if alert.acknowledged_by is None:
        now = now_ms()
        await rt.store.write([AlertAck(alert.id, alert.kind, user.name, now).to_point()])  # durable first
        alert = rt.alerts.ack(alert_id, user.name, now)
        rt.audit.record(user.name, "alert_ack", alert.id, {"kind": alert.kind, "role": user.role})
    return alert_json(alert)


@router.get("/flood/gauges")
async def flood_gauges(request: Request, user: Reader) -> dict[str, Any]:
    """The three-colour map: a GeoJSON FeatureCollection of gauges with their level."""
    return gauges_geojson(runtime_of(request))
