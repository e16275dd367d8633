"""Planners and checks: survey lanes from a camera model, hotspot tours, airspace, height limit,
battery, and terrain following over a real DEM (matplotlib's Jacksboro fault sample)."""

from __future__ import annotations

import itertools
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import Polygon

from drones.checks import (
    LevelTerrain,
    Zone,
    airport_zone,
    check,
    follow_terrain,
    resolve_above_terrain,
    true_heights,
)
from drones.formats import read_plan, write_plan
from drones.mission_service import MissionPlanner
from drones.missions import (
    DO_SET_CAM_TRIGG_DIST,
    NAV_RETURN_TO_LAUNCH,
    NAV_TAKEOFF,
    NAV_WAYPOINT,
    MissionItem,
)
from drones.planning import Camera, local, points, survey, tour
from drones.terrain import DemTerrain, FlatTerrain
from telemetry.assets import sample_assets_dir
from telemetry.config import AirspaceConfig

P01 = [(121.40, 29.87), (121.45, 29.87), (121.45, 29.90), (121.40, 29.90), (121.40, 29.87)]
ZSNB = airport_zone("ZSNB", 29.8267, 121.4619, 128, 3200, 10_000, 20_000)
HOME = (121.5453, 29.8737)


def test_survey_lanes_follow_the_camera_model() -> None:
    items = survey(P01[:4], 80.0, front_overlap=0.7, side_overlap=0.6)
    assert items[0].command == NAV_TAKEOFF
    assert items[-1].command == NAV_RETURN_TO_LAUNCH
    cam = Camera()
    width, height = cam.footprint_m(80.0)
    trigger = next(i for i in items if i.command == DO_SET_CAM_TRIGG_DIST)
    assert trigger.params[0] == pytest.approx(height * 0.3, abs=0.01)
    wps = [i for i in items if i.command == NAV_WAYPOINT]
    fwd, _ = local(29.885, 121.425)
    x, y = fwd.transform([w.lon for w in wps], [w.lat for w in wps])
    turns = [math.dist((x[k], y[k]), (x[k + 1], y[k + 1])) for k in range(1, len(wps) - 1, 2)]
    assert float(np.median(turns)) == pytest.approx(width * 0.4, rel=0.05)  # lane spacing
    lanes = len(wps) // 2
    # 4.8 km east-west by 3.3 km north-south: lanes along the long side make fewer turns
    assert lanes <= math.ceil(3340 / (width * 0.4)) + 1
    assert 2.0 < cam.gsd_cm(80.0) < 2.5


def test_a_survey_over_p01_needs_an_approval() -> None:
    items = survey(P01[:4], 80.0)
    result = check(items, FlatTerrain(), [ZSNB], (121.425, 29.885), 120.0, 8.0)
    assert result.approval_required
    assert result.approval_reasons == ("ZSNB protection zone",)
    assert result.terrain.startswith("flat")


def test_130_m_is_refused_and_no_fly_areas_are_violations() -> None:
    items = points([(121.55, 29.88)], 130.0)
    result = check(items, FlatTerrain(), [], HOME, 120.0, 8.0)
    assert result.max_true_height_m == pytest.approx(130.0)
    assert not result.flyable
    no_fly = Zone(
        "N1", "no_fly", Polygon([(121.548, 29.87), (121.552, 29.87), (121.552, 29.89), (121.548, 29.89)])
    )
    ok = check(points([(121.55, 29.88)], 60.0), FlatTerrain(), [no_fly], HOME, 120.0, 8.0)
    assert ok.no_fly_violations == ("N1",)
    assert not ok.flyable


def test_battery_estimate() -> None:
    far = points([(121.30, 29.70)], 60.0)  # ~30 km away: no way back with 25 % left
    result = check(far, FlatTerrain(), [], HOME, 120.0, 8.0)
    assert result.estimated_flight_s > 22 * 60
    assert not result.battery_ok


