"""The flood grading rules of DOMAIN.md as pure logic, one table per rule (the engine's offline,
stuck and alert logic is in test_flood_engine.py, the MQTT path in test_flood.py)."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from telemetry.flood.rules import FloodRules, GaugeHistory, GaugeState, counted_rise, grade_step, spike

T0 = 1_795_564_800_000
MIN = 60_000
RULES = FloodRules()


def levels(readings: list[tuple[float, float]], rules: FloodRules = RULES) -> list[str]:
    """Grades after each (minute, depth) reading, fed in the given order."""
    h = GaugeHistory(rules)
    return [h.add(T0 + int(m * MIN), d).level for m, d in readings]


def every(step_min: float, depths: Sequence[float], start_min: float = 0) -> list[tuple[float, float]]:
    return [(start_min + k * step_min, d) for k, d in enumerate(depths)]


# --- 1. rate of rise: counted only while rising ----------------------------------------------


@pytest.mark.parametrize(
    ("readings", "rise"),
    [
        (every(1, [0, 8]), 8.0),
        (every(1, [0, 8, 16, 29, 31]), 31.0),
        (every(60, [0, 8, 16, 29, 31]), 0.0),  # an hour apart: nothing else in the window
        (every(1, [0, 8, 16, 29, 31, 10]), 0.0),  # falling from 31: not rising (the old rule: 10)
        (every(1, [0, 20, 18]), 18.0),  # within the hysteresis (3 cm) of the high: still rising
        (every(1, [0, 20, 16]), 0.0),  # 4 cm under the high: falling
        (every(1, [20, 10, 15]), 5.0),  # rising again from the trough: from the (latest) low
        (every(1, [10, 20, 10, 15]), 5.0),  # equal lows: the latest counts, the old peak does not
        ([(0, 0), (11, 9)], 0.0),  # the low is out of the 10-minute window
        ([(0, 0), (10, 9)], 9.0),  # ... and at its edge still in
    ],
)
def test_counted_rise(readings: list[tuple[float, float]], rise: float) -> None:
    times = [T0 + int(m * MIN) for m, _ in readings]
    depths = [d for _, d in readings]
    assert counted_rise(RULES, times, depths, len(times) - 1) == rise


@pytest.mark.parametrize(
    ("readings", "expected"),
    [
        (every(1, [0, 8, 16, 29, 31]), ["green", "yellow", "red", "red", "red"]),  # DOMAIN.md
        (every(60, [0, 8, 16, 29, 31]), ["green", "green", "yellow", "yellow", "red"]),  # DOMAIN.md
        (every(1, [0, 14]), ["green", "yellow"]),  # a 14 cm rise lifts at most one grade
        (every(1, [0, 3, 6, 9, 12] + [12] * 6), ["green", "green", "yellow"] + ["yellow"] * 8),
        (every(1, [14, 25]), ["green", "red"]),  # yellow by depth, rising 11 cm: red
        (every(1, [0, 4]), ["green", "green"]),  # 4 cm: under the 5 cm rate
    ],
)
def test_grades_with_the_rate_of_rise(readings: list[tuple[float, float]], expected: list[str]) -> None:
    assert levels(readings) == expected


def test_a_12_cm_rise_below_15_raises_yellow_never_red() -> None:
    grades = levels(every(1, [0, 3, 6, 9, 12, 12, 12, 12, 12, 12, 12]))
    assert grades[2] == "yellow"  # 6 cm in 2 minutes
    assert "red" not in grades


# --- 2. downgrade: after the dwell, to the grade of (depth + hysteresis) ---------------------

PEAK_THEN_10 = every(1, [0, 8, 16, 29, 31]) + [(5 + k * 0.75, 10) for k in range(20)]  # 20 over 15 min


@pytest.mark.parametrize(
    ("readings", "expected"),
    [
        # red then 14 cm: yellow after the dwell, and stays (the band: the test below)
        ([(0, 35), *every(1, [14] * 20, 1)], ["red"] * 11 + ["yellow"] * 10),
        # red then 10 cm: green after 10 minutes (under 27 cm from minute 1, green at minute 11)
        ([(0, 31), *every(1, [10] * 12, 1)], ["red"] * 11 + ["green"] * 2),
        # the sequence: the peak, then 10 cm for 15 minutes: green (the old rule: red)
        (PEAK_THEN_10, ["green", "yellow", "red", "red", "red"] + ["red"] * 14 + ["green"] * 6),
        # 28 cm is not 3 cm under 30: the dwell never starts
        ([(0, 35), *every(1, [28] * 30, 1)], ["red"] * 31),
        # a reading back at 27 cm restarts the dwell
        ([(0, 35), *every(1, [20] * 8 + [27] + [20] * 11, 1)], ["red"] * 20 + ["yellow"]),
    ],
)
def test_downgrade_after_the_dwell(readings: list[tuple[float, float]], expected: list[str]) -> None:
    assert levels(readings) == expected


@pytest.mark.parametrize(
    ("depth", "landing"),
    [
        (14.0, "yellow"),  # 14 + 3 ≥ 15: yellow's band
        (12.0, "yellow"),  # 12 + 3 = 15: still yellow's band, at its edge
        (11.9, "green"),  # 11.9 + 3 < 15: straight to green
        (26.9, "yellow"),  # 3 cm under red's 30: the dwell runs, 26.9 + 3 < 30
    ],
)
def test_the_downgrade_lands_on_the_grade_of_depth_plus_the_hysteresis(depth: float, landing: str) -> None:
    """Red, then a steady depth for an hour: the grade after the dwell is the grade of (depth +
    3 cm), and it stays there (no flapping between grades while the depth does not change)."""
    grades = levels([(0, 35), *every(1, [depth] * 60, 1)])
    assert grades[:11] == ["red"] * 11  # the dwell: 10 minutes under 27 cm
    assert grades[11:] == [landing] * 50


@pytest.mark.parametrize("limit", [27.0, 28.0])
def test_no_dwell_runs_within_the_hysteresis_under_red(limit: float) -> None:
    assert levels([(0, 35), *every(1, [limit] * 60, 1)]) == ["red"] * 61


def test_a_depth_wobbling_around_a_threshold_does_not_flap() -> None:
    """Up at once, down only 3 cm under the threshold after the dwell: 14/16 cm around yellow's
    15 cm, and 29/31 around red's 30, keep the grade they reached."""
    calm = [14.0] * 11  # no rise to count: the depth alone grades
    assert levels(every(1, calm + [16, 14] * 15)) == ["green"] * 11 + ["yellow"] * 30
    calm = [29.0] * 11
    assert levels(every(1, calm + [31, 29] * 15)) == ["yellow"] * 11 + ["red"] * 30
    # ... while 3 cm under the threshold for the dwell steps down, once
    wobble_low = levels(every(1, calm + [31] + [26.9, 26.5] * 15))
    assert wobble_low[:22] == ["yellow"] * 11 + ["red"] * 11
    assert wobble_low[22:] == ["yellow"] * 20


