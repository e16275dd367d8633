"""The O(1) rate window (issue 22) against the brute force it replaced: the same counted rise, and
the same gauge state after every reading, on random sequences with the arrivals the engine
accepts (in order, several per second, late readings inside and behind the anchor, spikes)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry.flood.rules import FloodRules, GaugeHistory, GaugeState, counted_rise, grade_step
from telemetry.flood.window import RiseWindow

T0 = 1_795_564_800_000
RULES = FloodRules(rate_window_s=120, dwell_s=60)  # short windows: the anchor moves in a test


class BruteHistory(GaugeHistory):
    """The history as it was: the whole window scanned per reading."""

    def _step(self, window: RiseWindow, prev: GaugeState, i: int) -> GaugeState:
        rise = counted_rise(self.rules, self.times, self.depths, i)
        return grade_step(self.rules, prev, self.stamps[i], self.depths[i], rise)


depth = st.integers(0, 60).map(float)  # integers: many equal lows and highs
gap_ms = st.sampled_from([0, 1, 400, 1000, 7_000, 30_000, 65_000, 130_000])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(gap_ms, depth), min_size=1, max_size=120))
def test_the_window_equals_the_brute_force_in_order(steps: list[tuple[int, float]]) -> None:
    times: list[int] = []
    depths: list[float] = []
    window = RiseWindow()
    t = T0
    for gap, d in steps:
        t += gap
        s = t - t % 1000  # one reading per second, as GaugeHistory keeps them
        if times and times[-1] == s:
            depths[-1] = d  # the same second: it replaces
        else:
            times.append(s)
            depths.append(d)
        ours = window.rise(s, d, int(RULES.rate_window_s * 1000), RULES.hysteresis_cm)
        assert ours == counted_rise(RULES, times, depths, len(times) - 1)


arrival = st.tuples(st.integers(0, 900), depth, st.integers(0, 999))  # (seconds, depth, ms)


@settings(max_examples=300, deadline=None)
@given(st.lists(arrival, min_size=1, max_size=150), st.randoms(use_true_random=False))
def test_the_history_equals_the_brute_force_whatever_the_order(
    readings: list[tuple[int, float, int]], rnd: random.Random
) -> None:
    """Sorted, then some readings moved later in the arrival order by up to 150 places: late
    readings land between, before and behind the anchor; several in one second replace each
    other; jumps of more than 50 cm a minute are spikes."""
    order = sorted(readings)
    for k in range(len(order)):
        if rnd.random() < 0.2:
            order.insert(min(len(order), k + rnd.randint(1, 150)), order.pop(k))
    ours, brute = GaugeHistory(RULES), BruteHistory(RULES)
    for sec, d, ms in order:
        time_ms = T0 + sec * 1000 + ms
        assert ours.add(time_ms, d) == brute.add(time_ms, d)
        assert (ours.anchor, ours.anchor_index, ours.times) == (brute.anchor, brute.anchor_index, brute.times)


def test_a_reading_behind_the_anchor_counts_in_the_anchor_s_later_windows() -> None:
    """Too late to regrade the past, yet inside the rate window of the anchor's next steps."""
    ours, brute = GaugeHistory(RULES), BruteHistory(RULES)
    for k in range(60):
        for h in (ours, brute):
            h.add(T0 + k * 10_000 + 5000, 20.0 + k % 3)
    assert ours.anchor_index > 1
    late = ours.times[ours.anchor_index - 1] - 3000  # behind the anchor, within a minute of it
    for h in (ours, brute):
        h.add(late, 0.0)
    anchor_levels = set()
    for k in range(60, 90):
        assert ours.add(T0 + k * 10_000 + 5000, 20.0) == brute.add(T0 + k * 10_000 + 5000, 20.0)
        assert ours.anchor == brute.anchor
        anchor_levels.add(brute.anchor.level)
    assert "red" in anchor_levels  # the late low made a rise the anchor had to see
