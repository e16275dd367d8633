"""The drone fleet (read role)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.auth import Reader
from api.routes_data import Collection
from api.runtime import runtime_of
from api.views import drone_items

router = APIRouter(prefix="/api/v1", tags=["drones"])


@router.get("/drones", response_model=Collection)
async def drones(request: Request, user: Reader) -> Collection:
    """Each vehicle heard on a MAVLink link: online (heartbeats in the last 5 s), position,
    battery, mode, armed, and its mission's progress."""
    items = drone_items(runtime_of(request))
    return Collection(items=items, count=len(items))
