"""The asset registry (CONTRACT §8): GeoJSON FeatureCollections in WGS84, parsed once into
frozen records. A missing file is an empty collection; a malformed one stops start-up."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from telemetry.errors import ConfigError

log = logging.getLogger(__name__)

KINDS = ("gauge", "toilet", "vehicle")


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


def load_registry(directory: str | Path, *, strict: bool = False) -> Registry:
    d = Path(directory)
    if not d.is_dir():
        if strict:
            raise ConfigError([("assets.dir", f"{d} is not a folder, and assets.strict needs a registry")])
        log.warning("assets folder %s not found: every device will be listed as unregistered", d)
        return Registry(strict=strict, source=str(d))
    devices: dict[tuple[str, str], Device] = {}
    for f in _features(d / "gauges.geojson"):
        p = f["properties"]
        lon, lat = _point(f)
        devices[("gauge", p["id"])] = Device(
            "gauge", p["id"], p.get("name", ""), p.get("district"), p.get("road"), None, lon, lat,
            _thresholds(d / "gauges.geojson", p),
        )  # fmt: skip
    for f in _features(d / "toilets.geojson"):
        p = f["properties"]
        lon, lat = _point(f)
        devices[("toilet", p["id"])] = Device(
            "toilet", p["id"], p.get("name", ""), p.get("district"), None, None, lon, lat, None,
            int(p["class"]) if p.get("class") is not None else None, p.get("traffic"),
            int(p["capacity_per_15min"]) if p.get("capacity_per_15min") is not None else None,
        )  # fmt: skip
    fleet_of: dict[str, str] = {}
    for f in _features(d / "routes.geojson"):
        p = f["properties"]
        for v in p.get("vehicles", []):
            fleet_of.setdefault(v, p.get("fleet", "unknown"))
    for f in _features(d / "vehicles.geojson"):
        p = f["properties"]
        fleet_of[p["id"]] = p.get("fleet") or fleet_of.get(p["id"], "unknown")
    for vid, fleet in fleet_of.items():
        devices[("vehicle", vid)] = Device("vehicle", vid, vid, None, None, fleet)
    return Registry(devices, strict, str(d))
