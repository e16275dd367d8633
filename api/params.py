"""Query-parameter parsing: times (RFC 3339 or epoch ms) and durations ("90s", "5m", "1h")."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from api.errors import ApiError
from telemetry.instants import epoch_ms

_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def parse_time_ms(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    if re.fullmatch(r"-?\d{1,16}", value):
        return int(value)
    try:
        dt = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ApiError(400, f"{name}: expected RFC 3339 or epoch milliseconds, got {value!r}") from exc
    if dt.tzinfo is None:
        raise ApiError(400, f"{name}: give an offset (e.g. Z or +08:00)")
    return epoch_ms(dt)


def parse_duration_ms(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    m = re.fullmatch(r"(\d{1,9})(ms|s|m|h|d|w)?", value)
    if not m or int(m.group(1)) == 0:
        raise ApiError(400, f"{name}: expected a positive duration such as 30s, 5m, 1h, 1d")
    return int(m.group(1)) * _UNITS_MS[m.group(2) or "ms"]


def iso(ms: int) -> str:
    """RFC 3339 UTC with milliseconds."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def day_bounds(date: str, timezone: str) -> tuple[int, int]:
    """Start and end (ms) of a local calendar day."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        raise ApiError(400, "date: expected YYYY-MM-DD")
    try:
        start = datetime.fromisoformat(date).replace(tzinfo=ZoneInfo(timezone))
    except ValueError as exc:
        raise ApiError(400, f"date: {exc}") from exc
    end = start + timedelta(days=1)  # 23 or 25 hours on a DST change
    return epoch_ms(start), epoch_ms(end)
