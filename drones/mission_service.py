"""Missions as the API and the CLI use them: plan from a request, check, keep, export; each with
its home's AMSL elevation and its geofence (the no-fly areas near it, drones/fence.py)."""

from __future__ import annotations

import itertools
import json
import math
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from pyproj import Geod
from shapely.geometry import shape

from drones.checks import (
    DEFAULT_BATTERY,
    LevelTerrain,
    Zone,
    airport_zone,
    check,
    follow_terrain,
    resolve_above_terrain,
)
from drones.fence import FencePolygon, fence_json, fence_polygons, merge
from drones.formats import preview, read_plan, read_plan_fence, read_waypoints, write_plan, write_waypoints
from drones.missions import FRAME_RELATIVE_ALT, FRAME_TERRAIN_ALT, Checks, MissionItem
from drones.planning import Camera, points, survey, tour
from drones.profile import mission_profile
from drones.terrain import DemTerrain, FlatTerrain, Terrain
from telemetry.config import AirspaceConfig
from telemetry.config_drones import DroneTypeConfig

_GEOD = Geod(ellps="WGS84")
MAX_RANGE_M = 50_000.0  # from home; a multirotor patrol covers a few km


@dataclass
class Mission:
    id: str
    type: str
    items: list[MissionItem]
    checks: Checks
    home: tuple[float, float]
    speed_ms: float
    state: str = "planned"  # planned | awaiting_pilot | uploaded | verified | running | done | failed
    approval_id: str | None = None
    drone: int | None = None
    log: list[dict[str, Any]] = field(default_factory=list)
    home_amsl_m: float = 0.0  # the ground at home, AMSL (DEM, else the imported plan's, else 0)
    fence: list[FencePolygon] = field(default_factory=list)  # exclusion polygons, (lat, lon) vertices
    planned_at_ms: int = 0
    approved_by: str | None = None
    approved_at_ms: int | None = None
    vehicle_offset: int = 0  # the vehicle's seq of item 0 once uploaded (its dialect's offset)
    schedule: str | None = None  # the schedule that planned it (api/schedules.py)
    reason: str | None = None  # why a scheduled mission failed
    profile: list[dict[str, float]] = field(default_factory=list)  # drones/profile.py

    def waypoints(self) -> list[dict[str, Any]]:
        return [
            {
                "seq": k,
                "command": i.command,
                "frame": i.frame,
                "lat": i.lat,
                "lon": i.lon,
                "alt_m": i.alt_m,
                "params": list(i.params[:4]),
            }
            for k, i in enumerate(self.items)
        ]

    @property
    def home3(self) -> tuple[float, float, float]:
        """Home as a .plan's plannedHomePosition and a vehicle's home item: lat, lon, AMSL alt."""
        return (self.home[1], self.home[0], self.home_amsl_m)

    def plan_file(self) -> dict[str, Any]:
        return write_plan(self.items, self.home3, self.speed_ms, fence=self.fence)

    def waypoints_file(self) -> str:
        return write_waypoints(self.items, self.home3)

    def to_json(self) -> dict[str, Any]:
        c = self.checks
        return {
            "id": self.id,
            "type": self.type,
            "state": self.state,
            "approval_id": self.approval_id,
            "approved_by": self.approved_by,
            "approved_at_ms": self.approved_at_ms,
            "planned_at_ms": self.planned_at_ms,
            "drone": self.drone,
            "schedule": self.schedule,
            "reason": self.reason,
            "waypoints": self.waypoints(),
            "checks": {
                "max_true_height_m": c.max_true_height_m,
                "height_limit_m": c.height_limit_m,
                "no_fly_violations": list(c.no_fly_violations),
                "approval_required": c.approval_required,
                "approval_reasons": list(c.approval_reasons),
                "estimated_flight_s": c.estimated_flight_s,
                "battery_at_rtl_pct": c.battery_at_rtl_pct,
                "battery_ok": c.battery_ok,
                "terrain": c.terrain,
                "missing_altitude": list(c.missing_altitude),
                "notes": list(c.notes),
                "flyable": c.flyable,
            },
            "preview": preview(self.items),
            "fence": fence_json(self.fence),
            "profile": self.profile,
        }


def load_zones(areas_path: Path, airspace: AirspaceConfig) -> list[Zone]:
    zones = [
        airport_zone(
            a.icao, a.lat, a.lon, a.runway_bearing_deg, a.runway_length_m, a.half_width_m, a.end_extension_m
        )
        for a in airspace.airports
    ]
    if areas_path.exists():
        for f in json.loads(areas_path.read_text(encoding="utf-8"))["features"]:
            p = f["properties"]
            zones.append(
                Zone(str(p["id"]), str(p.get("kind", "patrol")), shape(f["geometry"]), p.get("max_agl_m"))
            )
    return zones


def _within_range(items: list[MissionItem], home: tuple[float, float]) -> None:
    """Refuse a mission with a position further than MAX_RANGE_M from home: no patrol drone
    flies that far, and local projections of such legs are meaningless (or infinite)."""
    spots = [(i.lon or 0.0, i.lat or 0.0) for i in items if i.has_position]
    if not spots:
        return
    lons, lats = [p[0] for p in spots], [p[1] for p in spots]
    _, _, dist = _GEOD.inv([home[0]] * len(spots), [home[1]] * len(spots), lons, lats)
    far = max(dist)
    if not far <= MAX_RANGE_M:  # NaN too
        raise ValueError(
            f"a waypoint lies {far / 1000:.0f} km from home: more than {MAX_RANGE_M / 1000:.0f} km"
        )


