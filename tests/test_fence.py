"""Geofence: no-fly areas within 2 km of a mission's legs become exclusion polygons (at most 100
vertices, covering the area), in the mission's JSON, its .plan geoFence and as MAVLink fence
items (MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION, one per vertex, param 1 the vertex count)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon

from drones.checks import Zone
from drones.fence import fence_items, fence_polygons, merge
from drones.formats import read_plan_fence
from drones.mission_service import MissionPlanner
from drones.missions import NAV_LAND, MissionItem
from drones.planning import local, points
from telemetry.assets import sample_assets_dir
from telemetry.config import AirspaceConfig

HOME = (121.5453, 29.8737)
FWD, BACK = local(HOME[1], HOME[0])  # the projection drones/fence.py measures in
HX, HY = FWD.transform(*HOME)


def at(east_m: float, north_m: float) -> tuple[float, float]:
    """(lon, lat) of a point east and north of home, in metres."""
    lon, lat = BACK.transform(HX + east_m, HY + north_m)
    return float(lon), float(lat)


def square(east_m: float, north_m: float, side_m: float = 400.0) -> Polygon:
    """A square whose west edge's middle is at (east_m, north_m) from home."""
    e, n, h = east_m, north_m, side_m / 2
    return Polygon([at(e, n - h), at(e + side_m, n - h), at(e + side_m, n + h), at(e, n + h)])


def ring(polygon: list[tuple[float, float]]) -> Polygon:
    return Polygon([(lon, lat) for lat, lon in polygon])


# home -> 3 km north -> back home: legs along the north axis (x = 0)
MISSION = points([at(0, 3000)], 60.0)


def test_no_fly_areas_within_2_km_of_a_leg_become_the_fence() -> None:
    zones = [
        Zone("near", "no_fly", square(1500, 2000)),  # 1.5 km east of the leg
        Zone("far", "no_fly", square(2500, 2000)),  # 2.5 km
        Zone("atc", "controlled", square(500, 1000)),  # near, but not a no-fly kind
        Zone("P01", "patrol", square(100, 1000)),
    ]
    fence = fence_polygons(MISSION, HOME, zones)
    assert len(fence) == 1
    assert fence[0] == [
        (round(lat, 7), round(lon, 7)) for lon, lat in list(square(1500, 2000).exterior.coords)[:-1]
    ]
    assert fence[0][0] != fence[0][-1]  # not closed
    assert fence_polygons(MISSION, HOME, zones, margin_m=3000) == [fence[0], fence_polygons(
        MISSION, HOME, [Zone("far", "no_fly", square(2500, 2000))], margin_m=3000)[0]]  # fmt: skip


def test_the_margin_is_measured_from_the_legs_not_the_waypoints() -> None:
    # the leg from home to (0, 3000) passes 1.9 km from a zone 1.9 km east of its middle...
    beside = Zone("mid", "no_fly", square(1900, 1500, 200))
    assert len(fence_polygons(MISSION, HOME, [beside])) == 1
    # ...and the return leg home counts: a mission ending far east comes back past it
    out_and_back = points([at(0, 3000), at(6000, 3000)], 60.0)
    near_return = Zone("ret", "no_fly", square(3000, 500, 200))  # ~1.5 km from the (6000,3000)->home leg
    assert len(fence_polygons(out_and_back, HOME, [near_return])) == 1
    end_lon, end_lat = at(6000, 3000)
    landing = [*out_and_back[:-1], MissionItem(NAV_LAND, 3, (0.0, 0.0, 0.0, None, end_lat, end_lon, 0.0))]
    assert fence_polygons(landing, HOME, [near_return]) == []  # it lands there: no way back


def test_a_large_polygon_is_simplified_to_100_vertices_and_still_covers_the_area() -> None:
    centre = Point(HX + 1200, HY + 1500)
    wiggly = [
        (
            centre.x + (600 + 40 * math.sin(7 * t)) * math.cos(t),
            centre.y + (600 + 40 * math.sin(7 * t)) * math.sin(t),
        )
        for t in (2 * math.pi * k / 360 for k in range(360))
    ]
    metric = Polygon(wiggly)
    zone = Polygon(zip(*BACK.transform([p[0] for p in wiggly], [p[1] for p in wiggly]), strict=True))
    (fence,) = fence_polygons(MISSION, HOME, [Zone("big", "no_fly", zone)])
    assert 3 <= len(fence) <= 100
    assert fence[0] != fence[-1]
    covered = shapely.transform(ring(fence), lambda c: np.column_stack(FWD.transform(c[:, 0], c[:, 1])))
    assert covered.buffer(0.05).covers(metric)  # 5 cm: coordinates are rounded to 1e-7 degrees
    assert covered.area < metric.area * 1.1


def test_multipart_zones_give_a_polygon_per_near_part() -> None:
    zone = Zone("two", "no_fly", MultiPolygon([square(1000, 1000), square(5000, 1000)]))
    assert len(fence_polygons(MISSION, HOME, [zone])) == 1


def test_fence_items_follow_the_mission_protocol() -> None:
    quad = [(29.88, 121.55), (29.88, 121.56), (29.89, 121.56), (29.89, 121.55)]
    tri = [(29.90, 121.50), (29.91, 121.50), (29.90, 121.51)]
    items = fence_items([quad, tri])
    assert [(i.command, i.frame) for i in items] == [(5002, 0)] * 7
    assert [i.params[0] for i in items] == [4.0] * 4 + [3.0] * 3
    assert [(i.lat, i.lon) for i in items] == quad + tri
    assert all(i.params[1:4] == (0.0, 0.0, 0.0) and i.params[6] == 0.0 for i in items)
    assert fence_items([]) == []
    with pytest.raises(ValueError, match="at least 3"):
        fence_items([quad[:2]])


def test_missions_carry_their_fence_into_json_and_the_plan() -> None:
    planner = MissionPlanner(AirspaceConfig(), str(sample_assets_dir()))
    zone = square(1500, 2000)
    planner.zones.append(Zone("N9", "no_fly", zone))
    m = planner.plan(
        {"type": "points", "points": [list(at(0, 3000))], "altitude_agl_m": 60, "home": list(HOME)}
    )
    want = [(round(lat, 7), round(lon, 7)) for lon, lat in list(zone.exterior.coords)[:-1]]
    assert m.fence == [want]
    assert m.to_json()["fence"] == [{"polygon": [list(v) for v in want], "inclusion": False}]
    plan = json.loads(json.dumps(m.plan_file()))
    assert plan["geoFence"] == {
        "circles": [],
        "polygons": [{"inclusion": False, "polygon": [list(v) for v in want], "version": 1}],
        "version": 2,
    }
    assert read_plan_fence(plan) == [want]
    # an imported plan keeps its own polygons and gains the near no-fly areas, each once
    far = [(30.2, 121.0), (30.2, 121.01), (30.21, 121.01)]
    plan["geoFence"]["polygons"].append({"inclusion": False, "polygon": [list(v) for v in far], "version": 1})
    again = planner.plan({"type": "import", "plan": plan})
    assert again.fence == [want, far]
    assert merge([want], [want, far]) == [want, far]
