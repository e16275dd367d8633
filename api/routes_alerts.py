"""Alerts (read; acknowledge with the manager role) and the flood three-colour map."""

from __future__ import annotations

import time
from typing import Any, Literal

from fastapi import APIRouter, Request

from api.auth import Manager, Reader
from api.errors import ApiError
from api.params import iso
from api.routes_data import Collection
from api.runtime import runtime_of
from telemetry.alerts import Alert
from telemetry.records import AlertAck

router = APIRouter(prefix="/api/v1", tags=["alerts"])


def alert_json(a: Alert) -> dict[str, Any]:
    return {
        "id": a.id,
        "kind": a.kind,
        "subject": a.subject,
        "level": a.level,
        "state": a.state,
        "reason": a.reason,
        "raised_at": iso(a.raised_at_ms),
        "cleared_at": iso(a.cleared_at_ms) if a.cleared_at_ms else None,
        "acknowledged_by": a.acknowledged_by,
        "acknowledged_at": iso(a.acknowledged_at_ms) if a.acknowledged_at_ms else None,
    }


@router.get("/alerts", response_model=Collection)
async def alerts(
    request: Request, user: Reader, state: Literal["active", "all"] = "active", kind: str | None = None
) -> Collection:
    """Alerts, newest first: the active ones, or all (cleared ones too)."""
    items = [alert_json(a) for a in runtime_of(request).alerts.list(state, kind)]
    return Collection(items=items, count=len(items))


@router.post("/alerts/{alert_id}/ack", responses={404: {"description": "no such alert"}})
async def acknowledge(request: Request, user: Manager, alert_id: str) -> dict[str, Any]:
    """Record who acknowledged the alert and when (manager role). Acknowledging twice keeps the
    first acknowledgement."""
    rt = runtime_of(request)
    alert = rt.alerts.get(alert_id)
    if alert is None:
        raise ApiError(404, f"no alert {alert_id!r}")
    if alert.acknowledged_by is None:
        now = time.time_ns() // 1_000_000
        await rt.store.write([AlertAck(alert.id, alert.kind, user.name, now).to_point()])  # durable first
        alert = rt.alerts.ack(alert_id, user.name, now)
    return alert_json(alert)


@router.get("/flood/gauges")
async def flood_gauges(request: Request, user: Reader) -> dict[str, Any]:
    """The three-colour map: a GeoJSON FeatureCollection of gauges with their level."""
    rt = runtime_of(request)
    view = rt.flood.engine.view() if rt.flood else {}
    features = []
    ids = {d.id for d in rt.registry.of_kind("gauge")} | set(view)
    for gauge in sorted(ids):
        device = rt.registry.get("gauge", gauge)
        g = view.get(gauge)
        alert = rt.alerts.active("flood", gauge)
        seen = g is not None and g.state.last_ms >= 0
        props = {
            "id": gauge,
            "name": device.name if device else None,
            "road": device.road if device else None,
            "level": g.level if g else "green",
            "depth_cm": g.state.depth_cm if g and seen else None,
            "rise_cm_per_10min": round(g.state.rise_cm, 1) if g and seen else None,
            "since": iso(g.since_ms) if g and g.since_ms else None,
            "last_reading": iso(g.state.last_ms) if g and seen else None,
            "sensor_fault": g.fault if g else None,
            "alert_id": alert.id if alert else None,
        }
        geometry = (
            {"type": "Point", "coordinates": [device.lon, device.lat]}
            if device and device.lon is not None and device.lat is not None
            else None
        )
        features.append({"type": "Feature", "geometry": geometry, "properties": props})
    return {"type": "FeatureCollection", "features": features}
