"""The recurrence of patrol schedules (drones/schedules.py): weekly local days and wall time or
every N hours from the start, in site time, across day changes, week wraps and DST; which due
time a run is owed for; which approval covers a due time's local date."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall_time
from types import SimpleNamespace
from typing import cast
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from api.schedules import ScheduleBook
from drones.mission_service import Mission
from drones.schedules import (
    DAYS,
    HOUR_MS,
    Approval,
    Schedule,
    Weekly,
    approval_for,
    from_document,
    next_due,
    next_runs,
    owed,
    previous_due,
)
from telemetry.instants import epoch_ms
from telemetry.queries import LatestValue

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
MISSION = {"type": "points", "points": [[121.546, 29.874]], "altitude_agl_m": 30}


def local(y: int, mo: int, d: int, h: int, mi: int, zone: ZoneInfo = SHANGHAI) -> int:
    return epoch_ms(datetime(y, mo, d, h, mi, tzinfo=zone))


def weekly(days: list[str], hh_mm: str, start_ms: int, created_ms: int | None = None) -> Schedule:
    w = Weekly.parse(days, hh_mm)
    return Schedule("s1-1", "dyke patrol", MISSION, (41,), start_ms, weekly=w,
                    created_at_ms=start_ms if created_ms is None else created_ms)  # fmt: skip


def hourly(hours: float, start_ms: int, storm_hours: float | None = None) -> Schedule:
    return Schedule("s2-1", "hotspots", MISSION, (), start_ms, every_hours=hours,
                    storm_every_hours=storm_hours, created_at_ms=start_ms)  # fmt: skip


def wall(ms: int, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ms / 1000, zone)


START = local(2026, 11, 23, 0, 0)  # a Monday


def test_weekly_due_times_are_local_days_and_wall_time() -> None:
    s = weekly(["mon", "wed"], "07:30", START)
    tue_10 = local(2026, 11, 24, 10, 0)
    assert next_due(s, tue_10, SHANGHAI) == local(2026, 11, 25, 7, 30)
    # week wrap: after Wednesday's run comes next Monday's
    assert next_due(s, local(2026, 11, 25, 7, 30), SHANGHAI) == local(2026, 11, 30, 7, 30)
    assert previous_due(s, tue_10, SHANGHAI) == local(2026, 11, 23, 7, 30)
    assert previous_due(s, local(2026, 11, 23, 7, 29), SHANGHAI) is None  # before the first
    runs = next_runs(s, tue_10, SHANGHAI)
    assert runs == [local(2026, 11, 25, 7, 30), local(2026, 11, 30, 7, 30), local(2026, 12, 2, 7, 30)]


def test_a_local_time_on_another_utc_day() -> None:
    """00:30 Monday in Shanghai is Sunday 16:30 UTC: the day is the local one."""
    s = weekly(["mon"], "00:30", START)
    due = next_due(s, START, SHANGHAI)
    assert due is not None
    assert datetime.fromtimestamp(due / 1000, UTC).weekday() == 6  # Sunday in UTC
    assert wall(due, SHANGHAI).weekday() == 0
    assert wall(due, SHANGHAI).strftime("%H:%M") == "00:30"
    late = weekly(["sun"], "23:30", START)  # Sunday 23:30 local is Sunday 15:30 UTC
    due = next_due(late, START, SHANGHAI)
    assert due == local(2026, 11, 29, 23, 30)


def test_every_hours_counts_from_start_and_storm_switches_the_interval() -> None:
    s = hourly(6, START, storm_hours=0.5)
    assert next_due(s, START - 1, SHANGHAI) == START
    assert next_due(s, START, SHANGHAI) == START + 6 * HOUR_MS
    assert next_due(s, START + 1, SHANGHAI, storm=True) == START + HOUR_MS // 2
    assert previous_due(s, START + 7 * HOUR_MS, SHANGHAI) == START + 6 * HOUR_MS
    assert previous_due(s, START - 1, SHANGHAI) is None
    no_storm = hourly(6, START)
    assert next_due(no_storm, START, SHANGHAI, storm=True) == START + 6 * HOUR_MS  # no variant: as usual


def test_berlin_dst_keeps_wall_time() -> None:
    """Europe/Berlin goes to summer time on 2026-03-29 (02:00 → 03:00) and back on 2026-10-25."""
    s = weekly(["sat", "sun", "mon"], "08:00", local(2026, 3, 27, 0, 0, BERLIN))
    runs = next_runs(s, local(2026, 3, 27, 0, 0, BERLIN), BERLIN)
    assert [wall(t, BERLIN).strftime("%a %H:%M") for t in runs] == ["Sat 08:00", "Sun 08:00", "Mon 08:00"]
    assert runs[1] - runs[0] == 23 * HOUR_MS  # the short night
    gap = weekly(["sun"], "02:30", local(2026, 3, 27, 0, 0, BERLIN))  # 02:30 does not exist that day
    due = next_due(gap, local(2026, 3, 27, 0, 0, BERLIN), BERLIN)
    assert due == epoch_ms(datetime(2026, 3, 29, 1, 30, tzinfo=UTC))  # 03:30 CEST: the offset before
    autumn = weekly(["sun"], "02:30", local(2026, 10, 24, 0, 0, BERLIN))  # 02:30 happens twice
    due = next_due(autumn, local(2026, 10, 24, 0, 0, BERLIN), BERLIN)
    assert due == epoch_ms(datetime(2026, 10, 25, 0, 30, tzinfo=UTC))  # the first 02:30 (CEST)
    assert next_due(autumn, due, BERLIN) == local(2026, 11, 1, 2, 30, BERLIN)  # once


day_sets = st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True)
times = st.times().map(lambda t: t.replace(second=0, microsecond=0))
instants = st.integers(local(2025, 1, 1, 0, 0), local(2028, 12, 31, 0, 0))


@settings(max_examples=300, deadline=None)
@given(day_sets, times, instants, st.integers(0, 30 * 24 * 60), st.sampled_from([SHANGHAI, BERLIN]))
def test_weekly_next_due_is_the_first_matching_local_time(
    days: list[str], at: wall_time, start: int, later_min: int, zone: ZoneInfo
) -> None:
    s = weekly(days, at.strftime("%H:%M"), start)
    after = start + later_min * 60_000 - 7 * 24 * HOUR_MS  # before and after the start
    due = next_due(s, after, zone)
    assert due is not None
    assert due > after
    assert due >= start
    d = wall(due, zone)
    assert DAYS[d.weekday()] in days
    naive = datetime.combine(d.date(), at)
    if (naive.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)).replace(tzinfo=None) == naive:
        assert (d.hour, d.minute) == (at.hour, at.minute)  # an existing wall time is kept exactly
    assert previous_due(s, due, zone) == due
    before = previous_due(s, due - 1, zone)
    assert before is None or before <= after  # nothing skipped in between
    assert due - max(after, start) <= 7 * 24 * HOUR_MS + 2 * HOUR_MS  # a DST hour at most


@settings(max_examples=200, deadline=None)
@given(st.floats(1 / 60, 48), instants, st.integers(-(10**9), 10**10), st.booleans())
def test_every_hours_is_a_grid_from_start(hours: float, start: int, offset: int, storm: bool) -> None:
    s = hourly(hours, start, storm_hours=0.5)
    period = round((0.5 if storm else hours) * HOUR_MS)
    after = start + offset
    due = next_due(s, after, SHANGHAI, storm)
    assert due is not None
    assert due > after
    assert due >= start
    assert (due - start) % max(period, 60_000) == 0
    assert due - after <= max(period, 60_000) or after < start
    prev = previous_due(s, after, SHANGHAI, storm)
    assert prev is None or (prev <= after and next_due(s, prev, SHANGHAI, storm) == due)


@settings(max_examples=200, deadline=None)
@given(day_sets, times, st.lists(st.integers(1, 3 * 24 * 60), min_size=1, max_size=40))
def test_owed_runs_each_due_time_once_and_missed_ones_once(
    days: list[str], at: wall_time, steps: list[int]
) -> None:
    """Ticks at arbitrary gaps (a gap of days: the service was down): every run is for a due
    time after the last one handled, the latest at or before the tick; never two per due time."""
    created = START + 3 * HOUR_MS
    s = weekly(days, at.strftime("%H:%M"), START, created_ms=created)
    now, ran = created, []
    for step in steps:
        now += step * 60_000
        due = owed(s, now, SHANGHAI)
        if due is not None:
            assert due == previous_due(s, now, SHANGHAI)
            assert due >= created
            ran.append(due)
            s = replace(s, last_due_ms=due)
        assert owed(s, now, SHANGHAI) is None  # handled: not again at the same instant
    assert ran == sorted(set(ran))
    last = previous_due(s, now, SHANGHAI)
    assert last is None or last < created or (ran and ran[-1] == last)


def test_a_deleted_schedule_owes_nothing_and_a_new_one_nothing_before_its_creation() -> None:
    s = weekly(["mon"], "07:30", START, created_ms=local(2026, 11, 23, 8, 0))
    assert owed(s, local(2026, 11, 23, 9, 0), SHANGHAI) is None  # the 07:30 was before it existed
    assert owed(s, local(2026, 11, 30, 7, 30), SHANGHAI) == local(2026, 11, 30, 7, 30)
    assert owed(replace(s, state="deleted"), local(2026, 11, 30, 8, 0), SHANGHAI) is None


def test_approval_covers_the_local_date() -> None:
    s = replace(
        weekly(["mon"], "07:30", START),
        approvals=(Approval("CAAC-1", date(2026, 11, 1), date(2026, 11, 30)),),
    )
    assert approval_for(s, local(2026, 11, 30, 23, 30), SHANGHAI) == "CAAC-1"  # 15:30 UTC
    assert approval_for(s, local(2026, 12, 1, 0, 30), SHANGHAI) is None  # still Nov 30 in UTC
    assert approval_for(s, local(2026, 10, 31, 23, 59), SHANGHAI) is None


def test_the_document_round_trips() -> None:
    s = replace(
        weekly(["wed", "mon"], "07:05", START),
        approvals=(Approval("A", date(2026, 1, 1), date(2026, 12, 31)),),
        launch=True,
        storm_every_hours=0.5,
        last_due_ms=START + 5,
        last_run={"due_ms": START + 5, "state": "failed", "reason": "drone offline: 41"},
    )
    back = from_document(s.to_document())
    assert back == s
    assert back.last_run == s.last_run
    assert s.to_document()["weekly"] == {"days": ["mon", "wed"], "time": "07:05"}
    assert next_due(back, START, SHANGHAI) == START + timedelta(hours=7, minutes=5) // timedelta(
        milliseconds=1
    )


def test_a_run_whose_mission_was_stored_but_not_its_schedule_is_not_run_again() -> None:
    """A crash between the mission's point and the schedule's: the mission names the due time."""
    s = weekly(["mon"], "07:30", START)
    value = LatestValue("schedule", s.id, START, (("schedule", s.id),),
                        (("document", json.dumps(s.to_document())), ("state", "active")))  # fmt: skip
    due = local(2026, 11, 23, 7, 30)
    log = [{"action": "plan"}, {"action": "scheduled", "schedule": s.id, "due_ms": due}]
    m = SimpleNamespace(id="m3-1", schedule=s.id, log=log, state="awaiting_pilot", reason=None, drone=41)
    book = ScheduleBook("Asia/Shanghai")
    book.restore([value], [cast(Mission, m)])
    back = book.schedules[s.id]
    assert back.last_due_ms == due
    assert back.last_run == {"due_ms": due, "mission": "m3-1", "state": "awaiting_pilot", "reason": None,
                             "drone": 41}  # fmt: skip
    assert owed(back, due + 60_000, SHANGHAI) is None
    assert book.new_id(START).startswith("s2-")  # ids go on after the restored ones
