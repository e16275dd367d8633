"""The rate-of-rise window of one stream of readings in event order, in O(1) amortised per reading
(issue 22): the same figure as :func:`telemetry.flood.rules.counted_rise`, which scans the whole
window for every reading.

Two monotonic deques over the readings already passed (``lows``: increasing depths, the latest
of equal ones kept; ``highs``: the suffix maxima, decreasing) give the lowest depth of the window
and the highest since that lowest. The newest reading stays *pending* (outside the deques) until a
later second arrives, so a reading that replaces it in the same second costs O(1) too. A stream
that must go back in time (a late reading) is :meth:`reset` and :meth:`seed`\\ ed from the sorted
lists by its owner (:class:`telemetry.flood.rules.GaugeHistory`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable


class RiseWindow:
    """Readings ``(time_ms, depth_cm)`` with strictly increasing times (a repeated time replaces
    the pending reading)."""

    __slots__ = ("highs", "lows", "pending")

    def __init__(self) -> None:
        self.lows: deque[tuple[int, float]] = deque()
        self.highs: deque[tuple[int, float]] = deque()
        self.pending: tuple[int, float] | None = None

    def reset(self) -> None:
        self.lows.clear()
        self.highs.clear()
        self.pending = None

    def seed(self, readings: Iterable[tuple[int, float]]) -> None:
        """Readings before the next one to be stepped (in time order), passed without a figure."""
        for reading in readings:
            self._push(reading)

    def _push(self, reading: tuple[int, float]) -> None:
        depth = reading[1]
        lows, highs = self.lows, self.highs
        while lows and lows[-1][1] >= depth:  # the latest of equal lows counts
            lows.pop()
        lows.append(reading)
        while highs and highs[-1][1] <= depth:
            highs.pop()
        highs.append(reading)

    def rise(self, time_ms: int, depth: float, window_ms: int, hysteresis: float) -> float:
        """The counted rise at this reading, which becomes the pending one: the depth minus the
        lowest in ``[time_ms - window_ms, time_ms]``, or 0 when the depth is more than
        ``hysteresis`` under the highest since that lowest."""
        pending = self.pending
        if pending is not None and pending[0] != time_ms:
            self._push(pending)
        self.pending = (time_ms, depth)
        start = time_ms - window_ms
        lows, highs = self.lows, self.highs
        while lows and lows[0][0] < start:
            lows.popleft()
        while highs and highs[0][0] < start:
            highs.popleft()
        if not lows or lows[0][1] >= depth:  # this reading is the (latest) lowest
            return depth - depth
        at_ms, lowest = lows[0]
        while highs[0][0] < at_ms:  # the lows' front only moves forward: so may the highs'
            highs.popleft()
        highest = highs[0][1] if highs[0][1] > depth else depth
        return depth - lowest if depth >= highest - hysteresis else 0.0
