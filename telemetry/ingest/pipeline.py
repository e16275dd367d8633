"""The pipeline: a bounded queue, batches by size and by time, durable writes, then acks.

Collectors run in their own threads and cross into asyncio only through
:meth:`Pipeline.submit_threadsafe` (``loop.call_soon_threadsafe``). A message is acknowledged
after the batch holding its points and dead letters is durable (in the store or the spool:
:mod:`telemetry.ingest.writer` owns that policy).

The queue is bounded in messages (``queue_size``) and in estimated bytes (``max_queue_bytes``;
it may pass that by one message, so a message larger than the bound still gets through).
Without room a collector waits: back-pressure, never a drop.

"Accepted" counts a message from its hand-over until its batch is written, wherever it sits
(the thread hand-off, the queue, the batch in hand): :meth:`Pipeline.drain` returns True only
when that count is zero. Records of messages without an acknowledgement (QoS 0, MAVLink,
derived) that are lost, because the pipeline stopped before writing them or refused them once
closed, count in ``telemetry_dropped_total``; QoS-1 messages are never acknowledged then, so the
broker redelivers them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import Counter as Tally
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from telemetry.config import PipelineConfig
from telemetry.health import Health
from telemetry.ingest.writer import Writer, WriterStopped
from telemetry.metrics import Metrics
from telemetry.ports import Envelope
from telemetry.records import Record

log = logging.getLogger(__name__)

RECORD_BYTES = 512  # a decoded record in memory (a slotted dataclass and its values), at most
LETTER_BYTES = 256  # a dead letter besides its payload, topic and detail


def envelope_bytes(envelope: Envelope) -> int:
    """An estimate of the memory an envelope holds, for the queue's byte bound."""
    letters = envelope.decoded.dead_letters
    size = len(envelope.decoded.records) * RECORD_BYTES
    if not letters:  # the usual case: no generator per message (profiled, issue 22)
        return size
    return size + sum(LETTER_BYTES + len(d.payload) + len(d.topic) + len(d.detail) for d in letters)


def lost_records(envelopes: Sequence[Envelope], *, letters_only: bool = False) -> int:
    """Records (and dead letters) of ``envelopes`` that nobody will deliver again: those of
    messages without an acknowledgement."""
    return sum(
        (0 if letters_only else len(e.decoded.records)) + len(e.decoded.dead_letters)
        for e in envelopes
        if e.ack is None
    )


