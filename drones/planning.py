"""Mission planners: ``survey`` (lawnmower lanes from a camera model), ``points`` and
``hotspots`` (a nearest-neighbour tour improved with 2-opt). Every mission takes off first and
ends with RTL. Geometry in a local transverse Mercator around the area (metres, pyproj)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
from pyproj import Transformer
from shapely import affinity
from shapely.geometry import LineString, Polygon

from drones.missions import (
    DO_CHANGE_SPEED,
    DO_SET_CAM_TRIGG_DIST,
    FRAME_MISSION,
    NAV_LOITER_TIME,
    NAV_RETURN_TO_LAUNCH,
    NAV_TAKEOFF,
    NAV_WAYPOINT,
    MissionItem,
    item,
)


@dataclass(frozen=True)
class Camera:
    sensor_width_mm: float = 13.2
    focal_mm: float = 8.8
    image_width_px: int = 5472
    image_height_px: int = 3648

    def footprint_m(self, height_m: float) -> tuple[float, float]:
        width = self.sensor_width_mm * height_m / self.focal_mm
        return width, width * self.image_height_px / self.image_width_px

    def gsd_cm(self, height_m: float) -> float:
        return self.sensor_width_mm * height_m * 100 / (self.focal_mm * self.image_width_px)


def local(lat0: float, lon0: float) -> tuple[Transformer, Transformer]:
    """A local transverse Mercator around (lat0, lon0), metres. Centres are rounded to 0.01°
    (about 1 km): building a pyproj transformer costs milliseconds, and geometry of a few
    kilometres does not care where within a kilometre its projection is centred."""
    return _local(round(lat0, 2), round(lon0, 2))


@cache
def _local(lat0: float, lon0: float) -> tuple[Transformer, Transformer]:
    proj = f"+proj=tmerc +lat_0={lat0} +lon_0={lon0} +k=1 +x_0=0 +y_0=0 +ellps=GRS80 +units=m"
    return (
        Transformer.from_crs("EPSG:4326", proj, always_xy=True),
        Transformer.from_crs(proj, "EPSG:4326", always_xy=True),
    )


MAX_LANES = 2000


def _speed(speed_ms: float) -> MissionItem:
    return item(DO_CHANGE_SPEED, 0.0, 0.0, 0.0, FRAME_MISSION, 1.0, speed_ms, -1.0, 0.0)


def _rtl() -> MissionItem:
    # MAV_FRAME_MISSION: PX4 refuses an RTL item in a global frame (mavlink_mission.cpp
    # parse_mavlink_mission_item); ArduPilot ignores an RTL's frame; QGC writes it so for PX4
    return item(NAV_RETURN_TO_LAUNCH, 0.0, 0.0, 0.0, FRAME_MISSION, p4=0.0)


def survey(
    ring: list[tuple[float, float]],
    altitude_agl_m: float,
    *,
    camera: Camera | None = None,
    front_overlap: float = 0.7,
    side_overlap: float = 0.6,
    speed_ms: float = 8.0,
    angle_deg: float | None = None,
    turnaround_m: float = 15.0,
) -> list[MissionItem]:
    """Lanes over a polygon given as (lon, lat); the lane angle minimises the number of lanes
    (turns) unless given."""
    camera = camera or Camera()
    lon0, lat0 = float(np.mean([p[0] for p in ring])), float(np.mean([p[1] for p in ring]))
    fwd, back = local(lat0, lon0)
    xs, ys = fwd.transform([p[0] for p in ring], [p[1] for p in ring])
    area = Polygon(zip(xs, ys, strict=True))
    width, height = camera.footprint_m(altitude_agl_m)
    spacing = width * (1 - side_overlap)
    trigger = height * (1 - front_overlap)
    # Refused before the lane search, which loops once per lane (found by tests/test_fuzz_api.py:
    # a 1e-300 m altitude never ended, a flat ring had no lane at all, a bow tie broke GEOS).
    minx, miny, maxx, maxy = area.bounds
    if not (area.is_valid and area.area > 0):
        raise ValueError("the survey area is not a simple polygon with an area")
    if not spacing > 0 or math.hypot(maxx - minx, maxy - miny) / spacing > MAX_LANES:
        raise ValueError(
            f"the survey would need more than {MAX_LANES} lanes: a smaller area or a higher altitude"
        )

    def lanes_at(angle: float) -> list[tuple[tuple[float, float], tuple[float, float]]]:
        rotated = affinity.rotate(area, -angle, origin=(0, 0))
        minx, miny, maxx, maxy = rotated.bounds
        out = []
        y = miny + spacing / 2
        while y < maxy:
            cut = rotated.intersection(LineString([(minx - 1, y), (maxx + 1, y)]))
            if not cut.is_empty:
                x_lo, _, x_hi, _ = cut.bounds
                out.append(((x_lo - turnaround_m, y), (x_hi + turnaround_m, y)))
            y += spacing
        return out

    angle = angle_deg if angle_deg is not None else min(range(0, 180, 5), key=lambda a: (len(lanes_at(a)), a))
    lanes = lanes_at(angle)
    if not lanes:
        raise ValueError("the survey area is narrower than one lane")
    path: list[tuple[float, float]] = []
    for k, (a, b) in enumerate(lanes):
        path += [a, b] if k % 2 == 0 else [b, a]
    rad = math.radians(angle)
    px = [x * math.cos(rad) - y * math.sin(rad) for x, y in path]
    py = [x * math.sin(rad) + y * math.cos(rad) for x, y in path]
    lon, lat = back.transform(px, py)
    items = [item(NAV_TAKEOFF, float(lat[0]), float(lon[0]), altitude_agl_m), _speed(speed_ms)]
    items.append(item(DO_SET_CAM_TRIGG_DIST, 0.0, 0.0, 0.0, FRAME_MISSION, round(trigger, 2), 0.0, 1.0, 0.0))
    items += [item(NAV_WAYPOINT, float(a), float(o), altitude_agl_m) for a, o in zip(lat, lon, strict=True)]
    items.append(item(DO_SET_CAM_TRIGG_DIST, 0.0, 0.0, 0.0, FRAME_MISSION, 0.0, 0.0, 1.0, 0.0))
    items.append(_rtl())
    return items


def points(
    pts: list[tuple[float, float]], altitude_agl_m: float, *, loiter_s: float = 0.0, speed_ms: float = 8.0
) -> list[MissionItem]:
    """Given (lon, lat) points in order, with a loiter at each."""
    if not pts:
        raise ValueError("a points mission needs at least one point")
    first_lon, first_lat = pts[0]
    items = [item(NAV_TAKEOFF, first_lat, first_lon, altitude_agl_m), _speed(speed_ms)]
    for lon, lat in pts:
        if loiter_s > 0:
            # p4 0, not NaN: ArduPilot allows NaN only in param4 of WAYPOINT, LAND and TAKEOFF
            # (AP_Mission::sanity_check_params) and refuses it here with INVALID_PARAM4
            items.append(item(NAV_LOITER_TIME, lat, lon, altitude_agl_m, p1=loiter_s, p4=0.0))
        else:
            items.append(item(NAV_WAYPOINT, lat, lon, altitude_agl_m))
    items.append(_rtl())
    return items


def tour(home: tuple[float, float], pts: list[tuple[float, float]]) -> list[int]:
    """Visiting order of (lon, lat) points from home: nearest neighbour, then 2-opt."""
    if not pts:
        return []
    fwd, _ = local(home[1], home[0])
    xs, ys = fwd.transform([home[0], *(p[0] for p in pts)], [home[1], *(p[1] for p in pts)])
    xy = np.column_stack([xs, ys])
    dist = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    order, left = [0], set(range(1, len(xy)))
    while left:
        nxt = min(left, key=lambda j: dist[order[-1], j])
        order.append(nxt)
        left.remove(nxt)
    order.append(0)  # back home (RTL)
    improved = True
    while improved:
        improved = False
        for i in range(1, len(order) - 2):
            for j in range(i + 1, len(order) - 1):
                a, b, c, d = order[i - 1], order[i], order[j], order[j + 1]
                if dist[a, c] + dist[b, d] < dist[a, b] + dist[c, d] - 1e-9:
                    order[i : j + 1] = reversed(order[i : j + 1])
                    improved = True
    return [k - 1 for k in order[1:-1]]
