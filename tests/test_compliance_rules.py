"""Compliance judging on synthetic tracks along the sample routes (pure logic; the MQTT path is
in test_sanitation.py)."""

from __future__ import annotations

import numpy as np
import pytest

from telemetry.sanitation.rules import Fixes, Rules, judge, judge_route
from tests.tracks import along, parked, part, sample_depots, sample_routes, sample_stops

NIGHT = 1_795_546_800_000  # 2026-11-25 03:00 Asia/Shanghai, inside 00:00-06:30
RULES = Rules()


def test_sweeper_at_6_kmh_with_brush_on_is_compliant() -> None:
    r = judge("SW001", along("R01", 6.0, NIGHT), sample_routes()["R01"], [], RULES)
    assert r.compliant, r
    assert r.coverage_ratio == 1.0
    assert r.valid_passes == 1
    assert r.missed_segments == ()
    assert r.overspeed_ratio == 0.0
    assert r.off_route_s == 0.0


def test_sweeper_at_14_kmh_is_not() -> None:
    r = judge("SW001", along("R01", 14.0, NIGHT), sample_routes()["R01"], [], RULES)
    assert not r.compliant
    assert r.overspeed_ratio == 1.0
    assert r.valid_passes == 0


def test_brush_off_or_outside_the_window_is_not_a_valid_pass() -> None:
    routes = sample_routes()
    assert not judge("SW001", along("R01", 6.0, NIGHT, working=False), routes["R01"], [], RULES).compliant
    # R01 now has two windows, 00:00-06:30 and 09:00-16:00 (this test used noon, outside R01's
    # former single window): 07:30 lies between them, noon in the second
    between = NIGHT + int(5.5 * 3_600_000)
    assert judge("SW001", along("R01", 6.0, between), routes["R01"], [], RULES).valid_passes == 0
    noon = NIGHT + 10 * 3_600_000
    assert judge("SW001", along("R01", 6.0, noon), routes["R01"], [], RULES).compliant


def test_a_gcj02_track_labelled_wgs84_fails_and_says_why() -> None:
    r = judge("SW002", along("R01", 6.0, NIGHT, gcj02=True), sample_routes()["R01"], [], RULES)
    assert not r.compliant
    assert r.coverage_ratio == 0.0
    assert "GCJ-02" in r.note
    metres = int(r.note.split("about ")[1].split(" m")[0])
    bearing = int(r.note.split("bearing ")[1].split("°")[0])
    assert 450 < metres < 540
    assert 100 < bearing < 135  # east-south-east


def test_garbage_truck_serves_a_stop_only_with_the_dwell() -> None:
    routes, stops = sample_routes(), sample_stops()
    s01 = next(s for s in stops if s.id == "S01")
    lonlat = (121.5479, 29.8712)
    long_stop = judge("GT001", along("R02", 20.0, NIGHT, dwell_at=(*lonlat, 90)), routes["R02"], [s01], RULES)
    short_stop = judge(
        "GT001", along("R02", 20.0, NIGHT, dwell_at=(*lonlat, 20)), routes["R02"], [s01], RULES
    )
    assert (long_stop.stops_served, long_stop.stops_planned) == (1, 1)
    assert short_stop.stops_served == 0
    assert not short_stop.compliant


def test_bad_hdop_and_impossible_jumps_are_dropped_and_gaps_reported() -> None:
    f = along("R01", 6.0, NIGHT)
    f.hdop[100:110] = 12.0
    f.lat[500] += 0.01  # a 1 km jump in a second
    t = f.t_ms.copy()
    t[800:] += 400_000  # a 400 s gap
    from dataclasses import replace

    r = judge("SW001", replace(f, t_ms=t), sample_routes()["R01"], [], RULES)
    assert r.dropped_fixes == 11
    assert r.gap_s >= 400


