from __future__ import annotations

import pytest
from pyproj import Geod

from telemetry.geo import gcj02_to_wgs84, to_wgs84, wgs84_to_gcj02

GULOU = (29.8737, 121.5453)


def test_gcj02_offset_in_haishu_is_about_495_m_east_south_east() -> None:
    lat, lon = GULOU
    glat, glon = wgs84_to_gcj02(lat, lon)
    azimuth, _, distance = Geod(ellps="WGS84").inv(lon, lat, glon, glat)
    assert 470 < distance < 520
    assert 100 < azimuth < 135  # east-south-east


def test_gcj02_round_trip_is_sub_centimetre() -> None:
    for lat, lon in [GULOU, (29.70, 121.10), (29.97, 121.60)]:
        back = gcj02_to_wgs84(*wgs84_to_gcj02(lat, lon))
        assert back == pytest.approx((lat, lon), abs=1e-8)


def test_outside_china_gcj02_is_wgs84() -> None:
    assert wgs84_to_gcj02(48.85, 2.35) == (48.85, 2.35)


def test_cgcs2000_is_within_centimetres_of_wgs84() -> None:
    lat, lon = to_wgs84(*GULOU, "CGCS2000")
    assert (lat, lon) == pytest.approx(GULOU, abs=1e-6)
    with pytest.raises(ValueError, match="unknown CRS"):
        to_wgs84(0, 0, "BD09")
