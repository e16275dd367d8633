"""What every derivation (flood, toilets, sanitation, ...) is to the service, and the one loop
that drives them all.

A derivation restores its state from the store at start-up, observes each batch of durable
input (on the event loop, before the batch's write: decision 36), is ticked by a timer when it
has time-based rules (a gauge gone silent, a cleaning due), and returns what it derived: records
to store and notices to announce. The :class:`DerivationRunner` owns the rest: the clock, the
queue between observing and announcing, the tick timer, submitting records to the pipeline,
and handing notices to an :class:`Announcer` (MQTT and webhooks, :mod:`telemetry.alerts`).
So a derivation is pure state and rules; how its output leaves the service is written once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from telemetry.instants import now_ms
from telemetry.ports import Envelope, Store
from telemetry.records import Decoded, Record

log = logging.getLogger(__name__)

Submit = Callable[[Envelope], Awaitable[None]]
"""The pipeline's entrance for derived records (``Pipeline.submit``)."""


@dataclass(frozen=True, slots=True)
class Notice:
    """An alert change to announce: published retained (QoS 1) on ``{root}/{topic}``, and posted
    to the webhooks configured for (``kind``, ``level``); ``kind`` None: MQTT only."""

    topic: str  # below the MQTT root, e.g. "alert/flood/HS-G01"
    kind: str | None
    level: str
    payload: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class Derived:
    """What one observation or tick produced."""

    records: tuple[Record, ...] = ()
    notices: tuple[Notice, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.records or self.notices)


NOTHING = Derived()


class Derivation(Protocol):
    """One derivation. Called from the event loop only; ``observe`` and ``tick`` must not block."""

    name: str  # the envelope source of its records ("flood", "toilets", ...)
    tick_interval_s: float | None  # None: no time-based rules

    async def restore(self, store: Store, now_ms: int) -> None:
        """Rebuild the state from the store at start-up, announcing nothing."""
        ...

    def observe(self, messages: Sequence[tuple[Record, ...]], now_ms: int) -> Derived:
        """One batch of input messages (each message's records together)."""
        ...

    def tick(self, now_ms: int) -> Derived:
        """The time-based rules, every ``tick_interval_s``."""
        ...


class Announcer(Protocol):
    def publish(self, notice: Notice) -> None:
        """Send the notice on MQTT now (never blocks; a lost connection is the client's)."""
        ...

    async def post(self, notice: Notice) -> None:
        """Deliver the notice to its webhooks, with retries; never raises."""
        ...


class DerivationRunner:
    """Drives one derivation: observes batches, ticks it, stores and announces what it derives."""

    def __init__(self, derivation: Derivation, announcer: Announcer) -> None:
        self.derivation = derivation
        self._announcer = announcer
        self._out: asyncio.Queue[Derived] = asyncio.Queue()
        self._failure: Exception | None = None  # observe's, for run() to raise

    @property
    def name(self) -> str:
        return self.derivation.name

    def observe(self, messages: list[tuple[Record, ...]]) -> None:
        """The pipeline's observer (event loop): a message settles as a whole, so a backlog array
        raises at most one alert per device. A failure is not the pipeline's: the batch is
        stored all the same, and :meth:`run` raises it, so that its supervisor counts it and
        restarts the runner (telemetry/supervise.py); the derivation keeps its state and has
        missed that batch."""
        try:
            derived = self.derivation.observe(messages, now_ms())
        except Exception as exc:  # noqa: BLE001 - handed to run(), which raises it
            if self._failure is None:
                self._failure = exc
                self._out.put_nowait(NOTHING)  # wakes run()
            return
        if derived:
            self._out.put_nowait(derived)

    async def run(self, submit: Submit) -> None:
        """Until cancelled: tick, store derived records, announce notices. Alerts still in the
        queue at a stop are derived again from the store at the next start. Raises what failed
        (an observation, a tick, an announcement); run it again to go on."""
        async with asyncio.TaskGroup() as tasks:
            if self.derivation.tick_interval_s is not None:
                tasks.create_task(self._tick(self.derivation.tick_interval_s))
            while True:
                derived = await self._out.get()
                if derived.records:
                    await submit(Envelope(self.name, Decoded(records=derived.records)))
                for notice in derived.notices:
                    self._announcer.publish(notice)
                    if notice.kind is not None:
                        tasks.create_task(self._announcer.post(notice))
                if self._failure is not None:
                    failure, self._failure = self._failure, None
                    raise failure

    async def _tick(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            derived = self.derivation.tick(now_ms())
            if derived:
                self._out.put_nowait(derived)
