"""A mission's terrain profile (issue 21): ground and flight altitude along the flown route."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from drones.mission_service import MissionPlanner
from drones.terrain import DemTerrain
from simulators.dem import write_haishu_dem
from telemetry.assets import sample_assets_dir
from telemetry.config import load_settings

POINTS = [[121.5268, 29.8722], [121.5400, 29.8800], [121.5500, 29.8650]]


@pytest.fixture(scope="module")
def dem(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_haishu_dem(tmp_path_factory.mktemp("dem") / "dem.tif")


def test_the_profile_follows_the_route_over_the_dem(dem: Path) -> None:
    settings = load_settings(overrides={"airspace": {"dem": str(dem)}})
    planner = MissionPlanner(settings.airspace, str(sample_assets_dir()))
    m = planner.plan({"type": "points", "points": POINTS, "altitude_agl_m": 60, "home": POINTS[0]})
    profile = m.to_json()["profile"]
    assert len(profile) > 20
    distances = [p["distance_m"] for p in profile]
    assert distances[0] == 0
    assert distances == sorted(distances)
    assert distances[-1] > 2500  # home → three points → back: several kilometres
    terrain = DemTerrain(str(dem))
    for wp in m.waypoints():
        if wp["command"] == 16:  # NAV_WAYPOINT: 60 m above the ground under it
            ground = float(terrain.elevation(np.array([wp["lat"]]), np.array([wp["lon"]]))[0])
            at = min(profile, key=lambda p: abs(p["ground_m"] - ground) + abs(p["flight_m"] - ground - 60))
            assert at["flight_m"] - at["ground_m"] == pytest.approx(60, abs=1.5)
    grounds = {p["ground_m"] for p in profile}
    assert len(grounds) > 3  # the DEM's relief, not level ground
