"""The ports: small lifecycle interfaces that collectors and stores implement."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import NamedTuple, Protocol, Self

from telemetry.queries import LatestValue, SeriesQuery, SeriesRow
from telemetry.records import DeadLetter, Decoded, Point


class Pruned(NamedTuple):
    """Dead letters deleted by retention: past the age limit, then the oldest past the size cap."""

    by_age: int
    by_size: int


class Store(Protocol):
    """Where points and dead letters end. An async context manager: open on enter, flush and
    close on exit. ``write`` is durable when it returns; it raises ``StoreError``."""

    name: str

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    async def write(self, points: Sequence[Point]) -> None: ...

    async def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None: ...

    async def query_series(self, query: SeriesQuery) -> list[SeriesRow]: ...

    async def latest(self, measurement: str) -> list[LatestValue]: ...

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]: ...

    async def prune_dead_letters(self, older_than_ms: int, max_bytes: int) -> Pruned:
        """Delete dead letters received before ``older_than_ms``, then the oldest until their raw
        payloads total at most ``max_bytes``."""
        ...

    async def ping(self) -> None:
        """Raise ``StoreError`` when the store cannot serve."""
        ...


@dataclass(frozen=True, slots=True)
class Envelope:
    """One input message on its way through the pipeline. ``ack`` is called once its records are
    durably written or dead-lettered (``None`` when the source needs no acknowledgement)."""

    source: str
    decoded: Decoded
    ack: Callable[[], None] | None = None


class Sink(Protocol):
    """What collectors hand envelopes to: the pipeline's thread-safe entrance."""

    @property
    def closed(self) -> bool:
        """True once the sink takes nothing more (shutting down)."""
        ...

    def submit_threadsafe(self, envelope: Envelope, timeout_s: float) -> bool:
        """Block (back-pressure) until there is room or ``timeout_s`` passes; False on timeout."""
        ...


class Collector(Protocol):
    """A source of envelopes. Started on enter (its threads begin), stopped and joined on exit."""

    name: str

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None: ...
