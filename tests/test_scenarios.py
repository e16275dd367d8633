"""Sensor-fleet scenarios: deterministic, and the rainstorm really crosses the flood grades: in its
opening storm and again in a storm cell every few minutes, on event clocks that never run ahead
of the wall clock nor backwards."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from simulators.scenarios import STORM_EVERY_S, StormClock, cell_depth_cm, parse, storm_depth_cm
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


def test_a_storm_cell_goes_yellow_red_and_back_to_green() -> None:
    engine = FloodEngine(FloodRules(), AlertBook())
    levels: list[str] = []
    for k in range(0, 23):  # the cell's 22 event minutes, a reading a minute (it stays wet)
        t = int(T0.timestamp() * 1000) + k * 60_000
        for change in engine.observe([GaugeReading("G01", "haishu", t, cell_depth_cm(k))], t):
            levels.append(change.level)
    assert levels == ["yellow", "red", "green"]


def replay(fleet: SensorFleet, wall_s: int) -> dict[str, list[tuple[int, int, float]]]:
    """Each gauge's readings over ``wall_s`` seconds of ticks: (wall ms, event ms, depth)."""
    out: dict[str, list[tuple[int, int, float]]] = {}
    for k in range(wall_s):
        now = T0 + timedelta(seconds=k)
        for topic, payload in fleet.tick(now):
            if "/gauge/" in topic:
                ts = int(datetime.fromisoformat(str(payload["ts"])).timestamp() * 1000)
                wall = int(now.timestamp() * 1000)
                out.setdefault(topic.split("/")[3], []).append((wall, ts, float(payload["depth_cm"])))
    return out


def changes(readings: dict[str, list[tuple[int, int, float]]]) -> list[tuple[float, str, str]]:
    """(wall seconds since T0, gauge, level) of every grade change, as the service would grade."""
    engine = FloodEngine(FloodRules(), AlertBook())
    out = []
    merged = sorted((w, g, t, d) for g, rs in readings.items() for w, t, d in rs)
    for w, g, t, d in merged:
        for change in engine.observe([GaugeReading(g, "haishu", t, d)], w):
            out.append(((w - T0.timestamp() * 1000) / 1000, g, change.level))
    return out


def test_the_storm_comes_back_every_few_minutes_for_a_newcomer() -> None:
    """Two hours of the demo's rainstorm: the opening storm in the first minute, then a cell
    every STORM_EVERY_S over the next gauge; each gauge's readings stay in order, never in the
    future, and never further apart than the 15-minute offline time."""
    hours = 2
    readings = replay(SensorFleet("mqtt://127.0.0.1:1", scenario="rainstorm", seed=3), hours * 3600)
    for gauge, rs in readings.items():
        assert all(t <= w for w, t, _ in rs), f"{gauge} reported the future"
        assert all(a[1] < b[1] for a, b in itertools.pairwise(rs)), f"{gauge} went backwards"
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(rs)]
        assert max(gaps) < 900_000, f"{gauge} silent for {max(gaps) / 1000} s: offline"
    seen = changes(readings)
    opening = [(g, lv) for w, g, lv in seen if w < 60]
    for gauge in ("G01", "G02", "G03", "G04", "G05"):
        assert [lv for g, lv in opening if g == gauge] == ["yellow", "red", "green"]
    reds = [w for w, _, lv in seen if lv == "red"]
    # a newcomer waits at most one interval (and a little) for the next gauge to turn red
    starts = [0.0, *reds, hours * 3600.0]
    assert max(b - a for a, b in itertools.pairwise(starts)) < STORM_EVERY_S + 60
    cells = [(w, g) for w, g, lv in seen if lv == "red" and w >= 60]
    assert [g for _, g in cells[:6]] == ["G01", "G02", "G03", "G04", "G05", "G01"]  # in turn
    greens = {g: [w for w, gg, lv in seen if gg == g and lv == "green" and w >= 60] for g in ("G01", "G05")}
    assert all(greens.values()), "every cell drains back to green"


def test_a_cell_on_demand_waits_until_the_clock_can_pay_for_it() -> None:
    clock = StormClock(0)
    for w in range(0, 120):  # the opening storm is over by wall second 42
        clock.step(w)
    assert clock.cells == 0
    clock.start_cell_now()
    _, depth = clock.step(120)
    assert (clock.storm, clock.cells, depth) == ("cell", 1, 0.0)  # at once: the lead pays for it
    for w in range(121, 200):
        event_s, _ = clock.step(w)
        assert event_s <= w
    assert clock.storm is None
    clock.start_cell_now()  # right after a cell: the clock must first fall behind again
    waited = next(w for w in range(200, 4000) if clock.step(w)[1] is not None)
    assert clock.cells == 2
    assert waited - 200 > 30 * 60  # 22 event minutes at 60x, regained at 0.6 s a second


def test_the_fleet_starts_a_cell_on_request() -> None:
    fleet = SensorFleet("mqtt://127.0.0.1:1", scenario="rainstorm")
    for k in range(120):
        fleet.tick(T0 + timedelta(seconds=k))
    assert fleet.storm_now("G03") == "G03"
    fleet.tick(T0 + timedelta(seconds=120))
    assert [c.cells for c in fleet.storms] == [0, 0, 1, 0, 0]
    assert SensorFleet("mqtt://127.0.0.1:1", scenario="sweepers").storm_now() is None
    with pytest.raises(ValueError, match="not one of the storm's gauges"):
        fleet.storm_now("G99")


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
