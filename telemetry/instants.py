"""Instants as stored: integer milliseconds since the Unix epoch, computed exactly (a float
``timestamp() * 1000`` turns ``.001`` into ``0.9999…`` and loses a millisecond)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def epoch_ms(dt: datetime) -> int:
    """Milliseconds since the epoch of an aware datetime, sub-millisecond parts floored."""
    return (dt - EPOCH) // _MS


def now_ms() -> int:
    """The wall clock in epoch milliseconds."""
    return time.time_ns() // 1_000_000
