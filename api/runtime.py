"""What the service is made of at run time, built from configuration (stores from the registry
of :mod:`api.stores`, the derivations from one list), and the lifespan that owns every task and
thread."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import Request

from api import compliance_days, flight_logs, mission_store, schedule_runs, schedules
from api.audit import AuditedAnnouncer, emergency_hooks, incident_hooks, open_audit, record_start
from api.broadcast import Hub
from api.compliance_reports import ComplianceReports, compliance_reports
from api.preflight import Loaded, preflight
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
from telemetry.assets import Registry
from telemetry.audit.log import AuditLog
from telemetry.config import Settings
from telemetry.derivation import Derivation, DerivationRunner, Submit
from telemetry.emergency.rules import NONE, InForce
from telemetry.emergency.service import EmergencyService
from telemetry.flood.service import FloodService
from telemetry.health import Health
from telemetry.incidents.service import IncidentService
from telemetry.ingest.handoff import HandOffReceiver
from telemetry.ingest.pipeline import Pipeline
from telemetry.ingest.spool import Spool
from telemetry.ingest.writer import Writer
from telemetry.instants import now_ms
from telemetry.metrics import Metrics
from telemetry.ports import Store
from telemetry.sanitation.service import SanitationService
from telemetry.supervise import Fatal, Supervisor
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
    incidents: IncidentService | None = None  # officers and incidents (telemetry/incidents)
    emergency: EmergencyService | None = None  # the flood response level (telemetry/emergency)
    compliance: ComplianceReports | None = None  # the daily reports, judged in worker processes
    events: Hub | None = None  # the live event stream's broadcasters (api/broadcast.py)
    submit: Submit | None = None
    missions: MissionPlanner | None = None
    schedules: schedules.ScheduleBook | None = None  # patrol schedules (api/schedules.py)
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
    rt.incidents = IncidentService(s.dispatch, rt.registry, rt.alerts)
    flood = rt.flood

    def red() -> list[str]:  # the gauges red now, for the automatic rule
        return [g for g, v in flood.engine.view().items() if v.level == "red"]

    def limits(f: InForce) -> None:  # what the level puts in force (none: the normal ones)
        normal = f.level == NONE
        flood.set_limits(None if normal else f.yellow_cm, None if normal else f.red_cm, f.offline_after_s)

    rt.emergency = EmergencyService(
        s.emergency, s.flood, rt.registry, s.site.district, red=red, limits=limits
    )
    return [rt.flood, rt.toilets, rt.sanitation, rt.incidents, rt.emergency]  # emergency after flood


def runtime_of(request: Request) -> Runtime:
    """The runtime the app's lifespan built (for route handlers)."""
    rt: Runtime = request.app.state.runtime
    return rt


