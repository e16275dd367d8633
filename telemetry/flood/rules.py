"""Flood grades from one gauge's depths, in event time (DOMAIN.md, flood). Pure logic: no I/O.

Per gauge: green < yellow threshold ≤ yellow < red threshold ≤ red, by depth, with per-gauge
thresholds from the registry.

- **Rate of rise** (:func:`counted_rise`): the depth now minus the lowest depth in the last 10
  minutes, counted only while the water is rising, i.e. when the depth now is at least the highest
  depth since that lowest reading minus the hysteresis; a falling level after a peak counts 0.
  ≥ 5 cm lifts green to yellow, ≥ 10 cm lifts yellow to red, never more than one grade.
- **Raise** at once; **downgrade** (:func:`grade_step`) once the depth has stayed under the current
  grade's threshold minus the hysteresis for the dwell time; the new grade is the grade of (depth +
  hysteresis), and each later step waits its own dwell.
- **Spikes** (:func:`spike`): a change faster than ``spike_cm`` per ``spike_window_s`` between
  consecutive readings whatever their interval (intervals shorter than the window count as the
  window), or a first reading above the plausible maximum; flagged, never graded.

Late and out-of-order readings are applied in event time: a gauge's recent readings are kept
sorted, and its state is refolded from an anchor when a reading lands in the past, so a backlog
produces the same state as the live stream, and ``since`` is the time of the reading where the
grade changed.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field, replace
from typing import Literal

from telemetry.flood.window import RiseWindow

Level = Literal["green", "yellow", "red"]
RANK: dict[str, int] = {"green": 0, "yellow": 1, "red": 2}
BY_RANK: tuple[Level, ...] = ("green", "yellow", "red")
_RESOLUTION_MS = 1000


@dataclass(frozen=True, slots=True)
class FloodRules:
    yellow_cm: float = 15.0
    red_cm: float = 30.0
    rate_window_s: float = 600.0
    rate_yellow_cm: float = 5.0
    rate_red_cm: float = 10.0
    hysteresis_cm: float = 3.0
    dwell_s: float = 600.0
    spike_cm: float = 50.0  # per spike_window_s (50 cm per minute)
    spike_window_s: float = 60.0
    max_plausible_cm: float = 200.0  # a first reading above it is a spike

    def threshold(self, rank: int) -> float:
        """The depth where grade ``rank`` (1 yellow, 2 red) begins."""
        return self.red_cm if rank >= 2 else self.yellow_cm

    def grade(self, depth_cm: float) -> int:
        """The grade of a depth alone: 0 green, 1 yellow, 2 red."""
        return 2 if depth_cm >= self.red_cm else 1 if depth_cm >= self.yellow_cm else 0


@dataclass(frozen=True, slots=True)
class GaugeState:
    level: Level = "green"
    since_ms: int = 0  # event time of the reading where the level began
    depth_cm: float = 0.0
    rise_cm: float = 0.0  # the counted rise (0 unless the water is rising)
    reason: str = "no data"
    below_since_ms: int | None = None  # depth under (threshold - hysteresis) since then
    fault: str | None = None  # the last reading was a spike: flagged, not graded
    last_ms: int = -1  # event time of the last reading folded in (-1: none yet)


def counted_rise(rules: FloodRules, times: list[int], depths: list[float], i: int) -> float:
    """The rate of rise at reading ``i`` (``times`` sorted): the depth minus the lowest depth in
    the window, or 0 when the water is not rising (the depth is more than the hysteresis under
    the highest depth since that lowest reading, the latest one when several are equal)."""
    depth = depths[i]
    lo = bisect.bisect_left(times, times[i] - int(rules.rate_window_s * 1000), 0, i + 1)
    lowest, at = depth, i
    for j in range(i, lo - 1, -1):  # backwards: the latest of equal lows
        if depths[j] < lowest:
            lowest, at = depths[j], j
    highest = max(depths[at : i + 1])
    return depth - lowest if depth >= highest - rules.hysteresis_cm else 0.0


def grade_step(
    rules: FloodRules, prev: GaugeState, time_ms: int, depth_cm: float, rise_cm: float
) -> GaugeState:
    """The state after one reading (in event order) given the state before it (one new state
    built directly: no ``dataclasses.replace`` chain per reading, issue 22)."""
    by_depth = rules.grade(depth_cm)
    lifted = (by_depth == 0 and rise_cm >= rules.rate_yellow_cm) or (
        by_depth == 1 and rise_cm >= rules.rate_red_cm
    )
    candidate = by_depth + (1 if lifted else 0)
    reason = f"depth {depth_cm:.1f} cm" + (f", rising {rise_cm:.1f} cm in 10 min" if lifted else "")
    current = RANK[prev.level]
    if prev.last_ms < 0 or candidate > current:  # the first reading, or a raise: at once
        return GaugeState(BY_RANK[candidate], time_ms, depth_cm, rise_cm, reason, None, None, time_ms)
    if current == 0:
        return GaugeState(prev.level, prev.since_ms, depth_cm, rise_cm, reason, None, None, time_ms)
    kept = reason if candidate == current else prev.reason
    limit = rules.threshold(current) - rules.hysteresis_cm
    if depth_cm >= limit:  # not calm: no dwell runs
        return GaugeState(prev.level, prev.since_ms, depth_cm, rise_cm, kept, None, None, time_ms)
    below = prev.below_since_ms if prev.below_since_ms is not None else time_ms
    if time_ms - below >= rules.dwell_s * 1000:
        new = max(rules.grade(depth_cm + rules.hysteresis_cm), candidate)
        if new < current:
            calm = new > 0 and depth_cm < rules.threshold(new) - rules.hysteresis_cm
            why = f"depth {depth_cm:.1f} cm, under {limit:g} cm for {rules.dwell_s / 60:g} min"
            # each later step waits its own dwell: it starts at this downgrade at the earliest
            return GaugeState(
                BY_RANK[new], time_ms, depth_cm, rise_cm, why, time_ms if calm else None, None, time_ms
            )
    return GaugeState(prev.level, prev.since_ms, depth_cm, rise_cm, kept, below, None, time_ms)


def spike(
    rules: FloodRules,
    before: tuple[int, float] | None,
    after: tuple[int, float] | None,
    time_ms: int,
    depth_cm: float,
) -> str | None:
    """Why the reading is a spike (a sensor fault), or None. ``before`` and ``after`` are its
    accepted neighbours in event time (time, depth); with neither it is a first reading."""
    if before is None and after is None:
        if depth_cm > rules.max_plausible_cm:
            most = rules.max_plausible_cm
            return f"sensor fault: first reading {depth_cm:g} cm above the plausible {most:g} cm, ignored"
        return None
    window_ms = rules.spike_window_s * 1000
    for other in (before, after):
        if other is None:
            continue
        interval_ms = abs(time_ms - other[0])
        change = depth_cm - other[1]
        if abs(change) > rules.spike_cm * max(interval_ms, window_ms) / window_ms:
            return f"sensor fault: spike of {change:+.0f} cm in {interval_ms / 60000:.1f} min ignored"
    return None


@dataclass
class GaugeHistory:
    """One gauge's recent readings and its grade; ``start`` is the state before any reading
    (a restored level after a restart)."""

    rules: FloodRules
    start: GaugeState = field(default_factory=GaugeState)
    times: list[int] = field(default_factory=list)  # sorted event times (ms), to the second
    depths: list[float] = field(default_factory=list)
    stamps: list[int] = field(default_factory=list)  # the exact event times (ms)
    anchor: GaugeState = field(init=False)  # state before times[anchor_index]
    anchor_index: int = field(init=False, default=0)
    state: GaugeState = field(init=False)
    spike: str | None = field(init=False, default=None)  # why the last reading added was ignored
    _before_last: GaugeState = field(init=False)
    # the rate windows of the two streams of steps: the state's (head) and the anchor's (tail)
    _head: RiseWindow = field(init=False, default_factory=RiseWindow)
    _tail: RiseWindow = field(init=False, default_factory=RiseWindow)
    _tail_stale: bool = field(init=False, default=False)  # a reading landed behind the anchor
    _refold_due: bool = field(init=False, default=False)  # late readings added without a refold

    def __post_init__(self) -> None:
        self.anchor = self.state = self._before_last = self.start

    def add(self, time_ms: int, depth_cm: float, *, refold: bool = True) -> GaugeState:
        """Insert one reading (any order); returns the gauge's state at its latest reading.

        Readings are kept at one per second (a later one in the same second replaces the
        earlier), which bounds the work per reading however fast a device sends; their exact
        event times are kept for ``since``. ``refold=False``: a reading before the latest is
        only inserted; :meth:`refold` then regrades once for all of them (a batch of late
        readings costs one refold, not one each).
        """
        t = time_ms - time_ms % _RESOLUTION_MS
        i = bisect.bisect_left(self.times, t)
        same = i < len(self.times) and self.times[i] == t
        before = (self.stamps[i - 1], self.depths[i - 1]) if i > 0 else None
        j = i + 1 if same else i
        after = (self.stamps[j], self.depths[j]) if j < len(self.times) else None
        self.spike = spike(self.rules, before, after, time_ms, depth_cm)
        if self.spike is not None:  # flagged, never graded nor used for the rate
            self.state = replace(self.state, fault=self.spike)
            return self.state
        if same:  # same second: the later reading wins
            self.depths[i], self.stamps[i] = depth_cm, time_ms
            if i == len(self.times) - 1 and i >= self.anchor_index and not self._refold_due:
                self.state = self._step(self._head, self._before_last, i)
                return self.state
            late = True
            self._tail_stale |= i < self.anchor_index
        else:
            self.times.insert(i, t)
            self.depths.insert(i, depth_cm)
            self.stamps.insert(i, time_ms)
            late = i < len(self.times) - 1
            if i < self.anchor_index:  # older than the anchor: too late to regrade the past
                self.anchor_index += 1
                self._tail_stale = True
                return self.state
        if i < self.anchor_index:
            return self.state
        if late or self._refold_due:
            if not refold:
                self._refold_due = True
                return self.state
            self._refold_due = False
            self._before_last, self.state = self._fold(self.anchor, self.anchor_index)
        else:
            self._before_last, self.state = self.state, self._step(self._head, self.state, i)
        self._advance_anchor()
        return self.state

    def refold(self) -> GaugeState:
        """Regrade after late readings added with ``refold=False``."""
        if self._refold_due:
            self._refold_due = False
            self._before_last, self.state = self._fold(self.anchor, self.anchor_index)
            self._advance_anchor()
        return self.state

    def _fold(self, start: GaugeState, index: int) -> tuple[GaugeState, GaugeState]:
        """Refold from ``start``; returns (the state before the last reading, the last state)."""
        self._seed(self._head, index)
        before, state = start, start
        for i in range(index, len(self.times)):
            before, state = state, self._step(self._head, state, i)
        return before, state

    def _seed(self, window: RiseWindow, index: int) -> None:
        """Restart ``window`` just before reading ``index``: the readings within the rate window."""
        window.reset()
        if index < len(self.times):
            lo = bisect.bisect_left(self.times, self.times[index] - int(self.rules.rate_window_s * 1000))
            window.seed(zip(self.times[lo:index], self.depths[lo:index], strict=True))

    def _advance_anchor(self) -> None:
        """Keep about two windows of readings; fold older ones into the anchor state."""
        horizon = self.times[-1] - int(2 * (self.rules.rate_window_s + self.rules.dwell_s) * 1000)
        while self.anchor_index < len(self.times) and self.times[self.anchor_index] < horizon:
            if self._tail_stale:
                self._seed(self._tail, self.anchor_index)
                self._tail_stale = False
            self.anchor = self._step(self._tail, self.anchor, self.anchor_index)
            self.anchor_index += 1
        keep_from = 0
        if self.anchor_index:
            oldest_needed = self.times[self.anchor_index - 1] - int(self.rules.rate_window_s * 1000)
            keep_from = bisect.bisect_left(self.times, oldest_needed)
        if keep_from > 0:
            del self.times[:keep_from], self.depths[:keep_from], self.stamps[:keep_from]
            self.anchor_index -= keep_from

    def _step(self, window: RiseWindow, prev: GaugeState, i: int) -> GaugeState:
        """Grade reading ``i``, the next of ``window``'s stream (equal to :func:`counted_rise`)."""
        rules, depth = self.rules, self.depths[i]
        rise = window.rise(self.times[i], depth, int(rules.rate_window_s * 1000), rules.hysteresis_cm)
        return grade_step(rules, prev, self.stamps[i], depth, rise)
