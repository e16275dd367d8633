"""The simulated devices, reporting as fielded devices do (DOMAIN.md):

- a waterlogging gauge reports every 5 minutes in dry weather and every minute once it detects
  water (depth at or above ``wet_cm``), switching as soon as it sees water;
- a toilet's footfall counter reports its cumulative ``total`` every minute; the total resets to
  0 at local midnight (the counter first reports the day's last total, stamped in that day) and
  wraps at ``counter_wrap`` like a fixed-width register;
- a vehicle's GPS terminal reports every ``gps_interval_s`` (JT/T 808 terminals: 10-30 s);
- a toilet's cleaner checks in (a ``cleaned`` event) on a round by the toilet's traffic class.

Each device keeps its own schedule in the clock it stamps its messages with, and advances by
the time that passed since its previous step, so the reporting rates are the same whatever the
simulator's wake-up rate. Deterministic for a given random generator.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from telemetry.instants import EPOCH, epoch_ms

Payload = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rates:
    """How often each kind of device reports, in seconds of its own clock."""

    gps_interval_s: float = 15.0
    gauge_dry_s: float = 300.0
    gauge_wet_s: float = 60.0
    wet_cm: float = 1.0  # the gauge "detects water" from this depth on
    toilet_interval_s: float = 60.0
    counter_wrap: int = 65_536

    def __post_init__(self) -> None:
        for name in ("gps_interval_s", "gauge_dry_s", "gauge_wet_s", "toilet_interval_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a number of seconds > 0, not {value}")
        if self.counter_wrap < 2:
            raise ValueError("counter_wrap must be >= 2")


def iso(ms: int) -> str:
    return (EPOCH + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds")


def gauge_interval_s(depth_cm: float, rates: Rates, commanded_s: float | None = None) -> float:
    """A gauge's reporting interval for the depth it measures now. A commanded interval
    (``{"interval_s": N}`` on its command channel) replaces the dry interval; a wet gauge still
    reports at least every ``gauge_wet_s``."""
    base = rates.gauge_dry_s if commanded_s is None else commanded_s
    return min(rates.gauge_wet_s, base) if depth_cm >= rates.wet_cm else base


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson-distributed count with mean ``lam`` (arrivals in an interval)."""
    if lam <= 0:
        return 0
    if lam > 30:  # normal approximation: exp(-lam) would underflow the product method
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


@dataclass
class Gauge:
    id: str
    depth_cm: float = 0.0
    last_ms: int | None = None  # the last report, in the gauge's clock
    commanded_s: float | None = None  # the interval the service commanded (None: the fielded default)

    def step(self, now_ms: int, depth_cm: float, rates: Rates) -> Payload | None:
        """The gauge measures ``depth_cm`` at ``now_ms``; a payload when a report is due."""
        self.depth_cm = max(0.0, depth_cm)
        interval_ms = gauge_interval_s(self.depth_cm, rates, self.commanded_s) * 1000
        if self.last_ms is not None and now_ms - self.last_ms < interval_ms:
            return None
        self.last_ms = now_ms
        return {"ts": iso(now_ms), "depth_cm": round(self.depth_cm, 1), "battery_v": 3.6}

    def command(self, body: bytes, now_ms: int) -> Payload | None:
        """A command from the service (CONTRACT §2 ``{"interval_s": N}``): the new interval
        holds from now on; answers the ``command_ack`` event, or None for what it does not know."""
        try:
            doc = json.loads(body)
        except ValueError:
            return None
        interval = doc.get("interval_s") if isinstance(doc, dict) else None
        if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
            return None
        self.commanded_s = float(interval)
        return {"ts": iso(now_ms), "type": "command_ack", "interval_s": interval}


@dataclass
class Counter:
    """A toilet's footfall counter: people arrive at ``per_min`` (a Poisson process)."""

    id: str
    per_min: float
    total: int = 0
    next_ms: int | None = None  # the next report; None: report at the first step
    last_step_ms: int | None = None
    reported: bool = False
    counted: int = 0  # visitors since the first report (that report's total is a baseline)
    reported_entries: int = 0  # of them, those a report has carried: what a service can derive

    def step(
        self, rng: random.Random, now_ms: int, zone: ZoneInfo, rates: Rates, per_min: float | None = None
    ) -> list[tuple[int, int]]:
        """Counts the arrivals since the last step; returns the reports due as (time, total)."""
        rate = self.per_min if per_min is None else per_min
        out: list[tuple[int, int]] = []
        if self.last_step_ms is None:  # switched on: the visitors since midnight are on the counter
            day = (EPOCH + timedelta(milliseconds=now_ms)).astimezone(zone).date()
            since_ms = now_ms - epoch_ms(datetime.combine(day, time(0), tzinfo=zone))
            self.total = poisson(rng, rate * since_ms / 60_000) % rates.counter_wrap
        prev = self.last_step_ms if self.last_step_ms is not None else now_ms
        self.last_step_ms = now_ms
        for midnight in _midnights(prev, now_ms, zone):
            self._arrive(rng, rate, midnight - prev, rates)
            out.append((midnight - 1, self.total))  # the day's last total, then the reset
            self.reported, self.reported_entries = True, self.counted
            self.total = 0
            prev = midnight
        self._arrive(rng, rate, now_ms - prev, rates)
        if self.next_ms is None or now_ms >= self.next_ms:
            out.append((now_ms, self.total))
            self.reported, self.reported_entries = True, self.counted
            self.next_ms = now_ms + round(rates.toilet_interval_s * 1000)
        return out

    def _arrive(self, rng: random.Random, per_min: float, span_ms: int, rates: Rates) -> None:
        n = poisson(rng, per_min * span_ms / 60_000)
        if self.reported:
            self.counted += n
        self.total = (self.total + n) % rates.counter_wrap


def _midnights(after_ms: int, until_ms: int, zone: ZoneInfo) -> list[int]:
    """Local midnights in (after_ms, until_ms]."""
    out: list[int] = []
    day: date = (EPOCH + timedelta(milliseconds=after_ms)).astimezone(zone).date()
    while True:
        day += timedelta(days=1)
        midnight = epoch_ms(datetime.combine(day, time(0), tzinfo=zone))
        if midnight > until_ms:
            return out
        out.append(midnight)


@dataclass
class Schedule:
    """A device reporting on a fixed interval (a GPS terminal, a cleaner's check-ins): the first
    report ``phase_s`` after its first step, then one every interval."""

    phase_s: float = 0.0  # staggers the devices of a fleet over one interval
    next_ms: int | None = None

    def due(self, now_ms: int, every_s: float) -> bool:
        if self.next_ms is None:
            self.next_ms = now_ms + round(self.phase_s * 1000)
        if now_ms < self.next_ms:
            return False
        self.next_ms += round(every_s * 1000)
        while self.next_ms <= now_ms:  # a long pause: no burst of stale reports
            self.next_ms += round(every_s * 1000)
        return True
