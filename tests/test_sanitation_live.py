"""Live sanitation alerts (engine.py), fix by fix: only inside a working window and outside the
bans, never at a depot (pure logic; over MQTT in test_sanitation.py)."""

from __future__ import annotations

import pytest

from telemetry.alerts.book import AlertBook
from telemetry.records import VehicleFix
from telemetry.sanitation.engine import LiveRoutes
from tests.tracks import sample_depots, sample_routes

MIDNIGHT = 1_795_546_800_000 - 3 * 3_600_000  # 2026-11-25 00:00 Asia/Shanghai
HOUR, MINUTE = 3_600_000, 60_000
DEPOT = (121.5205, 29.8771)  # inside D01, about 250 m north of R01
ASIDE = (121.5205, 29.8800)  # about 600 m north of R01, no depot
ON_R01 = (121.5200, 29.87445)
ON_R02 = (121.5480, 29.8690)


def live() -> LiveRoutes:
    return LiveRoutes(
        sample_routes(), "EPSG:4549", 60.0, AlertBook(), depots=sample_depots(), tz_offset_min=480
    )


def levels(
    engine: LiveRoutes,
    vehicle: str,
    where: tuple[float, float],
    start_ms: int,
    minutes: float,
    *,
    speed_kmh: float = 0.0,
    working: bool | None = True,
) -> list[str]:
    """The notices' levels of a vehicle reporting every 15 s at ``where`` for ``minutes``."""
    out = []
    for k in range(int(minutes * 4) + 1):
        fix = VehicleFix(vehicle, "haishu", "sweeper", start_ms + k * 15_000, where[1], where[0],
                         speed_kmh=speed_kmh, working=working)  # fmt: skip
        notice = engine.observe(fix)
        if notice is not None:
            out.append(notice.level)
    return out


@pytest.mark.parametrize(
    ("what", "vehicle", "where", "local", "working", "expected"),
    [
        ("parked at the depot at 14:00, in R01's 09:00-16:00 window", "SW001", DEPOT, 14.0, True, []),
        ("parked at the depot at 02:00, in the night window", "SW001", DEPOT, 2.0, True, []),
        ("standing off the route at 14:00, outside a depot", "SW001", ASIDE, 14.0, True, ["off_route"]),
        ("off the route at 07:30, between R01's windows", "SW001", ASIDE, 7.5, True, []),
        ("off the route at 19:00, after the day window", "SW001", ASIDE, 19.0, True, []),
        ("off the route with the brush off", "SW001", ASIDE, 14.0, False, []),
        ("off the route, brush not reported", "SW001", ASIDE, 14.0, None, ["off_route"]),
        ("garbage truck off R02 at 08:00: banned 07:00-10:00", "GT001", ASIDE, 8.0, None, []),
        ("garbage truck off R02 at 09:30: in the window, but banned", "GT001", ASIDE, 9.5, None, []),
        ("garbage truck off R02 at 11:00", "GT001", ASIDE, 11.0, None, ["off_route"]),
        ("garbage truck off R02 at 23:00 (20:00-06:30)", "GT001", ASIDE, 23.0, None, ["off_route"]),
        ("on its corridor", "SW001", ON_R01, 14.0, True, []),
        ("a vehicle with no route", "XX999", ASIDE, 14.0, True, []),
    ],
)  # fmt: skip
def test_off_route_alerts(
    what: str,
    vehicle: str,
    where: tuple[float, float],
    local: float,
    working: bool | None,
    expected: list[str],
) -> None:
    start = MIDNIGHT + int(local * HOUR)
    assert levels(live(), vehicle, where, start, 10, working=working) == expected, what


def test_overspeed_only_in_service() -> None:
    assert levels(live(), "SW002", ON_R01, MIDNIGHT + 14 * HOUR, 5, speed_kmh=14.0) == ["overspeed"]
    assert levels(live(), "SW002", ON_R01, MIDNIGHT + 17 * HOUR, 5, speed_kmh=14.0) == []
    assert levels(live(), "GT001", ON_R02, MIDNIGHT + 8 * HOUR, 5, speed_kmh=45.0) == []  # banned
    assert levels(live(), "GT001", ON_R02, MIDNIGHT + 11 * HOUR, 5, speed_kmh=45.0) == ["overspeed"]


def test_an_alert_clears_when_the_window_ends_or_at_the_depot() -> None:
    engine = live()
    assert levels(engine, "SW001", ASIDE, MIDNIGHT + 6 * HOUR + 20 * MINUTE, 5) == ["off_route"]
    assert levels(engine, "SW001", ASIDE, MIDNIGHT + 6 * HOUR + 30 * MINUTE, 5) == ["green"]  # 06:30
    cleared = engine.book.list("all", "sanitation")[0]
    assert (cleared.state, cleared.reason) == ("cleared", "out of its working window")
    assert levels(engine, "SW001", ASIDE, MIDNIGHT + 14 * HOUR, 5) == ["off_route"]
    assert levels(engine, "SW001", DEPOT, MIDNIGHT + 14 * HOUR + 6 * MINUTE, 5) == ["green"]
    assert engine.book.active("sanitation", "SW001") is None


def test_without_depots_the_parked_sweeper_raises_off_route() -> None:
    engine = LiveRoutes(sample_routes(), "EPSG:4549", 60.0, AlertBook(), tz_offset_min=480)
    assert levels(engine, "SW001", DEPOT, MIDNIGHT + 14 * HOUR, 10) == ["off_route"]
