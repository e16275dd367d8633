"""Scenarios of the sensor fleet, as pure functions of time (deterministic).

- ``rainstorm``: first the opening storm: G01-G05, one after another, rise 3 cm a minute from a
  dry road to 38 cm (through yellow and red), stay 8 minutes, then drain 3 cm a minute. Then a
  storm cell every ``storm_every_s`` of wall time (default 8 minutes), over the next gauge in
  turn: it rises 4 cm a minute to 32 cm and drains 2 cm a minute, so that whoever opens the
  dashboard late still sees a gauge turn yellow, red and green within minutes.
  Storms run on each gauge's own event clock (:class:`StormClock`), 60 event minutes per wall
  minute, so that the flood rules (a rise per 10 minutes, a 10-minute dwell) play out in
  seconds. An event clock may never run ahead of the wall clock (the service refuses the future)
  nor backwards (a gauge's readings come in order), so every fast minute is paid for: each
  gauge's clock starts behind the wall clock by what its opening storm and first cell need, and
  between its storms runs at 0.4× (a dry gauge then reports every 12.5 wall minutes, within the
  15-minute offline time) to fall behind again by what its next cell needs. A gauge's cell
  waits until its clock is far enough behind (``storm_every_s`` under ~7.5 minutes for 5 gauges
  only delays them).
- ``sweepers``: the first route vehicle sweeps at 6 km/h (compliant), the second at 14 km/h
  (speeding), the third 100 m off its route, the fourth sends GCJ-02 coordinates.
- ``toilet-rush``: T01's visitors arrive at 4 a minute, past half its 15-minute capacity; T02's
  ammonia climbs over the class-1 limit.
- ``normal``: quiet readings; visitors arrive by the toilet's traffic class and cleaners check in
  on rounds that keep each toilet within its cleaning interval and daily minimum.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SCENARIOS = ("normal", "rainstorm", "sweepers", "toilet-rush")
STORM_SPEEDUP = 60.0  # event seconds per wall second during a storm
STORM_QUIET_RATE = 0.4  # event seconds per wall second between a gauge's storms
STORM_GAUGES = 5  # the first gauges of the registry flood, one after another
STORM_EVERY_S = 480.0  # wall seconds between storm cells (each over the next gauge)
CELL_MIN = 22.0  # event minutes of a cell: a dry half minute, 8 rising, 13.5 draining to green
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


def opening_minutes(gauge_index: int) -> float:
    """Event minutes the opening storm runs fast at a gauge: until it has reported green again
    (its last wet minute, then the dry reports every 5 minutes until the dwell is over)."""
    return 42.0 + 4.0 * gauge_index


def cell_depth_cm(event_min: float) -> float:
    """Water on the road, event minutes after a storm cell began: yellow by its rise within two
    minutes, red by its rise at 15 cm, green 10 minutes after it fell under 27 cm."""
    t = event_min - 0.5
    peak, rise, drain = 32.0, 4.0, 2.0
    if t <= 0:
        return 0.0
    if t <= peak / rise:
        return rise * t
    return max(0.0, peak - drain * (t - peak / rise))


def _lag_needed_s(event_min: float) -> float:
    """How far behind the wall clock an event clock must be to run ``event_min`` at full speed."""
    return event_min * 60.0 * (1.0 - 1.0 / STORM_SPEEDUP)


@dataclass
class StormClock:
    """One storm gauge's event clock and its depth, stepped with wall seconds since the fleet
    started (see the module's docstring). Deterministic: a function of the steps' times."""

    index: int
    every_s: float = STORM_EVERY_S
    gauges: int = STORM_GAUGES
    event_s: float = field(init=False)  # event seconds since the fleet started; <= the wall's
    storm: str | None = field(init=False, default="opening")  # "opening", "cell" or None
    origin_s: float = field(init=False)  # event second of the running storm's minute 0
    next_cell_s: float = field(init=False)  # wall second of the gauge's next cell
    cells: int = field(init=False, default=0)
    _wall_s: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        if not self.every_s > 0:
            raise ValueError("storm_every_s must be > 0")
        lead = _lag_needed_s(opening_minutes(self.index)) + _lag_needed_s(CELL_MIN)
        self.event_s = self.origin_s = -lead
        self.next_cell_s = self.every_s * (self.index + 1)

    def start_cell_now(self) -> None:
        """A cell at the next step (as soon as the clock is far enough behind for one)."""
        self.next_cell_s = self._wall_s

    def step(self, wall_s: float) -> tuple[float, float | None]:
        """(event seconds since the fleet started, depth in cm or None when no storm is on)."""
        dt = max(0.0, wall_s - self._wall_s)
        self._wall_s = max(self._wall_s, wall_s)
        if self.storm is not None:
            self.event_s = min(wall_s, self.event_s + STORM_SPEEDUP * dt)
        else:
            self.event_s += STORM_QUIET_RATE * dt
            if wall_s >= self.next_cell_s and wall_s - self.event_s >= _lag_needed_s(CELL_MIN):
                self.storm, self.origin_s = "cell", self.event_s
                self.cells += 1
                period = self.every_s * self.gauges
                while self.next_cell_s <= wall_s:
                    self.next_cell_s += period
        if self.storm is None:
            return self.event_s, None
        minute = (self.event_s - self.origin_s) / 60.0
        if self.storm == "opening":
            depth = storm_depth_cm(self.index, minute)
            done = minute >= opening_minutes(self.index)
        else:
            depth = cell_depth_cm(minute)
            done = minute >= CELL_MIN
        if done:
            self.storm = None
        return self.event_s, depth