def test_hotspot_tour_is_short_and_uncrossed() -> None:
    pts = [(121.56, 29.88), (121.52, 29.86), (121.55, 29.86), (121.53, 29.88)]
    order = tour(HOME, pts)
    assert sorted(order) == [0, 1, 2, 3]
    fwd, _ = local(HOME[1], HOME[0])
    xy = [fwd.transform(*HOME)] + [fwd.transform(*pts[k]) for k in order] + [fwd.transform(*HOME)]
    length = sum(math.dist(a, b) for a, b in itertools.pairwise(xy))
    naive = [fwd.transform(*HOME)] + [fwd.transform(*p) for p in pts] + [fwd.transform(*HOME)]
    assert length <= sum(math.dist(a, b) for a, b in itertools.pairwise(naive))


@pytest.fixture
def jacksboro(tmp_path: Path) -> Path:
    matplotlib = pytest.importorskip("matplotlib")
    data = np.load(
        os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data/sample_data/jacksboro_fault_dem.npz")
    )
    z = data["elevation"].astype("float32")
    north = float(max(data["ymin"], data["ymax"]))  # the file swaps ymin and ymax
    path = tmp_path / "jacksboro.tif"
    transform = from_origin(float(data["xmin"]), north, float(data["dx"]), float(data["dy"]))
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=z.shape[0],
        width=z.shape[1],
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=transform,
    ) as dst:
        dst.write(z, 1)
    return path


def test_terrain_following_over_a_real_dem_stays_within_5_m(jacksboro: Path) -> None:
    dem = DemTerrain(jacksboro)
    home = (-84.35, 36.50)
    items = follow_terrain(points([(-84.30, 36.55), (-84.20, 36.65), (-84.12, 36.70)], 50.0), dem, home)
    assert len([i for i in items if i.command == NAV_WAYPOINT]) > 3  # waypoints were added over the ridges
    home_ground = float(dem.elevation(np.array([home[1]]), np.array([home[0]]))[0])
    track = [(home[0], home[1], home_ground + 50.0)] + [
        (i.lon, i.lat, home_ground + (i.alt_m or 0.0))
        for i in items
        if i.has_position and i.command != NAV_TAKEOFF
    ]
    fwd, back = local(home[1], home[0])
    worst = 0.0
    for (lo0, la0, z0), (lo1, la1, z1) in itertools.pairwise(track):
        x0, y0 = fwd.transform(lo0, la0)
        x1, y1 = fwd.transform(lo1, la1)
        f = np.linspace(0, 1, max(2, int(math.hypot(x1 - x0, y1 - y0) / 20) + 1))
        lon, lat = back.transform(x0 + f * (x1 - x0), y0 + f * (y1 - y0))
        agl = z0 + f * (z1 - z0) - dem.elevation(np.asarray(lat), np.asarray(lon))
        worst = max(worst, float(np.nanmax(np.abs(agl - 50.0))))
    assert worst <= 5.0 + 0.5
    result = check(items, dem, [], home, 120.0, 10.0)
    assert result.terrain == "DEM jacksboro.tif"
    # the straight RTL leg home at the last altitude crosses a valley: the check catches it
    assert result.max_true_height_m > 120
    assert not result.flyable


def test_a_waypoint_beyond_range_is_refused_not_a_crash() -> None:
    # found by schemathesis: a point 80° of latitude away made the local projection infinite
    planner = MissionPlanner(AirspaceConfig(), str(sample_assets_dir()))
    with pytest.raises(ValueError, match="km from home"):
        planner.plan({"type": "points", "points": [[0.0, 1.0], [0.0, 81.0]], "altitude_agl_m": 60})
    with pytest.raises(ValueError, match="km from home"):
        planner.plan({"type": "points", "points": [[121.55, 29.88], [121.56, 30.5]], "altitude_agl_m": 60})
    ok = planner.plan({"type": "points", "points": [[121.55, 29.88], [121.56, 29.87]], "altitude_agl_m": 60})
    assert ok.checks.flyable


def test_reaching_the_height_limit_is_refused() -> None:
    """DOMAIN.md: airspace at 120 m true height and above is controlled, so 120 m is refused."""
    at_limit = check(points([(121.55, 29.88)], 120.0), FlatTerrain(), [], HOME, 120.0, 8.0)
    assert at_limit.max_true_height_m == 120.0
    assert not at_limit.flyable
    below = check(points([(121.55, 29.88)], 119.8), FlatTerrain(), [], HOME, 120.0, 8.0)
    assert below.flyable
    low = Zone("L1", "patrol", Polygon([(121.5, 29.8), (121.6, 29.8), (121.6, 29.9), (121.5, 29.9)]), 50.0)
    assert not check(points([(121.55, 29.88)], 50.0), FlatTerrain(), [low], HOME, 120.0, 8.0).flyable


