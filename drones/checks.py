"""Checks in every plan (DOMAIN.md, drones): true height above ground from the DEM (≤ 120 m by
default, or an area's ``max_agl_m``), no waypoint or leg in a no-fly area, controlled airspace
and airport protection zones requiring an approval id, and the flight time and battery at RTL.
Heights follow the terrain: waypoints keep their height above ground (relative altitude
compensated from the home elevation, or the terrain frame), with waypoints added where the
ground changes more than a tolerance between two."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

import numpy as np
from shapely.geometry import LineString, Polygon

from drones.missions import (
    FRAME_TERRAIN_ALT,
    NAV_LOITER_TIME,
    NAV_RETURN_TO_LAUNCH,
    NAV_TAKEOFF,
    NAV_WAYPOINT,
    Checks,
    MissionItem,
)
from drones.planning import local
from drones.terrain import Terrain

ENDURANCE_S = 22 * 60
MIN_BATTERY_PCT = 25.0
CLIMB_MS = 2.5


@dataclass(frozen=True)
class Zone:
    id: str
    kind: str  # no_fly | controlled | patrol
    polygon: Polygon  # lon/lat
    max_agl_m: float | None = None


def airport_zone(
    icao: str,
    lat: float,
    lon: float,
    bearing_deg: float,
    runway_m: float,
    half_width_m: float,
    extension_m: float,
) -> Zone:
    """± half_width of the runway centre line, extended beyond each end: controlled."""
    _fwd, back = local(lat, lon)
    half_len = runway_m / 2 + extension_m
    b = math.radians(bearing_deg)
    ux, uy = math.sin(b), math.cos(b)  # along the runway (east, north)
    vx, vy = uy, -ux  # across
    corners = [
        (s * half_len * ux + t * half_width_m * vx, s * half_len * uy + t * half_width_m * vy)
        for s, t in ((1, 1), (1, -1), (-1, -1), (-1, 1))
    ]
    lon_c, lat_c = back.transform([c[0] for c in corners], [c[1] for c in corners])
    return Zone(f"{icao} protection zone", "controlled", Polygon(zip(lon_c, lat_c, strict=True)))


def follow_terrain(
    items: list[MissionItem],
    terrain: Terrain,
    home: tuple[float, float],
    tolerance_m: float = 5.0,
    sample_m: float = 20.0,
) -> list[MissionItem]:
    """Relative altitudes compensated for the ground under each waypoint (from the home
    elevation), with waypoints inserted where the ground departs from a straight leg by more
    than ``tolerance_m``. Terrain-frame items keep their height above ground as they are."""
    home_ground = float(terrain.elevation(np.array([home[1]]), np.array([home[0]]))[0])
    home_ground = 0.0 if math.isnan(home_ground) else home_ground
    out: list[MissionItem] = []
    takeoff_alt = next((i.alt_m for i in items if i.has_position), 0.0)
    # the vehicle climbs at home: the first leg starts there, whatever the takeoff item says
    prev: MissionItem | None = MissionItem(
        NAV_WAYPOINT, 3, (0.0, 0.0, 0.0, None, home[1], home[0], takeoff_alt)
    )
    for it in items:
        if not it.has_position or it.command == NAV_RETURN_TO_LAUNCH:
            out.append(it)
            continue
        if it.command == NAV_TAKEOFF:
            out.append(
                _compensate(
                    replace(it, params=(*it.params[:4], home[1], home[0], it.params[6])), terrain, home_ground
                )
            )
            continue
        if prev is not None and it.command in (NAV_WAYPOINT, NAV_LOITER_TIME):
            out += _extra(prev, it, terrain, tolerance_m, sample_m, home_ground)
        out.append(_compensate(it, terrain, home_ground))
        prev = it
    return out


def _ground(terrain: Terrain, lat: float, lon: float) -> float:
    z = float(terrain.elevation(np.array([lat]), np.array([lon]))[0])
    return 0.0 if math.isnan(z) else z


def _compensate(it: MissionItem, terrain: Terrain, home_ground: float) -> MissionItem:
    if it.frame == FRAME_TERRAIN_ALT or it.alt_m is None:
        return it
    ground = _ground(terrain, it.lat or 0.0, it.lon or 0.0)
    p = list(it.params)
    p[6] = round(it.alt_m + ground - home_ground, 1)
    return replace(it, params=tuple(p))  # type: ignore[arg-type]


def _extra(
    a: MissionItem, b: MissionItem, terrain: Terrain, tol: float, sample_m: float, home_ground: float
) -> list[MissionItem]:
    fwd, back = local(a.lat or 0.0, a.lon or 0.0)
    ax, ay = fwd.transform(a.lon, a.lat)
    bx, by = fwd.transform(b.lon, b.lat)
    n = max(2, int(math.hypot(bx - ax, by - ay) / sample_m))
    f = np.linspace(0.0, 1.0, n + 1)
    lon, lat = back.transform(ax + f * (bx - ax), ay + f * (by - ay))
    z = terrain.elevation(np.asarray(lat), np.asarray(lon))
    z = np.where(np.isnan(z), 0.0, z)
    straight = z[0] + f * (z[-1] - z[0])
    k = int(np.argmax(np.abs(z - straight)))
    if abs(z[k] - straight[k]) <= tol or k in (0, n):
        return []
    mid = replace(
        b, command=NAV_WAYPOINT, params=(0.0, 0.0, 0.0, None, float(lat[k]), float(lon[k]), b.alt_m)
    )
    return [
        *_extra(a, mid, terrain, tol, sample_m, home_ground),
        _compensate(mid, terrain, home_ground),
        *_extra(mid, b, terrain, tol, sample_m, home_ground),
    ]


def check(
    items: list[MissionItem],
    terrain: Terrain,
    zones: list[Zone],
    home: tuple[float, float],
    height_limit_m: float,
    speed_ms: float,
) -> Checks:
    home_ground = _ground(terrain, home[1], home[0])
    path = [(home[0], home[1], 0.0)]
    loiter_s = 0.0
    for it in items:
        if it.has_position and it.command != NAV_RETURN_TO_LAUNCH:
            alt = it.alt_m or 0.0
            amsl = alt + (
                _ground(terrain, it.lat or 0, it.lon or 0) if it.frame == FRAME_TERRAIN_ALT else home_ground
            )
            path.append((it.lon or 0.0, it.lat or 0.0, amsl - home_ground))
            if it.command == NAV_LOITER_TIME:
                loiter_s += it.params[0] or 0.0
    path.append((home[0], home[1], path[-1][2]))
    # true height above ground, sampled along every leg (every ~20 m)
    max_agl = 0.0
    length = 0.0
    fwd, back = local(home[1], home[0])
    for (lon0, lat0, z0), (lon1, lat1, z1) in itertools.pairwise(path):
        x0, y0 = fwd.transform(lon0, lat0)
        x1, y1 = fwd.transform(lon1, lat1)
        leg = math.hypot(x1 - x0, y1 - y0)
        length += leg
        f = np.linspace(0, 1, max(2, int(leg / 20) + 1))
        lon, lat = back.transform(x0 + f * (x1 - x0), y0 + f * (y1 - y0))
        ground = terrain.elevation(np.asarray(lat), np.asarray(lon))
        ground = np.where(np.isnan(ground), home_ground, ground)
        agl = home_ground + z0 + f * (z1 - z0) - ground
        max_agl = max(max_agl, float(agl.max()))
    legs = LineString([(p[0], p[1]) for p in path])
    no_fly = tuple(z.id for z in zones if z.kind == "no_fly" and legs.intersects(z.polygon))
    approvals = tuple(z.id for z in zones if z.kind == "controlled" and legs.intersects(z.polygon))
    limit = min([height_limit_m] + [z.max_agl_m for z in zones if z.max_agl_m and legs.intersects(z.polygon)])
    climb = max((p[2] for p in path), default=0.0) / CLIMB_MS * 2
    flight_s = length / speed_ms + loiter_s + climb
    battery = 100.0 - 100.0 * flight_s / ENDURANCE_S
    return Checks(
        max_true_height_m=round(max_agl, 1),
        height_limit_m=limit,
        no_fly_violations=no_fly,
        approval_required=bool(approvals),
        approval_reasons=approvals,
        estimated_flight_s=round(flight_s),
        battery_at_rtl_pct=round(battery, 1),
        battery_ok=battery >= MIN_BATTERY_PCT,
        terrain=terrain.description,
    )
