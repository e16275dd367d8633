"""The flood grading rules of DOMAIN.md as pure logic (the MQTT path is in test_flood.py)."""

from __future__ import annotations

import random

from telemetry.alerts.book import AlertBook
from telemetry.flood.engine import FloodEngine
from telemetry.flood.rules import FloodRules, GaugeHistory
from telemetry.records import GaugeReading

T0 = 1_795_564_800_000
MIN = 60_000


def levels(depths: list[float], step_ms: int) -> list[str]:
    h = GaugeHistory(FloodRules())
    return [h.add(T0 + k * step_ms, d).level for k, d in enumerate(depths)]


def test_domain_sequences() -> None:
    assert levels([0, 8, 16, 29, 31], MIN) == ["green", "yellow", "red", "red", "red"]
    assert levels([0, 8, 16, 29, 31], 60 * MIN) == ["green", "green", "yellow", "yellow", "red"]


def test_a_12_cm_rise_below_15_raises_yellow_never_red() -> None:
    grades = levels([0, 3, 6, 9, 12, 12, 12, 12, 12, 12, 12], MIN)
    assert "yellow" in grades
    assert "red" not in grades
    assert grades[2] == "yellow"  # 6 cm in 2 minutes


def test_recovery_only_after_the_dwell_below_threshold_minus_hysteresis() -> None:
    h = GaugeHistory(FloodRules())
    h.add(T0, 35)
    assert h.state.level == "red"
    h.add(T0 + MIN, 28)  # below 30 but not below 27: no dwell starts
    h.add(T0 + 2 * MIN, 28.5)
    assert h.state.level == "red"
    for k in range(3, 13):  # 25 cm from minute 3: below 27
        h.add(T0 + k * MIN, 25)
    assert h.state.level == "red"  # 9 minutes below
    h.add(T0 + 13 * MIN, 25)
    assert h.state.level == "yellow"  # 10 minutes below
    h.add(T0 + 14 * MIN, 14)  # under 15 but not under 12: still yellow
    for k in range(15, 26):
        h.add(T0 + k * MIN, 5)
    assert h.state.level == "green"


def test_a_spike_is_a_fault_not_a_flood() -> None:
    h = GaugeHistory(FloodRules())
    h.add(T0, 2)
    state = h.add(T0 + 30_000, 90)
    assert state.level == "green"
    assert state.fault is not None
    assert "spike" in state.fault
    assert h.add(T0 + 60_000, 3).level == "green"


def test_out_of_order_backlog_gives_the_same_state_as_the_live_stream() -> None:
    depths = [0, 2, 5, 9, 14, 18, 22, 26, 31, 33, 30, 26, 20, 15, 10, 6, 3, 1] + [1] * 15
    readings = [(T0 + k * MIN, float(d)) for k, d in enumerate(depths)]
    live = GaugeHistory(FloodRules())
    for t, d in readings:
        live.add(t, d)
    shuffled = readings[:]
    random.Random(7).shuffle(shuffled)
    backlog = GaugeHistory(FloodRules())
    for t, d in shuffled:
        backlog.add(t, d)
    assert backlog.state == live.state


def test_engine_alerts_once_per_change_and_clears() -> None:
    engine = FloodEngine(FloodRules(), AlertBook(), offline_after_s=900)
    changes = []
    for k, d in enumerate([0, 8, 16, 29, 31]):
        changes += engine.observe([GaugeReading("G01", "haishu", T0 + k * MIN, d)], T0 + k * MIN)
    assert [(c.previous, c.level) for c in changes] == [("green", "yellow"), ("yellow", "red")]
    assert changes[0].alert is not None
    assert changes[1].alert is not None
    assert changes[0].alert.id == changes[1].alert.id  # escalation keeps the alert
    (active,) = engine.book.list("active")
    assert active.level == "red"
    later = [GaugeReading("G01", "haishu", T0 + (5 + k) * MIN, 2.0) for k in range(30)]
    (clear,) = engine.observe(later, T0 + 40 * MIN)
    assert (clear.previous, clear.level) == ("red", "green")
    assert engine.book.list("active") == []
    assert clear.alert is not None
    assert clear.alert.state == "cleared"


def test_offline_by_timer_then_back() -> None:
    engine = FloodEngine(FloodRules(), AlertBook(), offline_after_s=900)
    engine.expect(["G05"], T0)
    assert engine.check_offline(T0 + 14 * MIN) == []
    (off,) = engine.check_offline(T0 + 15 * MIN)
    assert off.level == "offline"
    assert engine.check_offline(T0 + 16 * MIN) == []  # once
    (back,) = engine.observe([GaugeReading("G05", "haishu", T0 + 16 * MIN, 1.0)], T0 + 16 * MIN)
    assert (back.previous, back.level) == ("offline", "green")


def test_per_gauge_thresholds() -> None:
    engine = FloodEngine(FloodRules(), AlertBook(), thresholds={"G02": (10.0, 20.0)})
    (c,) = engine.observe([GaugeReading("G02", "haishu", T0, 12.0)], T0)
    assert c.level == "yellow"


def test_a_value_stuck_for_6_hours_while_neighbours_change_is_flagged() -> None:
    engine = FloodEngine(FloodRules(), AlertBook())
    for k in range(0, 7 * 60, 10):  # 7 hours, every 10 minutes
        t = T0 + k * MIN
        engine.observe([GaugeReading("G01", "haishu", t, 4.0)], t)  # identical all along
        engine.observe([GaugeReading("G02", "haishu", t, 2.0 + (k // 10) % 3)], t)  # changing
        engine.observe([GaugeReading("G03", "haishu", t, 1.0)], t)
    view = engine.view()
    assert view["G01"].fault == "sensor fault: value stuck"
    assert view["G02"].fault is None
    assert view["G01"].level == "green"  # flagged, not raised


def test_flat_gauges_everywhere_are_not_stuck() -> None:
    engine = FloodEngine(FloodRules(), AlertBook())
    for k in range(0, 7 * 60, 10):
        t = T0 + k * MIN
        engine.observe([GaugeReading("G01", "haishu", t, 4.0), GaugeReading("G03", "haishu", t, 1.0)], t)
    assert engine.view()["G01"].fault is None