class _Closed(Exception):  # noqa: N818 - a state, not an error of the caller
    """The pipeline takes nothing more."""


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
        hand_off: Callable[[list[tuple[Record, ...]]], Awaitable[None]] | None = None,
    ) -> None:
        self._writer = writer
        # An ingest worker's: its batches' records go to the parent's derivations, and a batch
        # is acknowledged once both its write and that hand-off are done (telemetry/ingest/handoff.py).
        self._hand_off = hand_off
        # False: the input is stored by other processes (``serve --workers``); this pipeline only
        # feeds the derivations, then acknowledges.
        self._store_input = store_input
        self._observers = list(observers)
        self._metrics = metrics
        self._health = health
        self._cfg = config
        self._pending: deque[Envelope] = deque()  # loop side: taken from the hand-off
        self._in_hand: list[Envelope] = []  # loop side: the batch being collected or written
        self._in_hand_stored = False  # its points are durable (its dead letters may not be)
        self._arrived = asyncio.Event()
        self._idle = asyncio.Event()  # set when nothing accepted is unwritten (or the end came)
        self._idle.set()
        # Thread side: envelopes are appended here and taken in bulk by the consumer. The loop
        # is woken only when the consumer waits for them (``_wake_at`` envelopes), never per
        # message: a wake-up per message costs more than decoding it.
        self._handoff: list[Envelope] = []
        self._handoff_lock = threading.Condition()  # also signals room in the queue
        self._accepted = 0  # accepted, not yet written: bounded by queue_size
        self._accepted_bytes = 0  # their estimated size: bounded by max_queue_bytes
        self._wake_at: int | None = None  # None while the consumer is busy writing
        self._wakeup_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = threading.Event()
        self._finished = False  # the consumer stopped: what it left is dropped or redelivered

    # --- entrance -------------------------------------------------------------------------
    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    @property
    def closed(self) -> bool:
        return self._closing.is_set()

    def submit_threadsafe(self, envelope: Envelope, timeout_s: float) -> bool:
        """From a collector thread: wait for room (back-pressure), then hand over. False when
        there was no room in time (try again) or the pipeline is closed (then an envelope
        without an acknowledgement is lost, and counted)."""
        loop = self._loop
        if loop is None:
            return False
        try:
            wake = self._hand_over(envelope, timeout_s)
        except _Closed:
            self._dropped([envelope], "refused after close")
            return False
        if wake is None:
            return False
        if wake:
            loop.call_soon_threadsafe(self._wake)
        return True

    async def submit(self, envelope: Envelope) -> None:
        """From the event loop (replay, derivations, tests): wait for room without blocking the
        loop. Raises RuntimeError once the pipeline is closed (the envelope counts as dropped
        when it has no acknowledgement)."""
        try:
            # The bound is shared with collector threads: poll it rather than block the loop.
            while (wake := self._hand_over(envelope, 0)) is None:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
        except _Closed:
            self._dropped([envelope], "refused after close")
            raise RuntimeError("the pipeline is closed") from None
        if wake:
            self._wake()

    def _room(self) -> bool:
        return self._closing.is_set() or (
            self._accepted < self._cfg.queue_size and self._accepted_bytes < self._cfg.max_queue_bytes
        )

    def _hand_over(self, envelope: Envelope, timeout_s: float) -> bool | None:
        """Append when there is room (waiting up to ``timeout_s``); None when there was none,
        else whether the caller must wake the consumer (once per wait). Raises :class:`_Closed`."""
        size = envelope_bytes(envelope)
        with self._handoff_lock:
            if not self._room() and not self._handoff_lock.wait_for(self._room, timeout_s):
                return None
            if self._closing.is_set():
                raise _Closed
            self._accepted += 1
            self._accepted_bytes += size
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
            queued_bytes = self._accepted_bytes
        if burst:
            for source, n in Tally(e.source for e in burst).items():
                self._metrics.received.labels(source).inc(n)
            self._pending.extend(burst)
        self._metrics.queue_depth.set(len(self._pending))
        self._metrics.queue_bytes.set(queued_bytes)

    # --- consumer -------------------------------------------------------------------------
    async def run(self) -> None:
        """Consume until cancelled; on cancellation the batch in hand is still written. When it
        ends, nothing more is accepted, and what is left unwritten is accounted for."""
        self._loop = asyncio.get_running_loop()
        self._health.set("pipeline", "up")
        try:
            while True:
                batch = await self._collect()
                await self._write(batch)
        except WriterStopped:
            return
        except asyncio.CancelledError:
            # Finish this batch so that nothing accepted is left unacknowledged half-way.
            if self._in_hand:
                with contextlib.suppress(WriterStopped):
                    await asyncio.shield(self._write(self._in_hand))
            raise
        finally:
            self._stopped()

    def _stopped(self) -> None:
        """The consumer is gone: close the intake and account for what it leaves unwritten."""
        with self._handoff_lock:
            self._closing.set()
            self._handoff_lock.notify_all()
            left, self._handoff = list(self._handoff), []
        batch, self._in_hand = self._in_hand, []
        left += self._pending
        self._pending.clear()
        self._finished = True
        self._idle.set()  # wakes a waiting drain, which then reports what was lost
        if not batch and not left:
            return
        unacked = sum(1 for e in [*batch, *left] if e.ack is not None)
        lost = lost_records(left) + lost_records(batch, letters_only=self._in_hand_stored)
        if self._store_input:
            self._dropped_count(lost, "left unwritten when the pipeline stopped")
        log.warning(
            "pipeline stopped with %d messages not written: %d unacknowledged (the broker keeps "
            "them), %d records without acknowledgement lost",
            len(batch) + len(left), unacked, lost if self._store_input else 0,
        )  # fmt: skip

    def _dropped(self, envelopes: Sequence[Envelope], why: str) -> None:
        if self._store_input:
            self._dropped_count(lost_records(envelopes), why)

    def _dropped_count(self, n: int, why: str) -> None:
        if n:
            self._metrics.dropped.inc(n)
            log.warning("dropped %d records (%s): counted in telemetry_dropped_total", n, why)

    async def drain(self, timeout_s: float = 30.0) -> bool:
        """Close the intake, then wait until everything accepted (in the hand-off, the queue or
        the batch in hand) is written and acknowledged. False on timeout (the writer is then
        stopped: QoS-1 input stays unacknowledged, the rest is counted as dropped) or when the
        consumer had already stopped with something unwritten."""
        with self._handoff_lock:
            self._closing.set()
            self._handoff_lock.notify_all()  # waiting collectors give up: closed
        self._arrived.set()  # a batch lingering for the flush interval is written now
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            with self._handoff_lock:
                if self._accepted == 0:
                    return True
                if self._finished:
                    return False
                self._idle.clear()
            try:
                await asyncio.wait_for(self._idle.wait(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                self._writer.stop()  # what cannot be made durable now stays unacknowledged
                return False

    async def _collect(self) -> list[Envelope]:
        """A batch: up to ``batch_size`` points, or what arrived within ``flush_interval_s``.

        When nothing more is waiting and the batch holds messages waiting for an
        acknowledgement, it is written at once: their senders are flow-controlled by those acks
        (the MQTT in-flight bound), so waiting longer would only throttle them. Input without
        acknowledgement (QoS 0, replay) lingers up to the interval to make larger batches.
        """
        batch = self._in_hand = []
        self._in_hand_stored = False
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
            if points >= self._cfg.batch_size or (batch and (awaiting_ack or self._closing.is_set())):
                return batch  # full, awaited by its senders, or the last one (draining)
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

    async def _store(self, batch: list[Envelope]) -> None:
        points = [r.to_point() for env in batch for r in env.decoded.records]
        letters = [d for env in batch for d in env.decoded.dead_letters]
        started = time.monotonic()
        letters += await self._writer.write(points)
        self._in_hand_stored = True
        await self._writer.write_dead_letters(letters)
        self._metrics.batch_seconds.observe(time.monotonic() - started)

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
        handed = asyncio.ensure_future(self._hand_off(messages)) if self._hand_off and messages else None
        try:
            if self._store_input:
                await self._store(batch)
        except BaseException:
            if handed is not None:
                handed.cancel()
            raise
        if handed is not None:
            await handed  # raises when the parent is gone: nothing of this batch is acknowledged
        for env in batch:
            if env.ack is not None:
                env.ack()
        size = sum(envelope_bytes(env) for env in batch)
        if batch is self._in_hand:
            self._in_hand = []
        self._metrics.queue_depth.set(len(self._pending))
        with self._handoff_lock:
            self._accepted -= len(batch)
            self._accepted_bytes -= size
            self._handoff_lock.notify_all()
            if self._accepted == 0:
                self._idle.set()
            self._metrics.queue_bytes.set(self._accepted_bytes)
