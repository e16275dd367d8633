"""The HTTP ``Retry-After`` header (RFC 9110 §10.2.3): a number of seconds or an HTTP-date,
as InfluxDB (Cloud's 429 rate limits, a 503 while it starts) or a proxy in front of it sends it."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait, or None when the header is absent or unreadable; a date in the past is 0."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
