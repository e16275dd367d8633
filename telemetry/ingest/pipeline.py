"""The pipeline: a bounded queue, batches by size and by time, durable writes, then acks.

Collectors run in their own threads and cross into asyncio only through
:meth:`Pipeline.submit_threadsafe` (``loop.call_soon_threadsafe``). A message is acknowledged
after the batch holding its points and dead letters is durable (in the store or the spool:
:mod:`telemetry.ingest.writer` owns that policy).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import Counter as Tally
from collections import deque
from collections.abc import Callable, Sequence

from telemetry.config import PipelineConfig
from telemetry.health import Health
from telemetry.ingest.writer import Writer, WriterStopped
from telemetry.metrics import Metrics
from telemetry.ports import Envelope
from telemetry.records import Record

log = logging.getLogger(__name__)


class Pipeline:
    def __init__(
        self,
        writer: Writer,
        metrics: Metrics,
        health: Health,
        config: PipelineConfig,
        observers: Sequence[Callable[[list[tuple[Record, ...]]], None]] = (),
        *,
        store_input: bool = True,
    ) -> None:
        self._writer = writer
        # False: the input is stored by other processes (``serve --workers``); this pipeline only
        # feeds the derivations, then acknowledges.
        self._store_input = store_input
        self._observers = list(observers)
        self._metrics = metrics
        self._health = health
        self._cfg = config
        self._pending: deque[Envelope] = deque()  # loop side: accepted, not yet written
        self._arrived = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        # Thread side: envelopes are appended here and taken in bulk by the consumer. The loop
        # is woken only when the consumer waits for them (``_wake_at`` envelopes), never per
        # message: a wake-up per message costs more than decoding it.
        self._handoff: list[Envelope] = []
        self._handoff_lock = threading.Condition()  # also signals room in the queue
        self._accepted = 0  # envelopes accepted and not yet written: bounded by queue_size
        self._wake_at: int | None = None  # None while the consumer is busy writing
        self._wakeup_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = threading.Event()

    # --- entrance -------------------------------------------------------------------------
    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    @property
    def closed(self) -> bool:
        return self._closing.is_set()

    def submit_threadsafe(self, envelope: Envelope, timeout_s: float) -> bool:
        """From a collector thread: wait for room (back-pressure), then hand over."""
        loop = self._loop
        if loop is None or self._closing.is_set():
            return False
        wake = self._hand_over(envelope, timeout_s)
        if wake is None:
            return False
        if wake:
            loop.call_soon_threadsafe(self._wake)
        return True

    async def submit(self, envelope: Envelope) -> None:
        """From the event loop (replay, tests): wait for room without blocking the loop."""
        if self._closing.is_set():
            raise RuntimeError("the pipeline is closed")
        # The bound is shared with collector threads: poll it rather than block the loop.
        while (wake := self._hand_over(envelope, 0)) is None:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        if wake:
            self._wake()

    def _hand_over(self, envelope: Envelope, timeout_s: float) -> bool | None:
        """Append when there is room (waiting up to ``timeout_s``); None when there was none,
        else whether the caller must wake the consumer (once per wait)."""
        with self._handoff_lock:
            if self._accepted >= self._cfg.queue_size and not self._handoff_lock.wait_for(
                lambda: self._accepted < self._cfg.queue_size, timeout_s
            ):
                return None
            self._accepted += 1
            self._handoff.append(envelope)
            # Wake the waiting consumer when the batch can fill, or at once for a message that
            # waits for its acknowledgement (its sender is flow-controlled; latency matters).
            wake = (
                self._wake_at is not None
                and (len(self._handoff) >= self._wake_at or envelope.ack is not None)
                and not self._wakeup_scheduled
            )
            if wake:
                self._wakeup_scheduled = True
            return wake

    def _wake(self) -> None:
        with self._handoff_lock:
            self._wakeup_scheduled = False
        self._arrived.set()

    def _take(self, wake_at: int | None) -> None:
        """Move what the collectors handed over to the loop side; set the next wake-up bound."""
        with self._handoff_lock:
            burst, self._handoff = self._handoff, []
            self._wake_at = wake_at
        if burst:
            for source, n in Tally(e.source for e in burst).items():
                self._metrics.received.labels(source).inc(n)
            self._pending.extend(burst)
            self._idle.clear()
        self._metrics.queue_depth.set(len(self._pending))

    # --- consumer -------------------------------------------------------------------------
    async def run(self) -> None:
        """Consume until cancelled; on cancellation the batch in hand is still written."""
        self._loop = asyncio.get_running_loop()
        self._health.set("pipeline", "up")
        while True:
            batch = await self._collect()
            try:
                await self._write(batch)
            except WriterStopped:
                self._abandoned(batch)
                return
            except asyncio.CancelledError:
                # Finish this batch so that nothing accepted is left unacknowledged half-way.
                try:
                    await asyncio.shield(self._write(batch))
                except WriterStopped:
                    self._abandoned(batch)
                raise

    def _abandoned(self, batch: list[Envelope]) -> None:
        pending = len(batch) + len(self._pending)
        log.warning("stopping with %d messages not durable: unacknowledged, the broker keeps them", pending)

    async def drain(self, timeout_s: float = 30.0) -> bool:
        """Close the intake, then wait until everything accepted is written and acknowledged."""
        self._closing.set()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            self._writer.stop()  # what cannot be made durable now stays unacknowledged
            return False
        return True

    async def _collect(self) -> list[Envelope]:
        """A batch: up to ``batch_size`` points, or what arrived within ``flush_interval_s``.

        When nothing more is waiting and the batch holds messages waiting for an
        acknowledgement, it is written at once: their senders are flow-controlled by those acks
        (the MQTT in-flight bound), so waiting longer would only throttle them. Input without
        acknowledgement (QoS 0, replay) lingers up to the interval to make larger batches.
        """
        batch: list[Envelope] = []
        points = 0
        awaiting_ack = False
        deadline = 0.0
        while True:
            self._take(None)
            while self._pending and points < self._cfg.batch_size:
                env = self._pending.popleft()
                batch.append(env)
                points += len(env.decoded.records)
                awaiting_ack = awaiting_ack or env.ack is not None
            if points >= self._cfg.batch_size or (batch and awaiting_ack):
                return batch
            if not batch:
                self._arrived.clear()
                self._take(1)  # wake on the first envelope
                if not self._pending:
                    await self._arrived.wait()
                deadline = time.monotonic() + self._cfg.flush_interval_s
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return batch
            self._arrived.clear()
            self._take(max(1, self._cfg.batch_size - points))  # wake when the batch can fill
            if not self._pending:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), remaining)

    async def _write(self, batch: list[Envelope]) -> None:
        # Derivations see the batch before it is written, so an alert does not wait for the
        # store: its publication runs while the write is awaited. Safe under at-least-once: a
        # message is acknowledged only after the write, so after a crash it is delivered and
        # observed again, and the engines do not raise an alert twice (decision 36).
        messages = [env.decoded.records for env in batch if env.decoded.records]
        for observe in self._observers:
            try:
                observe(messages)
            except Exception:
                log.exception("a derivation failed on a batch; the data is stored, its alerts may be late")
        if self._store_input:
            points = [r.to_point() for env in batch for r in env.decoded.records]
            letters = [d for env in batch for d in env.decoded.dead_letters]
            started = time.monotonic()
            letters += await self._writer.write(points)
            await self._writer.write_dead_letters(letters)
            self._metrics.batch_seconds.observe(time.monotonic() - started)
        for env in batch:
            if env.ack is not None:
                env.ack()
        with self._handoff_lock:
            self._accepted -= len(batch)
            self._handoff_lock.notify_all()
        self._metrics.queue_depth.set(len(self._pending))
        with self._handoff_lock:
            if not self._pending and not self._handoff:
                self._idle.set()
