"""Ground elevation: a DEM GeoTIFF in any CRS (rasterio, read once), or flat ground when no DEM
is configured (and the mission says so)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
import rasterio
from pyproj import Transformer

Array = npt.NDArray[np.float64]


class Terrain(Protocol):
    description: str

    def elevation(self, lat: Array, lon: Array) -> Array: ...


class FlatTerrain:
    description = "flat (no DEM configured: heights above ground assume level terrain)"

    def elevation(self, lat: Array, lon: Array) -> Array:
        return np.zeros(np.shape(lat))


class DemTerrain:
    """Bilinear heights from a DEM raster; NaN outside it or on nodata."""

    def __init__(self, path: str | Path) -> None:
        with rasterio.open(path) as ds:
            self._z = ds.read(1, masked=True).astype(np.float64).filled(np.nan)
            self._inverse = ~ds.transform
            self._to_raster = Transformer.from_crs("EPSG:4326", ds.crs, always_xy=True)
        self.description = f"DEM {Path(path).name}"

    def elevation(self, lat: Array, lon: Array) -> Array:
        x, y = self._to_raster.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        col, row = self._inverse @ (np.asarray(x), np.asarray(y))
        col, row = np.asarray(col) - 0.5, np.asarray(row) - 0.5  # pixel centres
        rows, cols = self._z.shape
        c0, r0 = np.floor(col).astype(int), np.floor(row).astype(int)
        inside = (c0 >= 0) & (r0 >= 0) & (c0 + 1 < cols) & (r0 + 1 < rows)
        c0c, r0c = np.clip(c0, 0, cols - 2), np.clip(r0, 0, rows - 2)
        fc, fr = col - c0c, row - r0c
        z = (
            self._z[r0c, c0c] * (1 - fc) * (1 - fr)
            + self._z[r0c, c0c + 1] * fc * (1 - fr)
            + self._z[r0c + 1, c0c] * (1 - fc) * fr
            + self._z[r0c + 1, c0c + 1] * fc * fr
        )
        return np.where(inside, z, np.nan)
