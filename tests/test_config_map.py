"""``[map]`` (issue 21): a tile URL template is checked at start-up, with the key and the reason."""

from __future__ import annotations

import pytest

from telemetry.config import load_settings
from telemetry.errors import ConfigError


@pytest.mark.parametrize(
    "tiles",
    [
        "",
        "http://127.0.0.1:8080/{z}/{x}/{y}.png",
        "https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=KEY",
        "https://webrd0{s}.is.autonavi.com/appmaptile?style=8&x={x}&y={y}&z={z}",
        "https://tiles.example.org/{z}/{x}/{y}{r}.png",
    ],
)
def test_tile_templates_that_are_accepted(tiles: str) -> None:
    assert load_settings(overrides={"map": {"tiles": tiles}}).map.tiles == tiles


@pytest.mark.parametrize(
    ("tiles", "reason"),
    [
        ("http://tiles.example.org/{z}/{x}.png", "missing y"),
        ("http://tiles.example.org/{z}/{x}/{y}/{q}.png", "unknown placeholder(s) {q}"),
        ("ftp://tiles.example.org/{z}/{x}/{y}.png", "scheme"),
        ("http://tiles example.org/{z}/{x}/{y}.png", "space"),
        ("http://[::zz]/{z}/{x}/{y}.png", "IPv6"),
        ("http://tiles.example.org:0/{z}/{x}/{y}.png", "port 0"),
        ("/{z}/{x}/{y}.png", "scheme"),
    ],
)
def test_bad_tile_templates_stop_start_up_with_the_reason(tiles: str, reason: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(overrides={"map": {"tiles": tiles}})
    assert "map.tiles" in str(err.value)
    assert reason in str(err.value)


def test_datum_and_subdomains_are_checked() -> None:
    assert load_settings(overrides={"map": {"datum": "gcj02"}}).map.datum == "gcj02"
    with pytest.raises(ConfigError, match=r"map\.datum"):
        load_settings(overrides={"map": {"datum": "bd09"}})
    with pytest.raises(ConfigError, match=r"map\.subdomains"):
        load_settings(overrides={"map": {"subdomains": "a,b"}})
