"""The simulated vehicle's physics and mission logic, free of MAVLink I/O (pure, steppable).

Simple kinematics: a point that climbs and flies straight at ``speed_ms`` towards the current
target; a battery that drains with time in the air. ArduCopter mode numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# ArduCopter custom modes (the ones the simulator acts on)
STABILIZE, GUIDED, AUTO, LOITER, RTL, LAND = 0, 4, 3, 5, 6, 9
NAV_WAYPOINT, NAV_LOITER_UNLIM, NAV_LOITER_TURNS, NAV_LOITER_TIME = 16, 17, 18, 19
NAV_RETURN_TO_LAUNCH, NAV_LAND, NAV_TAKEOFF = 20, 21, 22
EARTH_M_PER_DEG = 111_320.0
CLIMB_MS = 2.5
ARRIVE_M = 1.0


@dataclass
class Item:
    """A mission item as MISSION_ITEM_INT carries it (x, y in degrees × 1e7)."""

    seq: int
    frame: int
    command: int
    current: int
    autocontinue: int
    param1: float
    param2: float
    param3: float
    param4: float
    x: int
    y: int
    z: float
    mission_type: int = 0


@dataclass
class Vehicle:
    home_lat: float
    home_lon: float
    home_alt_msl_m: float = 5.0
    speed_ms: float = 8.0
    lat: float = 0.0
    lon: float = 0.0
    alt_rel_m: float = 0.0
    heading_deg: float = 0.0
    groundspeed_ms: float = 0.0
    armed: bool = False
    mode: int = STABILIZE
    battery_pct: float = 100.0
    mission: list[Item] = field(default_factory=list)
    current: int = 0
    mission_done: bool = False
    loiter_left_s: float | None = None
    takeoff_target_m: float | None = None
    events: list[tuple[str, int]] = field(default_factory=list)  # ("reached", seq), ("current", seq)

    def __post_init__(self) -> None:
        self.lat, self.lon = self.home_lat, self.home_lon

    # --- state the telemetry shows ----------------------------------------------------------
    @property
    def voltage_v(self) -> float:
        return 3 * (3.5 + 0.7 * self.battery_pct / 100)  # 3S pack, 12.6 V full

    @property
    def flying(self) -> bool:
        return self.armed and self.alt_rel_m > 0.2

    # --- commands --------------------------------------------------------------------------
    def arm(self, on: bool) -> bool:
        if not on and self.flying:
            return False  # ArduCopter refuses to disarm in the air without force
        self.armed = on
        if not on:
            self.groundspeed_ms = 0.0
        return True

    def set_mode(self, mode: int) -> bool:
        if mode not in (STABILIZE, GUIDED, AUTO, LOITER, RTL, LAND):
            return False
        self.mode = mode
        if mode == AUTO and self.mission_done:
            self.start_mission()
        return True

    def start_mission(self) -> bool:
        if not self.mission:
            return False
        self.mode = AUTO
        self.current = 0  # flown from item 0, as PX4 does (ArduPilot would treat 0 as home)
        self.mission_done = False
        self.loiter_left_s = None
        self.events.append(("current", self.current))
        return True

    def takeoff(self, alt_m: float) -> bool:
        if not self.armed:
            return False
        self.takeoff_target_m = alt_m
        return True

    # --- physics ---------------------------------------------------------------------------
    def step(self, dt: float) -> None:
        if self.armed and (self.flying or self.mode in (AUTO, GUIDED)):
            self.battery_pct = max(0.0, self.battery_pct - dt * 100 / (22 * 60))  # ~22 min endurance
        if not self.armed:
            return
        if self.takeoff_target_m is not None and self.mode != AUTO:
            if self._climb_to(self.takeoff_target_m, dt):
                self.takeoff_target_m = None
            return
        if self.mode == RTL:
            self._return_home(dt)
        elif self.mode == LAND:
            self._descend(dt)
        elif self.mode == AUTO and not self.mission_done and self.mission:
            self._fly_mission(dt)
        else:
            self.groundspeed_ms = 0.0

    def _fly_mission(self, dt: float) -> None:
        item = self.mission[self.current]
        done = True
        if item.command == NAV_TAKEOFF:
            done = self._climb_to(item.z, dt)
        elif item.command in (NAV_WAYPOINT, NAV_LOITER_TIME, NAV_LOITER_UNLIM, NAV_LOITER_TURNS):
            done = self._fly_to(item.x / 1e7, item.y / 1e7, item.z, dt)
            if done and item.command == NAV_LOITER_TIME:
                self.loiter_left_s = item.param1 if self.loiter_left_s is None else self.loiter_left_s - dt
                done = self.loiter_left_s <= 0
        elif item.command == NAV_RETURN_TO_LAUNCH:
            done = self._return_home(dt)
        elif item.command == NAV_LAND:
            done = self._descend(dt)
        if not done:
            return
        self.loiter_left_s = None
        self.events.append(("reached", self.current))
        if self.current + 1 < len(self.mission):
            self.current += 1
            self.events.append(("current", self.current))
        else:
            self.mission_done = True

    def _climb_to(self, alt_m: float, dt: float) -> bool:
        delta = alt_m - self.alt_rel_m
        step = max(-CLIMB_MS * dt, min(CLIMB_MS * dt, delta))
        self.alt_rel_m += step
        self.groundspeed_ms = 0.0
        return abs(alt_m - self.alt_rel_m) < 0.3

    def _fly_to(self, lat: float, lon: float, alt_m: float, dt: float) -> bool:
        north = (lat - self.lat) * EARTH_M_PER_DEG
        east = (lon - self.lon) * EARTH_M_PER_DEG * math.cos(math.radians(self.lat))
        dist = math.hypot(north, east)
        self._climb_to(alt_m, dt)
        if dist <= ARRIVE_M:
            self.groundspeed_ms = 0.0
            return abs(alt_m - self.alt_rel_m) < 0.5
        move = min(dist, self.speed_ms * dt)
        self.lat += north / dist * move / EARTH_M_PER_DEG
        self.lon += east / dist * move / (EARTH_M_PER_DEG * math.cos(math.radians(self.lat)))
        self.heading_deg = math.degrees(math.atan2(east, north)) % 360
        self.groundspeed_ms = move / dt if dt > 0 else 0.0
        return False

    def _distance_m(self, lat: float, lon: float) -> float:
        north = (lat - self.lat) * EARTH_M_PER_DEG
        east = (lon - self.lon) * EARTH_M_PER_DEG * math.cos(math.radians(self.lat))
        return math.hypot(north, east)

    def _return_home(self, dt: float) -> bool:
        if self._distance_m(self.home_lat, self.home_lon) > ARRIVE_M:
            self._fly_to(self.home_lat, self.home_lon, max(self.alt_rel_m, 15.0), dt)
            return False
        return self._descend(dt)

    def _descend(self, dt: float) -> bool:
        self.alt_rel_m = max(0.0, self.alt_rel_m - CLIMB_MS * dt)
        self.groundspeed_ms = 0.0
        if self.alt_rel_m <= 0.0:
            self.armed = False
            self.mode = LOITER if self.mode == AUTO else self.mode
            return True
        return False
