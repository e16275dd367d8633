"""Geofence: the no-fly areas near a mission become exclusion polygons, exported in the .plan's
``geoFence`` (drones/formats.py) and uploaded as MAVLink fence items (``MAV_MISSION_TYPE_FENCE``).

An area is "near" when it lies within ``MARGIN_M`` (2 km) of a leg the mission flies: from home
through every place flown to, and back home unless it lands (the legs the checks measure).
Distances are taken in a local transverse Mercator around home (drones/planning.py ``local``).
A polygon keeps at most ``MAX_VERTICES`` vertices: a larger one is simplified and grown by the
simplification tolerance, so that the fence still covers the whole area (an exclusion fence may
be larger than the area, never smaller); the oriented bounding rectangle is the last resort.

Fence items follow the mission protocol's geofence definition (mavlink.io, "Mission Protocol",
and MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION in common.xml): one item per vertex, param 1 the
polygon's vertex count, params 5 and 6 latitude and longitude, frame MAV_FRAME_GLOBAL."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from drones.checks import NO_FLY_KINDS, Zone
from drones.missions import (
    FENCE_POLYGON_VERTEX_EXCLUSION,
    FRAME_GLOBAL,
    NAV_LAND,
    NAV_VTOL_LAND,
    MissionItem,
)
from drones.planning import local

MARGIN_M = 2000.0
MAX_VERTICES = 100
FencePolygon = list[tuple[float, float]]  # (lat, lon) vertices, not closed
_M_PER_DEG = 111_320.0


def legs(items: list[MissionItem], home: tuple[float, float]) -> list[tuple[float, float]]:
    """(lon, lat) from home through every place flown to, and back home unless the mission lands."""
    path = [home, *((i.lon or 0.0, i.lat or 0.0) for i in items if i.flown_to)]
    last = next((i for i in reversed(items) if i.flown_to), None)
    if last is None or last.command not in (NAV_LAND, NAV_VTOL_LAND):
        path.append(home)
    return path


def fence_polygons(
    items: list[MissionItem],
    home: tuple[float, float],
    zones: list[Zone],
    margin_m: float = MARGIN_M,
    max_vertices: int = MAX_VERTICES,
) -> list[FencePolygon]:
    """Exclusion polygons, as (lat, lon) vertices, of the no-fly zones within ``margin_m`` of the
    mission's legs; a multi-part zone gives one polygon per part, holes are not kept."""
    path = legs(items, home)
    fwd, _ = local(home[1], home[0])
    xs, ys = fwd.transform([p[0] for p in path], [p[1] for p in path])
    flown: BaseGeometry = LineString(zip(xs, ys, strict=True)) if len(path) > 1 else Point(xs[0], ys[0])
    near = _degree_box(path, margin_m)
    out: list[FencePolygon] = []
    for zone in zones:
        if zone.kind not in NO_FLY_KINDS:
            continue
        for part in _parts(zone.polygon):
            if not part.intersects(near):
                continue  # far away: not worth (nor safe) projecting
            metric = shapely.transform(part, lambda c: np.column_stack(fwd.transform(c[:, 0], c[:, 1])))
            if flown.distance(metric) <= margin_m:
                out.append(_bounded(part, metric, home, max_vertices))
    return out


def _degree_box(path: list[tuple[float, float]], margin_m: float) -> Polygon:
    """A box in degrees around the legs, generously larger than ``margin_m``."""
    lons, lats = [p[0] for p in path], [p[1] for p in path]
    dlat = 2 * margin_m / _M_PER_DEG
    coslat = max(math.cos(math.radians(max(abs(min(lats)), abs(max(lats))) + dlat)), 0.01)
    dlon = dlat / coslat
    return Polygon.from_bounds(min(lons) - dlon, min(lats) - dlat, max(lons) + dlon, max(lats) + dlat)


def _parts(geometry: BaseGeometry) -> list[Polygon]:
    if isinstance(geometry, Polygon):
        return [geometry] if not geometry.is_empty else []
    if isinstance(geometry, MultiPolygon):
        return [g for g in geometry.geoms if not g.is_empty]
    return []


def _ring(polygon: Polygon) -> list[tuple[float, float]]:
    coords = [(float(x), float(y)) for x, y, *_ in polygon.exterior.coords]
    return coords[:-1] if len(coords) > 1 and coords[0] == coords[-1] else coords


def _bounded(part: Polygon, metric: Polygon, home: tuple[float, float], max_vertices: int) -> FencePolygon:
    """The zone's outline as (lat, lon), with at most ``max_vertices`` vertices, covering it."""
    ring = _ring(part)
    if len(ring) <= max_vertices:
        return [(round(lat, 7), round(lon, 7)) for lon, lat in ring]
    outline = Polygon(metric.exterior)
    cover: Polygon | None = None
    tol = max(outline.length / max_vertices / 100, 0.1)
    for _ in range(40):
        grown = outline.simplify(tol, preserve_topology=True).buffer(tol * 1.01, join_style="mitre")
        candidate = Polygon(grown.exterior) if isinstance(grown, Polygon) else None
        if candidate is not None and len(_ring(candidate)) <= max_vertices and candidate.covers(outline):
            cover = candidate
            break
        tol *= 1.5
    if cover is None:
        cover = outline.minimum_rotated_rectangle
    _, back = local(home[1], home[0])
    lon, lat = back.transform([p[0] for p in _ring(cover)], [p[1] for p in _ring(cover)])
    return [(round(float(a), 7), round(float(o), 7)) for a, o in zip(lat, lon, strict=True)]


def fence_items(polygons: list[FencePolygon]) -> list[MissionItem]:
    """MAVLink fence items (upload with MAV_MISSION_TYPE_FENCE): for each exclusion polygon, one
    MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION (5002) per vertex in order, frame GLOBAL (0),
    param 1 the vertex count, params 5 and 6 the vertex's latitude and longitude, the rest 0."""
    out = []
    for k, poly in enumerate(polygons):
        if len(poly) < 3:
            raise ValueError(f"fence polygon {k} has {len(poly)} vertices: at least 3 are needed")
        n = float(len(poly))
        out += [
            MissionItem(FENCE_POLYGON_VERTEX_EXCLUSION, FRAME_GLOBAL, (n, 0.0, 0.0, 0.0, lat, lon, 0.0))
            for lat, lon in poly
        ]
    return out


def fence_json(polygons: list[FencePolygon]) -> list[dict[str, Any]]:
    """The fence in a mission's JSON: ``[{"polygon": [[lat, lon], ...], "inclusion": false}]``."""
    return [{"polygon": [[lat, lon] for lat, lon in poly], "inclusion": False} for poly in polygons]


def merge(*fences: list[FencePolygon]) -> list[FencePolygon]:
    """The polygons of every fence, each once, in order."""
    out: list[FencePolygon] = []
    for fence in fences:
        out += [p for p in fence if p not in out]
    return out
