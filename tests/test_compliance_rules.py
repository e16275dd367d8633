"""Compliance judging on synthetic tracks along the sample routes (pure logic; the MQTT path is
in test_sanitation.py)."""

from __future__ import annotations

from telemetry.sanitation.rules import Rules, judge
from tests.tracks import along, sample_routes, sample_stops

NIGHT = 1_795_546_800_000  # 2026-11-25 02:00 Asia/Shanghai, inside 00:00-06:30
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
    noon = NIGHT + 10 * 3_600_000
    assert judge("SW001", along("R01", 6.0, noon), routes["R01"], [], RULES).valid_passes == 0


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
