"""Liveness, readiness and Prometheus metrics (no token: for probes and scrapers)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from api.params import iso
from api.runtime import Runtime, runtime_of

router = APIRouter()


@router.get("/healthz", tags=["health"], responses={503: {"description": "the runtime has failed"}})
async def healthz(request: Request) -> JSONResponse:
    """Liveness: 503 once the runtime is dead (a task that kept failing or could not be
    restarted, telemetry/supervise.py) or was never started; a task waiting for its restart
    is still alive (``/readyz`` shows it)."""
    rt: Runtime | None = getattr(request.app.state, "runtime", None)
    failure = "the runtime is not running" if rt is None else rt.health.failure
    if failure is not None:
        return JSONResponse({"status": "failed", "reason": failure}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/readyz", tags=["health"], responses={503: {"description": "a component is down"}})
async def readyz(request: Request) -> JSONResponse:
    rt = runtime_of(request)
    components: dict[str, Any] = {
        c.name: {"state": c.state, "detail": c.detail, "since": iso(int(c.since_s * 1000))}
        for c in rt.health.snapshot()
    }
    ready = rt.health.ready()
    body = {"status": "ready" if ready else "not_ready", "components": components}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", tags=["health"], response_class=Response)
async def metrics(request: Request) -> Response:
    return Response(runtime_of(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)
