"""Sensor-fleet scenarios: deterministic, and the rainstorm really crosses the flood grades."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from simulators.scenarios import parse, storm_depth_cm
from simulators.sensors import SensorFleet
from telemetry.alerts.book import AlertBook
from telemetry.flood.engine import FloodEngine
from telemetry.flood.rules import FloodRules
from telemetry.records import GaugeReading

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def ticks(scenario: str, n: int, seed: int = 5) -> list[list[tuple[str, dict[str, object]]]]:
    fleet = SensorFleet("mqtt://127.0.0.1:1", scenario=scenario, seed=seed)
    return [fleet.tick(T0 + timedelta(seconds=k)) for k in range(n)]


def test_same_seed_same_messages() -> None:
    assert ticks("rainstorm,sweepers,toilet-rush", 20) == ticks("rainstorm,sweepers,toilet-rush", 20)
    assert ticks("normal", 5, seed=1) != ticks("normal", 5, seed=2)


def test_unknown_scenario_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        parse("apocalypse")


def test_the_rainstorm_goes_yellow_red_and_back_to_green() -> None:
    engine = FloodEngine(FloodRules(), AlertBook())
    levels: list[str] = []
    for k in range(0, 120):  # two event hours, a reading a minute
        t = int(T0.timestamp() * 1000) + k * 60_000
        for change in engine.observe([GaugeReading("G01", "haishu", t, storm_depth_cm(0, k))], t):
            levels.append(change.level)
    # a fast drain is 3 cm under 30 cm for 10 minutes only once it is under 15 cm: red to green
    assert levels == ["yellow", "red", "green"]


def test_storm_messages_never_come_from_the_future() -> None:
    for tick_messages in ticks("rainstorm", 120):
        for topic, payload in tick_messages:
            if "/gauge/" in topic:
                assert datetime.fromisoformat(str(payload["ts"])) <= T0 + timedelta(seconds=120)


def test_sweepers_roles() -> None:
    vehicles = {t.split("/")[3]: p for tick in ticks("sweepers", 15) for t, p in tick if "/vehicle/" in t}
    assert vehicles["SW001"]["speed_kmh"] == 6.0
    assert vehicles["SW002"]["speed_kmh"] == 14.0
    assert vehicles["SW004"]["crs"] == "GCJ02"
