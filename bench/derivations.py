"""Derivation benchmark (issue 22): readings per second through each live derivation's
``observe``, one reading per call as the MQTT path feeds them, against a baseline measured in
the same run:

- flood: a gauge at 1 Hz (600 readings per 10-minute rate window) against the same engine with
  the brute-force window it replaced (``counted_rise`` scans the window per reading), kept here;
- toilets: a toilet reporting its counter every 10 s (8,640 points a day) against the same
  engine with the per-reading scans of the day it replaced (a list of times built per reading,
  the surge summed over the whole day), kept here;
- sanitation: fixes every second on a route against a bare per-fix projection (pyproj), the
  least a per-fix rule must do.

    python bench/derivations.py [--readings N]
"""

from __future__ import annotations

import argparse
import bisect
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from zoneinfo import ZoneInfo

import _common  # puts the repo root on sys.path

import telemetry.flood.engine as flood_engine
from telemetry.alerts.book import AlertBook
from telemetry.config import ToiletsConfig
from telemetry.flood.engine import FloodEngine
from telemetry.flood.rules import FloodRules, GaugeHistory, GaugeState, counted_rise, grade_step
from telemetry.flood.window import RiseWindow
from telemetry.records import GaugeReading, ToiletReading, VehicleFix
from telemetry.sanitation.corridors import to_metric
from telemetry.sanitation.engine import LiveRoutes
from telemetry.toilets.engine import ToiletChange, ToiletEngine, _Toilet
from telemetry.toilets.rules import DAY_MS, ToiletInfo
from tests.tracks import sample_depots, sample_routes

T0 = 1_795_564_800_000


class BruteHistory(GaugeHistory):
    """The flood history before issue 22: the whole window scanned per reading."""

    def _step(self, window: RiseWindow, prev: GaugeState, i: int) -> GaugeState:
        rise = counted_rise(self.rules, self.times, self.depths, i)
        return grade_step(self.rules, prev, self.stamps[i], self.depths[i], rise)


class ScanningToilets(ToiletEngine):
    """The toilet engine before issue 22: a list of times per reading, the surge over the day."""

    def _add_entries(self, t: _Toilet, time_ms: int, entries: int) -> None:
        times = [x[0] for x in t.entries]
        i = bisect.bisect_left(times, time_ms)
        if i < len(times) and times[i] == time_ms:
            t.entries[i] = (time_ms, entries)
            return
        t.entries.insert(i, (time_ms, entries))
        horizon = t.entries[-1][0] - DAY_MS
        while t.entries and t.entries[0][0] < horizon:
            t.entries.pop(0)

    def _surge(self, toilet: str, t: _Toilet, time_ms: int, changes: list[ToiletChange]) -> None:
        window = int(self._cfg.surge_window_s * 1000)
        recent = sum(n for ts, n in t.entries if time_ms - window < ts <= time_ms)
        if recent > (t.info.capacity_per_15min or 0) * self._cfg.surge_ratio:
            self._raise("toilet_surge", toilet, "surge", f"{recent} entries", time_ms, changes)
        else:
            self._clear("toilet_surge", toilet, f"{recent} entries in the window", time_ms, changes)


@contextmanager
def brute_flood() -> Iterator[None]:
    original = flood_engine.GaugeHistory
    flood_engine.GaugeHistory = BruteHistory  # type: ignore[misc]
    try:
        yield
    finally:
        flood_engine.GaugeHistory = original  # type: ignore[misc]


def rate(n: int, run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return n / (time.perf_counter() - started)


def flood(n: int) -> None:
    rnd = random.Random(1)
    depth, readings = 5.0, []
    for k in range(n):  # a slow rise with noise: the window's lows stay long
        depth = max(0.0, depth + rnd.uniform(-0.3, 0.35))
        readings.append(GaugeReading("G01", "haishu", T0 + k * 1000, round(depth, 1)))

    def feed() -> None:
        e = FloodEngine(FloodRules(), AlertBook())
        for r in readings:
            e.observe([r], r.time_ms + 50)

    ours = rate(n, feed)
    with brute_flood():
        brute = rate(n, feed)
    ratio = ours / brute
    _common.report(f"flood `observe`, {n:,} readings of a 1 Hz gauge", f"{ours / 1000:.1f}k readings/s",
                   f"brute-force window {brute / 1000:.1f}k readings/s", f"{ratio:.1f}x faster",
                   ">= 2x faster", ratio >= 2)  # fmt: skip


def toilets(n: int) -> None:
    cfg = ToiletsConfig()
    info = {"T1": ToiletInfo(2, "medium", 40, "haishu")}
    zone = ZoneInfo("Asia/Shanghai")
    readings = [ToiletReading("T1", "haishu", T0 + k * 10_000, total=k // 3) for k in range(n)]

    def feed(kind: type[ToiletEngine]) -> Callable[[], None]:
        def run() -> None:
            e = kind(cfg, AlertBook(), dict(info), T0, zone=zone)
            for r in readings:
                e.observe((r,), r.time_ms + 50)

        return run

    ours = rate(n, feed(ToiletEngine))
    old = rate(n, feed(ScanningToilets))
    ratio = ours / old
    _common.report(f"toilets `observe`, {n:,} counter readings every 10 s", f"{ours / 1000:.1f}k readings/s",
                   f"scanning the day {old / 1000:.1f}k readings/s", f"{ratio:.1f}x faster",
                   ">= 2x faster", ratio >= 2)  # fmt: skip


def sanitation(n: int) -> None:
    crs = "EPSG:4549"
    # 14:00 site time (UTC+8) on R01's corridor, in its working window
    start = 1_795_546_800_000 - 3 * 3_600_000 + 14 * 3_600_000
    fixes = [VehicleFix("SW001", "haishu", "sweeper", start + k * 1000, 29.87445, 121.5200 + k * 1e-7,
                        speed_kmh=8.0, working=True) for k in range(n)]  # fmt: skip

    def feed() -> None:
        e = LiveRoutes(sample_routes(), crs, 60.0, AlertBook(), depots=sample_depots(), tz_offset_min=480)
        for f in fixes:
            e.change(f)

    def bare() -> None:
        transformer = to_metric(crs)
        for f in fixes:
            transformer.transform(f.lon, f.lat)

    ours = rate(n, feed)
    base = rate(n, bare)
    ratio = ours / base
    _common.report(f"sanitation `change`, {n:,} fixes on a route", f"{ours / 1000:.1f}k fixes/s",
                   f"bare per-fix projection {base / 1000:.1f}k fixes/s", f"{ratio:.2f}",
                   "O(1) per fix (no target)", True)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--readings", type=int, default=20_000)
    args = ap.parse_args()
    flood(args.readings)
    toilets(args.readings)
    sanitation(args.readings // 4)


if __name__ == "__main__":
    main()
