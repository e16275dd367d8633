"""The audit log over HTTP (manager, admin): ``GET /api/v1/audit`` (docs/audit.md)."""

from __future__ import annotations

import asyncio
import collections
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api.auth import Auditor
from api.errors import error_responses
from api.params import parse_time_ms
from api.routes_data import Collection
from api.runtime import runtime_of
from telemetry.audit.log import select

router = APIRouter(prefix="/api/v1", tags=["audit"])


def _newest(path: Path, limit: int, *args: Any) -> list[dict[str, Any]]:
    return list(collections.deque(select(path, *args), maxlen=limit))


@router.get("/audit", response_model=Collection, responses=error_responses(400))
async def audit(
    request: Request,
    user: Auditor,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Collection:
    """Audit records with ``from <= time < to`` (RFC 3339 or epoch ms), of the actor and action
    when given: the newest ``limit``, in chain order (ascending ``seq``)."""
    start, end = parse_time_ms(from_, "from"), parse_time_ms(to, "to")
    path = runtime_of(request).audit.path
    items = await asyncio.to_thread(_newest, path, limit, start, end, actor, action)
    return Collection(items=items, count=len(items))
