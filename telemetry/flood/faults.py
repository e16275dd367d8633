"""Stuck gauges (DOMAIN.md, flood sensor faults), as pure pieces the engine holds per gauge.

A gauge is stuck when its readings have been identical for ``stuck_after_s`` while at least
``stuck_neighbours`` gauges within ``stuck_radius_m`` changed by ``stuck_change_cm`` or more
(their highest minus their lowest reading since the stuck run began); when its neighbours are
flat too (dry weather) nothing is flagged.

- :func:`neighbours_within`: each gauge's neighbours, computed once from the registry's positions
  with a grid of cells one radius wide (a spatial hash: each gauge looks at the 3 x 3 cells around
  its own), so the work is proportional to the gauges and their neighbours, not their square.
- :class:`Excursions`: a gauge's lowest and highest depth per time bucket over the stuck window,
  so "changed by ≥ 5 cm since t" costs a bounded scan whatever the reporting rate.
- :class:`Run`: the current run of identical readings of one gauge.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

_EARTH_RADIUS_M = 6_371_008.8
_M_PER_DEG_LAT = math.pi * _EARTH_RADIUS_M / 180.0
BUCKETS = 72  # time buckets per stuck window (5 minutes for 6 hours): the resolution of a change


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two WGS84 (lon, lat) points (haversine)."""
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))


def neighbours_within(
    positions: Mapping[str, tuple[float, float]], radius_m: float
) -> dict[str, tuple[str, ...]]:
    """Each gauge's neighbours (ids, nearest first) within ``radius_m``; ``positions`` are WGS84
    (lon, lat). Cells are ``radius_m`` high and at least ``radius_m`` wide at the highest latitude
    present, so every neighbour lies in the 3 x 3 cells around a gauge's own."""
    if not positions:
        return {}
    max_lat = min(89.0, max(abs(lat) for _, lat in positions.values()))
    cell_lat = radius_m / _M_PER_DEG_LAT
    cell_lon = radius_m / (_M_PER_DEG_LAT * math.cos(math.radians(max_lat)))
    grid: dict[tuple[int, int], list[str]] = {}
    cells: dict[str, tuple[int, int]] = {}
    for gauge, (lon, lat) in positions.items():
        cells[gauge] = cell = (math.floor(lon / cell_lon), math.floor(lat / cell_lat))
        grid.setdefault(cell, []).append(gauge)
    out: dict[str, tuple[str, ...]] = {}
    for gauge, (cx, cy) in cells.items():
        near = []
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for other in grid.get((cx + dx, cy + dy), ()):
                    if other != gauge:
                        d = distance_m(positions[gauge], positions[other])
                        if d <= radius_m:
                            near.append((d, other))
        out[gauge] = tuple(g for _, g in sorted(near))
    return out


@dataclass
class Excursions:
    """The lowest and highest depth per bucket of ``width_ms``, for about ``keep`` buckets."""

    width_ms: int
    keep: int = BUCKETS + 2
    buckets: dict[int, tuple[float, float]] = field(default_factory=dict)
    newest: int | None = None

    def add(self, time_ms: int, depth_cm: float) -> None:
        k = time_ms // self.width_ms
        if self.newest is not None and k < self.newest - self.keep:
            return  # older than the window kept
        lo, hi = self.buckets.get(k, (depth_cm, depth_cm))
        self.buckets[k] = (min(lo, depth_cm), max(hi, depth_cm))
        if self.newest is None or k > self.newest:
            self.newest = k
            for old in [b for b in self.buckets if b < k - self.keep]:
                del self.buckets[old]

    def change_since(self, start_ms: int) -> float:
        """Highest minus lowest depth in the buckets that begin at or after ``start_ms`` (a
        bucket straddling it is left out: a change before the run never counts)."""
        first = -(-start_ms // self.width_ms)
        lows = [lo for k, (lo, _) in self.buckets.items() if k >= first]
        highs = [hi for k, (_, hi) in self.buckets.items() if k >= first]
        return max(highs) - min(lows) if lows else 0.0


@dataclass
class Run:
    """A gauge's current run of identical readings, in event time."""

    value: float | None = None
    since_ms: int = 0  # event time of the run's first reading
    last_ms: int = -1  # event time of its last reading

    def add(self, time_ms: int, depth_cm: float) -> bool:
        """Fold one accepted reading in; True when the run is broken (a different value)."""
        if time_ms >= self.last_ms:  # in order (or the same instant again: the later wins)
            if depth_cm == self.value:
                self.last_ms = time_ms
                return False
            self.value, self.since_ms, self.last_ms = depth_cm, time_ms, time_ms
            return True
        if time_ms >= self.since_ms and depth_cm != self.value:  # a late reading inside the run
            self.since_ms = time_ms + 1  # identical only after it (the next reading is later still)
            return True
        return False

    def length_ms(self) -> int:
        return self.last_ms - self.since_ms if self.value is not None else 0
