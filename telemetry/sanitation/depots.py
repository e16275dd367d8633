"""Depots: the areas of kind ``depot`` in areas.geojson (CONTRACT §8), projected once to the
metric CRS. A vehicle inside a depot is parked or being serviced: it is never off its route.
Point-in-polygon is the even-odd rule over every ring (holes included), vectorised over fixes."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from telemetry.sanitation.corridors import Array, to_metric


@dataclass(frozen=True)
class Depot:
    id: str
    name: str
    polygons: tuple[tuple[Array, ...], ...]  # each polygon's rings (outline, holes): vertices (k, 2), metric
    bbox: tuple[float, float, float, float]  # xmin, ymin, xmax, ymax

    def contains(self, x: Array, y: Array) -> npt.NDArray[np.bool_]:
        xmin, ymin, xmax, ymax = self.bbox
        inside = np.zeros(x.shape, dtype=bool)
        near = (x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax)
        if not near.any():
            return inside
        px, py = x[near], y[near]
        hit = np.zeros(px.shape, dtype=bool)
        for rings in self.polygons:
            odd = np.zeros(px.shape, dtype=bool)
            for ring in rings:
                for (x0, y0), (x1, y1) in itertools.pairwise(ring):
                    if y0 == y1:
                        continue
                    crosses = (y0 > py) != (y1 > py)
                    x_at = x0 + (py - y0) * (x1 - x0) / (y1 - y0)
                    odd ^= crosses & (px < x_at)
            hit |= odd
        inside[near] = hit
        return inside


def in_any(depots: tuple[Depot, ...], x: Array, y: Array) -> npt.NDArray[np.bool_]:
    out = np.zeros(x.shape, dtype=bool)
    for d in depots:
        out |= d.contains(x, y)
    return out


def _polygons(geom: dict[str, object]) -> list[list[list[list[float]]]]:
    coords = geom.get("coordinates")
    if geom.get("type") == "Polygon" and isinstance(coords, list):
        return [coords]
    if geom.get("type") == "MultiPolygon" and isinstance(coords, list):
        return list(coords)
    return []


def load_depots(features: list[dict[str, object]], crs: str = "EPSG:4549") -> tuple[Depot, ...]:
    """The depots among areas.geojson's features (kind ``depot``, Polygon or MultiPolygon)."""
    out = []
    for f in features:
        props, geom = f.get("properties"), f.get("geometry")
        if not isinstance(props, dict) or props.get("kind") != "depot" or not isinstance(geom, dict):
            continue
        polygons = []
        for polygon in _polygons(geom):
            rings = []
            for ring in polygon:
                lonlat = np.array(ring, dtype=np.float64)[:, :2]
                if len(lonlat) < 3:
                    continue
                if not np.array_equal(lonlat[0], lonlat[-1]):
                    lonlat = np.vstack([lonlat, lonlat[:1]])
                x, y = to_metric(crs).transform(lonlat[:, 0], lonlat[:, 1])
                rings.append(np.column_stack([x, y]))
            if rings:
                polygons.append(tuple(rings))
        if polygons:
            every = np.vstack([ring for rings in polygons for ring in rings])
            bbox = (float(every[:, 0].min()), float(every[:, 1].min()), float(every[:, 0].max()),
                    float(every[:, 1].max()))  # fmt: skip
            out.append(Depot(str(props["id"]), str(props.get("name", "")), tuple(polygons), bbox))
    return tuple(out)
