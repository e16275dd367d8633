"""Scheduled patrols, the pure part (docs/schedules.md): a schedule as data, its recurrence in
site time, which due time is owed now, and which approval covers a due time's local date.

Recurrence: ``every_hours`` counts from ``start`` in absolute time (so a DST change moves its
local times, never its spacing); ``weekly`` is local days at a local wall time, on or after
``start``. A wall time a DST change skips (02:30 on a spring-forward night) is read with the
offset before the change (zoneinfo's ``fold=0``: it runs an hour later by the clock); one it
repeats runs once, at its first occurrence. While the storm mode is on, a schedule with
``storm_every_hours`` runs at that interval from ``start`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as wall_time
from typing import Any
from zoneinfo import ZoneInfo

from telemetry.instants import epoch_ms

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # datetime.weekday() order
HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class Weekly:
    days: tuple[int, ...]  # weekday numbers, Monday 0
    time: wall_time  # local wall time

    def to_json(self) -> dict[str, Any]:
        return {"days": [DAYS[d] for d in self.days], "time": self.time.strftime("%H:%M")}

    @staticmethod
    def parse(days: list[str], hh_mm: str) -> Weekly:
        unknown = [d for d in days if d not in DAYS]
        if unknown or not days:
            raise ValueError(f"weekly.days: expected some of {', '.join(DAYS)}, got {days}")
        hh, _, mm = hh_mm.partition(":")
        if not (hh.isdigit() and mm.isdigit() and len(hh) == len(mm) == 2):
            raise ValueError(f"weekly.time: expected HH:MM, got {hh_mm!r}")
        try:
            at = wall_time(int(hh), int(mm))
        except ValueError as exc:
            raise ValueError(f"weekly.time: {exc}") from exc
        return Weekly(tuple(sorted({DAYS.index(d) for d in days})), at)


@dataclass(frozen=True, slots=True)
class Approval:
    approval_id: str
    first: date  # local dates, both included
    last: date

    def to_json(self) -> dict[str, str]:
        return {"approval_id": self.approval_id, "from": self.first.isoformat(), "to": self.last.isoformat()}


@dataclass(frozen=True, slots=True)
class Schedule:
    id: str
    name: str
    mission: dict[str, Any]  # a mission request body (CONTRACT §6)
    drones: tuple[int, ...]  # the pool, in order of preference
    start_ms: int
    every_hours: float | None = None
    weekly: Weekly | None = None
    launch: bool = False
    approvals: tuple[Approval, ...] = ()
    storm_every_hours: float | None = None
    created_by: str = ""
    created_at_ms: int = 0
    state: str = "active"  # active | deleted
    last_due_ms: int | None = None  # the last due time handled (run, or decided to be owed no run)
    last_run: dict[str, Any] | None = field(default=None, compare=False)

    def to_document(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "mission": self.mission, "drones": list(self.drones),
            "start_ms": self.start_ms, "every_hours": self.every_hours,
            "weekly": self.weekly.to_json() if self.weekly else None, "launch": self.launch,
            "approvals": [a.to_json() for a in self.approvals], "storm_every_hours": self.storm_every_hours,
            "created_by": self.created_by, "created_at_ms": self.created_at_ms, "state": self.state,
            "last_due_ms": self.last_due_ms, "last_run": self.last_run,
        }  # fmt: skip


def from_document(d: dict[str, Any]) -> Schedule:
    weekly = Weekly.parse(d["weekly"]["days"], d["weekly"]["time"]) if d.get("weekly") else None
    approvals = tuple(
        Approval(a["approval_id"], date.fromisoformat(a["from"]), date.fromisoformat(a["to"]))
        for a in d.get("approvals", [])
    )
    return Schedule(
        str(d["id"]), str(d["name"]), dict(d["mission"]), tuple(int(x) for x in d["drones"]),
        int(d["start_ms"]), d.get("every_hours"), weekly, bool(d.get("launch")), approvals,
        d.get("storm_every_hours"), str(d.get("created_by", "")), int(d.get("created_at_ms", 0)),
        str(d.get("state", "active")), d.get("last_due_ms"), d.get("last_run"),
    )  # fmt: skip


def _interval_ms(s: Schedule, storm: bool) -> int | None:
    hours = s.storm_every_hours if storm and s.storm_every_hours else s.every_hours
    return max(60_000, round(hours * HOUR_MS)) if hours else None


def _at(day: date, w: Weekly, zone: ZoneInfo) -> int:
    return epoch_ms(datetime.combine(day, w.time, tzinfo=zone))  # fold=0: see the module's text


def _local_day(ms: int, zone: ZoneInfo) -> date:
    return datetime.fromtimestamp(ms / 1000, zone).date()


def next_due(s: Schedule, after_ms: int, zone: ZoneInfo, storm: bool = False) -> int | None:
    """The first due time strictly after ``after_ms`` (None: the schedule has no recurrence)."""
    period = _interval_ms(s, storm)
    if period is not None:
        if after_ms < s.start_ms:
            return s.start_ms
        return s.start_ms + ((after_ms - s.start_ms) // period + 1) * period
    if s.weekly is None:
        return None
    first = _local_day(max(after_ms, s.start_ms), zone) - timedelta(days=1)
    for k in range(9):
        day = first + timedelta(days=k)
        if day.weekday() in s.weekly.days:
            t = _at(day, s.weekly, zone)
            if t > after_ms and t >= s.start_ms:
                return t
    raise AssertionError("a weekly schedule has a due time within every 8 days")  # pragma: no cover


def previous_due(s: Schedule, at_ms: int, zone: ZoneInfo, storm: bool = False) -> int | None:
    """The last due time at or before ``at_ms`` (None: none yet)."""
    if at_ms < s.start_ms:
        return None
    period = _interval_ms(s, storm)
    if period is not None:
        return s.start_ms + (at_ms - s.start_ms) // period * period
    if s.weekly is None:
        return None
    last = _local_day(at_ms, zone) + timedelta(days=1)
    for k in range(9):
        day = last - timedelta(days=k)
        if day.weekday() in s.weekly.days:
            t = _at(day, s.weekly, zone)
            if s.start_ms <= t <= at_ms:
                return t
    return None  # start lies within the last week, before its first due time


def next_runs(s: Schedule, after_ms: int, zone: ZoneInfo, n: int = 3, storm: bool = False) -> list[int]:
    out: list[int] = []
    t = after_ms
    while len(out) < n and (due := next_due(s, t, zone, storm)) is not None:
        out.append(due)
        t = due
    return out


def owed(s: Schedule, now_ms: int, zone: ZoneInfo, storm: bool = False) -> int | None:
    """The due time a run is owed for now: the latest one at or before ``now_ms`` that is after
    the last one handled and not before the schedule was created. Due times missed while the
    service was down collapse into this one run (never one run per missed time)."""
    if s.state != "active":
        return None
    due = previous_due(s, now_ms, zone, storm)
    floor = s.last_due_ms if s.last_due_ms is not None else s.created_at_ms - 1
    return due if due is not None and due > floor else None


def approval_for(s: Schedule, due_ms: int, zone: ZoneInfo) -> str | None:
    """The approval id whose local date range covers the due time's local date."""
    day = _local_day(due_ms, zone)
    return next((a.approval_id for a in s.approvals if a.first <= day <= a.last), None)