def test_each_frame_gives_its_true_height_over_a_dem(jacksboro: Path) -> None:
    """Relative: home ground + alt − ground; AMSL: alt − ground (not alt above home); terrain: alt."""
    dem = DemTerrain(jacksboro)
    home = (-84.35, 36.50)

    def ground(lon: float, lat: float) -> float:
        return float(dem.elevation(np.array([lat]), np.array([lon]))[0])

    a, b, c = (-84.30, 36.55), (-84.20, 36.65), (-84.12, 36.70)
    items = [
        MissionItem(NAV_TAKEOFF, 3, (0.0, 0.0, 0.0, None, home[1], home[0], 30.0)),
        MissionItem(NAV_WAYPOINT, 3, (0.0, 0.0, 0.0, None, a[1], a[0], 50.0)),  # relative
        MissionItem(NAV_WAYPOINT, 0, (0.0, 0.0, 0.0, None, b[1], b[0], round(ground(*b) + 40.0, 2))),  # AMSL
        MissionItem(NAV_WAYPOINT, 10, (0.0, 0.0, 0.0, None, c[1], c[0], 25.0)),  # terrain
    ]
    heights = true_heights(items, dem, home)
    assert heights[0] == pytest.approx(30.0)
    assert heights[1] == pytest.approx(ground(*home) + 50.0 - ground(*a), abs=0.01)
    assert heights[2] == pytest.approx(40.0, abs=0.01)
    assert heights[3] == pytest.approx(25.0)
    assert abs(ground(*b) - ground(*home)) > 100  # so reading AMSL as "above home" would be far off


def test_qgcs_terrain_test_plan_is_checked_at_its_true_heights() -> None:
    """QGroundControl's TerrainTest-ArduCopter.plan lies near Redmond, WA: no DEM of it here, so
    the ground is level at the home's elevation, 9.26 m AMSL as its plannedHomePosition says.
    Relative items are their altitude; the AMSL waypoint at 159.26 m is 150 m above that ground
    (not 159.26 m above home, as it used to be checked); the AltitudeMode 3 waypoint, whose AMSL
    altitude QGC has not computed (param 7 null), is its Altitude, 80 m above terrain (never 0 m);
    the terrain-frame waypoint is 50 m; the ROI (201) is not flown to; the landing is 0 m."""
    plan = json.loads((Path(__file__).parent / "fixtures/qgc-plans/TerrainTest-ArduCopter.plan").read_text())
    items, plan_home = read_plan(plan)
    assert plan_home is not None
    home, level = (plan_home[1], plan_home[0]), LevelTerrain(plan_home[2])
    assert true_heights(items, level, home) == [
        30.0,
        60.0,
        None,
        150.0,
        None,
        80.0,
        100.0,
        50.0,
        70.0,
        15.0,
        0.0,
    ]
    result = check(items, level, [], home, 120.0, 8.0)
    assert result.max_true_height_m == 150.0
    assert result.missing_altitude == (5,)  # nothing to send for item 5 until a DEM computes it
    assert "AltitudeMode 3" in result.notes[0]
    assert not result.flyable
    planner = MissionPlanner(AirspaceConfig(), str(sample_assets_dir()))  # no DEM configured
    m = planner.plan({"type": "import", "plan": plan})
    assert (m.checks.max_true_height_m, m.home_amsl_m) == (150.0, 9.26)
    assert m.checks.terrain.startswith("flat")
    assert m.plan_file()["mission"]["plannedHomePosition"] == [47.6305111, -122.0863806, 9.26]
    assert m.items[5].alt_m is None  # without a DEM the item stays as QGC wrote it


