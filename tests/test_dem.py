"""The demo's synthetic Haishu DEM: deterministic, a 2–3 m plain east of 121.40°E and hills to
about 900 m west of it, readable by the mission planner's terrain model."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import rasterio

from drones.terrain import DemTerrain
from simulators.dem import HILLS_EDGE_LON, write_haishu_dem
from telemetry.assets import load_registry, sample_assets_dir


def test_same_bytes_every_time(tmp_path: Path) -> None:
    a = write_haishu_dem(tmp_path / "a.tif").read_bytes()
    b = write_haishu_dem(tmp_path / "b.tif").read_bytes()
    assert hashlib.sha256(a).digest() == hashlib.sha256(b).digest()
    assert len(a) < 3_000_000  # generated at start-up, never committed


def test_plain_east_and_hills_west(tmp_path: Path) -> None:
    path = write_haishu_dem(tmp_path / "dem.tif")
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() == 4326
        z = ds.read(1)
        lon = ds.transform.c + (np.arange(ds.width) + 0.5) * ds.transform.a
    east, west = z[:, lon > HILLS_EDGE_LON], z[:, lon < HILLS_EDGE_LON - 0.08]
    assert east.min() >= 2.0
    assert east.max() <= 3.0
    assert 600 < west.max() <= 900
    terrain = DemTerrain(path)
    gauges = [d for d in load_registry(sample_assets_dir()).of_kind("gauge")]
    lat = np.array([g.lat for g in gauges], dtype=float)
    lon_g = np.array([g.lon for g in gauges], dtype=float)
    assert np.all((terrain.elevation(lat, lon_g) >= 2.0) & (terrain.elevation(lat, lon_g) <= 3.0))
    assert terrain.elevation(np.array([29.88]), np.array([121.30]))[0] > 300
