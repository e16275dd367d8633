"""``telemetry replay FILE.tlog``: a recorded MAVLink log into the configured store, with the
original timestamps, through the same pipeline as live data (writer, spool, dead letters).

Replay spools into a folder of its own, ``<spool.path>/replay`` (locked like every spool), so
it runs beside a ``serve`` that holds ``spool.path``; two replays at once are refused. A replay
that cannot finish (the store does not take the log in time) fails, saying how many records
were not written and how many points wait in its spool, which the next replay writes first.

Replay is a bulk load, not a live feed, so it runs with settings of its own (measured with
bench/replay.py, issue 22): batches of at least :data:`REPLAY_BATCH` points (fewer, larger store
transactions); a flush interval of :data:`REPLAY_FLUSH_S` (the pipeline lingers that long on a
batch that does not fill, and the log's last one never does: the default 0.2 s was idle time at
the end of every replay); the embedded store's bulk-load mode (DuckDB on one thread,
storage/embedded.py ``bulk_load``); and Python's cyclic garbage collector paused while it runs (it
allocates only acyclic records, points and batches, and the collector's passes over the ones
queued cost about a third of the decoding and ``to_point``), restored when it returns."""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from api.stores import make_store
from drones.tlog import read_tlog
from telemetry.config import PipelineConfig, Settings
from telemetry.errors import TelemetryError
from telemetry.health import Health
from telemetry.ingest.pipeline import Pipeline
from telemetry.ingest.spool import Spool
from telemetry.ingest.writer import Writer
from telemetry.metrics import Metrics
from telemetry.ports import Envelope

REPLAY_SPOOL = "replay"
REPLAY_BATCH = 20_000  # points per store transaction, at least
REPLAY_FLUSH_S = 0.02  # the pipeline's linger on a batch that does not fill


class ReplayIncomplete(TelemetryError):  # noqa: N818 - reads as what happened
    """The store did not take the whole log in time (the command exits 1)."""


def replay_pipeline(settings: Settings) -> PipelineConfig:
    """The pipeline settings of a replay: larger batches, a short linger (see the module)."""
    cfg = settings.pipeline
    return cfg.model_copy(
        update={
            "batch_size": max(cfg.batch_size, REPLAY_BATCH),
            "flush_interval_s": min(cfg.flush_interval_s, REPLAY_FLUSH_S),
        }
    )


def replay_spool_dir(settings: Settings) -> Path:
    """Replay's own spool folder, beside (inside) the service's."""
    return Path(settings.spool.path) / REPLAY_SPOOL


@dataclass(frozen=True, slots=True)
class ReplayResult:
    records: int
    seconds: float


class ProgressBar:
    """A one-line progress bar on stderr (only when it is a terminal, or when forced)."""

    def __init__(self, enabled: bool | None = None) -> None:
        self._enabled = sys.stderr.isatty() if enabled is None else enabled
        self._last = -1

    def __call__(self, done: int, total: int) -> None:
        if not self._enabled or total <= 0:
            return
        pct = int(100 * done / total)
        if pct == self._last:
            return
        self._last = pct
        bar = "#" * (pct // 4)
        end = "\n" if done >= total else ""
        print(f"\rreplay [{bar:<25}] {pct:3d}%", end=end, file=sys.stderr, flush=True)


async def replay(
    settings: Settings, path: Path, progress: ProgressBar | None = None, *, drain_timeout_s: float = 600.0
) -> ReplayResult:
    """Replay ``path``; raises :class:`ReplayIncomplete` when the store did not take it all
    within ``drain_timeout_s`` after the last record was read. The cyclic garbage collector is
    paused meanwhile (see the module)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        return await _replay(settings, path, progress, drain_timeout_s)
    finally:
        if collecting:
            gc.enable()


async def _replay(
    settings: Settings, path: Path, progress: ProgressBar | None, drain_timeout_s: float
) -> ReplayResult:
    metrics, health = Metrics(), Health()
    started = time.monotonic()
    folder = replay_spool_dir(settings)
    async with make_store(settings) as store:
        bulk_load = getattr(store, "bulk_load", None)  # the embedded store's (see the module)
        if bulk_load is not None:
            await bulk_load()
        spool = Spool(folder, settings.spool.max_bytes, settings.spool.segment_bytes)
        writer = Writer(store, metrics, health, spool, dead_letters=settings.dead_letters)
        await writer.open()  # SpoolLocked (exit 2) when another replay runs
        pipeline = Pipeline(writer, metrics, health, replay_pipeline(settings))
        pipeline.bind(asyncio.get_running_loop())
        consumer = asyncio.create_task(pipeline.run())
        replayer = asyncio.create_task(writer.replay_forever())
        stop = threading.Event()
        count = 0
        drained = replayed = False

        def produce() -> int:
            n = 0
            for decoded in read_tlog(path, progress=progress, stop=stop):
                n += len(decoded.records)
                while not pipeline.submit_threadsafe(Envelope("replay", decoded), 1.0):
                    if stop.is_set() or pipeline.closed:
                        return n
            return n

        try:
            count = await asyncio.to_thread(produce)
            deadline = time.monotonic() + drain_timeout_s
            drained = await pipeline.drain(timeout_s=drain_timeout_s)
            # Durable in the spool is not yet in the store: give the spool's replay the time left.
            replayed = drained and await writer.wait_replayed(max(0.0, deadline - time.monotonic()))
        finally:
            stop.set()
            consumer.cancel()
            replayer.cancel()
            await asyncio.gather(consumer, replayer, return_exceptions=True)
            await writer.close()
    left = spool.points
    if not replayed:
        lost = int(metrics.registry.get_sample_value("telemetry_dropped_total") or 0)
        raise ReplayIncomplete(
            f"the store did not take {path} within {drain_timeout_s:g} s: {lost} records were "
            f"not written; {left} points wait in the spool {folder} (the next `telemetry replay` "
            "writes them first)"
        )
    return ReplayResult(count, time.monotonic() - started)
