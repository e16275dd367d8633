"""Route geometry for sanitation compliance: routes projected once to a metric CRS (EPSG:4549 by
default), split into ~50 m segments, with corridor half-widths by road class and the route's
working and banned windows (:mod:`telemetry.sanitation.windows`). Fixes are matched to a route
with vectorised numpy (distance to the polyline and position along it), never a Python loop per
fix."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt
from pyproj import Transformer

from telemetry.sanitation.windows import WHOLE_DAY, Window, parse_windows

Array = npt.NDArray[np.float64]


@cache
def to_metric(crs: str) -> Transformer:
    return Transformer.from_crs("EPSG:4326", crs, always_xy=True)


@dataclass(frozen=True)
class Route:
    id: str
    name: str
    road_class: str
    fleet: str
    vehicles: tuple[str, ...]
    speed_limit_kmh: float
    planned_passes: int
    windows: tuple[Window, ...]  # working windows, minutes of the local day [start, end)
    bans: tuple[Window, ...]  # banned windows (none: no ban)
    half_width_m: float
    xy: Array  # vertices in the metric CRS, shape (k, 2)
    cumulative_m: Array  # distance along the route at each vertex
    segment_m: float  # length of each of the route's segments (about 50 m)
    segments: int

    @property
    def length_m(self) -> float:
        return float(self.cumulative_m[-1])

    def segment_id(self, k: int) -> str:
        return f"{self.id}-{k:03d}"

    def locate(self, x: Array, y: Array, extend_m: float = 0.0) -> tuple[Array, Array]:
        """Distance of each point to the route, and its position along the route (m). With
        ``extend_m``, the route continues that far beyond each end along its end legs: a point
        there is before the start (negative position) or past the end (beyond the length)."""
        best_d = np.full(x.shape, np.inf)
        best_s = np.zeros(x.shape)
        legs = len(self.xy) - 1
        for k, ((x0, y0), (x1, y1), s0) in enumerate(
            zip(self.xy[:-1], self.xy[1:], self.cumulative_m[:-1], strict=True)
        ):
            dx, dy = x1 - x0, y1 - y0
            seg2 = dx * dx + dy * dy
            length = math.sqrt(seg2)
            u_min = -extend_m / length if k == 0 and length > 0 else 0.0
            u_max = 1.0 + extend_m / length if k == legs - 1 and length > 0 else 1.0
            u = (
                np.clip(((x - x0) * dx + (y - y0) * dy) / seg2, u_min, u_max)
                if seg2 > 0
                else np.zeros(x.shape)
            )
            px, py = x0 + u * dx, y0 + u * dy
            d = np.hypot(x - px, y - py)
            closer = d < best_d
            best_d = np.where(closer, d, best_d)
            best_s = np.where(closer, s0 + u * length, best_s)
        return best_d, best_s


def _windows(props: dict[str, object], *names: str) -> tuple[Window, ...] | None:
    """A route's windows from the first of ``names`` it has ("HH:MM-HH:MM", comma-separated, or a
    list of such); None when it has none."""
    for name in names:
        value = props.get(name)
        if value is None or value in ("", []):
            continue
        text = ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
        try:
            return parse_windows(text)
        except ValueError as exc:
            raise ValueError(f"route {props.get('id')}: {name} {text!r}: {exc}") from exc
    return None


def build_route(
    props: dict[str, object],
    lonlat: list[tuple[float, float]],
    crs: str,
    half_widths: dict[str, float],
    seg_m: float,
) -> Route:
    lon = np.array([p[0] for p in lonlat])
    lat = np.array([p[1] for p in lonlat])
    x, y = to_metric(crs).transform(lon, lat)
    xy = np.column_stack([x, y])
    cumulative = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(xy[:, 0]), np.diff(xy[:, 1])))])
    length = float(cumulative[-1])
    segments = max(1, round(length / seg_m))
    road_class = str(props.get("road_class", "branch"))
    vehicles = props.get("vehicles") or []
    return Route(
        id=str(props["id"]),
        name=str(props.get("name", "")),
        road_class=road_class,
        fleet=str(props.get("fleet", "")),
        vehicles=tuple(str(v) for v in vehicles) if isinstance(vehicles, list) else (),
        speed_limit_kmh=float(props.get("speed_limit_kmh", 8.0)),  # type: ignore[arg-type]
        planned_passes=int(props.get("planned_passes", 1)),  # type: ignore[call-overload]
        windows=_windows(props, "window", "windows") or WHOLE_DAY,
        bans=_windows(props, "ban", "bans") or (),
        half_width_m=half_widths.get(road_class, 6.0),
        xy=xy,
        cumulative_m=cumulative,
        segment_m=length / segments,
        segments=segments,
    )


HALF_WIDTHS_M = {"arterial": 15.0, "secondary": 10.0, "branch": 6.0}


def load_routes(
    features: list[dict[str, object]], crs: str = "EPSG:4549", half_widths: dict[str, float] | None = None,
    segment_m: float = 50.0,
) -> dict[str, Route]:  # fmt: skip
    """Routes from routes.geojson features (LineString, WGS84)."""
    out = {}
    for f in features:
        props = f["properties"]
        geom = f["geometry"]
        assert isinstance(props, dict)
        assert isinstance(geom, dict)
        coords = [(float(c[0]), float(c[1])) for c in geom["coordinates"]]
        route = build_route(props, coords, crs, half_widths or HALF_WIDTHS_M, segment_m)
        out[route.id] = route
    return out
