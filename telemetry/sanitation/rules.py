"""Sanitation-route compliance of one vehicle on one route for one day (DOMAIN.md, sweeping).
Vectorised: a day of fixes is a handful of numpy arrays; passes are runs found with array
operations, never a Python loop per fix.

A pass over a segment (either direction) is a run of consecutive in-corridor fixes on it; it is
valid when it covers ≥ 80 % of the segment, ≥ 90 % of its fixes are under the speed limit, the
brush/spray is on for ≥ 90 % of them (when reported) and it lies inside the route's time window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from telemetry.geo import gcj02_to_wgs84
from telemetry.sanitation.corridors import Array, Route, in_window, to_metric

Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Rules:
    crs: str = "EPSG:4549"
    max_hdop: float = 5.0
    max_implied_kmh: float = 120.0
    gap_s: float = 300.0
    min_coverage: float = 0.8
    min_under_limit: float = 0.9
    min_working: float = 0.9
    max_overspeed_ratio: float = 0.1
    tz_offset_min: int = 480  # Asia/Shanghai


@dataclass(frozen=True)
class Fixes:
    """One vehicle's fixes of one day, sorted by time; NaN where a field was not reported."""

    t_ms: npt.NDArray[np.int64]
    lon: Array
    lat: Array
    speed_kmh: Array
    hdop: Array
    working: Array  # 1.0 on, 0.0 off, NaN unknown


@dataclass(frozen=True)
class Stop:
    id: str
    route: str
    x: float
    y: float
    radius_m: float = 30.0
    min_dwell_s: float = 60.0


@dataclass(frozen=True)
class Compliance:
    vehicle: str
    route: str
    coverage_ratio: float
    valid_passes: int
    planned_passes: int
    overspeed_ratio: float
    off_route_s: float
    gap_s: float
    missed_segments: tuple[str, ...]
    stops_served: int
    stops_planned: int
    compliant: bool
    fixes: int
    dropped_fixes: int
    segment_passes: tuple[tuple[str, int, int], ...]  # (segment, passes, valid passes)
    note: str = ""


def _runs(key: npt.NDArray[np.int64], breaks: Bools) -> npt.NDArray[np.intp]:
    """Start indices of runs of equal ``key`` (a new run also where ``breaks``)."""
    change = np.ones(key.shape, dtype=bool)
    change[1:] = (key[1:] != key[:-1]) | breaks[1:]
    return np.flatnonzero(change)