# --- coverage along the track (issue 16): the same drive at every reporting interval ----------
@pytest.mark.parametrize("interval_s", [1, 2, 5, 10, 15, 20, 30])
def test_r01_at_7_kmh_is_covered_whatever_the_reporting_interval(interval_s: int) -> None:
    # measured from the first to the last fix inside each segment, this drive scored 1.00 at
    # 1 s, 0.16 at 5 s and 0.00 at 10-30 s
    r = judge("SW001", along("R01", 7.0, NIGHT, interval_s=interval_s), sample_routes()["R01"], [], RULES)
    assert (r.coverage_ratio, r.valid_passes, r.missed_segments, r.compliant) == (1.0, 1, (), True), r
    assert r.valid_km == pytest.approx(2.9, rel=0.01)


@pytest.mark.parametrize("interval_s", [1, 5, 10, 15, 30])
def test_5_m_noise_never_splits_a_pass(interval_s: int) -> None:
    route = sample_routes()["R01"]
    for seed in range(25):
        f = along("R01", 7.0, NIGHT, interval_s=interval_s, noise_m=5.0, seed=seed, through_m=100.0)
        r = judge("SW001", f, route, [], RULES)
        assert (r.coverage_ratio, r.missed_segments, r.compliant) == (1.0, (), True), (
            seed,
            r.missed_segments,
        )
        assert r.valid_km == pytest.approx(2.9, rel=0.01)


def test_2_s_with_3_m_noise_misses_no_segment() -> None:
    # a fix jittering across a segment boundary used to split the segment's run (R01-053 missed,
    # and the route had 0 valid passes)
    route = sample_routes()["R01"]
    for seed in range(25):
        r = judge("SW001", along("R01", 7.0, NIGHT, interval_s=2, noise_m=3.0, seed=seed), route, [], RULES)
        assert r.missed_segments == (), seed
        assert r.valid_passes == 1


@pytest.mark.parametrize("interval_s", [1, 5, 10, 15, 30])
def test_a_bad_drive_gets_the_same_verdict_at_every_interval(interval_s: int) -> None:
    route = sample_routes()["R01"]
    fast = judge("SW002", along("R01", 14.0, NIGHT, interval_s=interval_s, noise_m=5.0), route, [], RULES)
    assert (fast.compliant, fast.valid_passes, fast.overspeed_ratio, fast.valid_km) == (False, 0, 1.0, 0.0)
    off = along("R01", 7.0, NIGHT, interval_s=interval_s, noise_m=5.0, working=False)
    assert judge("SW002", off, route, [], RULES).valid_passes == 0
    half = judge("SW002", part(along("R01", 7.0, NIGHT, interval_s=interval_s), 0.0, 0.5), route, [], RULES)
    assert not half.compliant
    assert half.coverage_ratio == pytest.approx(0.5, abs=0.05)
    assert half.valid_km == pytest.approx(1.45, rel=0.05)


# --- several windows, bans, across midnight (site time) --------------------------------------
HOUR = 3_600_000
MIDNIGHT = NIGHT - 3 * HOUR  # 2026-11-25 00:00 Asia/Shanghai


@pytest.mark.parametrize(
    ("local_hour", "valid"),
    [
        (2.0, True),  # 20:00-06:30 (across midnight)
        (8.0, False),  # outside both windows, and banned (07:00-10:00)
        (9.5, False),  # in the 09:00-16:00 window, but banned until 10:00
        (11.0, True),
        (16.5, False),  # after the day window
        (18.0, False),  # banned 17:00-20:00
        (21.0, True),  # the evening part of 20:00-06:30
    ],
)
def test_r02_windows_and_bans(local_hour: float, valid: bool) -> None:
    start = MIDNIGHT + int(local_hour * HOUR)
    r = judge("GT001", along("R02", 20.0, start, interval_s=15), sample_routes()["R02"], [], RULES)
    assert (r.valid_passes == 1) is valid, r
    assert (r.valid_km > 1.5) is valid


def test_a_pass_half_in_the_window_is_half_valid() -> None:
    # R01's night window ends at 06:30: a pass from 06:10 to 06:35 is valid only until then
    r = judge(
        "SW001",
        along("R01", 7.0, MIDNIGHT + 6 * HOUR + 10 * 60_000, interval_s=15),
        sample_routes()["R01"],
        [],
        RULES,
    )
    swept = 20 * 60 * 7.0 / 3.6 / 1000  # km driven in the window
    assert not r.compliant
    assert r.valid_km == pytest.approx(swept, abs=0.1)


