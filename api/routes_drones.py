"""The drone fleet (read role)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from api.auth import Reader
from api.params import iso
from api.routes_data import Collection
from api.runtime import runtime_of

router = APIRouter(prefix="/api/v1", tags=["drones"])


@router.get("/drones", response_model=Collection)
async def drones(request: Request, user: Reader) -> Collection:
    """Each vehicle heard on a MAVLink link: online (heartbeats in the last 5 s), position,
    battery, mode, armed, and its mission's progress."""
    rt = runtime_of(request)
    items: list[dict[str, Any]] = []
    for d in rt.fleet.snapshot():
        items.append(
            {
                "drone": d.drone,
                "online": d.online,
                "last_heartbeat": iso(d.last_heartbeat_ms) if d.last_heartbeat_ms else None,
                "lat": d.lat,
                "lon": d.lon,
                "alt_rel_m": d.alt_rel_m,
                "battery_pct": d.battery_pct,
                "mode": d.mode,
                "armed": d.armed,
                "link": d.link,
                "mission": None
                if d.mission is None
                else {
                    "id": d.mission.id,
                    "current": d.mission.current,
                    "total": d.mission.total,
                    "state": d.mission.state,
                },
            }
        )
    return Collection(items=items, count=len(items))
