"""The asset registry (CONTRACT §8): GeoJSON FeatureCollections in WGS84, parsed once into
frozen records. A missing file is an empty collection; a malformed one stops start-up."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from telemetry.errors import ConfigError

log = logging.getLogger(__name__)

KINDS = ("gauge", "toilet", "vehicle", "officer")
# The geometry each file's features must have (CONTRACT §8); null geometry is allowed where none.
GEOMETRIES: dict[str, tuple[str | None, ...]] = {
    "gauges.geojson": ("Point",),
    "toilets.geojson": ("Point",),
    "routes.geojson": ("LineString",),
    "stops.geojson": ("Point",),
    "areas.geojson": ("Polygon", "MultiPolygon"),
}


@dataclass(frozen=True, slots=True)
class Device:
    """A registered device: enough to tag its points and list it."""

    kind: str
    id: str
    name: str = ""
    district: str | None = None
    road: str | None = None
    fleet: str | None = None
    lon: float | None = None
    lat: float | None = None
    thresholds_cm: tuple[float, float] | None = None  # gauges: (yellow, red) overrides
    toilet_class: int | None = None  # toilets: 1-3 (GB/T 17217 air limits)
    traffic: str | None = None  # toilets: high | medium | low (cleaning interval)
    capacity_per_15min: int | None = None  # toilets: for surge alerts
    unit: str | None = None  # officers: their squad (the incident report groups by it)


@dataclass(frozen=True, slots=True)
class Registry:
    devices: dict[tuple[str, str], Device] = field(default_factory=dict)
    strict: bool = False
    source: str = ""

    def get(self, kind: str, device_id: str) -> Device | None:
        return self.devices.get((kind, device_id))

    def of_kind(self, kind: str) -> list[Device]:
        return [d for (k, _), d in sorted(self.devices.items()) if k == kind]


def sample_assets_dir() -> Path:
    """The sample dataset shipped inside the package (used by the demo and the tests)."""
    return Path(str(resources.files("telemetry") / "sample_assets"))


def _features(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError([(str(path), f"not readable GeoJSON: {exc}")]) from exc
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise ConfigError([(str(path), "expected a GeoJSON FeatureCollection")])
    feats = doc.get("features")
    if not isinstance(feats, list):
        raise ConfigError([(str(path), "'features' must be a list")])
    out = []
    for i, f in enumerate(feats):
        props = f.get("properties") if isinstance(f, dict) else None
        if not isinstance(props, dict) or not isinstance(props.get("id"), str) or not props["id"]:
            raise ConfigError([(f"{path}: feature {i}", "needs properties.id (a non-empty string)")])
        out.append(f)
    return out


def _point(f: dict[str, Any]) -> tuple[float | None, float | None]:
    geom = f.get("geometry") or {}
    if geom.get("type") == "Point":
        lon, lat = geom["coordinates"][:2]
        return float(lon), float(lat)
    return None, None


def _thresholds(path: Path, props: dict[str, Any]) -> tuple[float, float] | None:
    t = props.get("thresholds_cm")
    if t is None:
        return None
    try:
        yellow, red = float(t["yellow"]), float(t["red"])
    except (TypeError, KeyError, ValueError) as exc:
        raise ConfigError(
            [(f"{path}: {props['id']}", "thresholds_cm needs numbers 'yellow' and 'red'")]
        ) from exc
    if not 0 < yellow < red:
        raise ConfigError([(f"{path}: {props['id']}", "thresholds_cm needs 0 < yellow < red")])
    return yellow, red


@contextmanager
def _in_file(path: Path) -> Iterator[None]:
    """A value of the wrong type or shape anywhere in ``path`` is a configuration error naming it."""
    try:
        yield
    except (TypeError, KeyError, ValueError, IndexError, AttributeError) as exc:
        reason = f"missing key {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
        raise ConfigError([(str(path), f"bad value: {reason}")]) from exc


def _position_problem(pos: Any) -> str | None:
    if not isinstance(pos, list) or len(pos) < 2:
        return "a position is a list [lon, lat]"
    lon, lat = pos[0], pos[1]
    if not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in (lon, lat)
    ):
        return "lon and lat must be finite numbers"
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        return f"({lon}, {lat}) is not a WGS84 lon, lat"
    return None


def _positions(coords: Any, depth: int) -> Iterator[Any]:
    """The positions of a coordinates array nested ``depth`` levels deep (0: one position)."""
    if depth == 0:
        yield coords
        return
    if not isinstance(coords, list):
        yield None  # refused as a position
        return
    for c in coords:
        yield from _positions(c, depth - 1)


_DEPTH = {"Point": 0, "LineString": 1, "Polygon": 2, "MultiPolygon": 3}
_LEAST: dict[str, Callable[[Any], bool]] = {  # the fewest positions a geometry needs
    "Point": lambda c: True,
    "LineString": lambda c: len(c) >= 2,
    "Polygon": lambda c: len(c) >= 1 and all(isinstance(r, list) and len(r) >= 4 for r in c),
    "MultiPolygon": lambda c: (
        len(c) >= 1
        and all(isinstance(p, list) and p and all(isinstance(r, list) and len(r) >= 4 for r in p) for p in c)
    ),
}


def _geometry_problem(geom: Any, allowed: tuple[str | None, ...]) -> str | None:
    kind = geom.get("type") if isinstance(geom, dict) else None
    if kind not in allowed or not isinstance(kind, str):
        return f"geometry must be {' or '.join(str(k) for k in allowed)}, not {kind or geom!r}"
    coords = geom.get("coordinates")
    if not isinstance(coords, list) or not _LEAST[kind](coords):
        return f"{kind}: too few positions or not a coordinates array"
    for pos in _positions(coords, _DEPTH[kind]):
        if (problem := _position_problem(pos)) is not None:
            return f"{kind}: {problem}"
    return None


def geometry_problems(directory: str | Path) -> list[tuple[str, str]]:
    """(file: feature id, reason) for each feature of the registry's files whose geometry is not
    the file's kind of geometry with WGS84 positions (a missing file has none)."""
    d = Path(directory)
    problems = []
    for name, allowed in GEOMETRIES.items():
        try:
            feats = _features(d / name)
        except ConfigError as exc:
            problems += exc.problems
            continue
        for f in feats:
            if (problem := _geometry_problem(f.get("geometry"), allowed)) is not None:
                problems.append((f"{d / name}: {f['properties']['id']}", problem))
    return problems


