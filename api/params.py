"""Query-parameter parsing: times (RFC 3339 or epoch ms), local days (YYYY-MM-DD) and durations
("90s", "5m", "1h"). Every instant the API accepts lies in the range every store can hold
(InfluxDB keeps int64 nanoseconds: 1677-09-21 to 2262-04-11); anything outside, or a day whose
local bounds fall outside, answers 400, never 500 (docs/api.md)."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from api.errors import ApiError
from telemetry.instants import EPOCH, epoch_ms

_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_NS_PER_MS = 1_000_000
MIN_MS = -((2**63) // _NS_PER_MS)  # int64 nanoseconds, rounded inward to whole milliseconds
MAX_MS = (2**63 - 1) // _NS_PER_MS


def _in_range(ms: int, name: str) -> int:
    if not MIN_MS <= ms <= MAX_MS:
        raise ApiError(
            400, f"{name}: outside the time range the store holds ({iso(MIN_MS)} to {iso(MAX_MS)})"
        )
    return ms


def parse_time_ms(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    if re.fullmatch(r"-?[0-9]{1,16}", value):
        return _in_range(int(value), name)
    try:
        dt = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ApiError(400, f"{name}: expected RFC 3339 or epoch milliseconds, got {value!r}") from exc
    if dt.tzinfo is None:
        raise ApiError(400, f"{name}: give an offset (e.g. Z or +08:00)")
    return _in_range(epoch_ms(dt), name)


def parse_duration_ms(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    m = re.fullmatch(r"([0-9]{1,9})(ms|s|m|h|d|w)?", value)
    if not m or int(m.group(1)) == 0:
        raise ApiError(400, f"{name}: expected a positive duration such as 30s, 5m, 1h, 1d")
    ms = int(m.group(1)) * _UNITS_MS[m.group(2) or "ms"]
    if ms > MAX_MS - MIN_MS:
        raise ApiError(400, f"{name}: longer than the time range the store holds")
    return ms


def iso(ms: int) -> str:
    """RFC 3339 UTC with milliseconds (exact: no float on the way)."""
    dt = EPOCH + timedelta(milliseconds=ms)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def day_bounds(value: str, timezone: str) -> tuple[int, int]:
    """Start and end (ms) of a local calendar day, ``YYYY-MM-DD``: 24 hours, or 23 or 25 on a
    daylight-saving change; 400 for a day that is no date or whose bounds the store cannot hold."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise ApiError(400, "date: expected YYYY-MM-DD")
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise ApiError(400, f"date: {exc}") from exc
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, time(0), tzinfo=zone)
    try:
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)  # 23 or 25 h on DST
    except OverflowError as exc:  # 9999-12-31: the next day is past datetime's last
        raise ApiError(400, f"date: {value} is past the last day the store holds") from exc
    return _in_range(epoch_ms(start), "date"), _in_range(epoch_ms(end), "date")


def local_hour(ms: int, timezone: str) -> int:
    """The hour of the local clock (0-23) at an instant: the slot of an hourly window in a local
    day, which has 23 or 25 hours when daylight saving starts or ends."""
    return (EPOCH + timedelta(milliseconds=ms)).astimezone(ZoneInfo(timezone)).hour
