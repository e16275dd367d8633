"""Mission files: QGroundControl ``.plan`` (JSON), QGC WPL 110 ``.waypoints`` (text) and a
GeoJSON preview; the first two import and export item for item."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from drones.missions import NAV_TAKEOFF, MissionItem, Param, params7
from telemetry.errors import TelemetryError


class MissionFormatError(TelemetryError):
    pass


def _param(v: Any) -> Param:
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) else f


# --- QGroundControl .plan ------------------------------------------------------------------
def read_plan(doc: dict[str, Any]) -> tuple[list[MissionItem], tuple[float, float, float] | None]:
    """Items and planned home (lat, lon, alt) of a .plan document."""
    if doc.get("fileType") != "Plan" or not isinstance(doc.get("mission"), dict):
        raise MissionFormatError("not a QGroundControl .plan (fileType Plan with a mission)")
    mission = doc["mission"]
    items = []
    for k, raw in enumerate(mission.get("items", [])):
        if raw.get("type") != "SimpleItem":
            raise MissionFormatError(f"item {k}: only SimpleItem is supported, got {raw.get('type')!r}")
        params = raw.get("params")
        if not isinstance(params, list) or len(params) != 7:
            raise MissionFormatError(f"item {k}: params must be a list of 7")
        p = params7([_param(v) for v in params])
        items.append(
            MissionItem(int(raw["command"]), int(raw["frame"]), p, bool(raw.get("autoContinue", True)))
        )
    home = mission.get("plannedHomePosition")
    return items, (float(home[0]), float(home[1]), float(home[2])) if home else None


def write_plan(
    items: list[MissionItem], home: tuple[float, float, float] | None = None, cruise_ms: float = 8.0
) -> dict[str, Any]:
    first = next((i for i in items if i.has_position), None)
    home = home or ((first.lat or 0.0, first.lon or 0.0, 0.0) if first else (0.0, 0.0, 0.0))
    out = []
    for k, i in enumerate(items):
        entry: dict[str, Any] = {
            "autoContinue": i.autocontinue, "command": i.command, "doJumpId": k + 1, "frame": i.frame,
            "params": list(i.params), "type": "SimpleItem",
        }  # fmt: skip
        if i.has_position:
            entry |= {"AMSLAltAboveTerrain": None, "Altitude": i.alt_m, "AltitudeMode": 1}
        out.append(entry)
    return {
        "fileType": "Plan",
        "groundStation": "city-telemetry",
        "version": 1,
        "geoFence": {"circles": [], "polygons": [], "version": 2},
        "rallyPoints": {"points": [], "version": 2},
        "mission": {
            "version": 2, "firmwareType": 3, "vehicleType": 2, "cruiseSpeed": cruise_ms, "hoverSpeed": 5,
            "globalPlanAltitudeMode": 1, "plannedHomePosition": list(home), "items": out,
        },
    }  # fmt: skip


# --- QGC WPL 110 .waypoints ----------------------------------------------------------------
def read_waypoints(text: str) -> tuple[list[MissionItem], tuple[float, float, float] | None]:
    """WPL 110: line 0 is home (when ``current`` is 1 and it is seq 0); the rest are items."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    if not lines or not lines[0].startswith("QGC WPL 110"):
        raise MissionFormatError("not a QGC WPL 110 file (first line 'QGC WPL 110')")
    items: list[MissionItem] = []
    home = None
    for n, line in enumerate(lines[1:], start=2):
        cols = line.split("\t") if "\t" in line else line.split()
        if len(cols) != 12:
            raise MissionFormatError(f"line {n}: expected 12 columns, got {len(cols)}")
        seq, current, frame, command = (int(float(c)) for c in cols[:4])
        p = params7([_param(c) for c in cols[4:11]])
        if seq == 0 and current == 1 and not items:
            home = (p[4] or 0.0, p[5] or 0.0, p[6] or 0.0)
            continue
        items.append(MissionItem(command, frame, p, cols[11].strip() not in ("0", "0.0")))
    return items, home


def write_waypoints(items: list[MissionItem], home: tuple[float, float, float] | None = None) -> str:
    def num(v: Param) -> str:
        return "nan" if v is None else repr(float(v)) if not float(v).is_integer() else f"{float(v):.1f}"

    first = next((i for i in items if i.has_position), None)
    home = home or ((first.lat or 0.0, first.lon or 0.0, 0.0) if first else (0.0, 0.0, 0.0))
    rows = ["QGC WPL 110", "\t".join(["0", "1", "0", "16", "0", "0", "0", "0", *(num(v) for v in home), "1"])]
    for k, i in enumerate(items, start=1):
        rows.append("\t".join([str(k), "0", str(i.frame), str(i.command), *(num(v) for v in i.params),
                               "1" if i.autocontinue else "0"]))  # fmt: skip
    return "\n".join(rows) + "\n"


# --- GeoJSON preview -----------------------------------------------------------------------
def preview(items: list[MissionItem]) -> dict[str, Any]:
    """The flight path as a LineString and each positioned item as a Point."""
    points = [(k, i) for k, i in enumerate(items) if i.has_position]
    path = [[i.lon, i.lat] for _, i in points]
    features: list[dict[str, Any]] = []
    if len(path) >= 2:
        features.append({"type": "Feature", "geometry": {"type": "LineString", "coordinates": path},
                         "properties": {"kind": "path"}})  # fmt: skip
    for k, i in points:
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [i.lon, i.lat]},
                "properties": {
                    "seq": k,
                    "command": i.command,
                    "frame": i.frame,
                    "alt_m": i.alt_m,
                    "takeoff": i.command == NAV_TAKEOFF,
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def load(path: Path) -> tuple[list[MissionItem], tuple[float, float, float] | None]:
    if path.suffix == ".plan":
        return read_plan(json.loads(path.read_text(encoding="utf-8")))
    if path.suffix == ".waypoints":
        return read_waypoints(path.read_text(encoding="utf-8"))
    raise MissionFormatError(f"{path}: expected .plan or .waypoints")


def save(path: Path, items: list[MissionItem], home: tuple[float, float, float] | None = None) -> None:
    if path.suffix == ".plan":
        path.write_text(json.dumps(write_plan(items, home), indent=2), encoding="utf-8")
    elif path.suffix == ".waypoints":
        path.write_text(write_waypoints(items, home), encoding="utf-8")
    elif path.suffix == ".geojson":
        path.write_text(json.dumps(preview(items), indent=1), encoding="utf-8")
    else:
        raise MissionFormatError(f"{path}: expected .plan, .waypoints or .geojson")