# --- several vehicles on one route: the union of their valid passes ---------------------------
def test_two_sweepers_sharing_a_route_make_it_compliant_together() -> None:
    routes = sample_routes()
    drive = along("R01", 7.0, NIGHT, interval_s=10)
    first = judge("SW001", part(drive, 0.0, 0.55), routes["R01"], [], RULES)
    second = judge(
        "SW002", part(along("R01", 7.0, NIGHT + HOUR, interval_s=30), 0.45, 1.0), routes["R01"], [], RULES
    )
    idle = judge("SW009", along("R01", 14.0, NIGHT, interval_s=30), routes["R01"], [], RULES)
    for own in (first, second):
        assert not own.compliant  # each keeps its own row: half the route
        assert own.valid_km == pytest.approx(1.6, abs=0.2)
    verdict = judge_route(routes["R01"], [first, second, idle], [])
    assert verdict.vehicles == ("SW001", "SW002", "SW009")
    assert (verdict.compliant, verdict.coverage_ratio, verdict.missed_segments) == (True, 1.0, ())
    assert verdict.valid_passes == 1  # the overlap has 2, every segment at least 1
    assert verdict.valid_km == pytest.approx(first.valid_km + second.valid_km)
    alone = judge_route(routes["R01"], [first, idle], [])
    assert not alone.compliant
    assert alone.coverage_ratio == pytest.approx(0.55, abs=0.05)


def test_a_stop_is_served_for_the_route_when_any_truck_served_it() -> None:
    routes, stops = sample_routes(), sample_stops()
    lonlat = (121.5479, 29.8712)
    a = judge("GT001", along("R02", 20.0, NIGHT, dwell_at=(*lonlat, 90)), routes["R02"], stops, RULES)
    b = judge("GT002", along("R02", 20.0, NIGHT), routes["R02"], stops, RULES)
    assert a.served == ("S01",)
    assert b.served == ()
    assert judge_route(routes["R02"], [a, b], stops).stops_served == 1


def test_valid_mileage_counts_every_valid_pass() -> None:
    route = sample_routes()["R01"]
    there = along("R01", 7.0, NIGHT, interval_s=15)
    back = Fixes(
        there.t_ms + (there.t_ms[-1] - there.t_ms[0]) + 15_000, there.lon[::-1], there.lat[::-1],
        there.speed_kmh, there.hdop, there.working,
    )  # fmt: skip
    both = Fixes(
        *(np.concatenate([a, b]) for a, b in zip(astuple_fixes(there), astuple_fixes(back), strict=True))
    )
    r = judge("SW001", both, route, [], RULES)
    assert [v for _, _, v in r.segment_passes] == [2] * 57 + [1]  # the turning segment is one visit
    assert r.valid_passes == 1
    assert r.valid_km == pytest.approx(5.8, abs=0.06)


def astuple_fixes(f: Fixes) -> tuple[np.ndarray, ...]:
    return (f.t_ms, f.lon, f.lat, f.speed_kmh, f.hdop, f.working)


# --- depots ----------------------------------------------------------------------------------
def test_time_at_the_depot_is_not_off_route() -> None:
    route, depots = sample_routes()["R01"], sample_depots()
    assert [d.id for d in depots] == ["D01"]
    at_two_pm = MIDNIGHT + 14 * HOUR  # inside R01's 09:00-16:00 window
    in_depot = parked(121.5205, 29.8771, at_two_pm, 1800)
    assert judge("SW001", in_depot, route, [], RULES, depots).off_route_s == 0.0
    assert judge("SW001", in_depot, route, [], RULES).off_route_s > 1700  # without the depot
    elsewhere = parked(121.5205, 29.8800, at_two_pm, 1800)
    assert judge("SW001", elsewhere, route, [], RULES, depots).off_route_s > 1700
    evening = parked(121.5205, 29.8800, MIDNIGHT + 19 * HOUR, 1800)  # outside R01's windows
    assert judge("SW001", evening, route, [], RULES, depots).off_route_s == 0.0
