"""Synthetic GPS tracks along the sample routes, for tests and the compliance benchmark."""

from __future__ import annotations

import json

import numpy as np

from telemetry.assets import sample_assets_dir
from telemetry.geo import wgs84_to_gcj02
from telemetry.sanitation.corridors import Route, load_routes, to_metric
from telemetry.sanitation.depots import Depot, load_depots
from telemetry.sanitation.rules import Fixes, Stop


def sample_routes() -> dict[str, Route]:
    doc = json.loads((sample_assets_dir() / "routes.geojson").read_text(encoding="utf-8"))
    return load_routes(doc["features"])


def sample_stops(crs: str = "EPSG:4549") -> list[Stop]:
    doc = json.loads((sample_assets_dir() / "stops.geojson").read_text(encoding="utf-8"))
    out = []
    for f in doc["features"]:
        lon, lat = f["geometry"]["coordinates"]
        x, y = to_metric(crs).transform(lon, lat)
        p = f["properties"]
        out.append(
            Stop(p["id"], p["route"], float(x), float(y), p.get("radius_m", 30), p.get("min_dwell_s", 60))
        )
    return out


def sample_depots() -> tuple[Depot, ...]:
    doc = json.loads((sample_assets_dir() / "areas.geojson").read_text(encoding="utf-8"))
    return load_depots(doc["features"])


def parked(lon: float, lat: float, start_ms: int, seconds: float, *, interval_s: float = 15.0,
           noise_m: float = 3.0, seed: int = 0, working: bool = True) -> Fixes:  # fmt: skip
    """A vehicle standing at (lon, lat), reporting every ``interval_s`` with GPS noise."""
    n = int(seconds // interval_s) + 1
    rng = np.random.default_rng(seed)
    t = start_ms + (np.arange(n) * interval_s * 1000).astype(np.int64)
    lon_n = lon + rng.normal(0.0, noise_m, n) / 96_500
    lat_n = lat + rng.normal(0.0, noise_m, n) / 111_000
    return Fixes(t, lon_n, lat_n, np.zeros(n), np.full(n, 0.8), np.full(n, 1.0 if working else 0.0))


def part(f: Fixes, first: float, last: float) -> Fixes:
    """The fixes from fraction ``first`` to fraction ``last`` of the drive's time."""
    t0, t1 = int(f.t_ms[0]), int(f.t_ms[-1])
    keep = (f.t_ms >= t0 + first * (t1 - t0)) & (f.t_ms <= t0 + last * (t1 - t0))
    return Fixes(f.t_ms[keep], f.lon[keep], f.lat[keep], f.speed_kmh[keep], f.hdop[keep], f.working[keep])


def route_lonlat(name: str) -> np.ndarray:
    doc = json.loads((sample_assets_dir() / "routes.geojson").read_text(encoding="utf-8"))
    (f,) = [f for f in doc["features"] if f["properties"]["id"] == name]
    return np.array(f["geometry"]["coordinates"], dtype=float)


def along(name: str, speed_kmh: float, start_ms: int, *, working: bool = True, hz: float = 1.0,
          gcj02: bool = False, dwell_at: tuple[float, float, float] | None = None,
          interval_s: float | None = None, noise_m: float = 0.0, seed: int = 0,
          through_m: float = 0.0) -> Fixes:  # fmt: skip
    """A vehicle driving the route end to end at a constant speed, reporting every ``interval_s``
    (or at ``hz``); it stops at the end, so its last fix is there. ``dwell_at`` = (lon, lat, s)
    stops it that long at the route point nearest to (lon, lat); ``noise_m`` adds Gaussian GPS
    noise of that standard deviation to each coordinate (east and north), drawn from ``seed``;
    ``through_m`` drives that far along the road before the route's start and past its end (the
    end legs extended), as a vehicle coming onto the route and leaving it."""
    pts = route_lonlat(name)
    if through_m:
        metres = np.array([96_500.0, 111_000.0])
        head = (pts[0] - pts[1]) * metres
        tail = (pts[-1] - pts[-2]) * metres
        pts = np.vstack([pts[0] + head / np.hypot(*head) * through_m / metres, pts,
                         pts[-1] + tail / np.hypot(*tail) * through_m / metres])  # fmt: skip
    seg = np.hypot(np.diff(pts[:, 0]) * 96_500, np.diff(pts[:, 1]) * 111_000)  # metres near 29.9 N
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    dt = interval_s if interval_s is not None else 1.0 / hz
    step = speed_kmh / 3.6 * dt
    s = np.minimum(np.arange(0.0, cum[-1] + step, step), cum[-1])
    if dwell_at is not None:
        lon0, lat0, seconds = dwell_at
        grid = np.linspace(0.0, cum[-1], 20_000)
        gx, gy = np.interp(grid, cum, pts[:, 0]), np.interp(grid, cum, pts[:, 1])
        here = float(grid[np.argmin(np.hypot((gx - lon0) * 96_500, (gy - lat0) * 111_000))])
        k = int(np.searchsorted(s, here))
        s = np.concatenate([s[:k], np.full(int(seconds * hz), here), s[k:]])
    lon = np.interp(s, cum, pts[:, 0])
    lat = np.interp(s, cum, pts[:, 1])
    if noise_m:
        rng = np.random.default_rng(seed)
        lon = lon + rng.normal(0.0, noise_m, len(s)) / 96_500
        lat = lat + rng.normal(0.0, noise_m, len(s)) / 111_000
    if gcj02:
        lat, lon = np.array([wgs84_to_gcj02(a, o) for a, o in zip(lat, lon, strict=True)]).T
    n = len(s)
    speed = np.full(n, speed_kmh)
    if dwell_at is not None:
        speed[np.flatnonzero(np.diff(s, prepend=-1.0) == 0)] = 0.0
    if len(s) > 1 and s[-1] == s[-2]:
        speed[-1] = 0.0  # stopped at the end
    t = start_ms + (np.arange(n) * dt * 1000).astype(np.int64)
    return Fixes(t, lon, lat, speed, np.full(n, 0.8), np.full(n, 1.0 if working else 0.0))
