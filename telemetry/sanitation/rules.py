"""Sanitation-route compliance of one vehicle on one route for one day, and of a route over all
its vehicles (DOMAIN.md, sweeping). Vectorised: a day of fixes is a handful of numpy arrays, never
a Python loop per fix.

Coverage is measured along the track (:mod:`telemetry.sanitation.coverage`): a visit of a segment
is a *pass* when it covers ≥ 80 % of it, and a *valid pass* when its clean stretches (both
bracketing fixes under the limit, working when reported, in a working window and in no banned
window) cover ≥ 80 % of it, ≥ 90 % of its bracketing fixes are under the limit and the brush is
on for ≥ 90 % of those that report it. Valid mileage is the length swept by valid passes. A route
shared by several vehicles is judged on the union of their valid passes (:func:`judge_route`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from telemetry.geo import gcj02_to_wgs84
from telemetry.sanitation.corridors import Array, Route, to_metric
from telemetry.sanitation.coverage import Along, Track, on_route, track_speed_kmh, visits
from telemetry.sanitation.depots import Depot, in_any
from telemetry.sanitation.windows import in_service, local_minutes

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
    timezone: str | None = None  # an IANA zone: its offset at each fix (daylight saving); else the above
    jitter_m: float = 20.0  # position noise allowed for when judging the speed between two fixes
    bridge: float = 2.0  # a fix within bridge × half-width of the route is noise, not a departure
    speed_baseline_s: float = 60.0  # speed from positions (when not reported) over about this long
    approach_m: float = 250.0  # coverage follows a vehicle this far along the road beyond a route's ends

    @property
    def along(self) -> Along:
        return Along(self.gap_s, self.max_implied_kmh, self.jitter_m)


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
    valid_km: float = 0.0  # km of corridor swept by valid passes
    served: tuple[str, ...] = ()  # ids of the stops served


@dataclass(frozen=True)
class RouteVerdict:
    """A route judged on the union of its vehicles' valid passes, segment by segment."""

    route: str
    vehicles: tuple[str, ...]
    coverage_ratio: float
    valid_passes: int
    planned_passes: int
    missed_segments: tuple[str, ...]
    valid_km: float
    stops_served: int
    stops_planned: int
    compliant: bool
    segment_passes: tuple[tuple[str, int, int], ...]  # (segment, passes, valid passes), all vehicles


def _runs(key: npt.NDArray[np.int64], breaks: Bools) -> npt.NDArray[np.intp]:
    """Start indices of runs of equal ``key`` (a new run also where ``breaks``)."""
    change = np.ones(key.shape, dtype=bool)
    change[1:] = (key[1:] != key[:-1]) | breaks[1:]
    return np.flatnonzero(change)


def _done(valid_per_seg: Array, planned: int) -> tuple[float, tuple[int, ...]]:
    """Coverage ratio (segments with their planned valid passes) and the missed segments."""
    done = np.minimum(valid_per_seg, planned) / max(planned, 1)
    return float(done.mean()), tuple(int(k) for k in np.flatnonzero(valid_per_seg < planned))


