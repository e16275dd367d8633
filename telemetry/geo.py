"""Coordinate conversions every layer shares.

GCJ-02 is not a datum pyproj knows: it is an obfuscation of WGS84 published as a formula, so it
is implemented here (and tested against its known ~495 m offset in Haishu). CGCS2000 goes through
pyproj.
"""

from __future__ import annotations

import math
from functools import cache

from pyproj import Transformer

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by the GCJ-02 formula
_EE = 0.00669342162296594323  # its first eccentricity squared
# The formula is only applied inside China's bounding box; outside it GCJ-02 equals WGS84.
_CHINA_LON = (72.004, 137.8347)
_CHINA_LAT = (0.8293, 55.8271)


def _in_china(lat: float, lon: float) -> bool:
    return _CHINA_LON[0] <= lon <= _CHINA_LON[1] and _CHINA_LAT[0] <= lat <= _CHINA_LAT[1]


def _d_lat(x: float, y: float) -> float:
    r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    r += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return r


def _d_lon(x: float, y: float) -> float:
    r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    r += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return r


def wgs84_to_gcj02(lat: float, lon: float) -> tuple[float, float]:
    """The public forward formula: WGS84 (lat, lon) to GCJ-02 (lat, lon)."""
    if not _in_china(lat, lon):
        return lat, lon
    dlat = _d_lat(lon - 105.0, lat - 35.0)
    dlon = _d_lon(lon - 105.0, lat - 35.0)
    rad = lat / 180.0 * math.pi
    magic = 1.0 - _EE * math.sin(rad) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * math.cos(rad) * math.pi)
    return lat + dlat, lon + dlon


def gcj02_to_wgs84(lat: float, lon: float) -> tuple[float, float]:
    """Inverse of :func:`wgs84_to_gcj02` by fixed-point iteration (to ~1e-9 degrees)."""
    wlat, wlon = lat, lon
    for _ in range(30):
        glat, glon = wgs84_to_gcj02(wlat, wlon)
        dlat, dlon = glat - lat, glon - lon
        wlat, wlon = wlat - dlat, wlon - dlon
        if abs(dlat) < 1e-10 and abs(dlon) < 1e-10:
            break
    return wlat, wlon


@cache
def _cgcs2000_to_wgs84() -> Transformer:
    return Transformer.from_crs("EPSG:4490", "EPSG:4326", always_xy=True)


def to_wgs84(lat: float, lon: float, crs: str) -> tuple[float, float]:
    """Convert a fix in ``WGS84``, ``CGCS2000`` or ``GCJ02`` to WGS84 (lat, lon)."""
    if crs == "WGS84":
        return lat, lon
    if crs == "GCJ02":
        return gcj02_to_wgs84(lat, lon)
    if crs == "CGCS2000":
        x, y = _cgcs2000_to_wgs84().transform(lon, lat)
        return float(y), float(x)
    raise ValueError(f"unknown CRS {crs!r}")


SUPPORTED_CRS = ("WGS84", "CGCS2000", "GCJ02")
