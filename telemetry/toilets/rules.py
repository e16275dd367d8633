"""The toilet rules of DOMAIN.md as pure functions: no state, no clock, no I/O.

- Footfall: ``entries`` as sent, or derived from the cumulative ``total`` by difference in event
  time; a drop is a counter reset, so the new total counts from zero.
- Cleaning: due after ``entries_due`` entries or the traffic class's minutes since the last
  ``cleaned`` event.
- Air: NH3 / H2S above the GB/T 17217 limits of the toilet's class.
- Surge: entries within the window (15 minutes) above ``surge_ratio`` × the 15-minute capacity.
"""

from __future__ import annotations

from dataclasses import dataclass

from telemetry.config import ToiletsConfig
from telemetry.records import ToiletReading

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class ToiletInfo:
    toilet_class: int = 2
    traffic: str = "medium"
    capacity_per_15min: int | None = None
    district: str = "haishu"


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
