"""Field readers for JSON payloads: each returns a typed value or raises ``DecodeError``."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from telemetry.errors import DecodeError
from telemetry.instants import epoch_ms

_MIN_MS = 946_684_800_000  # 2000-01-01: anything older is a unit mistake (seconds, not ms)
_MAX_MS = 4_102_444_800_000  # 2100-01-01
DEVICE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, int | float) and not isinstance(v, bool)) and math.isfinite(v)


def req_float(obj: dict[str, Any], name: str, lo: float | None = None, hi: float | None = None) -> float:
    if name not in obj:
        raise DecodeError("missing_field", f"'{name}' is required")
    return _float(obj, name, lo, hi)


def opt_float(
    obj: dict[str, Any], name: str, lo: float | None = None, hi: float | None = None
) -> float | None:
    return None if obj.get(name) is None else _float(obj, name, lo, hi)


def _float(obj: dict[str, Any], name: str, lo: float | None, hi: float | None) -> float:
    v = obj[name]
    if not _is_number(v):
        raise DecodeError("bad_type", f"'{name}' must be a finite number, got {v!r:.40}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise DecodeError("out_of_range", f"'{name}'={v} outside [{lo}, {hi}]")
    return float(v)


def opt_int(obj: dict[str, Any], name: str, lo: int = 0) -> int | None:
    v = obj.get(name)
    if v is None:
        return None
    if not _is_int(v):
        raise DecodeError("bad_type", f"'{name}' must be an integer, got {v!r:.40}")
    if v < lo or v > 2**63 - 1:
        raise DecodeError("out_of_range", f"'{name}'={v} outside [{lo}, 2^63)")
    return int(v)


def opt_bool(obj: dict[str, Any], name: str) -> bool | None:
    v = obj.get(name)
    if v is None or isinstance(v, bool):
        return v
    raise DecodeError("bad_type", f"'{name}' must be true or false, got {v!r:.40}")


def opt_str(obj: dict[str, Any], name: str, max_len: int = 128) -> str | None:
    v = obj.get(name)
    if v is None:
        return None
    if not isinstance(v, str) or len(v) > max_len:
        raise DecodeError("bad_type", f"'{name}' must be a string of at most {max_len} characters")
    return v


def timestamp_ms(obj: dict[str, Any], received_ms: int, max_future_ms: int) -> int:
    """``ts``: RFC 3339 with an offset, or epoch milliseconds as an integer."""
    if "ts" not in obj:
        raise DecodeError("missing_field", "'ts' is required")
    v = obj["ts"]
    if _is_int(v):
        ms = int(v)
    elif isinstance(v, str):
        try:
            dt = datetime.fromisoformat(v)
        except ValueError as exc:
            raise DecodeError("bad_timestamp", f"'ts' is not RFC 3339: {v!r:.40}") from exc
        if dt.tzinfo is None or "T" not in v.upper():
            raise DecodeError("bad_timestamp", f"'ts' needs a date, a time and an offset: {v!r:.40}")
        ms = epoch_ms(dt)
    else:
        raise DecodeError("bad_timestamp", "'ts' must be an RFC 3339 string or epoch milliseconds")
    if not _MIN_MS <= ms < _MAX_MS:
        raise DecodeError("bad_timestamp", f"'ts'={v!r:.40} is not between 2000 and 2100 (epoch ms?)")
    if ms - received_ms > max_future_ms:
        ahead = (ms - received_ms) / 1000
        raise DecodeError("future_timestamp", f"'ts' is {ahead:.0f} s ahead of the receive time")
    return ms
