"""Scenarios of the sensor fleet, as pure functions of time (deterministic).

- ``rainstorm``: G01-G05, one after another, rise 3 cm a minute from a dry road to 38 cm
  (through yellow and red), stay 8 minutes, then drain 3 cm a minute. The storm runs on its own
  event clock, 60 event minutes per wall minute, starting an hour in the past so that it never
  reports the future and a newcomer sees it within a minute: the gauges still report every 5
  event minutes dry and every event minute wet, i.e. every 5 s and every second of wall time.
- ``sweepers``: the first route vehicle sweeps at 6 km/h (compliant), the second at 14 km/h
  (speeding), the third 100 m off its route, the fourth sends GCJ-02 coordinates.
- ``toilet-rush``: T01's visitors arrive at 4 a minute, past half its 15-minute capacity; T02's
  ammonia climbs over the class-1 limit.
- ``normal``: quiet readings; visitors arrive by the toilet's traffic class and cleaners check in
  on rounds that keep each toilet within its cleaning interval and daily minimum.
"""

from __future__ import annotations

SCENARIOS = ("normal", "rainstorm", "sweepers", "toilet-rush")
STORM_SPEEDUP = 60.0  # event seconds per wall second
STORM_LEAD_S = 3600.0  # the storm's event clock starts this far in the past
STORM_GAUGES = 5  # the first gauges of the registry flood, one after another
TRAFFIC_PER_MIN = {"high": 1.0, "medium": 0.5, "low": 0.2}  # visitors a minute (a Poisson process)
CLEAN_EVERY_MIN = {"high": 100.0, "medium": 200.0, "low": 600.0}  # the cleaners' rounds, in time
RUSH_PER_MIN = 4.0  # toilet-rush: 60 in 15 minutes, twice the surge limit of T01's capacity (60)


def parse(text: str) -> frozenset[str]:
    names = frozenset(n.strip() for n in text.split(",") if n.strip())
    unknown = names - set(SCENARIOS)
    if unknown or not names:
        raise ValueError(
            f"unknown scenario {', '.join(sorted(unknown)) or text!r}; known: {', '.join(SCENARIOS)}"
        )
    return names


def storm_depth_cm(gauge_index: int, event_min: float) -> float:
    """Water on the road at a gauge, event minutes after the storm's clock started (0: dry)."""
    start = 2.0 + 4.0 * gauge_index
    peak, rise = 38.0, 3.0
    t = event_min - start
    if t <= 0:
        return 0.0
    up = peak / rise
    if t <= up:
        return rise * t
    if t <= up + 8.0:
        return peak
    return max(0.0, peak - rise * (t - up - 8.0))


def sweeper_role(index: int) -> tuple[float, float, str]:
    """(speed km/h, offset north in metres, crs) of the index-th route vehicle."""
    return [(6.0, 0.0, "WGS84"), (14.0, 0.0, "WGS84"), (6.0, 100.0, "WGS84"), (6.0, 0.0, "GCJ02")][index % 4]
