"""The toilet engine's per-reading windows (issue 22): the surge count bisected out of the day's
entries equals the whole-day scan it replaced, whatever the arrival order, and a toilet keeps
counting past the 2,000 totals it keeps."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry.alerts.book import AlertBook
from telemetry.config import ToiletsConfig
from telemetry.records import ToiletReading
from telemetry.toilets.engine import ToiletChange, ToiletEngine
from telemetry.toilets.rules import ToiletInfo

T0 = 1_795_564_800_000
ZONE = ZoneInfo("Asia/Shanghai")
INFO = {"T1": ToiletInfo(2, "medium", 10, "haishu")}


def engine() -> ToiletEngine:
    return ToiletEngine(ToiletsConfig(), AlertBook(), dict(INFO), T0, zone=ZONE)


def surge_reasons(changes: list[ToiletChange]) -> list[str]:
    return [c.alert.reason for c in changes if c.kind == "toilet_surge"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 400), st.integers(0, 30)), min_size=1, max_size=80))
def test_the_surge_count_equals_the_whole_day_scan(readings: list[tuple[int, int]]) -> None:
    """Entries at (minute, n) in any order, redeliveries included; after each, the entries
    in the surge window up to it (as announced) are those of a brute-force scan."""
    e = engine()
    window = int(ToiletsConfig().surge_window_s * 1000)
    seen: dict[int, int] = {}
    for minute, n in readings:
        time_ms = T0 + minute * 60_000
        _, changes = e.observe((ToiletReading("T1", "haishu", time_ms, entries=n),), time_ms)
        seen[time_ms] = n
        newest = max(seen)
        day = {t: k for t, k in seen.items() if t >= newest - 86_400_000}
        recent = sum(k for t, k in day.items() if time_ms - window < t <= time_ms)
        assert e._toilets["T1"].entries == sorted(day.items())
        for reason in surge_reasons(changes):
            assert reason.startswith(f"{recent} entries")


def test_a_toilet_counts_on_past_the_totals_it_keeps() -> None:
    e = engine()
    entries = []
    for k in range(2100):  # a counter every 10 s: the oldest totals go after 2,000
        time_ms = T0 + k * 10_000
        points, _ = e.observe((ToiletReading("T1", "haishu", time_ms, total=3 * k),), time_ms)
        entries += [p.entries for p in points if isinstance(p, ToiletReading)]
    assert entries == [0] + [3] * 2099
    late = T0 - 10_000  # older than every total kept: nothing to derive, nothing raised
    points, _ = e.observe((ToiletReading("T1", "haishu", late, total=0),), late)
    assert [p for p in points if isinstance(p, ToiletReading)] == []
