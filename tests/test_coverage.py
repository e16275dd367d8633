"""Coverage along the track, rule by rule, on a straight 500 m test route of ten 50 m segments
(pure logic; whole drives along the sample routes are in test_compliance_rules.py, the MQTT path
in test_sanitation.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from telemetry.sanitation.corridors import HALF_WIDTHS_M, Route, build_route
from telemetry.sanitation.rules import Compliance, Fixes, Rules, judge
from telemetry.sanitation.windows import in_service, local_minutes, parse_windows

RULES = Rules()
NIGHT_S = 1_795_546_800  # 2026-11-25 03:00 Asia/Shanghai
X0, Y0 = 560_000.0, 3_305_000.0  # EPSG:4549, in Haishu
_TO_LONLAT = Transformer.from_crs("EPSG:4549", "EPSG:4326", always_xy=True)


def straight(**props: object) -> Route:
    """A 500 m route due east (secondary: corridor ±10 m), limit 8 km/h, window 00:00-06:30."""
    lon, lat = _TO_LONLAT.transform([X0, X0 + 500.0], [Y0, Y0])
    base: dict[str, object] = {
        "id": "T",
        "road_class": "secondary",
        "speed_limit_kmh": 8,
        "window": "00:00-06:30",
    }
    return build_route(base | props, list(zip(lon, lat, strict=True)), "EPSG:4549", HALF_WIDTHS_M, 50.0)


ROUTE = straight()


def fixes(
    t_s: list[float],
    along_m: list[float],
    offset_m: list[float] | None = None,
    speed_kmh: list[float] | None = None,
    working: list[float] | None = None,
    start_s: float = NIGHT_S,
) -> Fixes:
    n = len(t_s)
    lon, lat = _TO_LONLAT.transform(X0 + np.array(along_m), Y0 + np.array(offset_m or [0.0] * n))
    return Fixes(
        ((start_s + np.array(t_s)) * 1000).astype(np.int64),
        np.asarray(lon),
        np.asarray(lat),
        np.array(speed_kmh or [7.0] * n, dtype=float),
        np.full(n, 0.8),
        np.array(working or [1.0] * n, dtype=float),
    )


def segments(r: Compliance, count: int = 3) -> list[tuple[int, int]]:
    """(passes, valid passes) of the first ``count`` segments."""
    return [(p, v) for _, p, v in r.segment_passes[:count]]


def every_2_m(over: tuple[int, ...] = (), off: tuple[int, ...] = (), unknown: bool = False) -> Fixes:
    """1 s apart, 2 m apart (7.2 km/h) over the first two segments: fix k at 2k m."""
    n = 51
    speed = [12.0 if k in over else 7.0 for k in range(n)]
    working = [float("nan") if unknown else 0.0 if k in off else 1.0 for k in range(n)]
    return fixes([float(k) for k in range(n)], [2.0 * k for k in range(n)], speed_kmh=speed, working=working)


# --- the rule, sequence by sequence ------------------------------------------------------------
@pytest.mark.parametrize(
    ("what", "f", "expected"),
    [
        ("two fixes 300 s apart: the straight line between them is driven",
         fixes([0, 300], [0, 100]), [(1, 1), (1, 1), (0, 0)]),
        ("301 s apart: a gap, nothing is covered",
         fixes([0, 301], [0, 100]), [(0, 0), (0, 0), (0, 0)]),
        ("400 m in 5 s is not a plausible speed",
         fixes([0, 5], [0, 400]), [(0, 0), (0, 0), (0, 0)]),
        ("every 30 s at 7 km/h: 58 m stretches span segments",
         fixes([0, 30, 60, 90], [0, 58, 117, 175]), [(1, 1), (1, 1), (1, 1)]),
        ("a bracketing fix over the limit spoils both its stretches",
         fixes([0, 13, 26, 39, 52], [0, 25, 50, 75, 100], speed_kmh=[7, 7, 12, 7, 7]),
         [(1, 0), (1, 0), (0, 0)]),
        ("two fixes over the limit in 26: still 90 % under, 88 % valid",
         every_2_m(over=(10, 11)), [(1, 1), (1, 1), (0, 0)]),
        ("three fixes over the limit in 26: under 90 %",
         every_2_m(over=(10, 11, 12)), [(1, 0), (1, 1), (0, 0)]),
        ("brush off at one bracketing fix of every other stretch",
         fixes([0, 13, 26, 39, 52], [0, 25, 50, 75, 100], working=[1, 1, 0, 1, 1]), [(1, 0), (1, 0), (0, 0)]),
        ("brush not reported: judged on speed and window only",
         every_2_m(unknown=True), [(1, 1), (1, 1), (0, 0)]),
        ("noise across a segment boundary does not split the pass",
         fixes([0, 5, 10, 15, 20, 25, 30, 35, 40, 45], [0, 20, 40, 55, 45, 60, 48, 70, 90, 110]),
         [(1, 1), (1, 1), (0, 0)]),
        ("a lone fix 25 m off the route (beyond 2 × 10 m) is noise: stepped over",
         fixes([0, 5, 10, 15, 20, 25], [0, 10, 20, 30, 40, 50], offset_m=[0, 0, 25, 0, 0, 0]),
         [(1, 1), (0, 0), (0, 0)]),
        ("two fixes in a row 25 m off: the vehicle left, the pass is cut",
         fixes([0, 5, 10, 15, 20, 25], [0, 10, 20, 30, 40, 50], offset_m=[0, 0, 25, 25, 0, 0]),
         [(0, 0), (0, 0), (0, 0)]),
        ("a fix just outside the corridor (14 m) still counts",
         fixes([0, 20, 40], [0, 40, 80], offset_m=[14, 0, 0]), [(1, 1), (0, 0), (0, 0)]),
        ("coming onto the route along the road: the stretch from before the start counts",
         fixes([0, 30, 60], [-40, 18, 76]), [(1, 1), (0, 0), (0, 0)]),
        ("a vehicle standing with noise is no pass",
         fixes([5.0 * k for k in range(120)], [50 + 8 * np.sin(k * 1.7) for k in range(120)]),
         [(0, 0), (0, 0), (0, 0)]),
    ],
)  # fmt: skip
def test_coverage_along_the_track(what: str, f: Fixes, expected: list[tuple[int, int]]) -> None:
    assert segments(judge("V", f, ROUTE, [], RULES)) == expected, what


def test_windows_and_bans_are_judged_on_the_bracketing_fixes() -> None:
    # 06:28:30 to 06:31:00 (local): the stretches up to 06:30 are in the window, the rest not
    f = fixes([0, 30, 60, 90, 120, 150], [0, 25, 50, 75, 100, 125], start_s=NIGHT_S + 3 * 3600 + 28 * 60 + 30)
    assert segments(judge("V", f, ROUTE, [], RULES)) == [(1, 1), (1, 0), (0, 0)]
    banned = straight(window="00:00-24:00", ban="06:30-07:00")
    assert segments(judge("V", f, banned, [], RULES)) == [(1, 1), (1, 0), (0, 0)]
    always = straight(window="")
    assert segments(judge("V", f, always, [], RULES)) == [(1, 1), (1, 1), (0, 0)]


def test_without_following_the_approach_the_first_segment_is_missed() -> None:
    f = fixes([0, 30, 60], [-40, 18, 76])
    assert segments(judge("V", f, ROUTE, [], RULES))[0] == (1, 1)
    assert segments(judge("V", f, ROUTE, [], replace(RULES, approach_m=0.0)))[0] == (0, 0)


def test_valid_mileage_is_the_length_swept_by_valid_passes() -> None:
    f = fixes([0, 30, 60, 90, 120, 150], [0, 58, 117, 175, 233, 292], speed_kmh=[7, 7, 7, 7, 12, 12])
    r = judge("V", f, ROUTE, [], RULES)
    assert [v for _, _, v in r.segment_passes[:6]] == [1, 1, 1, 0, 0, 0]
    assert r.valid_km == 0.15


def test_speed_from_positions_when_not_reported_ignores_noise() -> None:
    rng = np.random.default_rng(3)
    t = [float(k) for k in range(300)]
    f = fixes(t, [5 / 3 * k + rng.normal(0, 5) for k in range(300)], offset_m=list(rng.normal(0, 5, 300)))
    r = judge("V", replace(f, speed_kmh=np.full(300, np.nan)), ROUTE, [], RULES)
    assert r.overspeed_ratio == 0.0  # 6 km/h, whereas 1 s steps with 5 m noise read about 25 km/h
    assert r.valid_passes == 1


# --- windows ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("00:00-06:30", ((0, 390),)),
        ("00:00-06:30,09:00-16:00", ((0, 390), (540, 960))),
        (" 20:00-06:30 , 09:00-16:00 ", ((1200, 390), (540, 960))),
        ("16:00-24:00", ((960, 1440),)),
    ],
)
def test_windows_parse(text: str, expected: tuple[tuple[int, int], ...]) -> None:
    assert parse_windows(text) == expected


@pytest.mark.parametrize(
    "text", ["", "09:00", "9-10", "09:00-25:00", "24:30-01:00", "09:60-10:00", "09:00-10"]
)
def test_bad_windows_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"HH:MM|time of day"):
        parse_windows(text)


def test_a_bad_window_in_routes_geojson_names_the_route() -> None:
    with pytest.raises(ValueError, match="route T: ban"):
        straight(ban="7-10")


@pytest.mark.parametrize(
    ("minute", "windows", "bans", "expected"),
    [
        (100, "00:00-06:30", "", True),
        (400, "00:00-06:30", "", False),
        (1300, "20:00-06:30", "", True),  # across midnight
        (100, "20:00-06:30", "", True),
        (600, "20:00-06:30", "", False),
        (570, "00:00-06:30,09:00-16:00", "07:00-10:00", False),  # banned inside a window
        (610, "00:00-06:30,09:00-16:00", "07:00-10:00,17:00-20:00", True),
        (1439, "00:00-24:00", "", True),
        (700, "06:00-06:00", "", True),  # start = end: the whole day
    ],
)
def test_in_service(minute: float, windows: str, bans: str, expected: bool) -> None:
    ok = in_service(
        np.array([minute], dtype=float), parse_windows(windows), parse_windows(bans) if bans else ()
    )
    assert bool(ok[0]) is expected


def test_local_minutes_follow_daylight_saving_with_a_zone() -> None:
    summer = datetime(2026, 7, 1, 10, 0, tzinfo=UTC).timestamp()  # 12:00 in Berlin (CEST)
    winter = datetime(2026, 1, 15, 10, 0, tzinfo=UTC).timestamp()  # 11:00 (CET)
    t = np.array([summer, winter])
    assert list(local_minutes(t, 60, "Europe/Berlin")) == [720.0, 660.0]
    assert list(local_minutes(t, 60)) == [660.0, 660.0]  # a fixed offset cannot
    assert list(local_minutes(np.array([NIGHT_S], dtype=float), 480)) == [180.0]


# --- sub-sampling a valid drive never loses a covered segment ------------------------------------
@st.composite
def drives(draw: st.DrawFn) -> tuple[Fixes, list[int]]:
    """A valid drive along the straight route (forward, each fix under the limit, some
    standing), from just before its start to the road past its end (as far as the track is
    followed), and a sub-sample of it whose fixes stay at most ``gap_s`` apart."""
    n = draw(st.integers(5, 80))
    dt = draw(st.lists(st.floats(1.0, 60.0), min_size=n - 1, max_size=n - 1))
    speed = draw(
        st.lists(st.sampled_from([0.0, 2.0, 5.0, 7.9]) | st.floats(0.0, 7.9), min_size=n - 1, max_size=n - 1)
    )
    t = np.concatenate([[0.0], np.cumsum(dt)])
    s = np.concatenate([[draw(st.floats(-30.0, 40.0))], np.cumsum(np.array(speed) / 3.6 * np.array(dt))])
    s[1:] += s[0]
    s = np.minimum(s, 500.0 + RULES.approach_m - 10.0)  # it stops on the road past the end
    keep = [0]
    for k in range(1, n - 1):  # a fix is dropped unless the next one would then be too far
        if t[k + 1] - t[keep[-1]] > RULES.gap_s or draw(st.booleans()):
            keep.append(k)
    keep.append(n - 1)
    return fixes(list(t), list(s), speed_kmh=[*speed, 0.0]), keep


@settings(max_examples=200, deadline=None)
@given(drives())
def test_sub_sampling_never_turns_a_covered_segment_into_a_missed_one(drive: tuple[Fixes, list[int]]) -> None:
    f, keep = drive
    assert all(np.diff(f.t_ms[keep]) <= RULES.gap_s * 1000)
    sub = Fixes(*(a[keep] for a in (f.t_ms, f.lon, f.lat, f.speed_kmh, f.hdop, f.working)))
    full, part = judge("V", f, ROUTE, [], RULES), judge("V", sub, ROUTE, [], RULES)
    covered = {s for s, _, v in full.segment_passes if v}
    assert covered <= {s for s, _, v in part.segment_passes if v}, (covered, part.missed_segments)
