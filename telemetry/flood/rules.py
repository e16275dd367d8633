"""Flood grades from gauge depths, in event time (DOMAIN.md, flood). Pure logic: no I/O.

Per gauge: green < yellow threshold ≤ yellow < red threshold ≤ red, by depth, with per-gauge
thresholds from the registry. The rate of rise is the depth now minus the lowest depth in the
last 10 minutes of event time (robust to irregular sampling); ≥ 5 cm lifts green to yellow, ≥ 10
cm lifts yellow to red, never more than one grade above the depth's. A raise is immediate; a
downgrade waits until the depth has stayed below the current level's threshold minus the
hysteresis for the dwell time. Spikes (a jump over 50 cm within a minute) are flagged as sensor
faults and not graded; so are values stuck for 6 hours while other gauges change.

Late and out-of-order readings are applied in event time: the gauge's recent readings are kept
sorted, and its state is refolded from an anchor when a reading lands in the past, so a backlog
produces the same state as the live stream, and alerts compare only the final level.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field, replace
from typing import Literal

Level = Literal["green", "yellow", "red", "offline"]
RANK: dict[str, int] = {"green": 0, "yellow": 1, "red": 2}
_RESOLUTION_MS = 1000
BY_RANK: tuple[Level, ...] = ("green", "yellow", "red")


@dataclass(frozen=True, slots=True)
class FloodRules:
    yellow_cm: float = 15.0
    red_cm: float = 30.0
    rate_window_s: float = 600.0
    rate_yellow_cm: float = 5.0
    rate_red_cm: float = 10.0
    hysteresis_cm: float = 3.0
    dwell_s: float = 600.0
    spike_cm: float = 50.0
    spike_window_s: float = 60.0
    stuck_after_s: float = 6 * 3600.0

    def thresholds(self, level: str) -> float:
        return self.red_cm if level == "red" else self.yellow_cm


@dataclass(frozen=True, slots=True)
class GaugeState:
    level: Level = "green"
    since_ms: int = 0
    depth_cm: float = 0.0
    rise_cm: float = 0.0
    reason: str = "no data"
    below_since_ms: int | None = None  # depth under (threshold - hysteresis) since then
    fault: str | None = None
    last_ms: int = -1  # event time of the last reading folded in


@dataclass
class GaugeHistory:
    rules: FloodRules
    times: list[int] = field(default_factory=list)  # sorted event times (ms)
    depths: list[float] = field(default_factory=list)
    anchor: GaugeState = field(default_factory=GaugeState)  # state before times[anchor_index]
    anchor_index: int = 0
    state: GaugeState = field(default_factory=GaugeState)
    _before_last: GaugeState = field(default_factory=GaugeState)

    def add(self, time_ms: int, depth_cm: float) -> GaugeState:
        """Insert one reading (any order); returns the gauge's state at its latest reading.

        Readings are kept at one per second (a later one in the same second replaces the
        earlier), which bounds the work per reading however fast a device sends.
        """
        t = time_ms - time_ms % _RESOLUTION_MS
        i = bisect.bisect_left(self.times, t)
        spike = self._spike(i, t, depth_cm)
        if spike is not None:  # a sensor fault: flagged, never graded nor used for the rate
            self.state = replace(self.state, fault=spike)
            return self.state
        if i < len(self.times) and self.times[i] == t:  # same second: the later reading wins
            self.depths[i] = depth_cm
            if i == len(self.times) - 1 and i >= self.anchor_index:
                self.state = self._step(self._before_last, i)
                return self.state
            late = True
        else:
            self.times.insert(i, t)
            self.depths.insert(i, depth_cm)
            late = i < len(self.times) - 1
            if i < self.anchor_index:  # older than the anchor: too late to regrade the past
                self.anchor_index += 1
                return self.state
        if i < self.anchor_index:
            return self.state
        if late:
            self._before_last, self.state = self._fold(self.anchor, self.anchor_index)
        else:
            self._before_last, self.state = self.state, self._step(self.state, i)
        self._advance_anchor()
        return self.state

    def _spike(self, i: int, time_ms: int, depth_cm: float) -> str | None:
        r = self.rules
        for j in (i - 1, i):  # the neighbours in event time
            if 0 <= j < len(self.times) and self.times[j] != time_ms:
                close = abs(self.times[j] - time_ms) <= r.spike_window_s * 1000
                if close and abs(depth_cm - self.depths[j]) > r.spike_cm:
                    return f"sensor fault: spike of {depth_cm - self.depths[j]:+.0f} cm ignored"
        return None

    def _fold(self, start: GaugeState, index: int) -> tuple[GaugeState, GaugeState]:
        """Refold from ``start``; returns (the state before the last reading, the last state)."""
        before, state = start, start
        for i in range(index, len(self.times)):
            before, state = state, self._step(state, i)
        return before, state

    def _advance_anchor(self) -> None:
        """Keep about two windows of readings; fold older ones into the anchor state."""
        horizon = self.times[-1] - int(2 * (self.rules.rate_window_s + self.rules.dwell_s) * 1000)
        while self.anchor_index < len(self.times) and self.times[self.anchor_index] < horizon:
            self.anchor = self._step(self.anchor, self.anchor_index)
            self.anchor_index += 1
        keep_from = 0
        if self.anchor_index:
            oldest_needed = self.times[self.anchor_index - 1] - int(self.rules.rate_window_s * 1000)
            keep_from = bisect.bisect_left(self.times, oldest_needed)
        if keep_from > 0:
            del self.times[:keep_from], self.depths[:keep_from]
            self.anchor_index -= keep_from

    def _step(self, prev: GaugeState, i: int) -> GaugeState:
        r = self.rules
        t, depth = self.times[i], self.depths[i]
        window_start = t - int(r.rate_window_s * 1000)
        lo = bisect.bisect_left(self.times, window_start, 0, i + 1)
        rise = depth - min(self.depths[lo : i + 1])
        by_depth = 2 if depth >= r.red_cm else 1 if depth >= r.yellow_cm else 0
        lift = (
            1
            if (by_depth == 0 and rise >= r.rate_yellow_cm) or (by_depth == 1 and rise >= r.rate_red_cm)
            else 0
        )
        candidate = by_depth + lift
        reason = f"depth {depth:.1f} cm" + (f", rising {rise:.1f} cm in 10 min" if lift else "")
        current = RANK.get(prev.level, 0)
        state = replace(prev, depth_cm=depth, rise_cm=rise, fault=None, last_ms=t)
        if candidate > current or prev.last_ms < 0:
            since = t if candidate != current or prev.last_ms < 0 else prev.since_ms
            return replace(
                state, level=BY_RANK[candidate], since_ms=since, reason=reason, below_since_ms=None
            )
        if candidate == current:
            calm = depth < r.thresholds(prev.level) - r.hysteresis_cm if current else False
            below = (prev.below_since_ms or t) if calm else None
            return replace(state, below_since_ms=below, reason=reason if current else prev.reason)
        # candidate < current: downgrade only after the dwell below threshold - hysteresis
        if depth >= r.thresholds(prev.level) - r.hysteresis_cm or lift:
            return replace(state, below_since_ms=None)
        below = prev.below_since_ms if prev.below_since_ms is not None else t
        if t - below >= r.dwell_s * 1000:
            return replace(state, level=BY_RANK[candidate], since_ms=t, reason=reason, below_since_ms=None)
        return replace(state, below_since_ms=below)
