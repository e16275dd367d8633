"""``telemetry replay FILE.tlog``: a recorded MAVLink log into the configured store, with the
original timestamps, through the same pipeline as live data (writer, spool, dead letters)."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from api.stores import make_store
from drones.tlog import read_tlog
from telemetry.config import Settings
from telemetry.health import Health
from telemetry.ingest.pipeline import Pipeline
from telemetry.ingest.spool import Spool
from telemetry.ingest.writer import Writer
from telemetry.metrics import Metrics
from telemetry.ports import Envelope


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


async def replay(settings: Settings, path: Path, progress: ProgressBar | None = None) -> ReplayResult:
    metrics, health = Metrics(), Health()
    started = time.monotonic()
    async with make_store(settings) as store:
        writer = Writer(store, metrics, health, Spool(Path(settings.spool.path), settings.spool.max_bytes))
        await writer.open()
        pipeline = Pipeline(writer, metrics, health, settings.pipeline)
        pipeline.bind(asyncio.get_running_loop())
        consumer = asyncio.create_task(pipeline.run())
        replayer = asyncio.create_task(writer.replay_forever())
        stop = threading.Event()
        count = 0

        def produce() -> int:
            n = 0
            for decoded in read_tlog(path, progress=progress, stop=stop):
                n += len(decoded.records)
                while not pipeline.submit_threadsafe(Envelope("replay", decoded), 1.0):
                    if stop.is_set():
                        return n
            return n

        try:
            count = await asyncio.to_thread(produce)
            await pipeline.drain(timeout_s=600)
        finally:
            stop.set()
            consumer.cancel()
            replayer.cancel()
            await asyncio.gather(consumer, replayer, return_exceptions=True)
            await writer.close()
    return ReplayResult(count, time.monotonic() - started)
