"""The toilet rules, table by table: the pure functions (no clock) and the engine driven with an
injected clock (every instant is a fixed local time of Asia/Shanghai, never the wall clock)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from telemetry.alerts.book import AlertBook
from telemetry.config import ToiletsConfig
from telemetry.instants import epoch_ms
from telemetry.records import ToiletEvent, ToiletReading
from telemetry.toilets.engine import ToiletChange, ToiletEngine
from telemetry.toilets.rules import (
    ALL_DAY,
    Hours,
    ToiletInfo,
    cleaning_due,
    daily_minimum,
    day_span_ms,
    entries_between,
    is_silent,
    local_day,
    minimum_missed,
    open_ms_between,
    parse_hours,
)

ZONE = ZoneInfo("Asia/Shanghai")
MIN = 60_000
HOUR = 60 * MIN
CFG = ToiletsConfig()


def at(day: int, hhmm: str, zone: ZoneInfo = ZONE) -> int:
    """Epoch ms of HH:MM local time on 2026-11-(24 + day)."""
    h, m = (int(x) for x in hhmm.split(":"))
    return epoch_ms(datetime(2026, 11, 24 + day, h, m, tzinfo=zone))


# --- pure rules -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("previous", "total", "entries"),
    [(100, 105, 5), (105, 105, 0), (105, 4, 4), (65_535, 0, 0), (7, 7000, 6993)],
)
def test_entries_between_totals(previous: int, total: int, entries: int) -> None:
    assert entries_between(previous, total) == entries


@pytest.mark.parametrize(
    ("traffic", "entries", "minutes", "due"),
    [
        ("high", 0, 119.9, False),
        ("high", 0, 120, True),
        ("medium", 0, 239, False),
        ("medium", 0, 240, True),
        ("low", 149, 1439, False),
        ("low", 150, 0, True),  # by footfall, whatever the class
        ("low", 0, 1440, True),
        ("unknown", 0, 240, True),  # an unlisted class: 240 minutes
    ],
)
def test_cleaning_due(traffic: str, entries: int, minutes: float, due: bool) -> None:
    assert cleaning_due(CFG, traffic, entries, minutes) is due


@pytest.mark.parametrize(
    ("text", "hours"),
    [
        (None, ALL_DAY),
        ("", ALL_DAY),
        ("06:00-22:00", ((360, 1320),)),
        ("22:00-02:00", ((1320, 120),)),  # crosses midnight
        ("00:00-24:00", ((0, 1440),)),
        ("06:00-11:30, 13:00-21:00", ((360, 690), (780, 1260))),
    ],
)
def test_parse_hours(text: str | None, hours: Hours) -> None:
    assert parse_hours(text) == hours


@pytest.mark.parametrize("text", ["6:00-22:00", "06:00", "25:00-26:00", "06:60-07:00", "06:00-24:01", "x"])
def test_parse_hours_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=r"HH:MM|time of day"):
        parse_hours(text)


@pytest.mark.parametrize(
    ("hours", "start", "end", "open_min"),
    [
        ("", (0, "10:00"), (0, "12:00"), 120),
        ("06:00-22:00", (0, "21:00"), (1, "07:00"), 120),  # 21-22 and 06-07: the night is closed
        ("06:00-22:00", (0, "22:30"), (1, "05:59"), 0),
        ("06:00-22:00", (0, "05:00"), (0, "05:30"), 0),
        ("22:00-02:00", (0, "23:00"), (1, "03:00"), 180),  # across midnight
        ("22:00-02:00", (0, "01:00"), (0, "03:00"), 60),  # yesterday's window, this morning
        ("06:00-11:30,13:00-21:00", (0, "11:00"), (0, "14:00"), 90),
        ("00:00-12:00,06:00-18:00", (0, "00:00"), (1, "00:00"), 18 * 60),  # overlap counted once
        ("", (0, "10:00"), (0, "10:00"), 0),
        ("", (0, "10:00"), (3, "10:00"), 3 * 24 * 60),
    ],
)
def test_open_time_between(hours: str, start: tuple[int, str], end: tuple[int, str], open_min: int) -> None:
    assert open_ms_between(at(*start), at(*end), parse_hours(hours), ZONE) == open_min * MIN


def test_open_time_on_a_dst_day() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    start = epoch_ms(datetime(2026, 3, 29, 0, 0, tzinfo=berlin))
    end = epoch_ms(datetime(2026, 3, 30, 0, 0, tzinfo=berlin))
    assert open_ms_between(start, end, ALL_DAY, berlin) == 23 * HOUR  # clocks went forward
    assert open_ms_between(start, end, parse_hours("01:00-04:00"), berlin) == 2 * HOUR
    assert day_span_ms(date(2026, 3, 29), berlin) == (start, end)


@pytest.mark.parametrize(("open_ms", "silent"), [(0, False), (2 * HOUR, False), (2 * HOUR + 1, True)])
def test_silent_after_two_hours_of_opening_hours(open_ms: int, silent: bool) -> None:
    assert is_silent(CFG, open_ms) is silent


@pytest.mark.parametrize(
    ("traffic", "done", "missed"),
    [("high", 3, True), ("high", 4, False), ("medium", 1, True), ("medium", 2, False), ("low", 0, False),
     ("unlisted", 0, False)],
)  # fmt: skip
def test_daily_minimum_by_traffic_class(traffic: str, done: int, missed: bool) -> None:
    assert minimum_missed(done, daily_minimum(CFG, traffic)) is missed


def test_local_days() -> None:
    assert local_day(at(1, "00:00"), ZONE) == date(2026, 11, 25)
    assert local_day(at(1, "00:00") - 1, ZONE) == date(2026, 11, 24)
    assert day_span_ms(date(2026, 11, 25), ZONE) == (at(1, "00:00"), at(2, "00:00"))


def test_the_configuration_refuses_a_negative_minimum() -> None:
    with pytest.raises(ValueError, match="daily_min_cleanings"):
        ToiletsConfig(daily_min_cleanings={"high": -1})


# --- the engine, with an injected clock -------------------------------------------------------
INFO = {
    "TH": ToiletInfo(1, "high", 60, "haishu", parse_hours("06:00-22:00")),
    "TM": ToiletInfo(2, "medium", None, "haishu"),
    "TL": ToiletInfo(3, "low", None, "haishu"),
}


def engine(start_ms: int, **cfg: object) -> ToiletEngine:
    return ToiletEngine(ToiletsConfig.model_validate(cfg), AlertBook(), dict(INFO), start_ms, zone=ZONE)


def kinds(changes: list[ToiletChange]) -> list[tuple[str, str, str]]:
    return [(c.toilet, c.topic_suffix(), str(c.message()["level"])) for c in changes]


def test_every_registered_toilet_is_timed_from_start_without_reporting() -> None:
    e = engine(at(1, "08:00"))
    assert e.known() == ["TH", "TL", "TM"]
    _, changes = e.check_due(at(1, "09:59"))
    assert [k for k in kinds(changes) if k[1] == "cleaning"] == []
    points, changes = e.check_due(at(1, "10:00"))  # high: 120 minutes
    assert [k for k in kinds(changes) if k[1] == "cleaning"] == [("TH", "cleaning", "overdue")]
    assert [(p.toilet, p.type) for p in points if isinstance(p, ToiletEvent)] == [("TH", "overdue")]
    _, changes = e.check_due(at(1, "12:00"))  # medium: 240 minutes
    assert [k for k in kinds(changes) if k[1] == "cleaning"] == [("TM", "cleaning", "overdue")]
    assert e.overdue("TH")
    assert e.overdue("TM")
    assert not e.overdue("TL")
    assert not e.overdue("nobody")  # reading the state creates nothing
    assert e.known() == ["TH", "TL", "TM"]


@pytest.mark.parametrize(
    ("last_report", "now", "silent"),
    [
        ((1, "08:00"), (1, "10:00"), False),  # exactly two hours
        ((1, "08:00"), (1, "10:01"), True),
        ((1, "21:00"), (2, "06:59"), False),  # closed 22:00-06:00: 1 h + 59 min open
        ((1, "21:00"), (2, "07:01"), True),
        ((1, "23:00"), (2, "08:00"), False),  # silent all night, 2 h of opening hours
        ((1, "23:00"), (2, "08:01"), True),
    ],
)
def test_silence_counts_opening_hours_only(
    last_report: tuple[int, str], now: tuple[int, str], silent: bool
) -> None:
    e = engine(at(1, "00:00"))
    e.observe((ToiletReading("TH", "haishu", at(*last_report), entries=1),), at(*last_report))
    e.observe((ToiletReading("TM", "haishu", at(*now), entries=1),), at(*now))  # TM (all day) is fine
    points, changes = e.check_due(at(*now))
    th = [k for k in kinds(changes) if k[:2] == ("TH", "silent")]
    assert th == ([("TH", "silent", "silent")] if silent else [])
    stored = [(p.toilet, p.type) for p in points if isinstance(p, ToiletEvent) and p.toilet == "TH"]
    assert ("TH", "silent") in stored if silent else ("TH", "silent") not in stored
    assert ("TM", "silent") not in [k[:2] for k in kinds(changes)]  # it reported just now


def test_silence_is_raised_once_and_clears_when_the_toilet_reports_again() -> None:
    e = engine(at(1, "08:00"))
    _, changes = e.check_due(at(1, "10:01"))  # never reported: silent from start-up
    assert sorted(k for k in kinds(changes) if k[1] == "silent") == [
        ("TH", "silent", "silent"), ("TL", "silent", "silent"), ("TM", "silent", "silent"),
    ]  # fmt: skip
    assert [k for k in kinds(e.check_due(at(1, "11:00"))[1]) if k[1] == "silent"] == []
    # a backlog with old timestamps still proves the counter is back: silence is about arrival
    points, changes = e.observe((ToiletReading("TH", "haishu", at(1, "07:00"), total=5),), at(1, "11:05"))
    assert kinds(changes) == [("TH", "silent", "green")]
    assert [(p.type, p.time_ms) for p in points if isinstance(p, ToiletEvent)] == [
        ("reporting", at(1, "11:05"))
    ]
    assert e.book.active("toilet_silent", "TH") is None
    assert [k for k in kinds(e.check_due(at(1, "13:05"))[1]) if k[0] == "TH"] == []
    assert kinds(e.check_due(at(1, "13:06"))[1]) == [("TH", "silent", "silent")]


def test_unregistered_toilets_have_no_silence_or_daily_minimum() -> None:
    e = engine(at(0, "00:00") - 3 * 24 * HOUR)
    e.observe((ToiletReading("T99", "haishu", at(1, "08:00"), entries=1),), at(1, "08:00"))
    _, changes = e.check_due(at(2, "12:00"))
    assert {c.kind for c in changes if c.toilet == "T99"} == {"toilet"}  # the cleaning timer only


def clean(e: ToiletEngine, toilet: str, *times: int) -> list[ToiletChange]:
    out: list[ToiletChange] = []
    for t in times:
        out += e.observe((ToiletEvent(toilet, "haishu", t, "cleaned", "张"),), t)[1]
    return out


@pytest.mark.parametrize(
    ("toilet", "cleanings", "missed"),
    [("TH", 3, True), ("TH", 4, False), ("TM", 1, True), ("TM", 2, False), ("TL", 0, False)],
)
def test_the_daily_minimum_is_judged_at_the_end_of_the_local_day(
    toilet: str, cleanings: int, missed: bool
) -> None:
    e = engine(at(1, "00:00"))  # watched from the start of 2026-11-25
    clean(e, toilet, *(at(1, f"{8 + 3 * k:02d}:00") for k in range(cleanings)))
    clean(e, toilet, at(2, "00:00"))  # the next day's first cleaning does not count
    assert [c for c in e.check_due(at(1, "23:59"))[1] if c.kind == "toilet_daily"] == []  # not over yet
    points, changes = e.check_due(at(2, "00:00"))
    daily = [c for c in changes if c.kind == "toilet_daily"]
    assert {c.toilet for c in daily} - {toilet} == {"TH", "TM"} - {toilet}  # the others: never cleaned
    mine = [c for c in daily if c.toilet == toilet]
    events = [p for p in points if isinstance(p, ToiletEvent) and p.type == "minimum_missed"]
    stored = [p.time_ms for p in events if p.toilet == toilet]
    if missed:
        (change,) = mine
        assert change.alert.level == "missed"
        minimum = daily_minimum(CFG, INFO[toilet].traffic)
        assert f"{cleanings} of {minimum} cleanings on 2026-11-25" in change.alert.reason
        assert stored == [at(2, "00:00") - 1]  # stored in the day it judges
    else:
        assert mine == []
        assert stored == []
    assert [c for c in e.check_due(at(2, "00:01"))[1] if c.kind == "toilet_daily"] == []  # judged once


def test_a_day_watched_from_midday_is_not_judged() -> None:
    e = engine(at(1, "09:00"))
    assert [c for c in e.check_due(at(2, "00:00"))[1] if c.kind == "toilet_daily"] == []
    e2 = engine(at(1, "09:00"))
    e2.restore_observed_from(at(0, "12:00"))  # the store held toilet data from before that day
    assert {c.toilet for c in e2.check_due(at(2, "00:00"))[1] if c.kind == "toilet_daily"} == {"TH", "TM"}


def test_a_missed_day_is_updated_on_the_next_miss_and_cleared_by_a_kept_day() -> None:
    e = engine(at(1, "00:00"))
    first = [c for c in e.check_due(at(2, "00:00"))[1] if c.toilet == "TM" and c.kind == "toilet_daily"]
    second = [c for c in e.check_due(at(3, "00:00"))[1] if c.toilet == "TM" and c.kind == "toilet_daily"]
    assert first[0].alert.id == second[0].alert.id  # one alert, its reason follows the days
    assert "2026-11-26" in second[0].alert.reason
    clean(e, "TM", at(3, "09:00"), at(3, "15:00"))
    (kept,) = [c for c in e.check_due(at(4, "00:00"))[1] if c.toilet == "TM" and c.kind == "toilet_daily"]
    assert (kept.alert.state, kept.message()["level"]) == ("cleared", "green")


def test_a_late_check_in_for_the_judged_day_clears_the_miss() -> None:
    e = engine(at(1, "00:00"))
    clean(e, "TM", at(1, "09:00"))
    e.check_due(at(2, "00:00"))
    assert e.book.active("toilet_daily", "TM") is not None
    changes = clean(e, "TM", at(1, "17:00"), at(1, "17:00"))  # a backlog, delivered twice
    assert [(c.kind, c.alert.state) for c in changes if c.kind == "toilet_daily"] == [
        ("toilet_daily", "cleared")
    ]
    assert e.book.active("toilet_daily", "TM") is None


def test_counter_reset_duplicates_and_late_totals() -> None:
    e = engine(at(1, "08:00"))
    t0 = at(1, "08:00")

    def total(t: int, n: int) -> list[int]:
        derived, _ = e.observe((ToiletReading("TL", "haishu", t, total=n),), t)
        return [r.entries for r in derived if isinstance(r, ToiletReading) and r.entries is not None]

    assert total(t0, 100) == [0]  # the first total is a baseline
    assert total(t0 + MIN, 105) == [5]
    assert total(t0 + MIN, 105) == []  # redelivered: counted once
    assert total(t0 + 3 * MIN, 4) == [4]  # the counter reset to 0 and counted 4
    assert total(t0 + 2 * MIN, 110) == [4, 5]  # late: its successor is recomputed, itself 110 - 105
    assert e.entries_since_clean("TL") == 5 + 4 + 5
    clean(e, "TL", t0 + 4 * MIN)
    assert e.entries_since_clean("TL") == 0