def test_each_later_step_waits_its_own_dwell() -> None:
    readings = [(0, 35), *every(1, [20] * 11, 1), *every(1, [5] * 12, 12)]  # a reading a minute
    grades = levels(readings)
    assert grades[:11] == ["red"] * 11
    assert grades[11] == "yellow"  # minute 11: 10 minutes under 27 cm, 20 + 3 is yellow
    assert grades[12:22] == ["yellow"] * 10  # under 27 cm since minute 1, under 12 only from 12
    assert grades[22:] == ["green", "green"]  # minute 22


def test_the_dwell_counts_event_time_at_any_reporting_rate() -> None:
    assert levels([(0, 31), (5, 10), (10, 10), (15, 10)]) == ["red", "red", "red", "green"]


def test_grade_step_table() -> None:
    red = GaugeState(level="red", since_ms=T0, depth_cm=35, last_ms=T0)
    calm = grade_step(RULES, red, T0 + MIN, 14, 0)
    assert (calm.level, calm.below_since_ms) == ("red", T0 + MIN)
    down = grade_step(RULES, calm, T0 + 11 * MIN, 14, 0)
    assert (down.level, down.since_ms) == ("yellow", T0 + 11 * MIN)
    up = grade_step(RULES, down, T0 + 12 * MIN, 16, 10)
    assert (up.level, up.since_ms) == ("red", T0 + 12 * MIN)  # rate 10 in yellow: red at once


# --- 3. spikes: by rate whatever the interval, and a first reading's plausible maximum -------


