"""The live event stream's broadcaster (issue 18, item 6): the views are built once per tick for
every client of an interval, every client gets the same events, clients that leave are removed,
and the hub's close ends the streams. Ticks are stepped by the test (an injected sleep)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import api.routes_events
from api.broadcast import Hub
from api.runtime import Runtime
from tests.apps import app_client
from tests.mqtt_util import wait_until
from tests.servers import Mosquitto


class Steps:
    """A sleep that returns when the test says so."""

    def __init__(self) -> None:
        self.sleepers: asyncio.Queue[asyncio.Future[None]] = asyncio.Queue()

    async def sleep(self, _seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        self.sleepers.put_nowait(future)
        await future

    async def tick(self) -> None:
        (await self.sleepers.get()).set_result(None)


def frame_of(name: str, data: object) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


def test_views_are_built_once_per_tick_for_every_client() -> None:
    async def main() -> None:
        steps = Steps()
        hub = Hub(sleep=steps.sleep)
        built: list[int] = []

        async def build(tick: int) -> dict[str, Any]:
            built.append(tick)
            return {"count": tick // 2, "tick": tick}

        async with (
            hub.subscribe(1.0, build) as a,
            hub.subscribe(1.0, build) as b,
            hub.subscribe(1.0, build) as c,
        ):
            assert hub.clients == 3
            for tick in range(4):
                if tick:
                    await steps.tick()
                got = [await s.next() for s in (a, b, c)]
                assert got[0] == got[1] == got[2] == {
                    "count": frame_of("count", tick // 2), "tick": frame_of("tick", tick),
                }  # fmt: skip
            assert hub.channels == 1
        assert hub.clients == 0  # the clients that left are removed
        assert built == [0, 1, 2, 3]  # each tick built once for the three clients
        await steps.tick()  # the channel wakes, finds nobody and stops
        await asyncio.sleep(0)
        assert hub.channels == 0
        await hub.close()

    asyncio.run(main())


def test_a_client_that_leaves_is_removed_and_close_ends_the_streams() -> None:
    async def main() -> None:
        steps = Steps()
        hub = Hub(sleep=steps.sleep)
        built: Counter[tuple[str, int]] = Counter()

        def builder(name: str) -> Any:
            async def build(tick: int) -> dict[str, Any]:
                built[name, tick] += 1
                return {"tick": tick}

            return build

        async with hub.subscribe(1.0, builder("1s")) as staying:
            async with hub.subscribe(1.0, builder("1s")) as leaving:
                assert await staying.next() == await leaving.next()
            assert hub.clients == 1
            await steps.tick()
            assert await staying.next() == {"tick": frame_of("tick", 1)}
            async with hub.subscribe(5.0, builder("5s")) as other:  # another interval, its own channel
                assert await other.next() == {"tick": frame_of("tick", 0)}
                assert hub.channels == 2
                await hub.close()
                assert await other.next() is None  # the streams end
            assert await staying.next() is None
        assert built == Counter({("1s", 0): 1, ("1s", 1): 1, ("5s", 0): 1})
        assert hub.channels == 0
        assert hub.clients == 0

    asyncio.run(main())


def runtime(c: TestClient) -> Runtime:
    rt: Runtime = c.app.state.runtime  # type: ignore[attr-defined]
    return rt


def read_stream(c: TestClient, into: list[str]) -> None:
    with c.stream("GET", "/api/v1/events?interval_s=0.2&max_s=2", headers={"Authorization": "Bearer v"}) as r:
        assert r.status_code == 200
        into.extend(line for line in r.iter_lines() if line.startswith(("event: ", "data: ")))


@pytest.mark.integration
def test_clients_of_the_service_share_the_views_of_each_tick(
    mosquitto: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: Counter[int] = Counter()
    real = api.routes_events.build_views

    async def counted(rt: Runtime, tick: int) -> dict[str, Any]:
        built[tick] += 1
        return await real(rt, tick)

    monkeypatch.setattr(api.routes_events, "build_views", counted)
    with app_client(mosquitto, tmp_path, {"v": "viewer"}, "event-stream") as c:
        streams: list[list[str]] = [[], [], []]
        clients = [threading.Thread(target=read_stream, args=(c, s)) for s in streams]
        for t in clients:
            t.start()
        for t in clients:
            t.join(30)
        assert built
        assert set(built.values()) == {1}  # every tick's views built once for all three clients
        assert streams[0] == streams[1] == streams[2]  # nothing changed: the same four views each
        assert [line for line in streams[0] if line.startswith("event: ")] == [
            "event: alerts", "event: gauges", "event: drones", "event: vehicles",
        ]  # fmt: skip
        hub = runtime(c).events
        assert hub is not None
        wait_until(lambda: hub.channels == 0, 10, "the channel to stop after its last client")
