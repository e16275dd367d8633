"""Judges for the compliance worker processes that tests can observe from outside the service:
module-level (the spawned workers import them by name), each wrapping the real judge."""

from __future__ import annotations

import time
from pathlib import Path

from telemetry.sanitation.corridors import Route
from telemetry.sanitation.depots import Depot
from telemetry.sanitation.rules import Compliance, Fixes, Rules, Stop, judge

GATE_TIMEOUT_S = 20.0  # a deadlock breaker: a gate nobody opens gives up and says so


def counted(
    log: str, vehicle: str, fixes: Fixes, route: Route, stops: list[Stop], rules: Rules,
    depots: tuple[Depot, ...],
) -> Compliance:  # fmt: skip
    """The judge, appending one line per vehicle-day judged to ``log``."""
    with open(log, "a", encoding="utf-8") as f:
        f.write(f"{vehicle} {route.id} {len(fixes.t_ms)}\n")
    return judge(vehicle, fixes, route, stops, rules, depots)


def gated(
    folder: str, vehicle: str, fixes: Fixes, route: Route, stops: list[Stop], rules: Rules,
    depots: tuple[Depot, ...],
) -> Compliance:  # fmt: skip
    """The judge, held until the file ``release`` exists in ``folder``: it touches ``started``
    first, and ``timed-out`` when nobody released it within the gate's timeout."""
    gate = Path(folder)
    (gate / "started").touch()
    deadline = time.monotonic() + GATE_TIMEOUT_S
    while not (gate / "release").exists():
        if time.monotonic() > deadline:
            (gate / "timed-out").touch()
            break
        time.sleep(0.01)
    return judge(vehicle, fixes, route, stops, rules, depots)
