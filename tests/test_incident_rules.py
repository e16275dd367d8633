"""The incident life cycle, the suggested officer and the measures (pure rules, issue 19)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemetry.incidents.rules import (
    Incident,
    Officer,
    StraightLine,
    TransitionError,
    accept,
    accept_overdue,
    arrive,
    assign,
    close,
    distance_m,
    eyes_on,
    measure,
    on_scene_overdue,
    opened,
    pass_over,
    percentile,
    report,
    resolve,
    response_s,
    suggest,
    within,
)

LAT, LON = 29.8683, 121.5440  # Haishu
T0 = 1_780_000_000_000
MIN = 60_000


def incident(at: int = T0) -> Incident:
    return opened("I-1", "flood", "HS-G01", LAT, LON, "red", at, alert_id="A-1")


def officer(oid: str, dlat: float, status: str = "available", seen: int = T0, unit: str = "u1") -> Officer:
    return Officer(oid, oid, unit, LAT + dlat, LON, status, seen)


def test_the_whole_life_cycle_records_a_time_per_state() -> None:
    i = assign(incident(), "o1", "duty-07", T0 + MIN)
    i = accept(i, "o1", T0 + 2 * MIN)
    i = eyes_on(i, T0 + 150_000)
    i = arrive(i, "o1", T0 + 4 * MIN)
    i = resolve(i, "o1", T0 + 10 * MIN, "pumped", "ab" * 32)
    i = close(i, T0 + 11 * MIN)
    assert i.state == "closed"
    assert list(i.times) == ["open", "assigned", "accepted", "on_scene", "resolved", "closed"]
    assert response_s(i) == {"assign": 60, "accept": 120, "eyes": 150, "on_scene": 240, "resolve": 600}
    assert (i.note, i.assigned_by) == ("pumped", "duty-07")


def test_events_out_of_order_or_from_someone_else_are_refused() -> None:
    i = incident()
    with pytest.raises(TransitionError):
        accept(i, "o1", T0)  # nobody assigned
    i = assign(i, "o1", "m", T0)
    with pytest.raises(TransitionError):
        accept(i, "o2", T0)  # not theirs
    with pytest.raises(TransitionError):
        resolve(i, "o1", T0, None, None)  # not accepted yet
    i = arrive(i, "o1", T0 + MIN)  # arriving without an accept still counts
    assert arrive(i, "o1", T0 + 2 * MIN).times["on_scene"] == T0 + MIN  # the first arrival
    with pytest.raises(TransitionError):
        assign(i, "o2", "m", T0)  # someone is on scene
    i = close(i, T0 + 3 * MIN)
    with pytest.raises(TransitionError):
        close(i, T0 + 4 * MIN)


def test_a_decline_opens_it_again_and_keeps_the_first_times() -> None:
    i = assign(incident(), "o1", "m", T0 + MIN)
    i = pass_over(i, "o1", T0 + 2 * MIN)
    assert (i.state, i.officer, i.passed_over) == ("open", None, ("o1",))
    i = assign(i, "o2", "m", T0 + 3 * MIN)
    assert i.times["assigned"] == T0 + MIN  # time to assign measures the first assignment
    assert i.assigned_at_ms == T0 + 3 * MIN  # the accept timer runs from the current one
    assert accept(accept(i, "o2", T0 + 4 * MIN), "o2", T0 + 5 * MIN).times["accepted"] == T0 + 4 * MIN


def test_timers() -> None:
    i = assign(incident(), "o1", "m", T0)
    assert not accept_overdue(i, T0 + 119_999, 120)
    assert accept_overdue(i, T0 + 120_000, 120)
    assert not accept_overdue(accept(i, "o1", T0 + MIN), T0 + 10 * MIN, 120)
    assert not on_scene_overdue(i, T0 + 299_999, 300)
    assert on_scene_overdue(i, T0 + 300_000, 300)
    assert not on_scene_overdue(arrive(i, "o1", T0 + MIN), T0 + 10 * MIN, 300)


def test_the_suggestion_is_the_nearest_available_officer_by_travel_time() -> None:
    travel = StraightLine(25.0)
    near_busy = officer("busy", 0.001, status="busy")
    near_stale = officer("stale", 0.001, seen=T0 - 10 * MIN)
    far = officer("far", 0.02)
    near = officer("near", 0.005)
    got = suggest(incident(), [near_busy, near_stale, far, near], travel, T0, stale_after_s=120)
    assert got is not None
    assert got[0].id == "near"
    assert got[1] == pytest.approx(distance_m(LAT + 0.005, LON, LAT, LON) / (25 / 3.6))
    assert 70 < got[1] < 90  # 554 m at 25 km/h
    passed = pass_over(assign(incident(), "near", "m", T0), "near", T0)
    again = suggest(passed, [far, near], travel, T0, 120)
    assert again is not None
    assert again[0].id == "far"
    assert suggest(passed, [near], travel, T0, 120) is None
    nowhere = opened("I-2", "complaint", "manual", None, None, "noise", T0)
    assert suggest(nowhere, [far], travel, T0, 120) is None


def test_on_scene_by_position_uses_the_radius() -> None:
    i = incident()
    assert within(officer("o", 0.0004), i, 50)  # 44 m
    assert not within(officer("o", 0.0005), i, 50)  # 55 m
    assert not within(Officer("o"), i, 50)


@given(st.lists(st.floats(0, 1e5, allow_nan=False), min_size=1, max_size=50), st.floats(1, 100))
def test_the_percentile_is_one_of_the_values_and_splits_them(values: list[float], q: float) -> None:
    p = percentile(values, q)
    assert p in values
    assert sum(v <= p for v in values) >= q / 100 * len(values)
    assert sum(v < p for v in values) < q / 100 * len(values)


def test_measures_per_kind_and_unit_and_the_share_within_five_minutes() -> None:
    def flown(iid: str, kind: str, who: str, on_scene_s: int | None, at: int = T0) -> Incident:
        i = opened(iid, kind, "x", LAT, LON, "r", at)
        i = accept(assign(i, who, "m", at + 30_000), who, at + 60_000)
        return i if on_scene_s is None else arrive(i, who, at + on_scene_s * 1000)

    late = flown("a", "flood", "o1", 400)
    quick = flown("b", "flood", "o2", 200)
    pending = flown("c", "toilet", "o2", None, at=T0 + 20 * MIN)  # 1 minute old: undecided
    missed = flown("d", "toilet", "o1", None)  # 21 minutes and nobody on scene
    false_alarm = close(opened("e", "complaint", "x", LAT, LON, "r", T0), T0 + MIN)
    now = T0 + 21 * MIN
    out = report([late, quick, pending, missed, false_alarm], {"o1": "east", "o2": "west"}, 300, now)
    everything = out["all"]["all"]
    assert (everything.count, everything.decided, everything.on_scene_within_target) == (5, 3, 1)
    assert everything.share_within_target == pytest.approx(1 / 3)
    assert everything.p50_s["on_scene"] == 200
    assert everything.p90_s["on_scene"] == 400
    assert everything.p50_s["assign"] == 30
    assert everything.p50_s["eyes"] is None
    assert set(out["kind"]) == {"flood", "toilet", "complaint"}
    assert out["kind"]["flood"].share_within_target == 0.5
    assert out["kind"]["toilet"].share_within_target == 0.0
    assert out["kind"]["complaint"].share_within_target is None
    assert set(out["unit"]) == {"east", "west", "unassigned"}
    assert out["unit"]["west"].count == 2
    assert measure([], 300, now).share_within_target is None
