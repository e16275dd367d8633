"""The toilet rules of DOMAIN.md as pure functions: no state, no clock, no I/O.

- Footfall: ``entries`` as sent, or derived from the cumulative ``total`` by difference in event
  time; a drop is a counter reset, so the new total counts from zero.
- Cleaning: due after ``entries_due`` entries or the traffic class's minutes since the last
  ``cleaned`` event.
- Air: NH3 / H2S above the GB/T 17217 limits of the toilet's class.
- Surge: entries within the window (15 minutes) above ``surge_ratio`` × the 15-minute capacity.
- Silence: no report for more than ``silent_after_s``, counting only the toilet's opening hours
  (local time; all day when it has none).
- Daily minimum: fewer cleanings in a local day than ``daily_min_cleanings`` of its traffic class.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from telemetry.config import ToiletsConfig
from telemetry.instants import EPOCH, epoch_ms
from telemetry.records import ToiletReading

DAY_MS = 86_400_000
Hours = tuple[tuple[int, int], ...]
"""Opening hours: (start, end) minutes of the local day; an end at or before the start crosses
midnight ("22:00-02:00"), 1440 is 24:00."""
ALL_DAY: Hours = ((0, 1440),)
_WINDOW = re.compile(r"(\d{2}):(\d{2})-(\d{2}):(\d{2})")


@dataclass(frozen=True, slots=True)
class ToiletInfo:
    toilet_class: int = 2
    traffic: str = "medium"
    capacity_per_15min: int | None = None
    district: str = "haishu"
    hours: Hours = ALL_DAY


def entries_between(previous_total: int, total: int) -> int:
    """Entries counted between two cumulative totals (a drop is a counter reset)."""
    return total - previous_total if total >= previous_total else total


def air_limits(cfg: ToiletsConfig, toilet_class: int) -> tuple[float, float]:
    """(NH3, H2S) limits in mg/m³ of a toilet class; an unlisted class gets the strictest."""
    cls = str(toilet_class)
    nh3 = cfg.nh3_limit_mg_m3.get(cls, min(cfg.nh3_limit_mg_m3.values(), default=0.3))
    h2s = cfg.h2s_limit_mg_m3.get(cls, min(cfg.h2s_limit_mg_m3.values(), default=0.01))
    return nh3, h2s


def air_exceeded(r: ToiletReading, limits: tuple[float, float]) -> list[str]:
    """What is over its limit, as readable reasons (empty: the air is within the limits)."""
    nh3, h2s = limits
    checks = [
        (f"NH3 {r.nh3_mg_m3} > {nh3} mg/m3", r.nh3_mg_m3, nh3),
        (f"H2S {r.h2s_mg_m3} > {h2s} mg/m3", r.h2s_mg_m3, h2s),
    ]
    return [name for name, value, limit in checks if value is not None and value > limit]


def surge_limit(cfg: ToiletsConfig, capacity_per_15min: int) -> float:
    """More entries than this within the surge window is a surge."""
    return cfg.surge_ratio * capacity_per_15min


def cleaning_due(cfg: ToiletsConfig, traffic: str, entries: int, minutes_since: float) -> bool:
    """Due by footfall or by time since the last cleaning (per traffic class)."""
    return entries >= cfg.entries_due or minutes_since >= cfg.due_minutes.get(traffic, 240.0)


# --- silence in opening hours --------------------------------------------------------------
def parse_hours(text: str | None) -> Hours:
    """``"HH:MM-HH:MM"`` windows, comma-separated; empty or None: open all day. Raises
    ``ValueError`` saying what is wrong."""
    if text is None or not text.strip():
        return ALL_DAY
    out: list[tuple[int, int]] = []
    for part in text.split(","):
        m = _WINDOW.fullmatch(part.strip())
        if m is None:
            raise ValueError(f"{part.strip()!r} is not HH:MM-HH:MM")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if h1 > 23 or m1 > 59 or m2 > 59 or end > 1440:
            raise ValueError(f"{part.strip()!r} is not a time of day (00:00-24:00)")
        out.append((start, end))
    return tuple(out)


def _at(day: date, minute: int, zone: ZoneInfo) -> int:
    """Epoch ms of a wall-clock minute of a local day (1440 and beyond: the next days)."""
    d = day + timedelta(days=minute // 1440)
    m = minute % 1440
    return epoch_ms(datetime.combine(d, time(m // 60, m % 60), tzinfo=zone))


def open_ms_between(start_ms: int, end_ms: int, hours: Hours, zone: ZoneInfo) -> int:
    """How many milliseconds of [start_ms, end_ms) fall inside the opening hours."""
    if end_ms <= start_ms:
        return 0
    spans: list[tuple[int, int]] = []
    day = local_day(start_ms, zone) - timedelta(days=1)  # yesterday's window may cross midnight
    last = local_day(end_ms, zone)
    while day <= last:
        for s, e in hours:
            a, b = _at(day, s, zone), _at(day, e if e > s else e + 1440, zone)
            lo, hi = max(a, start_ms), min(b, end_ms)
            if lo < hi:
                spans.append((lo, hi))
        day += timedelta(days=1)
    total, reach = 0, start_ms  # the union of the spans (windows may overlap)
    for lo, hi in sorted(spans):
        start = max(lo, reach)
        if hi > start:
            total += hi - start
            reach = hi
    return total


def is_silent(cfg: ToiletsConfig, open_ms: int) -> bool:
    """Silent: no report for longer than ``silent_after_s`` of opening hours."""
    return open_ms > cfg.silent_after_s * 1000


# --- the daily minimum of cleanings --------------------------------------------------------
def local_day(time_ms: int, zone: ZoneInfo) -> date:
    return (EPOCH + timedelta(milliseconds=time_ms)).astimezone(zone).date()


def day_span_ms(day: date, zone: ZoneInfo) -> tuple[int, int]:
    """Start and end (exclusive) of a local day in epoch ms (23 or 25 hours on a DST change)."""
    return _at(day, 0, zone), _at(day, 1440, zone)


def daily_minimum(cfg: ToiletsConfig, traffic: str) -> int:
    """Cleanings a day the traffic class needs (0: no minimum)."""
    return cfg.daily_min_cleanings.get(traffic, 0)


def minimum_missed(cleanings: int, minimum: int) -> bool:
    return cleanings < minimum