def test_altitude_mode_3_gets_its_amsl_altitude_from_the_dem(jacksboro: Path, tmp_path: Path) -> None:
    dem = DemTerrain(jacksboro)
    lon, lat = -84.30, 36.55
    agl = MissionItem(NAV_WAYPOINT, 0, (0.0, 0.0, 0.0, None, lat, lon, None), True, 3, 80.0, None)
    items = [MissionItem(NAV_TAKEOFF, 3, (0.0, 0.0, 0.0, None, 36.50, -84.35, 30.0)), agl]
    assert resolve_above_terrain(items, None) == items  # no DEM: nothing to compute it from
    resolved = resolve_above_terrain(items, dem)
    ground = float(dem.elevation(np.array([lat]), np.array([lon]))[0])
    assert resolved[1].alt_m == resolved[1].qgc_amsl_above_terrain == round(ground + 80.0, 2)
    assert true_heights(resolved, dem, (-84.35, 36.50))[1] == pytest.approx(80.0, abs=0.01)
    assert check(resolved, dem, [], (-84.35, 36.50), 120.0, 8.0).missing_altitude == ()
    doc = write_plan(items, (36.50, -84.35, 300.0))
    planner = MissionPlanner(AirspaceConfig(dem=str(jacksboro)), str(tmp_path))
    m = planner.plan({"type": "import", "plan": doc})
    assert m.items[1].alt_m == round(ground + 80.0, 2)
    assert m.home_amsl_m == pytest.approx(float(dem.elevation(np.array([36.50]), np.array([-84.35]))[0]))
    exported = m.plan_file()["mission"]["items"][1]
    assert (exported["AltitudeMode"], exported["Altitude"], exported["frame"]) == (3, 80.0, 0)
    assert exported["params"][6] == exported["AMSLAltAboveTerrain"] == round(ground + 80.0, 2)


def test_terrain_frame_legs_hold_their_height_above_ground(jacksboro: Path) -> None:
    """Into a terrain-frame waypoint the autopilot holds the height above ground along the leg,
    so a valley under it does not count as height (an AMSL straight line over it would)."""
    dem = DemTerrain(jacksboro)
    home, a, b = (-84.35, 36.50), (-84.30, 36.55), (-84.12, 36.70)
    items = [
        MissionItem(NAV_TAKEOFF, 3, (0.0, 0.0, 0.0, None, home[1], home[0], 50.0)),
        MissionItem(NAV_WAYPOINT, 10, (0.0, 0.0, 0.0, None, a[1], a[0], 50.0)),
        MissionItem(NAV_WAYPOINT, 10, (0.0, 0.0, 0.0, None, b[1], b[0], 50.0)),
        MissionItem(21, 10, (0.0, 0.0, 0.0, None, b[1], b[0], 0.0)),  # LAND: no way back to count
    ]
    assert check(items, dem, [], home, 120.0, 10.0).max_true_height_m == pytest.approx(50.0)
    fwd, back = local(home[1], home[0])
    (x0, x1), (y0, y1) = fwd.transform([a[0], b[0]], [a[1], b[1]])
    f = np.linspace(0, 1, 500)
    lon, lat = back.transform(x0 + f * (x1 - x0), y0 + f * (y1 - y0))
    ground = dem.elevation(np.asarray(lat), np.asarray(lon))
    straight = ground[0] + 50 + f * (ground[-1] - ground[0])  # the same leg flown as a straight AMSL line
    assert float(np.nanmax(straight - ground)) > 120.0


def test_only_positioned_nav_commands_are_flown_to() -> None:
    """A region of interest (NAV_ROI 80, DO_SET_ROI 201, DO_SET_ROI_LOCATION 195) is where the
    camera looks, not a leg: QGC draws no flight path to it and neither do the checks."""
    at = (0.0, 0.0, 0.0, None, 29.88, 121.55, 0.0)
    assert [MissionItem(c, 3, at).flown_to for c in (16, 19, 21, 22, 82, 80, 195, 201, 20)] == [True] * 5 + [
        False
    ] * 4
    assert not MissionItem(16, 2, at).flown_to  # MAV_FRAME_MISSION: no position
    far_roi = [
        *points([(121.55, 29.88)], 60.0)[:-1],
        MissionItem(201, 3, (0.0, 0.0, 0.0, 0.0, 29.60, 121.20, 0.0)),
    ]
    assert check(far_roi, FlatTerrain(), [], HOME, 120.0, 8.0).estimated_flight_s < 600
