"""The simulated vehicle's physics and mission execution, free of MAVLink I/O (pure, steppable).

Simple kinematics: a point that climbs and flies straight at ``speed_ms`` towards its target; a
battery that drains with time in the air. Flight modes are named here (:class:`Mode`); each
autopilot numbers them its own way (:mod:`simulators.autopilots`). What differs between the
dialects in *executing* a mission is set by the vehicle's flags, each from the autopilot's source
(docs/autopilots.md):

- ``first_item``: the first seq flown (ArduPilot 1, ``AP_MISSION_FIRST_REAL_COMMAND``; PX4 0);
- ``do_items_current``: PX4 makes every item current in turn and reports a DO item reached as it
  is issued (``MissionBase::on_active``); ArduPilot runs the DO items behind a NAV item while that
  NAV item flies and never makes them current (``AP_Mission::advance_current_nav_cmd``);
- ``rtl_item_switches_mode``: PX4 issues a mission RTL item as a command, so the mission is
  finished and the vehicle flies RTL *mode* (``MissionBlock::issue_command``); ArduPilot flies it
  inside AUTO and the item is reached when landed (``ModeAuto::verify_RTL``);
- ``needs_auto_armed``: ArduCopter does not take off in AUTO until ``ap.auto_armed`` (set by
  MISSION_START, a GUIDED takeoff, or a raised throttle: ``Copter::update_auto_armed``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum, StrEnum

NAV_WAYPOINT, NAV_LOITER_UNLIM, NAV_LOITER_TURNS, NAV_LOITER_TIME = 16, 17, 18, 19
NAV_RETURN_TO_LAUNCH, NAV_LAND, NAV_TAKEOFF = 20, 21, 22
NAV_LAST = 95  # MAV_CMD_NAV_LAST: ids up to it are NAV commands (AP_Mission::is_nav_cmd)
DO_CHANGE_SPEED = 178
FENCE_VERTEX_INCLUSION, FENCE_VERTEX_EXCLUSION = 5001, 5002
# DO commands ArduPilot's AP_Mission::verify_command completes itself, without a MISSION_ITEM_REACHED
AP_SELF_VERIFIED = frozenset({181, 182, 183, 184, 202, 203, 206, 208, 211, 215})
EARTH_M_PER_DEG = 111_320.0
CLIMB_MS = 2.5
ARRIVE_M = 1.0
RTL_ALT_M = 15.0  # ArduCopter RTL_ALT and PX4 RTL_RETURN_ALT are both 15 m by default
PX4_TAKEOFF_ALT_M = 2.5  # PX4 MIS_TAKEOFF_ALT default


class Mode(StrEnum):
    MANUAL = "MANUAL"  # ArduCopter STABILIZE, PX4 MANUAL
    POSCTL = "POSCTL"  # PX4 POSCTL
    GUIDED = "GUIDED"  # ArduCopter GUIDED
    LOITER = "LOITER"  # ArduCopter LOITER, PX4 AUTO.LOITER (Hold)
    MISSION = "MISSION"  # ArduCopter AUTO, PX4 AUTO.MISSION
    RTL = "RTL"  # ArduCopter RTL, PX4 AUTO.RTL
    LAND = "LAND"  # ArduCopter LAND, PX4 AUTO.LAND
    TAKEOFF = "TAKEOFF"  # PX4 AUTO.TAKEOFF


class Run(Enum):
    """The mission's own state (AP_Mission::mission_state; PX4's mission_result)."""

    STOPPED = "stopped"
    RUNNING = "running"
    COMPLETE = "complete"


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

    @property
    def is_nav(self) -> bool:
        return self.command <= NAV_LAST


@dataclass
class Vehicle:
    home_lat: float
    home_lon: float
    home_alt_msl_m: float = 5.0
    speed_ms: float = 8.0
    first_item: int = 0
    do_items_current: bool = True
    rtl_item_switches_mode: bool = False
    needs_auto_armed: bool = False
    lat: float = 0.0
    lon: float = 0.0
    alt_rel_m: float = 0.0
    heading_deg: float = 0.0
    groundspeed_ms: float = 0.0
    armed: bool = False
    auto_armed: bool = False
    mode: Mode = Mode.MANUAL
    battery_pct: float = 100.0
    mission: list[Item] = field(default_factory=list)
    fence: list[Item] = field(default_factory=list)
    current: int = 0
    run: Run = Run.STOPPED
    paused: bool = False
    reached: int = -1  # the last item reached, -1 before the first
    disarmed_since_mission: bool = False  # PX4 MissionBase::_system_disarmed_while_inactive
    takeoff_target_m: float | None = None
    hold_left_s: float | None = None
    events: list[tuple[str, int]] = field(default_factory=list)  # ("reached"|"current"|"mode"|…, n)
    _do_next: int = 0
    _in_fence: bool = False
    _cruise_ms: float = 0.0

    def __post_init__(self) -> None:
        self.lat, self.lon = self.home_lat, self.home_lon
        self._cruise_ms = self.speed_ms

    # --- state the telemetry shows ----------------------------------------------------------
    @property
    def voltage_v(self) -> float:
        return 3 * (3.5 + 0.7 * self.battery_pct / 100)  # 3S pack, 12.6 V full

    @property
    def landed(self) -> bool:
        return self.alt_rel_m <= 0.2

    @property
    def flying(self) -> bool:
        return self.armed and not self.landed

    @property
    def mission_done(self) -> bool:
        return self.run is Run.COMPLETE

    # --- mission control (the autopilots decide who may call these, and when) --------------
    def set_mode(self, mode: Mode) -> None:
        if mode is self.mode:
            return
        self.mode = mode
        self.hold_left_s = None
        self.takeoff_target_m = None
        self.events.append(("mode", 0))

    def start_mission(self) -> None:
        """From the first item (AP_Mission::start; PX4 mission restart)."""
        self.run, self.paused, self.reached = Run.RUNNING, False, -1
        self._do_next = self.first_item
        self._enter(self._next_flown(self.first_item))

    def resume_mission(self) -> None:
        """From the current item, or from the start after a completed mission (AP_Mission::resume)."""
        if self.run is Run.COMPLETE or not self.first_item <= self.current < len(self.mission):
            self.start_mission()
            return
        self.run, self.paused = Run.RUNNING, False
        self._enter(self.current)

    def arm(self) -> None:
        self.armed = True
        self.home_lat, self.home_lon = self.lat, self.lon  # both set home at arming
        self.events.append(("home", 0))

    def disarm(self) -> None:
        self.armed = self.auto_armed = False
        self.takeoff_target_m = None
        self.groundspeed_ms = 0.0
        self.events.append(("disarmed", 0))

    # --- physics ---------------------------------------------------------------------------
    def step(self, dt: float) -> None:
        if self.flying:
            self.battery_pct = max(0.0, self.battery_pct - dt * 100 / (22 * 60))  # ~22 min endurance
        if not self.armed:
            return
        if self.takeoff_target_m is not None:
            if self._climb_to(self.takeoff_target_m, dt):
                self.takeoff_target_m = None
                if self.mode is Mode.TAKEOFF:  # PX4: a finished takeoff hands over to Hold
                    self.set_mode(Mode.LOITER)
        elif self.mode is Mode.RTL:
            self._return_home(dt)
        elif self.mode is Mode.LAND:
            self._descend(dt)
        elif self.mode is Mode.MISSION and self.run is Run.RUNNING and not self.paused:
            if self.auto_armed or not self.needs_auto_armed:
                self._fly_mission(dt)
        else:
            self.groundspeed_ms = 0.0
        self._check_fence()

    def _fly_mission(self, dt: float) -> None:
        if not 0 <= self.current < len(self.mission):
            self._complete()
            return
        item = self.mission[self.current]
        done = True
        if item.command == NAV_TAKEOFF:
            done = self._climb_to(max(item.z, self.alt_rel_m), dt)
        elif item.command in (NAV_WAYPOINT, NAV_LOITER_TIME, NAV_LOITER_UNLIM, NAV_LOITER_TURNS):
            done = self._fly_to(item.x / 1e7, item.y / 1e7, item.z, dt)
            if done and item.command in (NAV_WAYPOINT, NAV_LOITER_TIME):  # param1: hold / loiter time
                self.hold_left_s = item.param1 if self.hold_left_s is None else self.hold_left_s - dt
                done = self.hold_left_s <= 0
            done = done and item.command != NAV_LOITER_UNLIM
        elif item.command == NAV_RETURN_TO_LAUNCH and not self.rtl_item_switches_mode:
            done = self._return_home(dt, disarm=False)
        elif item.command == NAV_LAND:
            if item.x or item.y:
                done = self._fly_to(item.x / 1e7, item.y / 1e7, self.alt_rel_m, dt)
            done = done and self._descend(dt, disarm=False)
        if done:
            self._reach(self.current)

    def _reach(self, seq: int) -> None:
        item = self.mission[seq]
        self.hold_left_s = None
        self.reached = seq
        self.events.append(("reached", seq))
        if item.command == NAV_RETURN_TO_LAUNCH and self.rtl_item_switches_mode:
            self._complete()
            self.set_mode(Mode.RTL)
            return
        nxt = self._next_flown(seq + 1)
        if nxt >= len(self.mission):
            self._complete()
        else:
            self._enter(nxt)

    def _enter(self, seq: int) -> None:
        if seq >= len(self.mission):
            self._complete()
            return
        self.current = seq
        self.events.append(("current", seq))
        item = self.mission[seq]
        if not self.do_items_current:  # ArduPilot: the DO items behind this NAV item run now
            end = self._next_flown(seq + 1)
            for k in range(max(self._do_next, self.first_item), end):
                if not self.mission[k].is_nav:
                    self._do(self.mission[k])
            self._do_next = end
        elif not item.is_nav:  # PX4: a DO item is issued and reached at once
            self._do(item, report=False)
            self._reach(seq)

    def _do(self, item: Item, report: bool = True) -> None:
        if item.command == DO_CHANGE_SPEED and item.param2 > 0:
            self.speed_ms = item.param2
        if report and item.command not in AP_SELF_VERIFIED:
            self.events.append(("reached", item.seq))

    def _next_flown(self, start: int) -> int:
        """The next item made current from ``start``: any item on PX4, the next NAV item on ArduPilot."""
        k = max(start, self.first_item)
        while k < len(self.mission) and not self.do_items_current and not self.mission[k].is_nav:
            k += 1
        return k

    def _complete(self) -> None:
        """ArduPilot ModeAuto::exit_mission / PX4 MissionBase::setEndOfMissionItems: disarm when
        landed (ArduPilot disarms; PX4 idles and auto-disarms after landing), else hold position."""
        self.run = Run.COMPLETE
        self.groundspeed_ms = 0.0
        self.speed_ms = self._cruise_ms
        if self.armed and self.landed:
            self.disarm()

    # --- geofence ---------------------------------------------------------------------------
    def fence_polygons(self) -> list[tuple[int, list[tuple[float, float]]]]:
        """(command, [(lat, lon), …]) of each polygon, from its consecutive vertex items."""
        polygons: list[tuple[int, list[tuple[float, float]]]] = []
        k = 0
        while k < len(self.fence):
            first = self.fence[k]
            n = int(first.param1)
            if first.command not in (FENCE_VERTEX_INCLUSION, FENCE_VERTEX_EXCLUSION) or n < 3:
                k += 1
                continue
            ring = [(it.x / 1e7, it.y / 1e7) for it in self.fence[k : k + n]]
            polygons.append((first.command, ring))
            k += n
        return polygons

    def breaches_fence(self) -> bool:
        """Inside an exclusion polygon, or outside every inclusion polygon there is."""
        polygons = self.fence_polygons()
        if any(cmd == FENCE_VERTEX_EXCLUSION and _inside(self.lat, self.lon, r) for cmd, r in polygons):
            return True
        inclusions = [r for cmd, r in polygons if cmd == FENCE_VERTEX_INCLUSION]
        return bool(inclusions) and not any(_inside(self.lat, self.lon, r) for r in inclusions)

    def _check_fence(self) -> None:
        breach = self.flying and self.breaches_fence()
        if breach and not self._in_fence:
            self.events.append(("breach", 0))
        self._in_fence = breach

    # --- motion primitives ---------------------------------------------------------------
    def _climb_to(self, alt_m: float, dt: float) -> bool:
        delta = alt_m - self.alt_rel_m
        self.alt_rel_m += max(-CLIMB_MS * dt, min(CLIMB_MS * dt, delta))
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

    def _return_home(self, dt: float, disarm: bool = True) -> bool:
        if self._distance_m(self.home_lat, self.home_lon) > ARRIVE_M:
            self._fly_to(self.home_lat, self.home_lon, max(self.alt_rel_m, RTL_ALT_M), dt)
            return False
        return self._descend(dt, disarm)

    def _descend(self, dt: float, disarm: bool = True) -> bool:
        """Down to the ground; RTL and LAND modes then disarm (ArduCopter's land detector and
        auto-disarm, PX4's COM_DISARM_LAND), a mission's own landing is handled at its end."""
        self.alt_rel_m = max(0.0, self.alt_rel_m - CLIMB_MS * dt)
        self.groundspeed_ms = 0.0
        if self.alt_rel_m > 0.0:
            return False
        if disarm and self.armed:
            self.disarm()
        return True


def _inside(lat: float, lon: float, ring: list[tuple[float, float]]) -> bool:
    """Ray casting on (lat, lon); fine for the small polygons of a city."""
    inside = False
    j = len(ring) - 1
    for i, (yi, xi) in enumerate(ring):
        yj, xj = ring[j]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside
