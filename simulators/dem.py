"""A synthetic, deterministic DEM of Haishu for the demo and the tests: the plain east of
121.40°E lies 2–3 m above sea level (DOMAIN.md), the Siming hills rise west of it to about
900 m. Written as a GeoTIFF in EPSG:4326 with rasterio; the same arguments give the same bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import rasterio
from rasterio.transform import Affine

WEST, EAST, SOUTH, NORTH = 121.25, 121.70, 29.75, 30.00
HILLS_EDGE_LON = 121.40  # the plain's western edge
PEAK_M = 900.0


def elevation(lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Metres above sea level at the given coordinates (the model the raster samples)."""
    plain = 2.5 + 0.4 * np.sin(lon * 310.0) * np.cos(lat * 270.0)  # 2.1–2.9 m of gentle relief
    t = np.clip((HILLS_EDGE_LON - lon) / 0.11, 0.0, 1.0)
    rise = t * t * (3 - 2 * t)  # smoothstep: flat at the edge, level towards the peaks
    ridges = 0.5 + 0.5 * np.sin(lat * 180.0 + lon * 40.0) * np.cos(lon * 150.0)  # 0..1
    hills = (PEAK_M - 3.0) * rise * (0.55 + 0.45 * ridges)
    return np.asarray(plain + hills, dtype=np.float64)


def write_haishu_dem(path: str | Path, resolution_deg: float = 0.0005) -> Path:
    """Write the DEM (about 900 × 500 cells of ~50 m at the default resolution) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = round((EAST - WEST) / resolution_deg)
    rows = round((NORTH - SOUTH) / resolution_deg)
    lon = np.asarray(WEST + (np.arange(cols) + 0.5) * resolution_deg, dtype=np.float64)
    lat = np.asarray(NORTH - (np.arange(rows) + 0.5) * resolution_deg, dtype=np.float64)
    z = elevation(lon[np.newaxis, :], lat[:, np.newaxis]).astype(np.float32)
    profile = {
        "driver": "GTiff",
        "width": cols,
        "height": rows,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:4326",
        "transform": Affine(resolution_deg, 0.0, WEST, 0.0, -resolution_deg, NORTH),
        "nodata": -9999.0,
        "compress": "deflate",
        "predictor": 3,
    }
    with rasterio.open(path, "w", **profile) as ds:
        ds.update_tags(SOURCE="synthetic (city telemetry simulators/dem.py), not survey data")
        ds.write(z, 1)
    return path
