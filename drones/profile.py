"""A mission's terrain profile (issue 21): along the flown route, the ground elevation and the
flight altitude (both AMSL, metres) against the distance flown, for the dashboard's chart. The
flight altitude at each flown item is its ground plus its true height (drones/checks.py); between
items the ground is sampled every ~25 m and the flight line is interpolated."""

from __future__ import annotations

import itertools
import math

import numpy as np

from drones.checks import true_heights
from drones.missions import MissionItem
from drones.planning import local
from drones.terrain import Terrain

STEP_M = 25.0
MAX_POINTS = 500  # a chart, and kept with the mission: long routes are sampled more coarsely


def mission_profile(
    items: list[MissionItem], terrain: Terrain, home: tuple[float, float]
) -> list[dict[str, float]]:
    """``[{"distance_m", "ground_m", "flight_m"}, ...]`` from home along the flown items."""
    heights = true_heights(items, terrain, home)
    stops = [(home[0], home[1], None)] + [
        (i.lon, i.lat, heights[k])
        for k, i in enumerate(items)
        if i.flown_to and i.lon is not None and i.lat is not None and heights[k] is not None
    ]
    if len(stops) < 2:
        return []
    fwd, back = local(home[1], home[0])
    xy = [fwd.transform(lon, lat) for lon, lat, _ in stops]
    total = sum(math.dist(a, b) for a, b in itertools.pairwise(xy))
    step = max(STEP_M, total / MAX_POINTS)

    def ground(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        z = terrain.elevation(lat, lon)
        return np.where(np.isnan(z), 0.0, z)

    home_ground = float(ground(np.array([home[1]]), np.array([home[0]]))[0])
    # the flight altitude (AMSL) at each stop; home is on the ground
    flight = [home_ground] + [
        float(ground(np.array([lat]), np.array([lon]))[0]) + float(agl or 0.0) for lon, lat, agl in stops[1:]
    ]
    out: list[dict[str, float]] = []
    done = 0.0
    for k, ((x0, y0), (x1, y1)) in enumerate(itertools.pairwise(xy)):
        leg = math.hypot(x1 - x0, y1 - y0)
        f = np.linspace(0.0, 1.0, max(2, int(leg / step) + 1))
        if k:
            f = f[1:]  # the leg's first point is the previous leg's last
        lon, lat = back.transform(x0 + f * (x1 - x0), y0 + f * (y1 - y0))
        z = ground(np.asarray(lat), np.asarray(lon))
        for t, g in zip(f, z, strict=True):
            out.append(
                {
                    "distance_m": round(done + float(t) * leg, 1),
                    "ground_m": round(float(g), 1),
                    "flight_m": round(flight[k] + float(t) * (flight[k + 1] - flight[k]), 1),
                }
            )
        done += leg
    return out