@contextlib.asynccontextmanager
async def running(
    settings: Settings,
    registry: Registry | None = None,
    *,
    workers: int = 1,
    on_fatal: Fatal | None = None,
    loaded: Loaded | None = None,
) -> AsyncIterator[Runtime]:
    """Start the store, the spool and its replay, the pipeline and the collectors; on exit drain
    the pipeline (everything accepted is durable and acknowledged), stop the collectors, then
    close the store. What the spool still holds is replayed at the next start.

    With ``workers`` > 1, MQTT input is stored by that many ingest processes on a shared
    subscription (:mod:`api.worker_pool`); this process keeps an ordinary subscription that only
    feeds the derivations (docs/decisions.md 70).

    Every task runs under a :class:`Supervisor`: restarted with back-off after a failure, or,
    when it keeps failing or cannot be restarted, ``on_fatal`` is told (the server stops, exit 1)."""
    if loaded is None:  # the files are read and checked before serving (`serve` passes them)
        loaded = await asyncio.to_thread(preflight, settings, registry)
    registry = loaded.registry
    async with contextlib.AsyncExitStack() as stack:
        store = await stack.enter_async_context(make_store(settings))
        audit = await asyncio.to_thread(open_audit, settings)
        stack.callback(audit.close)
        record_start(audit, settings)
        rt = Runtime(settings, registry, store, audit, fleet=Fleet(settings.mavlink.offline_after_s))
        rt.health.set("store", "up", store.name)
        spool = Spool(Path(settings.spool.path), settings.spool.max_bytes, settings.spool.segment_bytes)
        writer = Writer(store, rt.metrics, rt.health, spool, dead_letters=settings.dead_letters)
        await writer.open()
        stack.push_async_callback(writer.close)
        webhooks = Webhooks(settings.alerts, rt.metrics, audit=audit.record)
        stack.push_async_callback(webhooks.close)
        announcer = MqttAnnouncer(settings.mqtt.root, webhooks)
        audited = AuditedAnnouncer(announcer, audit)  # every alert transition is in the audit log
        runners = [DerivationRunner(d, audited) for d in _derivations(rt)]
        for runner in runners:
            await runner.derivation.restore(store, now_ms())
        rt.compliance = await stack.enter_async_context(compliance_reports(rt.sanitation, store))
        rt.events = Hub()
        stack.push_async_callback(rt.events.close)
        observers = [runner.observe for runner in runners]
        rt.missions = loaded.planner  # the areas and the DEM, loaded by preflight
        restored = await mission_store.restore(rt.missions, store)
        rt.schedules = schedules.ScheduleBook(settings.site.timezone)
        await schedules.restore(rt.schedules, store, restored, rt.alerts)
        pipeline = Pipeline(writer, rt.metrics, rt.health, settings.pipeline, observers=observers)
        pipeline.bind(asyncio.get_running_loop())
        webhooks.submit = pipeline.submit  # deliveries are stored (telemetry/alerts/deliveries.py)
        await webhooks.resume(store)  # what was pending at the last stop is delivered again
        pool: WorkerPool | None = None
        if workers > 1:
            # The workers store MQTT input and hand its records over; this pipeline feeds them to
            # the derivations and answers (telemetry/ingest/handoff.py, decision 101).
            derivation_input = Pipeline(
                writer, Metrics(), rt.health, settings.pipeline, observers=observers, store_input=False
            )  # its metrics are kept off /metrics: the workers count the input
            derivation_input.bind(asyncio.get_running_loop())
            handoff = HandOffReceiver(derivation_input.submit, rt.metrics.handed_over.inc)
            stack.push_async_callback(handoff.close)
            pool = WorkerPool(settings, workers, rt.health, rt.metrics, on_link=handoff.attach)
            stack.push_async_callback(pool.stop)
            pool.start()
        sup = Supervisor(rt.health, rt.metrics.task_restarts, settings.supervision, on_fatal)
        async with asyncio.TaskGroup() as tasks:
            # A consumer that failed lost the batch in hand (accepted, never acknowledged): no
            # restart makes that good, the broker's redelivery to a new process does.
            consumer = sup.start(tasks, "pipeline", pipeline.run, restart=False)
            replayer = sup.start(tasks, "spool-replay", writer.replay_forever)
            derivations = [
                sup.start(tasks, r.name, functools.partial(r.run, pipeline.submit)) for r in runners
            ]
            rt.submit = pipeline.submit
            mqtt_cfg = settings.mqtt
            if pool is not None:
                derive = sup.start(tasks, "derivation-input", derivation_input.run, restart=False)
                supervisor = sup.start(tasks, "worker-pool", pool.supervise)
            if mqtt_cfg.url == "embedded":
                broker = await stack.enter_async_context(EmbeddedBroker())
                mqtt_cfg = mqtt_cfg.model_copy(update={"url": broker.url, "protocol": "3.1.1"})
            collector = MqttCollector(  # with workers, only to publish: the workers receive
                mqtt_cfg,
                registry,
                settings.site.district,
                pipeline,
                rt.metrics,
                rt.health,
                subscribe=pool is None,
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
                    await flight_logs.resume(recorder, audit, m.drone, m.id)  # the same .tlog goes on
            follow = functools.partial(
                mission_store.follow_forever, rt.missions, rt.fleet, pipeline.submit, landed, expire
            )
            follower = sup.start(tasks, "missions", follow)
            patrols = functools.partial(schedule_runs.run_forever, rt, rt.schedules, audited)
            scheduler = sup.start(tasks, "schedules", patrols)
            settler = None
            if rt.compliance is not None:  # each finished day's compliance stored once (decision 93)
                days = functools.partial(
                    compliance_days.settle_forever, rt.compliance, store, pipeline.submit, audit,
                    settings.site.timezone,
                )  # fmt: skip
                settler = sup.start(tasks, "compliance-days", days)
            announcer.publish_to = collector.publish
            incident_hooks(rt.incidents, audit, settings.mqtt.root, collector.publish)
            book = rt.schedules

            def storm(on: bool) -> None:  # the schedules' seam (api/schedules.py)
                book.storm = on

            emergency_hooks(rt.emergency, audit, settings.mqtt.root, collector.publish, storm)
            async with collector, rt.mavlink:
                try:
                    yield rt
                finally:
                    sup.stop()  # what fails from now on is not restarted
                    for flight in await asyncio.to_thread(recorder.close):  # what was heard is kept
                        flight_logs.audited(audit, flight)
                    # Alerts still in flight are derived again from the store at the next start.
                    for task in derivations:
                        task.cancel()
                    follower.cancel()
                    scheduler.cancel()
                    if settler is not None:
                        settler.cancel()
                    if pool is not None:
                        supervisor.cancel()
                        # The workers drain through the hand-off, which runs until they are gone.
                        await pool.stop()
                        if not await derivation_input.drain():
                            log.warning("derivation input did not drain in time; the broker keeps it")
                        derive.cancel()
                        await handoff.close()
                    # Still connected: close the intake, write and acknowledge what was accepted.
                    if not await pipeline.drain():
                        log.warning("pipeline did not drain in time; the broker keeps the rest")
            consumer.cancel()
            replayer.cancel()
