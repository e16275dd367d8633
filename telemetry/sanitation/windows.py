"""Working and banned time windows of a route (CONTRACT §8: ``window`` and ``ban``, each
``"HH:MM-HH:MM"``, several comma-separated), in site time. A window may cross midnight
(``"20:00-06:30"``); ``24:00`` ends the day; a window whose start equals its end is the whole day.
A moment is *in service* for a route when it lies in one of its working windows and in none of
its banned windows."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

Window = tuple[int, int]  # minutes of the local day [start, end); end < start crosses midnight
WHOLE_DAY: tuple[Window, ...] = ((0, 1440),)
_BUCKET_S = 900  # UTC offsets are looked up per quarter hour (every zone's transitions fall on one)


def _minute(text: str) -> int:
    hours, sep, minutes = text.strip().partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2:
        raise ValueError(f"{text.strip()!r} is not HH:MM")
    h, m = int(hours), int(minutes)
    if m > 59 or h > 24 or (h == 24 and m):
        raise ValueError(f"{text.strip()!r} is not a time of day")
    return h * 60 + m


def parse_windows(text: str) -> tuple[Window, ...]:
    """``"00:00-06:30,09:00-16:00"`` → ((0, 390), (540, 960)); ValueError on anything else."""
    out = []
    for part in text.split(","):
        start, sep, end = part.partition("-")
        if not sep:
            raise ValueError(f"{part.strip()!r} is not HH:MM-HH:MM")
        out.append((_minute(start), _minute(end)))
    return tuple(out)


def in_windows(minute_of_day: npt.NDArray[np.float64], windows: tuple[Window, ...]) -> npt.NDArray[np.bool_]:
    """Whether each local minute of the day lies in any of ``windows``."""
    inside = np.zeros(minute_of_day.shape, dtype=bool)
    for start, end in windows:
        if start == end:
            inside[:] = True
        elif start < end:
            inside |= (minute_of_day >= start) & (minute_of_day < end)
        else:  # across midnight
            inside |= (minute_of_day >= start) | (minute_of_day < end)
    return inside


def in_service(
    minute_of_day: npt.NDArray[np.float64], windows: tuple[Window, ...], bans: tuple[Window, ...]
) -> npt.NDArray[np.bool_]:
    """In a working window and in no banned window."""
    ok = in_windows(minute_of_day, windows)
    if bans:
        ok &= ~in_windows(minute_of_day, bans)
    return ok


@lru_cache(maxsize=8192)
def _offset_min(timezone: str, bucket: int) -> int:
    offset = datetime.fromtimestamp(bucket * _BUCKET_S, UTC).astimezone(ZoneInfo(timezone)).utcoffset()
    return int(offset.total_seconds() // 60) if offset else 0


def local_minutes(
    t_s: npt.NDArray[np.float64], tz_offset_min: int, timezone: str | None = None
) -> npt.NDArray[np.float64]:
    """Minute of the local day of each UTC instant (seconds): with ``timezone`` (an IANA name)
    its offset at each instant (daylight saving included), else the fixed ``tz_offset_min``."""
    if timezone is None or len(t_s) == 0:
        return (t_s / 60.0 + tz_offset_min) % 1440
    buckets = np.floor(t_s / _BUCKET_S).astype(np.int64)
    unique, inverse = np.unique(buckets, return_inverse=True)
    offsets = np.array([_offset_min(timezone, int(b)) for b in unique], dtype=np.float64)
    return (t_s / 60.0 + offsets[inverse]) % 1440
