"""Scenarios of the sensor fleet, as pure functions of time (deterministic).

- ``rainstorm``: G01-G05, one after another, rise 3 cm a minute to 38 cm (through yellow and
  red), stay 8 minutes, then drain 3 cm a minute. The storm runs on its own event clock, 60 event
  minutes per wall minute, starting an hour in the past so that it never reports the future and
  a newcomer sees it within a minute (``rate`` scales it).
- ``sweepers``: the first route vehicle sweeps at 6 km/h (compliant), the second at 14 km/h
  (speeding), the third 100 m off its route, the fourth sends GCJ-02 coordinates.
- ``toilet-rush``: T01 fills past half its 15-minute capacity; T02's ammonia climbs over the
  class-1 limit.
- ``normal``: quiet readings.
"""

from __future__ import annotations

SCENARIOS = ("normal", "rainstorm", "sweepers", "toilet-rush")
STORM_SPEEDUP = 60.0  # event seconds per wall second
STORM_LEAD_S = 3600.0  # the storm's event clock starts this far in the past


def parse(text: str) -> frozenset[str]:
    names = frozenset(n.strip() for n in text.split(",") if n.strip())
    unknown = names - set(SCENARIOS)
    if unknown or not names:
        raise ValueError(
            f"unknown scenario {', '.join(sorted(unknown)) or text!r}; known: {', '.join(SCENARIOS)}"
        )
    return names


def storm_depth_cm(gauge_index: int, event_min: float) -> float:
    start = 2.0 + 4.0 * gauge_index
    peak, rise = 38.0, 3.0
    t = event_min - start
    if t <= 0:
        return 2.0
    up = (peak - 2.0) / rise
    if t <= up:
        return 2.0 + rise * t
    if t <= up + 8.0:
        return peak
    return max(2.0, peak - rise * (t - up - 8.0))


def sweeper_role(index: int) -> tuple[float, float, str]:
    """(speed km/h, offset north in metres, crs) of the index-th route vehicle."""
    return [(6.0, 0.0, "WGS84"), (14.0, 0.0, "WGS84"), (6.0, 100.0, "WGS84"), (6.0, 0.0, "GCJ02")][index % 4]