def judge(vehicle: str, fixes: Fixes, route: Route, stops: list[Stop], rules: Rules) -> Compliance:
    x, y = to_metric(rules.crs).transform(fixes.lon, fixes.lat)
    x, y = np.asarray(x), np.asarray(y)
    t = fixes.t_ms.astype(np.float64) / 1000.0
    # GPS hygiene: bad hdop, then jumps implying more than 120 km/h
    keep = ~(fixes.hdop > rules.max_hdop)
    step = np.hypot(np.diff(x, prepend=x[:1]), np.diff(y, prepend=y[:1]))
    dt = np.diff(t, prepend=t[:1])
    implied = np.where(dt > 0, step / np.maximum(dt, 1e-9) * 3.6, 0.0)
    # A fix that is impossibly far from both neighbours is an outlier (the fix after it, back on
    # the track, is impossibly far from the outlier only, and stays).
    too_fast = implied > rules.max_implied_kmh
    keep &= ~(too_fast & np.append(too_fast[1:], True))
    dropped = int((~keep).sum())
    x, y, t = x[keep], y[keep], t[keep]
    speed = np.where(np.isnan(fixes.speed_kmh[keep]), implied[keep], fixes.speed_kmh[keep])
    working = fixes.working[keep]
    n = len(t)
    all_segments = tuple(route.segment_id(k) for k in range(route.segments))
    empty = Compliance(
        vehicle,
        route.id,
        0.0,
        0,
        route.planned_passes,
        0.0,
        0.0,
        0.0,
        all_segments,
        0,
        0,
        False,
        0,
        dropped,
        (),
    )
    if n == 0:
        return empty
    dt = np.diff(t, prepend=t[:1])
    gap = dt > rules.gap_s
    gap_s = float(dt[gap].sum())
    dist, along = route.locate(x, y)
    inside = dist <= route.half_width_m
    seg = np.where(inside, np.minimum((along // route.segment_m).astype(np.int64), route.segments - 1), -1)
    minute = ((t / 60.0 + rules.tz_offset_min) % 1440).astype(np.float64)
    in_win = in_window(minute, route.window)
    over = speed > route.speed_limit_kmh
    known = ~np.isnan(working)
    on = known & (working > 0.5)

    starts = _runs(seg, gap)
    seg_of = seg[starts]
    counts = np.diff(np.append(starts, n))
    s_min = np.minimum.reduceat(along, starts)
    s_max = np.maximum.reduceat(along, starts)
    under = counts - np.add.reduceat(over.astype(np.int64), starts)
    known_n = np.add.reduceat(known.astype(np.int64), starts)
    on_n = np.add.reduceat(on.astype(np.int64), starts)
    win_n = np.add.reduceat(in_win.astype(np.int64), starts)
    coverage = (s_max - s_min) / route.segment_m
    working_ok = np.where(known_n > 0, on_n >= rules.min_working * np.maximum(known_n, 1), True)
    valid = (
        (seg_of >= 0)
        & (coverage >= rules.min_coverage)
        & (under >= rules.min_under_limit * counts)
        & working_ok
        & (win_n == counts)
    )
    on_route = seg_of >= 0
    passes = np.bincount(seg_of[on_route], minlength=route.segments)
    valid_per_seg = np.bincount(
        seg_of[on_route], weights=valid[on_route].astype(np.float64), minlength=route.segments
    )
    done = np.minimum(valid_per_seg, route.planned_passes) / max(route.planned_passes, 1)
    missed = tuple(route.segment_id(int(k)) for k in np.flatnonzero(valid_per_seg < route.planned_passes))

    working_or_unknown = ~known | on
    judged = inside & working_or_unknown
    overspeed_ratio = float((over & judged).sum() / judged.sum()) if judged.any() else 0.0
    off_route_s = float(dt[~inside & working_or_unknown & ~gap].sum())

    route_stops = [s for s in stops if s.route == route.id]
    served = sum(_served(s, x, y, t, gap) for s in route_stops)
    note = "" if inside.mean() >= 0.2 or n < 10 else _offset_hint(fixes, keep, route, rules)
    coverage_ratio = float(done.mean())
    compliant = not missed and overspeed_ratio <= rules.max_overspeed_ratio and served == len(route_stops)
    return Compliance(
        vehicle, route.id, round(coverage_ratio, 4), int(valid_per_seg.min()), route.planned_passes,
        round(overspeed_ratio, 4), round(off_route_s, 1), round(gap_s, 1), missed, served, len(route_stops),
        compliant, n, dropped,
        tuple((route.segment_id(k), int(passes[k]), int(valid_per_seg[k])) for k in range(route.segments)),
        note,
    )  # fmt: skip


def _served(stop: Stop, x: Array, y: Array, t: Array, gap: Bools) -> bool:
    near = np.hypot(x - stop.x, y - stop.y) <= stop.radius_m
    if not near.any():
        return False
    starts = _runs(near.astype(np.int64), gap)
    ends = np.append(starts[1:], len(t)) - 1
    dwell = t[ends] - t[starts]
    return bool((near[starts] & (dwell >= stop.min_dwell_s)).any())


def _offset_hint(fixes: Fixes, keep: Bools, route: Route, rules: Rules) -> str:
    """Off the corridor almost everywhere: would the track fit if it were GCJ-02?"""
    idx = np.flatnonzero(keep)[:: max(1, int(keep.sum()) // 200)]
    lat, lon = fixes.lat[idx], fixes.lon[idx]
    fixed = np.array([gcj02_to_wgs84(a, o) for a, o in zip(lat, lon, strict=True)])
    x0, y0 = to_metric(rules.crs).transform(lon, lat)
    x1, y1 = to_metric(rules.crs).transform(fixed[:, 1], fixed[:, 0])
    d, _ = route.locate(np.asarray(x1), np.asarray(y1))
    if (d <= route.half_width_m).mean() < 0.6:
        return "the track stays off the route's corridor"
    dx, dy = float(np.mean(np.asarray(x0) - x1)), float(np.mean(np.asarray(y0) - y1))
    bearing = (math.degrees(math.atan2(dx, dy)) + 360) % 360
    compass = [
        "N",
        "NNE",
        "NE",
        "ENE",
        "E",
        "ESE",
        "SE",
        "SSE",
        "S",
        "SSW",
        "SW",
        "WSW",
        "W",
        "WNW",
        "NW",
        "NNW",
    ]
    towards = compass[round(bearing / 22.5) % 16]
    offset = f"{math.hypot(dx, dy):.0f} m towards {towards} (bearing {bearing:.0f}°)"
    return f"the track looks offset by about {offset}: GCJ-02 coordinates labelled WGS84?"
