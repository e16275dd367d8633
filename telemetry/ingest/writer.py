"""The durability policy between the pipeline and the store: write a batch to the store, or
else to the spool, and replay the spool in order once the store answers.

- A retryable store error (network, timeout, 429, 5xx) sends the batch to the spool; while the
  spool holds anything, new batches go behind it, so the store sees them in order.
- A non-retryable error (the data's fault) splits the batch to isolate the bad points, which
  become dead letters with the store's message; the rest is written.
- A full spool (``max_bytes`` or a full disk) makes :meth:`Writer.write` wait: the pipeline stops
  acknowledging and the broker keeps the backlog (back-pressure). Nothing is dropped.
- Without a spool, retryable errors are retried with capped, jittered back-off.
- :meth:`Writer.stop` (the pipeline's drain ran out of time at shutdown) ends that waiting: a
  write that cannot be made durable now raises :class:`WriterStopped`, so its messages stay
  unacknowledged and the broker redelivers them after the restart.
- Dead letters are pruned by ``[dead_letters]`` retention: at open, then at most once a minute
  after a batch; what is deleted counts in ``telemetry_dead_letters_pruned_total{reason}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from telemetry.config import DeadLettersConfig
from telemetry.errors import StoreError
from telemetry.health import Health
from telemetry.ingest.spool import Spool, SpooledBatch, SpoolFull
from telemetry.instants import now_ms
from telemetry.metrics import Metrics
from telemetry.ports import Store
from telemetry.records import DeadLetter, Point

log = logging.getLogger(__name__)
T = TypeVar("T")

_BACKOFF_START_S = 0.1
_BACKOFF_MAX_S = 10.0
_RETRY_AFTER_MAX_S = 60.0
_PRUNE_EVERY_MS = 60_000
_DAY_MS = 86_400_000


class WriterStopped(Exception):  # noqa: N818 - a state, not an error of the caller
    """The writer was stopped while a write could not be made durable; nothing was acknowledged."""


class Writer:
    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        health: Health,
        spool: Spool | None = None,
        *,
        dead_letters: DeadLettersConfig | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._store = store
        self._letters_cfg = dead_letters or DeadLettersConfig()
        self._clock = clock
        self._pruned_at: int | None = None
        self._metrics = metrics
        self._health = health
        self._spool = spool
        self._io = ThreadPoolExecutor(1, thread_name_prefix="spool") if spool is not None else None
        self._spooled = asyncio.Event()  # set while the spool holds batches
        self._store_failing = False
        self._spool_full = False
        self._stopped = asyncio.Event()

    def stop(self) -> None:
        """Give up waiting for the store or the spool (shutdown): see :class:`WriterStopped`."""
        self._stopped.set()

    async def _pause(self, seconds: float) -> None:
        """Back-off that ends early, raising :class:`WriterStopped`, when the writer is stopped."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), seconds)
        if self._stopped.is_set():
            raise WriterStopped("stopped while the store and the spool could not take the batch")

    async def open(self) -> None:
        """Open (and lock) the spool; prune the dead letters. A spool held by another process
        raises :class:`~telemetry.ingest.spool.SpoolLocked` (a configuration error)."""
        if self._spool is not None:
            await self._blocking(self._spool.open)
            self._update_spool_state()
            if not self._spool.empty:
                self._spooled.set()
        await self._prune_dead_letters(force=True)

    async def close(self) -> None:
        self.stop()
        if self._io is not None:
            if self._spool is not None:
                await self._blocking(self._spool.close)
            self._io.shutdown(wait=True)
            self._io = None

    @property
    def spooled_points(self) -> int:
        """Points waiting in the spool for the store (a snapshot)."""
        return 0 if self._spool is None else self._spool.points

    async def wait_replayed(self, timeout_s: float) -> bool:
        """Wait until the spool is empty (its batches are in the store); False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._spool is not None and not self._spool.empty:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(min(0.05, deadline - loop.time()))
        return True

    async def _blocking(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._io, fn)

    def _update_spool_state(self) -> None:
        """Metrics and health of the spool; a refusal stands until an append (or a write that
        did not need the spool) succeeds: the replay does not clear it."""
        if self._spool is None:
            return
        self._metrics.spooled.set(self._spool.points)
        self._metrics.spool_bytes.set(self._spool.bytes)
        if not self._spool_full:
            self._health.set("spool", "up", f"{self._spool.points} points waiting")

    def _spool_refused(self, reason: str) -> None:
        """Logged once per episode, not per retry; ``/readyz`` shows the reason meanwhile."""
        if not self._spool_full:
            log.error("spool cannot take more, input is held back at the broker: %s", reason)
        self._spool_full = True
        self._health.set("spool", "down", f"holding input back at the broker: {reason}")
        self._update_spool_state()

    def _spool_accepts(self) -> None:
        if self._spool_full:
            log.warning("spool accepts batches again")
        self._spool_full = False
        self._update_spool_state()

    # --- writing ---------------------------------------------------------------------------
    async def write(self, points: list[Point]) -> list[DeadLetter]:
        """Durable when it returns (in the store or the spool). Returns the dead letters of the
        points the store refused as invalid."""
        if not points:
            return []
        if self._spool is None:
            return await self._to_store(points, retry=True)
        spool = self._spool
        delay = _BACKOFF_START_S
        while True:
            if spool.empty:  # nothing to keep in order behind: try the store first
                try:
                    letters = await self._to_store(points, retry=False)
                except StoreError:  # retryable: to the spool
                    pass
                else:
                    if self._spool_full:  # not needed now; a full disk shows at its next use
                        self._spool_accepts()
                    return letters
            try:
                await self._blocking(lambda: spool.append(points))
            except SpoolFull as exc:  # back-pressure: the caller does not acknowledge meanwhile
                self._spool_refused(str(exc))
                await self._pause(delay)
                delay = min(delay * 2, 1.0)
                continue
            self._spool_accepts()
            self._spooled.set()
            return []

    async def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Durable when it returns; then, at most once a minute, the retention runs (the
        pipeline calls this after every batch, so the age limit holds while data flows)."""
        if letters:
            await self._retrying(self._store.write_dead_letters, letters)
            for reason, n in Tally(d.reason for d in letters).items():
                self._metrics.rejected.labels(reason).inc(n)
        await self._prune_dead_letters()

    async def _prune_dead_letters(self, *, force: bool = False) -> None:
        """Retention: delete what is older than ``retention_days``, then the oldest letters past
        ``max_bytes``; at most once a minute unless forced. A failure is logged, not raised:
        the next prune tries again."""
        now = self._clock()
        if not force and self._pruned_at is not None and now - self._pruned_at < _PRUNE_EVERY_MS:
            return
        self._pruned_at = now
        cfg = self._letters_cfg
        try:
            pruned = await self._store.prune_dead_letters(now - cfg.retention_days * _DAY_MS, cfg.max_bytes)
        except StoreError as exc:
            log.warning("could not prune the dead letters (retried in a minute): %s", exc)
            return
        for reason, n in (("age", pruned.by_age), ("size", pruned.by_size)):
            if n:
                self._metrics.dead_letters_pruned.labels(reason).inc(n)
        if pruned.by_size:
            log.warning("dead letters over %d bytes: deleted the %d oldest", cfg.max_bytes, pruned.by_size)

    async def _to_store(self, points: list[Point], *, retry: bool) -> list[DeadLetter]:
        """Write; isolate invalid points by halving. A retryable error is retried when
        ``retry``, else raised (the caller spools the whole batch; halves already written are
        written again later, which idempotent storage absorbs)."""
        try:
            if retry:
                await self._retrying(self._store.write, points)
            else:
                await self._once(self._store.write, points)
        except StoreError as exc:
            if exc.retryable:
                raise
            if len(points) == 1:
                p = points[0]
                return [
                    DeadLetter(now_ms(), "store", p.measurement, repr(p).encode(), "store_rejected", str(exc))
                ]
            mid = len(points) // 2
            return await self._to_store(points[:mid], retry=retry) + await self._to_store(
                points[mid:], retry=retry
            )
        for measurement, n in Tally(p.measurement for p in points).items():
            self._metrics.written.labels(measurement).inc(n)
        return []

    async def _once(self, call: Callable[[Sequence[T]], Awaitable[None]], items: Sequence[T]) -> None:
        try:
            await call(items)
        except StoreError as exc:
            self._failed(exc)
            raise
        self._recovered()

    async def _retrying(self, call: Callable[[Sequence[T]], Awaitable[None]], items: Sequence[T]) -> None:
        """Retry retryable store errors with capped, jittered back-off until they succeed."""
        delay = _BACKOFF_START_S
        while True:
            try:
                await self._once(call, items)
            except StoreError as exc:
                if not exc.retryable:
                    raise
                pause = delay * (0.5 + random.random())
                if exc.retry_after_s is not None:
                    pause = max(pause, min(exc.retry_after_s, _RETRY_AFTER_MAX_S))
                await self._pause(pause)
                delay = min(delay * 2, _BACKOFF_MAX_S)
                continue
            return

    def _failed(self, exc: StoreError) -> None:
        self._metrics.store_errors.labels(str(exc.retryable).lower()).inc()
        if exc.retryable:
            if not self._store_failing:
                log.warning(
                    "store %s failing (%s); spooling and retrying with back-off", self._store.name, exc
                )
                self._store_failing = True
            self._health.set("store", "down", str(exc))

    def _recovered(self) -> None:
        if self._store_failing:
            log.warning("store %s answers again", self._store.name)
            self._store_failing = False
        self._health.set("store", "up", self._store.name)

    # --- replay ----------------------------------------------------------------------------
    async def replay_forever(self) -> None:
        """Move spooled batches into the store, oldest first, until cancelled."""
        if self._spool is None:
            return
        spool = self._spool
        while True:
            await self._spooled.wait()
            batch: SpooledBatch | None = await self._blocking(spool.peek)
            if batch is None:
                self._spooled.clear()
                continue
            try:
                letters = await self._to_store(list(batch.points), retry=True)
                await self.write_dead_letters(letters)
            except WriterStopped:
                return  # shutdown: the batch stays in the spool for the next start
            await self._blocking(lambda b=batch: spool.consume(b))  # type: ignore[misc]
            self._metrics.replayed.inc(len(batch.points))
            self._update_spool_state()
            if spool.empty:
                log.info("spool replayed: the store is current")