@pytest.mark.parametrize(
    ("before", "after", "minute", "depth", "is_spike"),
    [
        ((0, 2), None, 0.5, 90, True),  # 88 cm in 30 s (a short interval counts as a minute)
        ((0, 2), None, 1, 52, False),  # exactly 50 cm/min
        ((0, 2), None, 1, 53, True),
        ((0, 0), None, 5, 9999, True),  # a gauge every 5 minutes is spike-checked
        ((0, 0), None, 5, 200, False),  # 40 cm/min
        ((0, 0), None, 5, 251, True),
        ((0, 40), None, 5, 0, False),  # draining 8 cm/min
        ((0, 300), None, 1, 0, True),  # a drop counts as well
        (None, (5, 0), 0, 9999, True),  # a late reading: checked against the next one
        (None, None, 0, 200, False),  # a first reading up to the plausible maximum
        (None, None, 0, 201, True),
        (None, None, 0, 9999, True),
    ],
)
def test_spike_table(
    before: tuple[float, float] | None,
    after: tuple[float, float] | None,
    minute: float,
    depth: float,
    is_spike: bool,
) -> None:
    def at(x: tuple[float, float] | None) -> tuple[int, float] | None:
        return None if x is None else (T0 + int(x[0] * MIN), x[1])

    assert (spike(RULES, at(before), at(after), T0 + int(minute * MIN), depth) is not None) == is_spike


def test_a_spike_is_flagged_and_never_graded() -> None:
    h = GaugeHistory(FloodRules())
    h.add(T0, 2)
    state = h.add(T0 + 30_000, 90)
    assert state.level == "green"
    assert state.fault is not None
    assert "spike" in state.fault
    state = h.add(T0 + 60_000, 3)
    assert (state.level, state.fault, state.rise_cm) == ("green", None, 1.0)  # 90 left no trace


def test_a_5_minute_gauge_is_spike_checked() -> None:
    h = GaugeHistory(FloodRules())
    grades = [h.add(T0 + k * 5 * MIN, d).level for k, d in enumerate([0, 0, 9999, 0, 1])]
    assert grades == ["green"] * 5
    assert h.state.depth_cm == 1


def test_a_first_reading_above_the_plausible_maximum_is_a_spike() -> None:
    h = GaugeHistory(FloodRules())
    assert h.add(T0, 9999).fault is not None
    assert h.spike is not None
    assert h.add(T0 + 5 * MIN, 5).level == "green"  # the first real reading
    assert h.spike is None
    # the maximum is for a first reading only: 196 cm in 5 minutes (39 cm/min) later is graded
    assert h.add(T0 + 10 * MIN, 201).level == "red"
    assert h.spike is None


# --- 5. since: the event time of the transition ----------------------------------------------


def test_since_is_the_reading_where_the_grade_changed_even_in_a_backlog() -> None:
    readings = [(T0 + k * MIN, float(d)) for k, d in enumerate([0, 8, 16, 29, 31])]
    shuffled = readings[:]
    random.Random(3).shuffle(shuffled)
    h = GaugeHistory(FloodRules())
    for t, d in shuffled:
        h.add(t, d)
    assert (h.state.level, h.state.since_ms) == ("red", T0 + 2 * MIN)  # the 16 cm reading


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


def test_per_gauge_thresholds_and_config_values_are_used() -> None:
    assert levels([(0, 12)], FloodRules(yellow_cm=10, red_cm=20)) == ["yellow"]
    assert levels([(0, 0), (5, 9999)], FloodRules(spike_cm=5000)) == ["green", "red"]
    assert levels([(0, 250)], FloodRules(max_plausible_cm=300)) == ["red"]
    slow = FloodRules(dwell_s=1200)
    assert levels([(0, 31), *every(1, [10] * 21, 1)], slow)[-1] == "green"
    assert levels([(0, 31), *every(1, [10] * 20, 1)], slow)[-1] == "red"


def test_late_readings_added_without_refold_then_refolded_once_give_the_same_state() -> None:
    # two ingest workers each hold every other reading of a 1 Hz gauge (serve --workers)
    depths = [(k % 400) / 10 for k in range(3000)]
    readings = [(T0 + k * 1000, d) for k, d in enumerate(depths)]
    live = GaugeHistory(FloodRules())
    for t, d in readings:
        live.add(t, d)
    split = GaugeHistory(FloodRules())
    for start in range(0, len(readings), 200):
        chunk = readings[start : start + 200]
        for t, d in chunk[0::2]:  # worker 0's batch
            split.add(t, d)
        for t, d in chunk[1::2]:  # worker 1's, all older than worker 0's last
            split.add(t, d, refold=False)
        split.refold()
    assert split.state == live.state
    assert (split.times, split.depths) == (live.times, live.depths)
