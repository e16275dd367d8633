"""Checks in every plan (DOMAIN.md, drones): true height above ground from the DEM (below 120 m
by default, or an area's ``max_agl_m``: reaching the limit is refused), no waypoint or leg in a
no-fly area, controlled airspace and airport protection zones requiring an approval id, and the
flight time and battery at RTL. Planned heights follow the terrain: waypoints keep their height
above ground (relative altitude compensated from the home elevation, or the terrain frame), with
waypoints added where the ground changes more than a tolerance between two.

True height above ground at a point, by the item's altitude frame (docs/missions-frames.md):
relative to home: home ground + alt − ground; AMSL: alt − ground; terrain frame: alt; QGC's
AltitudeMode 3 (frame AMSL): its AMSL altitude − ground, or, while QGC has not computed that
altitude, the height above terrain it asks for. Along a leg the altitude is interpolated in AMSL,
except into a terrain-frame waypoint, where the height above ground is (terrain following)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

import numpy as np
from shapely.geometry import LineString, Polygon

from drones.missions import (
    AMSL_FRAMES,
    MODE_CALC_ABOVE_TERRAIN,
    NAV_LAND,
    NAV_LOITER_TIME,
    NAV_RETURN_TO_LAUNCH,
    NAV_TAKEOFF,
    NAV_VTOL_LAND,
    NAV_WAYPOINT,
    RELATIVE_FRAMES,
    TERRAIN_FRAMES,
    Checks,
    MissionItem,
)
from drones.planning import local
from drones.terrain import Array, Terrain
from telemetry.config_drones import DroneTypeConfig

DEFAULT_BATTERY = DroneTypeConfig()  # 22 min endurance, 25 % reserve, 2.5 m/s climb
NO_FLY_KINDS = frozenset({"no_fly"})  # Zone kinds the vehicle must stay out of (and fences)


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


def _ground(terrain: Terrain, lat: float, lon: float, default: float = 0.0) -> float:
    z = float(terrain.elevation(np.array([lat]), np.array([lon]))[0])
    return default if math.isnan(z) else z


def _compensate(it: MissionItem, terrain: Terrain, home_ground: float) -> MissionItem:
    if it.frame not in RELATIVE_FRAMES or it.alt_m is None:
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


class LevelTerrain:
    """Level ground at one AMSL elevation: "no DEM" for a plan whose home elevation is known (a
    .plan's plannedHomePosition), so that AMSL altitudes are measured from that ground, not from
    sea level."""

    def __init__(self, elevation_m: float) -> None:
        self.elevation_m = elevation_m
        self.description = (
            f"flat (no DEM configured: level ground at the home elevation, {elevation_m:.1f} m AMSL)"
        )

    def elevation(self, lat: Array, lon: Array) -> Array:
        return np.full(np.shape(lat), self.elevation_m, dtype=np.float64)


def resolve_above_terrain(items: list[MissionItem], terrain: Terrain | None) -> list[MissionItem]:
    """AltitudeMode 3 items without an AMSL altitude get one as QGC computes it
    (``SimpleMissionItem::_terrainAltChanged``): param 7 = AMSLAltAboveTerrain = ground + Altitude,
    or QGC's own AMSLAltAboveTerrain when the file has it. Without a DEM (``terrain`` None) or
    over no terrain data, items stay as they are (and the checks refuse them)."""
    out = []
    for it in items:
        amsl = None
        if it.qgc_altitude_mode == MODE_CALC_ABOVE_TERRAIN and it.params[6] is None and it.has_position:
            amsl = it.qgc_amsl_above_terrain
            if amsl is None and it.qgc_altitude is not None and terrain is not None:
                z = float(terrain.elevation(np.array([it.lat]), np.array([it.lon]))[0])
                amsl = None if math.isnan(z) else round(z + it.qgc_altitude, 2)
        out.append(
            it if amsl is None else replace(it, params=(*it.params[:6], amsl), qgc_amsl_above_terrain=amsl)
        )
    return out


@dataclass(frozen=True)
class _Point:
    lon: float
    lat: float
    amsl: float
    agl: float
    follows_terrain: bool  # the leg into this point holds the height above ground


def _point(
    it: MissionItem, seq: int, terrain: Terrain, home_ground: float, prev_amsl: float, notes: list[str]
) -> _Point:
    lat, lon = it.lat or 0.0, it.lon or 0.0
    ground = _ground(terrain, lat, lon, home_ground)
    alt = it.params[6]
    if it.qgc_altitude_mode == MODE_CALC_ABOVE_TERRAIN:
        amsl = it.amsl_target_m
        if amsl is not None:
            return _Point(lon, lat, amsl, amsl - ground, False)
        if it.qgc_altitude is not None:
            notes.append(f"item {seq}: AltitudeMode 3 without a computed AMSL altitude (no DEM here):"
                         f" checked at its {it.qgc_altitude:g} m above terrain")  # fmt: skip
            return _Point(lon, lat, ground + it.qgc_altitude, it.qgc_altitude, False)
        alt = None
    if alt is None:
        notes.append(f"item {seq}: no altitude (param 7 is null): nothing the vehicle could fly")
        return _Point(lon, lat, prev_amsl, prev_amsl - ground, False)
    if it.frame in TERRAIN_FRAMES:
        return _Point(lon, lat, ground + alt, alt, True)
    if it.frame in AMSL_FRAMES:
        return _Point(lon, lat, alt, alt - ground, False)
    if it.frame not in RELATIVE_FRAMES:
        notes.append(f"item {seq}: frame {it.frame} has no global altitude: checked as relative to home")
    return _Point(lon, lat, home_ground + alt, home_ground + alt - ground, False)


def _path(
    items: list[MissionItem], terrain: Terrain, home: tuple[float, float], home_ground: float
) -> tuple[list[_Point], dict[int, _Point], list[str]]:
    """From home (on the ground) through every place flown to, and back home unless it lands."""
    notes: list[str] = []
    path = [_Point(home[0], home[1], home_ground, 0.0, False)]
    at: dict[int, _Point] = {}
    for k, it in enumerate(items):
        if it.flown_to:
            at[k] = _point(it, k, terrain, home_ground, path[-1].amsl, notes)
            path.append(at[k])
    last = next((it for it in reversed(items) if it.flown_to), None)
    if last is None or last.command not in (NAV_LAND, NAV_VTOL_LAND):
        back = path[-1].amsl  # RTL at the last altitude
        path.append(_Point(home[0], home[1], back, back - home_ground, False))
    return path, at, notes


def true_heights(items: list[MissionItem], terrain: Terrain, home: tuple[float, float]) -> list[float | None]:
    """Each item's true height above the ground under it (None where the vehicle does not fly to)."""
    home_ground = _ground(terrain, home[1], home[0])
    _, at, _ = _path(items, terrain, home, home_ground)
    return [round(at[k].agl, 2) if k in at else None for k in range(len(items))]


def check(
    items: list[MissionItem],
    terrain: Terrain,
    zones: list[Zone],
    home: tuple[float, float],
    height_limit_m: float,
    speed_ms: float,
    battery_model: DroneTypeConfig = DEFAULT_BATTERY,
) -> Checks:
    """The checks of a plan, its battery estimated with the drone type's model (configuration
    ``[drones.types.*]``; at plan time the default type's)."""
    home_ground = _ground(terrain, home[1], home[0])
    path, _, notes = _path(items, terrain, home, home_ground)
    missing = tuple(k for k, it in enumerate(items) if it.flown_to and it.params[6] is None)
    loiter_s = sum(it.params[0] or 0.0 for it in items if it.flown_to and it.command == NAV_LOITER_TIME)
    # true height above ground, sampled along every leg (every ~20 m)
    max_agl = 0.0
    length = 0.0
    fwd, back = local(home[1], home[0])
    for a, b in itertools.pairwise(path):
        x0, y0 = fwd.transform(a.lon, a.lat)
        x1, y1 = fwd.transform(b.lon, b.lat)
        leg = math.hypot(x1 - x0, y1 - y0)
        length += leg
        f = np.linspace(0, 1, max(2, int(leg / 20) + 1))
        if b.follows_terrain:
            agl = a.agl + f * (b.agl - a.agl)
        else:
            lon, lat = back.transform(x0 + f * (x1 - x0), y0 + f * (y1 - y0))
            ground = terrain.elevation(np.asarray(lat), np.asarray(lon))
            ground = np.where(np.isnan(ground), home_ground, ground)
            agl = a.amsl + f * (b.amsl - a.amsl) - ground
        max_agl = max(max_agl, float(np.max(agl)))
    legs = LineString([(p.lon, p.lat) for p in path])
    no_fly = tuple(z.id for z in zones if z.kind in NO_FLY_KINDS and legs.intersects(z.polygon))
    approvals = tuple(z.id for z in zones if z.kind == "controlled" and legs.intersects(z.polygon))
    limit = min([height_limit_m] + [z.max_agl_m for z in zones if z.max_agl_m and legs.intersects(z.polygon)])
    climb = max(max((p.amsl - home_ground for p in path), default=0.0), 0.0) / battery_model.climb_ms * 2
    flight_s = length / speed_ms + loiter_s + climb
    battery = 100.0 - 100.0 * flight_s / battery_model.endurance_s
    return Checks(
        max_true_height_m=round(max_agl, 1),
        height_limit_m=limit,
        no_fly_violations=no_fly,
        approval_required=bool(approvals),
        approval_reasons=approvals,
        estimated_flight_s=round(flight_s),
        battery_at_rtl_pct=round(battery, 1),
        battery_ok=battery >= battery_model.reserve_pct,
        terrain=terrain.description,
        notes=tuple(notes),
        missing_altitude=missing,
    )
