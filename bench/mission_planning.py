"""Mission planning benchmark: a survey of 1 km² over a DEM (lanes from the camera model,
terrain following with inserted waypoints, every check), against planning the same survey on
flat ground, in the same run. Target: ≤ 1 s.

    python bench/mission_planning.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import _common  # puts the repo root on sys.path
import numpy as np
import rasterio
from rasterio.transform import from_origin

from drones.checks import check, follow_terrain
from drones.planning import survey
from drones.terrain import DemTerrain, FlatTerrain


def synthetic_dem(path: Path) -> None:
    """Hills of up to ~300 m over a 10 km square west of Gulou (deterministic)."""
    n = 1000
    lon = np.linspace(121.35, 121.45, n)
    lat = np.linspace(29.92, 29.82, n)
    lo, la = np.meshgrid(lon, lat)
    z = 3 + 300 * np.exp(-(((lo - 121.39) / 0.02) ** 2 + ((la - 29.87) / 0.015) ** 2)) + 40 * np.sin(lo * 400)
    transform = from_origin(121.35, 29.92, 0.1 / n, 0.1 / n)
    profile = {"driver": "GTiff", "height": n, "width": n, "count": 1, "dtype": "float32", "crs": "EPSG:4326"}
    with rasterio.open(path, "w", transform=transform, **profile) as dst:
        dst.write(z.astype("float32"), 1)


def plan(terrain: object, ring: list[tuple[float, float]]) -> tuple[float, int]:
    start = time.perf_counter()
    items = survey(ring, 80.0)
    items = follow_terrain(items, terrain, ring[0])  # type: ignore[arg-type]
    check(items, terrain, [], ring[0], 120.0, 8.0)  # type: ignore[arg-type]
    return time.perf_counter() - start, len(items)


def main() -> None:
    side_lon, side_lat = 0.01035, 0.00901  # ~1 km x 1 km at 29.87 N
    ring = [
        (121.38, 29.86),
        (121.38 + side_lon, 29.86),
        (121.38 + side_lon, 29.86 + side_lat),
        (121.38, 29.86 + side_lat),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        dem_path = Path(tmp) / "hills.tif"
        synthetic_dem(dem_path)
        dem = DemTerrain(dem_path)
        flat_s, flat_n = min(plan(FlatTerrain(), ring) for _ in range(3))
        dem_s, dem_n = min(plan(dem, ring) for _ in range(3))
    print("mission planning: survey of 1 km² at 80 m, 70/60 % overlap")
    print(f"  flat ground : {flat_s * 1000:7.1f} ms, {flat_n} items")
    print(f"  over a DEM  : {dem_s * 1000:7.1f} ms, {dem_n} items (terrain-following waypoints added)")
    print(f"  ratio DEM/flat: {dem_s / flat_s:5.1f}; target <= 1 s: {'met' if dem_s <= 1 else 'NOT met'}")
    _common.report(
        "mission planning: 1 km² survey at 80 m over a DEM", f"{dem_s * 1000:.0f} ms, {dem_n} items",
        f"flat ground {flat_s * 1000:.0f} ms", f"{dem_s / flat_s:.1f}", "<= 1 s", dem_s <= 1,
    )  # fmt: skip


if __name__ == "__main__":
    main()
