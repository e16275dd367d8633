"""One ingest worker of ``telemetry serve --workers N``: a process of its own running the MQTT
collector → pipeline → writer on a shared subscription (``$share/<group>/...``), nothing else.
Each batch's decoded records also go to the parent's derivations over a socket pair the parent
made (:mod:`telemetry.ingest.handoff`); a batch is acknowledged once it is written and observed.

Its MQTT client id is ``<client_id>-w<i>`` (a persistent session of its own), its spool is
``<spool.path>/w<i>``; dead letters go to the service's one dead-letter file (SQLite in WAL mode
takes writers from several processes). It stops on SIGTERM (from its parent, which handles
SIGINT), or when its parent is gone: the intake closes, everything accepted is written (or
spooled) and acknowledged, then it disconnects. Every 0.25 s it leaves a snapshot of its
metrics where the parent's ``/metrics`` reads it (:mod:`api.worker_pool`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import socket
from pathlib import Path

from api.stores import make_store
from sensors.mqtt_collector import MqttCollector
from telemetry.assets import load_registry
from telemetry.config import Settings
from telemetry.health import Health
from telemetry.ingest.handoff import HandOffSender
from telemetry.ingest.pipeline import Pipeline
from telemetry.ingest.spool import Spool
from telemetry.ingest.writer import Writer
from telemetry.metrics import Metrics

log = logging.getLogger(__name__)

SNAPSHOT_INTERVAL_S = 0.25  # also bounds how stale /metrics is for the workers


def worker_dir(settings: Settings, index: int) -> Path:
    """The worker's own folder: its spool segments and its metrics snapshot."""
    return Path(settings.spool.path) / f"w{index}"


def shared_group(settings: Settings) -> str:
    """The shared subscription's group: ``[mqtt] shared_group``, else the client id."""
    return settings.mqtt.shared_group or settings.mqtt.client_id


def worker_settings(settings: Settings, index: int) -> Settings:
    mqtt = settings.mqtt.model_copy(
        update={"client_id": f"{settings.mqtt.client_id}-w{index}", "shared_group": shared_group(settings)}
    )
    return settings.model_copy(update={"mqtt": mqtt})


def _write_snapshot(metrics: Metrics, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(metrics.render())
    tmp.replace(path)  # atomic: the parent never reads half a file


async def ingest(settings: Settings, index: int, stop: asyncio.Event, link: socket.socket) -> None:
    """Run the worker until ``stop`` is set, then drain and close. ``link``: the parent's end
    of the hand-off of decoded records to the derivations."""
    cfg = worker_settings(settings, index)
    registry = load_registry(cfg.assets.dir, strict=cfg.assets.strict)
    metrics, health = Metrics(), Health()
    folder = worker_dir(settings, index)
    snapshot = folder / "metrics.prom"
    async with contextlib.AsyncExitStack() as stack:
        store = await stack.enter_async_context(make_store(settings))
        spool = Spool(folder, cfg.spool.max_bytes, cfg.spool.segment_bytes)
        writer = Writer(store, metrics, health, spool, dead_letters=cfg.dead_letters)
        await writer.open()
        stack.push_async_callback(writer.close)
        handoff = await stack.enter_async_context(HandOffSender(link))
        pipeline = Pipeline(writer, metrics, health, cfg.pipeline, hand_off=handoff.send)
        pipeline.bind(asyncio.get_running_loop())
        async with asyncio.TaskGroup() as tasks:
            consumer = tasks.create_task(pipeline.run(), name="pipeline")
            replayer = tasks.create_task(writer.replay_forever(), name="spool-replay")
            collector = MqttCollector(cfg.mqtt, registry, cfg.site.district, pipeline, metrics, health)
            async with collector:
                log.info("ingest worker %d: %s in group %r", index, cfg.mqtt.client_id, shared_group(cfg))
                while not stop.is_set():
                    _write_snapshot(metrics, snapshot)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), SNAPSHOT_INTERVAL_S)
                if not await pipeline.drain():
                    log.warning("worker %d did not drain in time; the broker keeps the rest", index)
            consumer.cancel()
            replayer.cancel()
    _write_snapshot(metrics, snapshot)
    log.info("ingest worker %d stopped", index)


async def _watch_parent(stop: asyncio.Event) -> None:
    """Stop when the parent process is gone (killed without a chance to stop us)."""
    parent = multiprocessing.parent_process()
    while parent is not None and not stop.is_set():
        if not parent.is_alive():
            log.warning("parent process is gone; stopping")
            stop.set()
            return
        await asyncio.sleep(1.0)


async def _main(settings: Settings, index: int, link: socket.socket) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    watcher = asyncio.create_task(_watch_parent(stop), name="parent-watch")
    try:
        await ingest(settings, index, stop, link)
    finally:
        watcher.cancel()


def worker_main(settings: Settings, index: int, log_level: int, link: socket.socket) -> None:
    """The process entry point (``multiprocessing`` spawn target). Ctrl-C in a terminal reaches
    the whole process group: the worker leaves SIGINT to its parent, which then sends SIGTERM
    (so a worker never stops, and is restarted, before the parent has begun to stop)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(
        level=log_level, format=f"%(asctime)s %(levelname)s w{index}[{os.getpid()}] %(name)s: %(message)s"
    )
    asyncio.run(_main(settings, index, link))
