"""One broadcaster per tick interval for the live event stream (``GET /api/v1/events``): the views
are built and encoded once per tick for every client of that interval, not once per client.

A :class:`Channel` runs while it has subscribers: each tick it builds the views, renders each as
a server-sent event and offers the frames to every subscriber (a slow client skips to the newest
frames: each event is a whole view, nothing is lost by skipping). A subscriber that leaves is
removed when its ``async with`` ends; the channel's task ends with its last subscriber, or when
the :class:`Hub` is closed by the runtime's lifespan, which also ends every open stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)
Frames = dict[str, str]  # event name -> its whole ``event:``/``data:`` frame
Build = Callable[[int], Awaitable[dict[str, Any]]]  # tick number -> views (name -> JSON data)
Sleep = Callable[[float], Awaitable[None]]


def frame(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'), ensure_ascii=False)}\n\n"


class Subscription:
    """One client's slot: the newest frames, replaced when the client has not taken them yet."""

    def __init__(self, latest: Frames) -> None:
        self._slot: asyncio.Queue[Frames | None] = asyncio.Queue(maxsize=1)
        if latest:
            self._slot.put_nowait(dict(latest))

    def offer(self, frames: Frames | None) -> None:
        if self._slot.full():
            self._slot.get_nowait()
        self._slot.put_nowait(frames)

    async def next(self) -> Frames | None:
        """The newest frames (every view, as last built); None when the stream must end."""
        return await self._slot.get()


class Channel:
    def __init__(self, interval_s: float, build: Build, sleep: Sleep) -> None:
        self.interval_s = interval_s
        self._build = build
        self._sleep = sleep
        self.subscribers: set[Subscription] = set()
        self.latest: Frames = {}  # every view as last built (a view not built this tick keeps its last)
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        tick = 0
        try:
            while self.subscribers:
                views = await self._build(tick)
                self.latest.update({name: frame(name, data) for name, data in views.items()})
                for sub in self.subscribers:
                    sub.offer(self.latest)
                tick += 1
                await self._sleep(self.interval_s)
        except Exception:  # the streams end and their clients reconnect to a new channel
            log.exception("event stream views failed; ending the streams")
            raise
        finally:
            for sub in self.subscribers:
                sub.offer(None)


class Hub:
    """The channels by tick interval. ``build`` is given per subscription and used by a channel
    it starts (every subscriber of one interval builds the same views)."""

    def __init__(self, sleep: Sleep = asyncio.sleep) -> None:
        self._sleep = sleep
        self._channels: dict[float, Channel] = {}
        self._closed = False

    @property
    def channels(self) -> int:
        """How many channels run (one per interval with subscribers)."""
        return sum(1 for c in self._channels.values() if c.task is not None and not c.task.done())

    @property
    def clients(self) -> int:
        """How many streams are subscribed."""
        return sum(len(c.subscribers) for c in self._channels.values())

    @contextlib.asynccontextmanager
    async def subscribe(self, interval_s: float, build: Build) -> AsyncIterator[Subscription]:
        channel = self._channels.get(interval_s)
        if channel is None or channel.task is None or channel.task.done():
            channel = self._channels[interval_s] = Channel(interval_s, build, self._sleep)
        sub = Subscription(channel.latest)
        channel.subscribers.add(sub)
        if self._closed:
            sub.offer(None)
        elif channel.task is None or channel.task.done():
            channel.task = asyncio.create_task(channel.run(), name=f"events-{interval_s:g}s")
            channel.task.add_done_callback(lambda t: self._forget(interval_s, channel, t))
        try:
            yield sub
        finally:
            channel.subscribers.discard(sub)  # the channel stops after its last subscriber

    def _forget(self, interval_s: float, channel: Channel, task: asyncio.Task[None]) -> None:
        if self._channels.get(interval_s) is channel:
            del self._channels[interval_s]
        if not task.cancelled():
            task.exception()  # logged in Channel.run

    async def close(self) -> None:
        """End every stream and stop the channels."""
        self._closed = True
        tasks = [c.task for c in self._channels.values() if c.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
