"""Missions kept in the store (docs/missions.md): every change is written through the pipeline
as a ``mission`` point, and answered only once durable; at start-up the planner is restored
from the store, and a running mission is followed again until it is done."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from drones import mission_store
from drones.fleet import Fleet
from drones.mission_service import Mission, MissionPlanner
from telemetry.derivation import Submit
from telemetry.durable import DURABLE_TIMEOUT_S, write_durably
from telemetry.instants import now_ms
from telemetry.ports import Store

log = logging.getLogger("drones.missions")
FOLLOW_EVERY_S = 0.5
_STAMPS = mission_store.Stamps()


_PLANNING = threading.Lock()  # one plan at a time: the planner's state is not shared across threads


def plan_locked(
    planner: MissionPlanner, doc: dict[str, Any], spots: list[tuple[float, float]] | None
) -> Mission:
    """Plan one mission (call it in a thread: the DEM, the checks and the fence are numpy and
    pyproj work)."""
    with _PLANNING:
        return planner.plan(doc, spots)


async def restore(planner: MissionPlanner, store: Store) -> list[Mission]:
    missions = mission_store.restore(await store.latest(mission_store.MEASUREMENT))
    planner.restore(missions)
    if missions:
        log.info("%d missions restored from the store", len(missions))
    return missions


async def save(submit: Submit | None, m: Mission) -> None:
    """Write the mission's current form and wait until it is durable (a kill -9 right after the
    answer loses nothing)."""
    if submit is None:
        return
    if not await write_durably(submit, "missions", (_STAMPS.record(m, now_ms()),)):
        log.warning("mission %s: not durable after %.0f s (the spool keeps it)", m.id, DURABLE_TIMEOUT_S)


async def follow_forever(
    planner: MissionPlanner,
    fleet: Fleet,
    submit: Submit,
    changed: Callable[[Mission], Awaitable[None]] | None = None,
    tick: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Give a running mission's progress back to its drone once heard, and store the state its
    progress reaches (running → done); ``changed`` is told of each such mission after it is
    stored, and ``tick`` called at every round."""
    while True:
        for m in mission_store.follow(planner.missions, fleet):
            log.info("mission %s on drone %s: %s", m.id, m.drone, m.state)
            await save(submit, m)
            if changed is not None:
                await changed(m)
        if tick is not None:
            await tick()
        await asyncio.sleep(FOLLOW_EVERY_S)