class MissionPlanner:
    def __init__(
        self, airspace: AirspaceConfig, assets_dir: str, battery: DroneTypeConfig = DEFAULT_BATTERY
    ) -> None:
        self._airspace = airspace
        self._battery = battery
        self.terrain: Terrain = DemTerrain(airspace.dem) if airspace.dem else FlatTerrain()
        self.zones = load_zones(Path(assets_dir) / "areas.geojson", airspace)
        self.missions: dict[str, Mission] = {}
        self._ids = itertools.count(1)

    def plan(self, request: dict[str, Any], hotspots: list[tuple[float, float]] | None = None) -> Mission:
        kind = request["type"]
        speed = float(request.get("speed_ms") or 8.0)
        alt = float(request.get("altitude_agl_m") or 60.0)
        home = tuple(request["home"]) if request.get("home") else None
        plan_home_alt: float | None = None
        imported_fence: list[FencePolygon] = []
        if kind == "survey":
            ring = [(float(x), float(y)) for x, y in request["area"]["coordinates"][0]]
            camera = Camera(**request["camera"]) if request.get("camera") else None
            items = survey(
                ring,
                alt,
                camera=camera,
                front_overlap=float(request.get("front_overlap") or 0.7),
                side_overlap=float(request.get("side_overlap") or 0.6),
                speed_ms=speed,
            )
        elif kind == "points":
            items = points(
                [(float(p[0]), float(p[1])) for p in request["points"]],
                alt,
                loiter_s=float(request.get("loiter_s") or 0.0),
                speed_ms=speed,
            )
        elif kind == "hotspots":
            spots = hotspots or []
            if not spots:
                raise ValueError(
                    f"no gauge is at {request.get('min_level', 'yellow')} or above: nothing to inspect"
                )
            start = home or spots[0]
            order = tour((float(start[0]), float(start[1])), spots)
            items = points(
                [spots[k] for k in order],
                alt,
                loiter_s=float(request.get("loiter_s") or 30.0),
                speed_ms=speed,
            )
        elif kind == "import":
            if request.get("plan") is not None:
                items, plan_home = read_plan(request["plan"])
                imported_fence = read_plan_fence(request["plan"])
                plan_home_alt = plan_home[2] if plan_home else None
            else:
                items, plan_home = read_waypoints(str(request.get("waypoints", "")))
            home = home or ((plan_home[1], plan_home[0]) if plan_home else None)
        else:
            raise ValueError(f"unknown mission type {kind!r}")
        first = next((i for i in items if i.has_position), None)
        if home is None:
            home = (first.lon or 0.0, first.lat or 0.0) if first else (0.0, 0.0)
        home2 = (float(home[0]), float(home[1]))
        _within_range(items, home2)
        terrain, home_amsl = self._terrain_at(home2, plan_home_alt)
        if kind == "import":  # AltitudeMode 3 items get their AMSL altitude as QGC computes it
            items = resolve_above_terrain(items, None if isinstance(self.terrain, FlatTerrain) else terrain)
        if kind != "import":
            if self._airspace.altitude_mode == "terrain":  # the autopilot holds AGL from its own terrain data
                items = [
                    replace(i, frame=FRAME_TERRAIN_ALT)
                    if i.has_position and i.frame == FRAME_RELATIVE_ALT
                    else i
                    for i in items
                ]
            items = follow_terrain(items, self.terrain, home2, self._airspace.terrain_tolerance_m)
        checks = check(
            items, terrain, self.zones, home2, self._airspace.max_true_height_m, speed, self._battery
        )
        fence = merge(imported_fence, fence_polygons(items, home2, self.zones))
        now = time.time()
        mission = Mission(f"m{next(self._ids)}-{int(now)}", kind, items, checks, home2, speed,
                          home_amsl_m=home_amsl, fence=fence, planned_at_ms=int(now * 1000),
                          profile=mission_profile(items, terrain, home2))  # fmt: skip
        self.missions[mission.id] = mission
        return mission

    def _terrain_at(self, home: tuple[float, float], plan_home_alt: float | None) -> tuple[Terrain, float]:
        """The terrain to check against and the home's ground elevation (AMSL). Without a DEM, a
        plan's own home elevation makes the level ground AMSL altitudes are measured from."""
        if isinstance(self.terrain, FlatTerrain):
            if plan_home_alt is None:
                return self.terrain, 0.0
            return LevelTerrain(plan_home_alt), plan_home_alt
        z = float(self.terrain.elevation(np.array([home[1]]), np.array([home[0]]))[0])
        return self.terrain, z if not math.isnan(z) else (plan_home_alt or 0.0)

    def approve(self, mission_id: str, approval_id: str, user: str) -> Mission:
        m = self.missions[mission_id]
        m.approval_id = approval_id
        m.approved_by = user
        m.approved_at_ms = int(time.time() * 1000)
        m.log.append({"at": time.time(), "user": user, "action": "approval", "approval_id": approval_id})
        return m

    def restore(self, missions: list[Mission]) -> None:
        """Missions read back from the store; ids continue after the highest one restored, so
        that none is given twice (drones/mission_store.py)."""
        for m in missions:
            self.missions[m.id] = m
        numbers = [int(n.group(1)) for m in missions if (n := re.match(r"m(\d+)-", m.id))]
        self._ids = itertools.count(max(numbers, default=0) + 1)