def judge(
    vehicle: str, fixes: Fixes, route: Route, stops: list[Stop], rules: Rules, depots: tuple[Depot, ...] = ()
) -> Compliance:
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
    reported = fixes.speed_kmh[keep]
    speed = np.where(np.isnan(reported), track_speed_kmh(t, x, y, rules.speed_baseline_s), reported)
    working = fixes.working[keep]
    n = len(t)
    route_stops = [s for s in stops if s.route == route.id]
    if n == 0:
        all_segments = tuple(route.segment_id(k) for k in range(route.segments))
        return Compliance(
            vehicle, route.id, 0.0, 0, route.planned_passes, 0.0, 0.0, 0.0, all_segments, 0,
            len(route_stops), False, 0, dropped, (),
        )  # fmt: skip
    dt = np.diff(t, prepend=t[:1])
    gap = dt > rules.gap_s
    gap_s = float(dt[gap].sum())
    # coverage follows the track onto the road beyond the route's ends (vehicles come onto a
    # route and leave it along the road); being on the route is judged on the route itself
    dist_ext, along = route.locate(x, y, rules.approach_m)
    dist = dist_ext.copy()
    beyond = (along < 0) | (along > route.length_m)
    if beyond.any():
        dist[beyond] = route.locate(x[beyond], y[beyond])[0]
    width, bridge = route.half_width_m, rules.bridge * route.half_width_m
    inside = dist <= width
    on, _ = on_route(inside, dist > bridge, gap)
    followed, piece = on_route(dist_ext <= width, dist_ext > bridge, gap)
    service = in_service(local_minutes(t, rules.tz_offset_min, rules.timezone), route.windows, route.bans)
    under = ~(speed > route.speed_limit_kmh)
    known = ~np.isnan(working)
    brush = known & (working > 0.5)
    working_or_unknown = ~known | brush
    track = Track(t, x, y, along, followed, piece, under & working_or_unknown & service, under, known, brush)
    v = visits(track, route.segment_m, route.segments, rules.along)
    full = route.segment_m * (rules.min_coverage - 1e-9)
    is_pass = v.covered_m >= full
    is_valid = (
        (v.valid_m >= full)
        & (v.under >= rules.min_under_limit * v.fixes)
        & ((v.known == 0) | (v.on >= rules.min_working * v.known))
    )
    passes = np.bincount(v.segment[is_pass], minlength=route.segments)
    valid_per_seg = np.bincount(v.segment[is_valid], minlength=route.segments).astype(np.float64)
    coverage_ratio, missed_k = _done(valid_per_seg, route.planned_passes)
    missed = tuple(route.segment_id(k) for k in missed_k)

    judged = on & working_or_unknown & service
    overspeed_ratio = float((~under & judged).sum() / judged.sum()) if judged.any() else 0.0
    off = ~on & working_or_unknown & service & ~gap
    if depots and off.any():
        off &= ~in_any(depots, x, y)
    off_route_s = float(dt[off].sum())

    served = tuple(s.id for s in route_stops if _served(s, x, y, t, gap))
    note = "" if inside.mean() >= 0.2 or n < 10 else _offset_hint(fixes, keep, route, rules)
    compliant = (
        not missed and overspeed_ratio <= rules.max_overspeed_ratio and len(served) == len(route_stops)
    )
    return Compliance(
        vehicle, route.id, round(coverage_ratio, 4), int(valid_per_seg.min()), route.planned_passes,
        round(overspeed_ratio, 4), round(off_route_s, 1), round(gap_s, 1), missed, len(served),
        len(route_stops), compliant, n, dropped,
        tuple((route.segment_id(k), int(passes[k]), int(valid_per_seg[k])) for k in range(route.segments)),
        note, round(float(v.valid_m[is_valid].sum()) / 1000.0, 3), served,
    )  # fmt: skip


def judge_route(route: Route, results: list[Compliance], stops: list[Stop]) -> RouteVerdict:
    """The route over all its vehicles' rows: a segment's valid passes are the sum of theirs
    (the union of their passes), a stop is served when any of them served it."""
    mine = [c for c in results if c.route == route.id]
    passes = np.zeros(route.segments, dtype=np.int64)
    valid = np.zeros(route.segments, dtype=np.float64)
    for c in mine:
        if c.segment_passes:
            passes += np.array([p for _, p, _ in c.segment_passes], dtype=np.int64)
            valid += np.array([v for _, _, v in c.segment_passes], dtype=np.float64)
    coverage_ratio, missed_k = _done(valid, route.planned_passes)
    planned_stops = {s.id for s in stops if s.route == route.id}
    served = planned_stops & {s for c in mine for s in c.served}
    missed = tuple(route.segment_id(k) for k in missed_k)
    return RouteVerdict(
        route.id, tuple(c.vehicle for c in mine), round(coverage_ratio, 4), int(valid.min()),
        route.planned_passes, missed, round(sum(c.valid_km for c in mine), 3), len(served),
        len(planned_stops), not missed and len(served) == len(planned_stops),
        tuple((route.segment_id(k), int(passes[k]), int(valid[k])) for k in range(route.segments)),
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
