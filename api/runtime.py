"""What the service is made of at run time, built from configuration (stores from the registry
of :mod:`api.stores`, the derivations from one list), and the lifespan that owns every task and
thread."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import Request

from api import flight_logs, mission_store
from api.audit import AuditedAnnouncer, open_audit, record_start
from api.stores import make_store
from api.worker_pool import WorkerPool
from drones.collector import MavlinkCollector
from drones.fleet import Fleet
from drones.flight_log import FlightRecorder
from drones.mission_service import Mission, MissionPlanner
from sensors.broker import EmbeddedBroker
from sensors.mqtt_collector import MqttCollector
from telemetry.alerts.announce import MqttAnnouncer
from telemetry.alerts.book import AlertBook
from telemetry.alerts.webhooks import Webhooks
from telemetry.assets import Registry, load_registry
from telemetry.audit.log import AuditLog
from telemetry.config import Settings
from telemetry.derivation import Derivation, DerivationRunner, Submit
from telemetry.flood.service import FloodService
from telemetry.health import Health
from telemetry.ingest.pipeline import Pipeline
from telemetry.ingest.spool import Spool
from telemetry.ingest.writer import Writer
from telemetry.instants import now_ms
from telemetry.metrics import Metrics
from telemetry.ports import Store
from telemetry.sanitation.service import SanitationService
from telemetry.toilets.service import ToiletService

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    registry: Registry
    store: Store
    audit: AuditLog  # record(actor, action, subject, data): docs/audit.md
    metrics: Metrics = field(default_factory=Metrics)
    health: Health = field(default_factory=Health)
    fleet: Fleet = field(default_factory=Fleet)
    mavlink: MavlinkCollector | None = None
    alerts: AlertBook = field(default_factory=AlertBook)
    flood: FloodService | None = None
    toilets: ToiletService | None = None
    sanitation: SanitationService | None = None
    submit: Submit | None = None
    missions: MissionPlanner | None = None
    flights: FlightRecorder | None = None  # each mission's .tlog (api/flight_logs.py)


def _utc_offset_min(timezone: str) -> int:
    """The zone's UTC offset now, in minutes (for local time windows of routes)."""
    offset = datetime.now(ZoneInfo(timezone)).utcoffset()
    return int(offset.total_seconds() // 60) if offset else 0


def _derivations(rt: Runtime) -> list[Derivation]:
    """Every derivation the service runs; the typed ones stay on the runtime for the routes."""
    s = rt.settings
    rt.flood = FloodService(s.flood, rt.registry, rt.alerts)
    rt.toilets = ToiletService(
        s.toilets, rt.registry, rt.alerts, s.site.district, now_ms(), timezone=s.site.timezone
    )
    rt.sanitation = SanitationService(
        s.sanitation, rt.registry.source or s.assets.dir, rt.alerts, _utc_offset_min(s.site.timezone),
        timezone=s.site.timezone,
    )  # fmt: skip
    return [rt.flood, rt.toilets, rt.sanitation]


def runtime_of(request: Request) -> Runtime:
    """The runtime the app's lifespan built (for route handlers)."""
    rt: Runtime = request.app.state.runtime
    return rt


@contextlib.asynccontextmanager
async def running(
    settings: Settings, registry: Registry | None = None, *, workers: int = 1
) -> AsyncIterator[Runtime]:
    """Start the store, the spool and its replay, the pipeline and the collectors; on exit drain
    the pipeline (everything accepted is durable and acknowledged), stop the collectors, then
    close the store. What the spool still holds is replayed at the next start.

    With ``workers`` > 1, MQTT input is stored by that many ingest processes on a shared
    subscription (:mod:`api.worker_pool`); this process keeps an ordinary subscription that only
    feeds the derivations (docs/decisions.md 70)."""
    registry = registry or load_registry(settings.assets.dir, strict=settings.assets.strict)
    async with contextlib.AsyncExitStack() as stack:
        store = await stack.enter_async_context(make_store(settings))
        audit = await asyncio.to_thread(open_audit, settings)
        stack.callback(audit.close)
        record_start(audit, settings)
        rt = Runtime(settings, registry, store, audit, fleet=Fleet(settings.mavlink.offline_after_s))
        rt.health.set("store", "up", store.name)
        spool = Spool(Path(settings.spool.path), settings.spool.max_bytes, settings.spool.segment_bytes)
        writer = Writer(store, rt.metrics, rt.health, spool)
        await writer.open()
        stack.push_async_callback(writer.close)
        webhooks = Webhooks(settings.alerts, rt.metrics)
        stack.push_async_callback(webhooks.close)
        announcer = MqttAnnouncer(settings.mqtt.root, webhooks)
        audited = AuditedAnnouncer(announcer, audit)  # every alert transition is in the audit log
        runners = [DerivationRunner(d, audited) for d in _derivations(rt)]
        for runner in runners:
            await runner.derivation.restore(store, now_ms())
        observers = [runner.observe for runner in runners]
        drones = settings.drones
        rt.missions = MissionPlanner(
            settings.airspace, registry.source or settings.assets.dir, drones.types[drones.default_type]
        )
        restored = await mission_store.restore(rt.missions, store)
        pipeline = Pipeline(writer, rt.metrics, rt.health, settings.pipeline, observers=observers)
        pipeline.bind(asyncio.get_running_loop())
        mqtt_sink, mqtt_metrics = pipeline, rt.metrics
        pool: WorkerPool | None = None
        if workers > 1:
            # The workers store MQTT input; this pipeline feeds it to the derivations and acks.
            mqtt_metrics = Metrics()  # kept off /metrics: the workers count the input
            mqtt_sink = Pipeline(
                writer, mqtt_metrics, rt.health, settings.pipeline, observers=observers, store_input=False
            )
            mqtt_sink.bind(asyncio.get_running_loop())
            pool = WorkerPool(settings, workers, rt.health, rt.metrics)
            stack.push_async_callback(pool.stop)
            pool.start()
        async with asyncio.TaskGroup() as tasks:
            consumer = tasks.create_task(pipeline.run(), name="pipeline")
            replayer = tasks.create_task(writer.replay_forever(), name="spool-replay")
            derivations = [tasks.create_task(r.run(pipeline.submit), name=r.name) for r in runners]
            rt.submit = pipeline.submit
            mqtt_cfg = settings.mqtt
            if pool is not None:
                derive = tasks.create_task(mqtt_sink.run(), name="derivation-input")
                supervisor = tasks.create_task(pool.supervise(), name="worker-pool")
                mqtt_cfg = mqtt_cfg.model_copy(update={"shared_group": ""})  # sees every message
            if mqtt_cfg.url == "embedded":
                broker = await stack.enter_async_context(EmbeddedBroker())
                mqtt_cfg = mqtt_cfg.model_copy(update={"url": broker.url, "protocol": "3.1.1"})
            collector = MqttCollector(
                mqtt_cfg, registry, settings.site.district, mqtt_sink, mqtt_metrics, rt.health
            )
            rt.mavlink = MavlinkCollector(settings.mavlink, pipeline, rt.metrics, rt.health, rt.fleet)
            rt.flights = FlightRecorder(
                settings.mavlink.flight_log_path(settings.store.path), settings.mavlink.flight_log_max_s
            )
            rt.mavlink.flights = rt.flights
            recorder = rt.flights

            async def landed(m: Mission) -> None:  # done: the flight's evidence is complete
                if m.state != "running" and m.drone is not None:
                    await flight_logs.finish(recorder, audit, m.drone, m.id)

            async def expire() -> None:
                await flight_logs.finish_expired(recorder, audit)

            for m in restored:  # its events stay tagged with it; its progress returns when heard
                if m.state == "running" and m.drone is not None:
                    rt.mavlink.missions[m.drone] = m.id
            follower = tasks.create_task(
                mission_store.follow_forever(rt.missions, rt.fleet, pipeline.submit, landed, expire),
                name="missions",
            )
            announcer.publish_to = collector.publish
            async with collector, rt.mavlink:
                try:
                    yield rt
                finally:
                    for flight in await asyncio.to_thread(recorder.close):  # what was heard is kept
                        flight_logs.audited(audit, flight)
                    # Alerts still in flight are derived again from the store at the next start.
                    for task in derivations:
                        task.cancel()
                    follower.cancel()
                    if pool is not None:
                        supervisor.cancel()
                        pool.terminate()  # the workers drain meanwhile; joined on the way out
                        if not await mqtt_sink.drain():
                            log.warning("derivation input did not drain in time; the broker keeps it")
                        derive.cancel()
                    # Still connected: close the intake, write and acknowledge what was accepted.
                    if not await pipeline.drain():
                        log.warning("pipeline did not drain in time; the broker keeps the rest")
            consumer.cancel()
            replayer.cancel()
