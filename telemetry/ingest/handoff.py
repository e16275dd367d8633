"""Decoded records from an ingest worker to its parent's derivations (``serve --workers N``,
issue 22, docs/decisions.md 101): one decode per message, one broker delivery per message.

Each worker sends every batch's records over a socket pair its parent made when it spawned it
(frames: body length and batch number, then the records as compact tuples, pickled: both ends are
this program's own processes, nothing else can write to the pair). The parent feeds them to its
derivation pipeline and answers with the batch number once they are observed. The worker
acknowledges its MQTT messages only after both its store write and that answer (as a single
process acknowledges after the write, with the derivations having seen the batch, decision 36):
a parent that dies with a batch unobserved leaves the messages unacknowledged, and the broker
delivers them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import pickle
import socket
import struct
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from operator import attrgetter
from typing import Any, get_args

from telemetry.ports import Envelope
from telemetry.records import Decoded, Record

log = logging.getLogger(__name__)

Messages = Sequence[tuple[Record, ...]]
_HEADER = struct.Struct(">IQ")  # body bytes, batch number
_ANSWER = struct.Struct(">Q")  # the batch number, observed
_CLASSES: tuple[type[Any], ...] = tuple(sorted(get_args(Record), key=lambda c: c.__name__))
_INDEX = {c: i for i, c in enumerate(_CLASSES)}
_NAMES = [tuple(f.name for f in dataclasses.fields(c)) for c in _CLASSES]
assert all(len(n) >= 2 for n in _NAMES)  # attrgetter of two or more names returns a tuple
_VALUES = [attrgetter(*names) for names in _NAMES]


class HandOffClosedError(ConnectionError):
    """The other end of the hand-off is gone (the parent stopped or died)."""


def encode(messages: Messages) -> bytes:
    """The records of a batch, message by message, as (class number, field values) pairs."""
    index, values = _INDEX, _VALUES
    rows = [[(i := index.get(type(r)) or _number(r), values[i](r)) for r in m] for m in messages]
    return pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)


def _number(record: Record) -> int:
    """The class number of a subclass of a record class (e.g. replay's ``DronePoint``): it
    crosses as the record class it is (its fields read the same)."""
    for cls in type(record).__mro__:
        if cls in _INDEX:
            _INDEX[type(record)] = _INDEX[cls]
            return _INDEX[cls]
    raise TypeError(f"{type(record).__name__} is no record class")


def decode(body: bytes) -> list[tuple[Record, ...]]:
    classes = _CLASSES
    return [tuple(classes[i](*v) for i, v in m) for m in pickle.loads(body)]  # noqa: S301 - our own child


class HandOffSender:
    """The worker's end: :meth:`send` returns once the parent has observed the batch."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._waiting: dict[int, asyncio.Future[None]] = {}
        self._sent = 0
        self._closed: HandOffClosedError | None = None

    async def __aenter__(self) -> HandOffSender:
        reader, self._writer = await asyncio.open_connection(sock=self._sock)
        self._reader_task = asyncio.create_task(self._answers(reader), name="handoff-answers")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task
        self._fail(HandOffClosedError("the hand-off is closed"))
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()

    async def send(self, messages: Messages) -> None:
        """Send a batch and wait until the parent has observed it; raises :class:`HandOffClosedError`
        when the parent is gone (the batch then stays unacknowledged at the broker)."""
        if not messages:
            return
        if self._closed is not None:
            raise self._closed
        if self._writer is None:
            raise HandOffClosedError("the hand-off is not open")
        body = encode(messages)
        self._sent += 1
        number = self._sent
        answered = asyncio.get_running_loop().create_future()
        self._waiting[number] = answered
        self._writer.write(_HEADER.pack(len(body), number) + body)
        try:
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            self._fail(HandOffClosedError(f"the parent closed the hand-off: {exc}"))
        await answered

    async def _answers(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                (number,) = _ANSWER.unpack(await reader.readexactly(_ANSWER.size))
                answered = self._waiting.pop(number, None)
                if answered is not None and not answered.done():
                    answered.set_result(None)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            self._fail(HandOffClosedError("the parent closed the hand-off"))

    def _fail(self, exc: HandOffClosedError) -> None:
        self._closed = self._closed or exc
        waiting, self._waiting = self._waiting, {}
        for answered in waiting.values():
            if not answered.done():
                answered.set_exception(exc)


Submit = Callable[[Envelope], Awaitable[None]]


class HandOffReceiver:
    """The parent's end for every worker: each link's batches go to ``submit`` (the derivation
    pipeline) message by message; the last message of a batch carries the answer, which the
    pipeline gives once everything before it was observed (it keeps the order)."""

    def __init__(self, submit: Submit, on_records: Callable[[int], None] | None = None) -> None:
        self._submit = submit
        self._on_records = on_records
        self._links: dict[int, asyncio.Task[None]] = {}

    def attach(self, index: int, sock: socket.socket) -> None:
        """Serve worker ``index``'s new link (a restarted worker's replaces the old one's)."""
        old = self._links.pop(index, None)
        if old is not None:
            old.cancel()
        self._links[index] = asyncio.create_task(self._serve(index, sock), name=f"handoff-w{index}")

    async def close(self) -> None:
        links, self._links = list(self._links.values()), {}
        for task in links:
            task.cancel()
        await asyncio.gather(*links, return_exceptions=True)

    async def _serve(self, index: int, sock: socket.socket) -> None:
        reader, writer = await asyncio.open_connection(sock=sock)
        source = f"worker-{index}"
        try:
            while True:
                length, number = _HEADER.unpack(await reader.readexactly(_HEADER.size))
                messages = decode(await reader.readexactly(length))
                if self._on_records is not None:
                    self._on_records(sum(len(m) for m in messages))
                for m in messages[:-1]:
                    await self._submit(Envelope(source, Decoded(m)))
                answer = partial(_answer, writer, _ANSWER.pack(number))
                await self._submit(Envelope(source, Decoded(messages[-1]), ack=answer))
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            log.info("worker %d closed its hand-off", index)  # what it did not see answered is redelivered
        except RuntimeError:  # the derivation pipeline is closed: we are stopping
            pass
        except Exception:  # a bug: drop the link; the worker stops and is restarted, nothing is acked
            log.exception("hand-off from worker %d failed", index)
        finally:
            writer.close()


def _answer(writer: asyncio.StreamWriter, answer: bytes) -> None:
    if not writer.is_closing():
        writer.write(answer)
