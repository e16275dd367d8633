"""The flood engine and service (DOMAIN.md, flood): alerts per episode, offline gauges that keep
their grade, stuck sensors judged by their neighbours, and restore after a restart from the real
embedded store. The pure grading rules are in test_flood_rules.py, the MQTT path in
test_flood.py."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable

import pytest

from telemetry.alerts.book import AlertBook
from telemetry.assets import load_registry, sample_assets_dir
from telemetry.flood.engine import FloodChange, FloodEngine, StuckRules
from telemetry.flood.faults import Excursions, Run, distance_m, neighbours_within
from telemetry.flood.rules import FloodRules
from telemetry.records import GaugeReading

T0 = 1_795_564_800_000
MIN = 60_000
HOUR = 60 * MIN
REGISTRY = load_registry(sample_assets_dir())
POSITIONS = {
    d.id: (d.lon, d.lat) for d in REGISTRY.of_kind("gauge") if d.lon is not None and d.lat is not None
}


def reading(gauge: str, t: int, depth: float) -> GaugeReading:
    return GaugeReading(gauge, "haishu", t, depth)


def engine() -> FloodEngine:
    return FloodEngine(FloodRules(), AlertBook(), offline_after_s=900, positions=POSITIONS)


def feed(
    e: FloodEngine, gauge: str, depths: Iterable[float], start: int = T0, step: int = MIN
) -> list[FloodChange]:
    changes = []
    for k, d in enumerate(depths):
        t = start + k * step
        changes += e.observe([reading(gauge, t, d)], t)
    return changes


# --- alerts per episode ------------------------------------------------------------------------


def test_one_alert_per_episode_escalated_then_cleared() -> None:
    e = engine()
    changes = feed(e, "G01", [0, 8, 16, 29, 31])
    assert [(c.previous, c.level) for c in changes] == [("green", "yellow"), ("yellow", "red")]
    assert changes[0].alert is not None
    assert changes[1].alert is not None
    assert changes[0].alert.id == changes[1].alert.id  # escalation keeps the alert
    assert [n.kind for n in changes[1].notices()] == ["flood"]
    (active,) = e.book.list("active")
    assert active.level == "red"
    later = [reading("G01", T0 + (5 + k) * MIN, 2.0) for k in range(30)]
    (clear,) = e.observe(later, T0 + 40 * MIN)  # one message: one change
    assert (clear.previous, clear.level) == ("red", "green")
    assert clear.now.since_ms == T0 + 15 * MIN  # 2 cm from minute 5: the dwell ends at minute 15
    assert e.book.list("active") == []
    assert clear.alert is not None
    assert clear.alert.state == "cleared"


def test_a_backlog_settles_once_with_since_at_the_transition() -> None:
    e = engine()
    backlog = [reading("G01", T0 + k * MIN, d) for k, d in enumerate([0, 8, 16, 29, 31])]
    random.Random(3).shuffle(backlog)
    (change,) = e.observe(backlog, T0 + 30 * MIN)
    assert (change.previous, change.level) == ("green", "red")
    red_at = T0 + 2 * MIN  # the 16 cm reading, not the last one (31 cm at minute 4)
    assert change.now.since_ms == red_at
    assert change.message()["since"] == red_at
    assert change.record.time_ms == red_at
    assert change.record.since_ms == red_at
    assert change.alert is not None
    assert change.alert.raised_at_ms == red_at
    assert e.view()["G01"].since_ms == red_at


def test_two_workers_halves_of_a_stream_settle_as_the_stream_does() -> None:
    # serve --workers 2: every other message goes to the other worker; the parent gets each
    # worker's batch in turn, so half of every batch is older than what it has seen
    depths = [0, 2, 5, 9, 14, 18, 22, 26, 31, 33, 30, 26, 20, 15, 10, 6, 3, 1] + [1] * 30
    stream = [[reading("G01", T0 + k * MIN, float(d))] for k, d in enumerate(depths)]
    ordered = engine()
    levels = [c.level for m in stream for c in ordered.observe(m, T0 + 60 * MIN)]
    split = engine()
    got = []
    for start in range(0, len(stream), 6):
        chunk = stream[start : start + 6]
        for batch in (chunk[1::2], chunk[0::2]):  # worker 1's batch first, then worker 0's
            got += [c.level for c in split.observe_batch(batch, T0 + 60 * MIN)]
    assert split.view()["G01"] == ordered.view()["G01"]
    assert got[-1] == levels[-1] == "green"
    assert "red" in got


def test_per_gauge_thresholds() -> None:
    e = FloodEngine(FloodRules(), AlertBook(), thresholds={"G02": (10.0, 20.0)})
    (c,) = e.observe([reading("G02", T0, 12.0)], T0)
    assert c.level == "yellow"


# --- offline: keeps the grade, its own alert ---------------------------------------------------


def test_offline_keeps_the_last_grade_and_raises_its_own_alert() -> None:
    e = engine()
    feed(e, "G01", [0, 8, 16])  # red at minute 2, received then
    flood = e.book.active("flood", "G01")
    assert flood is not None
    assert e.check_offline(T0 + 16 * MIN) == []  # 14 minutes since the last reading
    (off,) = e.check_offline(T0 + 17 * MIN)
    assert (off.previous, off.level, off.now.offline) == ("red", "red", True)
    msg = off.message()
    assert msg["level"] == "red"
    assert msg["offline"] is True
    assert msg["alert_id"] == flood.id
    assert msg["since"] == T0 + 2 * MIN
    topics = {n.topic: n for n in off.notices()}
    assert set(topics) == {"alert/flood/G01", "alert/gauge_offline/G01"}
    assert topics["alert/flood/G01"].kind is None  # the flood alert did not change
    offline_notice = topics["alert/gauge_offline/G01"]
    assert (offline_notice.kind, offline_notice.level) == ("gauge_offline", "offline")
    assert e.book.active("flood", "G01") == flood  # a storm does not hide the last known flood
    offline_alert = e.book.active("gauge_offline", "G01")
    assert offline_alert is not None
    assert off.record.offline is True
    assert off.record.offline_alert_id == offline_alert.id
    assert off.record.time_ms == T0 + 17 * MIN
    assert e.view()["G01"].offline is True
    assert e.check_offline(T0 + 18 * MIN) == []  # once
    (back,) = e.observe([reading("G01", T0 + 19 * MIN, 17.0)], T0 + 19 * MIN)
    assert (back.level, back.now.offline) == ("red", False)
    assert "offline" not in back.message()
    cleared = {n.topic: n for n in back.notices()}["alert/gauge_offline/G01"]
    assert (cleared.level, cleared.payload["alert_id"]) == ("green", offline_alert.id)
    assert e.book.active("gauge_offline", "G01") is None
    assert e.book.active("flood", "G01") == flood
    assert e.view()["G01"].offline is False


def test_a_gauge_never_heard_goes_offline_green() -> None:
    e = engine()
    e.expect(["G05"], T0)
    assert e.check_offline(T0 + 14 * MIN) == []
    (off,) = e.check_offline(T0 + 15 * MIN)
    assert (off.level, off.now.offline, off.message()["since"]) == ("green", True, None)
    assert e.book.active("flood", "G05") is None
    (back,) = e.observe([reading("G05", T0 + 16 * MIN, 1.0)], T0 + 16 * MIN)
    assert (back.level, back.now.offline) == ("green", False)


def test_stored_points_of_a_gauge_follow_each_other_in_time() -> None:
    """Offline at wall time W, then a backlog from before W that changes the level: the new point
    is later than the offline one (restore takes the newest), while its since stays in the past."""
    e = engine()
    feed(e, "G02", [1, 1])
    (off,) = e.check_offline(T0 + 20 * MIN)
    backlog = [reading("G02", T0 + k * MIN, d) for k, d in ((2, 12), (3, 13))]
    (back,) = e.observe(backlog, T0 + 25 * MIN)
    assert back.level == "yellow"
    assert back.now.since_ms == T0 + 2 * MIN  # 12 cm rising 11: yellow
    assert back.record.time_ms > off.record.time_ms


# --- stuck sensors: judged by their neighbours -------------------------------------------------


def seven_hours(
    e: FloodEngine,
    stuck: str,
    value: float,
    moving: dict[str, float],
    flat: Iterable[str] = (),
    start: int = T0,
) -> list[FloodChange]:
    """``stuck`` repeats ``value`` every 10 minutes for 7 hours; each ``moving`` gauge swings by
    its amplitude, the ``flat`` ones read 1 cm."""
    changes = []
    for k in range(0, 7 * 60 + 1, 10):
        t = start + k * MIN
        for gauge, amplitude in moving.items():
            e.observe([reading(gauge, t, 2.0 + amplitude * ((k // 10) % 2))], t)
        for gauge in flat:
            e.observe([reading(gauge, t, 1.0)], t)
        changes += e.observe([reading(stuck, t, value)], t)
    return changes


@pytest.mark.parametrize(
    ("stuck", "moving", "flat", "faults"),
    [
        # two neighbours within 3 km moved; G04 (flat too, 1.9 and 2.2 km from them) is stuck as
        # well, G05 is not (only G02 lies within 3 km of it)
        ("G01", {"G02": 6, "G03": 6}, ["G04", "G05"], {"G01", "G04"}),
        ("G01", {"G02": 5, "G04": 5}, ["G03"], {"G01", "G03"}),  # exactly 5 cm
        ("G01", {"G02": 6}, ["G03", "G04", "G05"], set()),  # one neighbour is not enough
        ("G01", {"G02": 4, "G03": 4}, ["G04"], set()),  # 4 cm is no change
        ("G01", {}, ["G02", "G03", "G04", "G05"], set()),  # dry weather: everything flat
        ("G05", {"G02": 6, "G01": 6, "G03": 6}, [], set()),  # G01 (3.4 km), G03 (4.5 km): too far
    ],
)
def test_a_stuck_gauge_is_a_fault_only_when_its_neighbours_change(
    stuck: str, moving: dict[str, float], flat: list[str], faults: set[str]
) -> None:
    e = engine()
    changes = seven_hours(e, stuck, 4.0, moving, flat)
    view = e.view()
    assert {g for g, v in view.items() if v.fault is not None} == faults
    assert {a.subject for a in e.book.list("active", "sensor_fault")} == faults
    assert view[stuck].level == "green"
    if stuck in faults:
        (change,) = changes
        assert change.now.fault is not None
        assert "unchanged for 6.0 h" in change.now.fault
        assert change.record.time_ms == T0 + 6 * HOUR  # flagged at the reading that made 6 hours
        assert e.book.active("sensor_fault", stuck) is not None
    else:
        assert changes == []
        assert e.book.active("sensor_fault", stuck) is None


def test_neighbour_changes_before_the_run_began_do_not_count() -> None:
    e = engine()
    for k in range(0, 60, 10):  # the first hour: everyone moves, G01 too
        t = T0 + k * MIN
        for g in ("G01", "G02", "G03"):
            e.observe([reading(g, t, 2.0 + 10 * ((k // 10) % 2))], t)
    seven_hours(e, "G01", 4.0, {}, ["G02", "G03"], start=T0 + HOUR)
    assert e.view()["G01"].fault is None
    assert e.book.list("active", "sensor_fault") == []


def test_a_stuck_red_gauge_stops_its_flood_alert_and_raises_a_sensor_fault() -> None:
    e = engine()
    e.observe([reading("G01", T0, 35.0)], T0)
    flood = e.book.active("flood", "G01")
    assert flood is not None
    (change,) = seven_hours(e, "G01", 35.0, {"G02": 6, "G03": 6})
    assert (change.level, change.now.fault is not None) == ("red", True)
    assert e.book.active("flood", "G01") is None  # the flood alert stops
    assert change.alert is not None
    assert (change.alert.id, change.alert.state) == (flood.id, "cleared")
    fault = e.book.active("sensor_fault", "G01")
    assert fault is not None
    assert change.record.fault_alert_id == fault.id
    assert change.message()["sensor_fault"] == change.now.fault
    kinds = {n.topic: (n.kind, n.level) for n in change.notices()}
    assert kinds == {"alert/flood/G01": (None, "red"), "alert/sensor_fault/G01": ("sensor_fault", "fault")}
    # identical readings keep the fault; a different one ends it, and the flood alert comes back
    t = T0 + 7 * HOUR + 10 * MIN
    assert e.observe([reading("G01", t, 35.0)], t) == []
    (ok,) = e.observe([reading("G01", t + 10 * MIN, 36.0)], t + 10 * MIN)
    assert (ok.level, ok.now.fault) == ("red", None)
    assert e.book.active("sensor_fault", "G01") is None
    again = e.book.active("flood", "G01")
    assert again is not None
    assert again.id != flood.id
    assert [n.kind for n in ok.notices()] == ["flood", "sensor_fault"]


def test_spikes_do_not_break_a_stuck_run() -> None:
    e = engine()
    for k in range(0, 7 * 60 + 1, 10):
        t = T0 + k * MIN
        for g in ("G02", "G03"):
            e.observe([reading(g, t, 2.0 + 6 * ((k // 10) % 2))], t)
        e.observe([reading("G01", t, 9999.0 if k == 200 else 4.0)], t)
    assert e.view()["G01"].fault is not None


def test_neighbours_within_matches_the_pairwise_distances() -> None:
    rng = random.Random(11)
    positions = {f"P{i}": (121.2 + rng.random() * 0.4, 29.7 + rng.random() * 0.3) for i in range(400)}
    positions["N"] = (121.5, 29.0 + 0.0269)  # 2.99 km north of S (a latitude degree is ~111 km)
    positions["S"] = (121.5, 29.0)
    found = neighbours_within(positions, 3000.0)
    for a, pa in positions.items():
        brute = {b for b, pb in positions.items() if b != a and distance_m(pa, pb) <= 3000.0}
        assert set(found[a]) == brute
    assert found["N"] == ("S",)
    assert math.isclose(distance_m(positions["N"], positions["S"]), 2991.2, abs_tol=1)


def test_engine_neighbours_come_from_the_registry_positions() -> None:
    e = FloodEngine(FloodRules(), AlertBook(), positions=POSITIONS, stuck=StuckRules(radius_m=2000))
    assert e.neighbours("G01") == ("G03", "G02")  # 1.1 km, 1.8 km; G04 is 2.2 km away
    assert e.neighbours("nowhere") == ()


def test_excursions_and_runs() -> None:
    x = Excursions(width_ms=5 * MIN)
    for m, d in ((0, 1.0), (6, 9.0), (11, 3.0), (12, 4.0)):
        x.add(T0 + m * MIN, d)
    assert x.change_since(T0) == 8.0
    assert x.change_since(T0 + 10 * MIN) == 1.0  # buckets from minute 10 on
    assert x.change_since(T0 + 6 * MIN) == 1.0  # the bucket straddling minute 6 is left out
    r = Run()
    assert r.add(T0, 4.0)  # a first value starts a run
    assert not r.add(T0 + HOUR, 4.0)
    assert r.length_ms() == HOUR
    assert not r.add(T0 - MIN, 9.0)  # late, before the run: no effect
    assert r.add(T0 + 30 * MIN, 5.0)  # late, inside it: broken
    assert r.length_ms() < 30 * MIN


# --- restore after a restart (the real embedded store) ----------------------------------------
