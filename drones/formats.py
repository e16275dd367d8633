"""Mission files: QGroundControl ``.plan`` (JSON), QGC WPL 110 ``.waypoints`` (text) and a
GeoJSON preview; the first two import and export item for item.

``.plan`` as QGroundControl writes it (``MissionController::save``, ``SimpleMissionItem::save``,
``MissionItem::save``, ``GeoFenceController::save``, ``QGCFencePolygon::saveToJson``): each
item's ``frame``, ``command``, ``params`` (NaN as null), ``autoContinue`` and ``doJumpId``, and for
items with an altitude ``AltitudeMode`` (1 relative, 2 AMSL, 3 AGL computed by QGC, 4 terrain
frame), ``Altitude`` and ``AMSLAltAboveTerrain``; ``plannedHomePosition`` is [lat, lon, AMSL alt];
``globalPlanAltitudeMode`` is the mode new items get (0 "mixed" when the items differ);
``geoFence`` holds polygons {"inclusion", "polygon": [[lat, lon], ...], "version": 1}."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from drones.missions import (
    FRAME_GLOBAL,
    MODE_CALC_ABOVE_TERRAIN,
    MODE_MIXED,
    MODE_RELATIVE,
    MODE_TERRAIN,
    NAV_TAKEOFF,
    MissionItem,
    Param,
    frame_mode,
    params7,
)
from telemetry.errors import TelemetryError

Home = tuple[float, float, float]  # lat, lon, AMSL altitude
Polygon = list[tuple[float, float]]  # (lat, lon) vertices, not closed
ALTITUDE_KEYS = ("AltitudeMode", "Altitude", "AMSLAltAboveTerrain")


class MissionFormatError(TelemetryError):
    pass


def _param(v: Any) -> Param:
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) else f


# --- QGroundControl .plan ------------------------------------------------------------------
def read_plan(doc: dict[str, Any]) -> tuple[list[MissionItem], Home | None]:
    """Items and planned home (lat, lon, AMSL alt) of a .plan document."""
    if doc.get("fileType") != "Plan" or not isinstance(doc.get("mission"), dict):
        raise MissionFormatError("not a QGroundControl .plan (fileType Plan with a mission)")
    mission = doc["mission"]
    raw_items = mission.get("items", [])
    if not isinstance(raw_items, list):
        raise MissionFormatError("mission.items must be a list")
    items = [_read_item(k, raw) for k, raw in enumerate(raw_items)]
    home = mission.get("plannedHomePosition")
    if not home:
        return items, None
    try:
        lat, lon, alt = (float(v) for v in home)
        if not all(math.isfinite(v) for v in (lat, lon, alt)):
            raise ValueError("not finite")
    except (TypeError, ValueError) as exc:
        raise MissionFormatError("plannedHomePosition must be [lat, lon, AMSL altitude]") from exc
    return items, (lat, lon, alt)


def _read_item(k: int, raw: Any) -> MissionItem:
    if not isinstance(raw, dict) or raw.get("type") != "SimpleItem":
        got = raw.get("type") if isinstance(raw, dict) else raw
        raise MissionFormatError(f"item {k}: only SimpleItem is supported, got {got!r}")
    params = raw.get("params")
    if not isinstance(params, list) or len(params) != 7:
        raise MissionFormatError(f"item {k}: params must be a list of 7")
    try:
        p = params7([_param(v) for v in params])
        it = MissionItem(int(raw["command"]), int(raw["frame"]), p, bool(raw.get("autoContinue", True)))
        jump = raw.get("doJumpId")
        if jump is not None and int(jump) != k + 1:
            it = MissionItem(it.command, it.frame, it.params, it.autocontinue, qgc_jump_id=int(jump))
        if not any(key in raw for key in ALTITUDE_KEYS):
            return it  # QGC derives the mode from the frame (SimpleMissionItem::load)
        mode, alt = raw.get("AltitudeMode"), _param(raw.get("Altitude"))
        amsl = _param(raw.get("AMSLAltAboveTerrain"))
    except (KeyError, TypeError, ValueError) as exc:
        raise MissionFormatError(f"item {k}: {exc!r}") from exc
    if isinstance(mode, bool) or not isinstance(mode, int | float) or mode not in range(1, MODE_TERRAIN + 1):
        raise MissionFormatError(f"item {k}: AltitudeMode must be 1, 2, 3 or 4, got {mode!r}")
    mode = int(mode)
    if mode == MODE_CALC_ABOVE_TERRAIN and it.frame != FRAME_GLOBAL:
        raise MissionFormatError(f"item {k}: AltitudeMode 3 goes with frame 0 (GLOBAL), got {it.frame}")
    if it.has_position and mode == frame_mode(it.frame) and alt == p[6] and amsl is None:
        return it  # exactly what the frame and params say: nothing more to keep
    return MissionItem(it.command, it.frame, it.params, it.autocontinue, mode, alt, amsl, it.qgc_jump_id)


def _plan_item(k: int, i: MissionItem) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "autoContinue": i.autocontinue, "command": i.command,
        "doJumpId": i.qgc_jump_id if i.qgc_jump_id is not None else k + 1, "frame": i.frame,
        "params": list(i.params), "type": "SimpleItem",
    }  # fmt: skip
    if i.qgc_altitude_mode is not None:
        entry |= {"AMSLAltAboveTerrain": i.qgc_amsl_above_terrain, "Altitude": i.qgc_altitude,
                  "AltitudeMode": i.qgc_altitude_mode}  # fmt: skip
    elif i.has_position and (mode := frame_mode(i.frame)) is not None:
        entry |= {"AMSLAltAboveTerrain": None, "Altitude": i.alt_m, "AltitudeMode": mode}
    return entry


def write_plan(
    items: list[MissionItem],
    home: Home | None = None,
    cruise_ms: float = 8.0,
    fence: list[Polygon] | None = None,
) -> dict[str, Any]:
    """A .plan as QGC writes it; ``fence``: exclusion polygons of (lat, lon) vertices."""
    first = next((i for i in items if i.has_position), None)
    home = home or ((first.lat or 0.0, first.lon or 0.0, 0.0) if first else (0.0, 0.0, 0.0))
    out = [_plan_item(k, i) for k, i in enumerate(items)]
    modes = {e["AltitudeMode"] for e in out if "AltitudeMode" in e}
    global_mode = modes.pop() if len(modes) == 1 else MODE_MIXED if modes else MODE_RELATIVE
    return {
        "fileType": "Plan",
        "groundStation": "city-telemetry",
        "version": 1,
        "geoFence": write_fence(fence or []),
        "rallyPoints": {"points": [], "version": 2},
        "mission": {
            "version": 2, "firmwareType": 3, "vehicleType": 2, "cruiseSpeed": cruise_ms, "hoverSpeed": 5,
            "globalPlanAltitudeMode": global_mode, "plannedHomePosition": list(home), "items": out,
        },
    }  # fmt: skip


def write_fence(polygons: list[Polygon], inclusion: bool = False) -> dict[str, Any]:
    """A .plan ``geoFence`` (version 2) with the polygons, vertices as [lat, lon]."""
    return {
        "circles": [],
        "polygons": [
            {"inclusion": inclusion, "polygon": [[lat, lon] for lat, lon in poly], "version": 1}
            for poly in polygons
        ],
        "version": 2,
    }


def read_plan_fence(doc: dict[str, Any], inclusion: bool = False) -> list[Polygon]:
    """The ``geoFence`` polygons of a .plan (exclusion ones unless ``inclusion``), vertices as
    (lat, lon) without repeating the first. Circles are not read."""
    fence = doc.get("geoFence")
    if fence is None:
        return []
    if not isinstance(fence, dict) or not isinstance(fence.get("polygons", []), list):
        raise MissionFormatError("geoFence must be an object with a list of polygons")
    out: list[Polygon] = []
    for k, poly in enumerate(fence.get("polygons", [])):
        try:
            if bool(poly["inclusion"]) != inclusion:
                continue
            vertices = [(float(v[0]), float(v[1])) for v in poly["polygon"]]
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise MissionFormatError(f"geoFence polygon {k}: {exc!r}") from exc
        if not all(abs(lat) <= 90 and abs(lon) <= 180 for lat, lon in vertices):  # NaN too
            raise MissionFormatError(f"geoFence polygon {k}: a vertex is not a latitude, longitude")
        if len(vertices) > 1 and vertices[0] == vertices[-1]:
            vertices.pop()
        if len(vertices) < 3:
            raise MissionFormatError(f"geoFence polygon {k}: a polygon needs 3 vertices or more")
        out.append(vertices)
    return out


# --- QGC WPL 110 .waypoints ----------------------------------------------------------------
def read_waypoints(text: str) -> tuple[list[MissionItem], Home | None]:
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


def write_waypoints(items: list[MissionItem], home: Home | None = None) -> str:
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
    """The flight path (the places flown to) as a LineString and each positioned item as a Point."""
    points = [(k, i) for k, i in enumerate(items) if i.has_position]
    path = [[i.lon, i.lat] for _, i in points if i.flown_to]
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


def load(path: Path) -> tuple[list[MissionItem], Home | None]:
    if path.suffix == ".plan":
        return read_plan(json.loads(path.read_text(encoding="utf-8")))
    if path.suffix == ".waypoints":
        return read_waypoints(path.read_text(encoding="utf-8"))
    raise MissionFormatError(f"{path}: expected .plan or .waypoints")


def save(
    path: Path, items: list[MissionItem], home: Home | None = None, fence: list[Polygon] | None = None
) -> None:
    """Write a mission file by its suffix; ``fence`` goes into a .plan's geoFence."""
    if path.suffix == ".plan":
        path.write_text(json.dumps(write_plan(items, home, fence=fence), indent=2), encoding="utf-8")
    elif path.suffix == ".waypoints":
        path.write_text(write_waypoints(items, home), encoding="utf-8")
    elif path.suffix == ".geojson":
        path.write_text(json.dumps(preview(items), indent=1), encoding="utf-8")
    else:
        raise MissionFormatError(f"{path}: expected .plan, .waypoints or .geojson")
