"""Synthetic GPS tracks along the sample routes, for tests and the compliance benchmark."""

from __future__ import annotations

import json

import numpy as np

from telemetry.assets import sample_assets_dir
from telemetry.geo import wgs84_to_gcj02
from telemetry.sanitation.corridors import Route, load_routes, to_metric
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


def route_lonlat(name: str) -> np.ndarray:
    doc = json.loads((sample_assets_dir() / "routes.geojson").read_text(encoding="utf-8"))
    (f,) = [f for f in doc["features"] if f["properties"]["id"] == name]
    return np.array(f["geometry"]["coordinates"], dtype=float)


def along(name: str, speed_kmh: float, start_ms: int, *, working: bool = True, hz: float = 1.0,
          gcj02: bool = False, dwell_at: tuple[float, float, float] | None = None) -> Fixes:  # fmt: skip
    """A vehicle driving the route end to end at a constant speed; ``dwell_at`` = (lon, lat, s)
    stops it that long at the route point nearest to (lon, lat)."""
    pts = route_lonlat(name)
    seg = np.hypot(np.diff(pts[:, 0]) * 96_500, np.diff(pts[:, 1]) * 111_000)  # metres near 29.9 N
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    dt = 1.0 / hz
    s = np.arange(0.0, cum[-1], speed_kmh / 3.6 * dt)
    if dwell_at is not None:
        lon0, lat0, seconds = dwell_at
        grid = np.linspace(0.0, cum[-1], 20_000)
        gx, gy = np.interp(grid, cum, pts[:, 0]), np.interp(grid, cum, pts[:, 1])
        here = float(grid[np.argmin(np.hypot((gx - lon0) * 96_500, (gy - lat0) * 111_000))])
        k = int(np.searchsorted(s, here))
        s = np.concatenate([s[:k], np.full(int(seconds * hz), here), s[k:]])
    lon = np.interp(s, cum, pts[:, 0])
    lat = np.interp(s, cum, pts[:, 1])
    if gcj02:
        lat, lon = np.array([wgs84_to_gcj02(a, o) for a, o in zip(lat, lon, strict=True)]).T
    n = len(s)
    speed = np.full(n, speed_kmh)
    if dwell_at is not None:
        speed[np.flatnonzero(np.diff(s, prepend=-1.0) == 0)] = 0.0
    t = start_ms + (np.arange(n) * dt * 1000).astype(np.int64)
    return Fixes(t, lon, lat, speed, np.full(n, 0.8), np.full(n, 1.0 if working else 0.0))
