"""The FastAPI application: its lifespan owns the runtime (store, pipeline, collectors)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.audit import AuthFailures
from api.auth import TokenBook
from api.errors import API_ERRORS, install_error_handlers
from api.limits import install_limits
from api.preflight import Loaded
from api.routes_alerts import router as alerts_router
from api.routes_audit import router as audit_router
from api.routes_dashboard import STATIC
from api.routes_dashboard import router as dashboard_router
from api.routes_data import router as data_router
from api.routes_drones import router as drones_router
from api.routes_events import router as events_router
from api.routes_flights import router as flights_router
from api.routes_health import router as health_router
from api.routes_incidents import router as incidents_router
from api.routes_missions import router as missions_router
from api.routes_mode import router as mode_router
from api.routes_sanitation import router as sanitation_router
from api.routes_schedules import router as schedules_router
from api.routes_toilets import router as toilets_router
from api.runtime import running
from telemetry.assets import Registry
from telemetry.config import Settings
from telemetry.supervise import Fatal


def create_app(
    settings: Settings,
    *,
    registry: Registry | None = None,
    workers: int = 1,
    on_fatal: Fatal | None = None,
    loaded: Loaded | None = None,
) -> FastAPI:
    """The app; ``on_fatal`` is told when the runtime fails for good (a task that keeps failing,
    telemetry/supervise.py) and should stop the server: ``telemetry serve`` then exits 1. Without
    it the app goes on serving, and ``/healthz`` answers 503. ``loaded``: the files
    :func:`api.preflight.preflight` read and checked (``serve`` passes them; else the lifespan reads them)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(settings, registry, workers=workers, on_fatal=on_fatal, loaded=loaded) as runtime:
            app.state.runtime = runtime
            app.state.auth_failures = AuthFailures(runtime.audit)
            yield
            app.state.auth_failures = None

    app = FastAPI(
        title="City telemetry",
        version="1",
        description="MQTT and MAVLink telemetry of the city's streets (CONTRACT §6).",
        lifespan=lifespan,
    )
    app.state.tokens = TokenBook.from_config(settings.api.tokens)
    install_limits(app, settings.api, app.state.tokens)
    install_error_handlers(app)
    app.include_router(health_router)
    for router in (data_router, drones_router, alerts_router, toilets_router, sanitation_router,
                   flights_router, missions_router,  # {id}.tlog before missions' /missions/{id}
                   events_router, dashboard_router, audit_router, incidents_router):  # fmt: skip
        app.include_router(router, responses=API_ERRORS)
    app.include_router(schedules_router, responses=API_ERRORS)
    app.include_router(mode_router, responses=API_ERRORS)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