def load_registry(directory: str | Path, *, strict: bool = False) -> Registry:
    d = Path(directory)
    if not d.is_dir():
        if strict:
            raise ConfigError([("assets.dir", f"{d} is not a folder, and assets.strict needs a registry")])
        log.warning("assets folder %s not found: every device will be listed as unregistered", d)
        return Registry(strict=strict, source=str(d))
    devices: dict[tuple[str, str], Device] = {}
    with _in_file(d / "gauges.geojson"):
        for f in _features(d / "gauges.geojson"):
            p = f["properties"]
            lon, lat = _point(f)
            devices[("gauge", p["id"])] = Device(
                "gauge", p["id"], p.get("name", ""), p.get("district"), p.get("road"), None, lon, lat,
                _thresholds(d / "gauges.geojson", p),
            )  # fmt: skip
    with _in_file(d / "toilets.geojson"):
        for f in _features(d / "toilets.geojson"):
            p = f["properties"]
            lon, lat = _point(f)
            devices[("toilet", p["id"])] = Device(
                "toilet", p["id"], p.get("name", ""), p.get("district"), None, None, lon, lat, None,
                int(p["class"]) if p.get("class") is not None else None, p.get("traffic"),
                int(p["capacity_per_15min"]) if p.get("capacity_per_15min") is not None else None,
            )  # fmt: skip
    fleet_of: dict[str, str] = {}
    with _in_file(d / "routes.geojson"):
        for f in _features(d / "routes.geojson"):
            p = f["properties"]
            for v in p.get("vehicles", []):
                fleet_of.setdefault(str(v), str(p.get("fleet", "unknown")))
    with _in_file(d / "vehicles.geojson"):
        for f in _features(d / "vehicles.geojson"):
            p = f["properties"]
            fleet_of[p["id"]] = str(p.get("fleet") or fleet_of.get(p["id"], "unknown"))
    for vid, fleet in fleet_of.items():
        devices[("vehicle", vid)] = Device("vehicle", vid, vid, None, None, fleet)
    with _in_file(d / "officers.geojson"):
        for f in _features(d / "officers.geojson"):
            p = f["properties"]
            devices[("officer", p["id"])] = Device(
                "officer", p["id"], str(p.get("name") or ""), p.get("district"), unit=str(p.get("unit") or "")
            )
    return Registry(devices, strict, str(d))
