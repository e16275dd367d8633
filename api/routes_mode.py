"""The flood response level (CONTRACT §6, issue 20): what is in force, and an admin's choice.
A change is durable before it is answered; then it is audited, published retained on
``{root}/mode``, applied to the flood derivation and the schedules, and sent to every gauge."""

from __future__ import annotations

import logging
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from api.auth import Admin, Reader
from api.errors import ApiError, error_responses
from api.params import iso
from api.runtime import Runtime, runtime_of
from telemetry.durable import DURABLE_TIMEOUT_S, write_durably
from telemetry.emergency.rules import LEVELS
from telemetry.emergency.service import EmergencyService
from telemetry.instants import now_ms

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["mode"])


class ModeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: Literal["none", "IV", "III", "II", "I"]


def _service(request: Request) -> tuple[Runtime, EmergencyService]:
    rt = runtime_of(request)
    if rt.emergency is None:
        raise ApiError(503, "the emergency mode is not running")
    return rt, rt.emergency


def mode_json(service: EmergencyService) -> dict[str, Any]:
    desk = service.desk
    f = desk.force
    owed = set(desk.owing())
    gauges = [
        {"gauge": g, "acknowledged": desk.commanding and g not in owed,
         "interval_s": desk.acknowledged.get(g),
         "last_sent": iso(desk.sent_ms[g]) if g in desk.sent_ms else None}
        for g in desk.gauges
    ]  # fmt: skip
    cfg = desk.cfg
    return {
        "level": desk.level,
        "since": iso(desk.since_ms) if desk.since_ms else None,
        "by": desk.by,
        "in_force": {"yellow_cm": f.yellow_cm, "red_cm": f.red_cm, "offline_after_s": f.offline_after_s,
                     "interval_s": f.interval_s, "storm_schedules": f.storm_schedules},
        "gauges": gauges,
        "levels": list(LEVELS),
        "auto": {"red_gauges": cfg.auto_red_gauges, "within_min": cfg.auto_within_min,
                 "level": cfg.auto_level},
    }  # fmt: skip


@router.get("/mode")
async def get_mode(request: Request, user: Reader) -> dict[str, Any]:
    """The flood response level in force (``none``, IV, III, II, I), since when and by whom, the
    thresholds, offline time and gauge interval in force, and per gauge whether it acknowledged."""
    _, service = _service(request)
    return mode_json(service)


@router.post("/mode", responses=error_responses(400))
async def set_mode(request: Request, user: Admin, body: ModeRequest) -> dict[str, Any]:
    """Set the flood response level (admin); ``none`` leaves it. Answered once the change is durable."""
    rt, service = _service(request)
    out = service.set(body.level, user.name, now_ms())
    if rt.submit is not None and not await write_durably(rt.submit, service.name, out.records):
        log.warning("mode change not durable after %.0f s (the pipeline keeps it)", DURABLE_TIMEOUT_S)
    service.settle(out)
    return mode_json(service)
