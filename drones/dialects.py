"""How each autopilot numbers a mission and is told to fly it (DOMAIN.md, autopilot dialects;
docs/decisions.md 81 cites the sources).

- ArduPilot: mission item 0 is HOME (``AP_Mission::read_cmd_from_storage`` returns the home
  location for index 0, execution starts at ``AP_MISSION_FIRST_REAL_COMMAND`` = 1), so the plan
  goes from seq 1 behind a home item; arming in AUTO is refused (``ModeAuto::allows_arming``
  with AUTO_OPTIONS = 0), so the start is GUIDED, arm, MISSION_START, which switches to AUTO
  (``GCS_MAVLINK::handle_command_mission_start`` → ``set_mode(AUTO)``); AUTO while landed
  needs item 1 to be a TAKEOFF (``ModeAuto::init``).
- PX4: items from seq 0; AUTO.MISSION is custom main mode 4, sub mode 4 (``px4_custom_mode.h``:
  ``custom_mode = main << 16 | sub << 24``; DO_SET_MODE param2 = 4, param3 = 4); arm;
  MISSION_START (Commander).
- Anything else (``generic``, e.g. MAVSDK's mission server): items from 0 like PX4; no custom
  mode is assumed: arm, then MISSION_START, the one start the MAVLink standard defines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from drones.mavlink import mavutil
from drones.missions import FRAME_GLOBAL, NAV_TAKEOFF, NAV_WAYPOINT, MissionItem

Name = Literal["ardupilot", "px4", "generic"]
COPTER_GUIDED = 4  # ArduCopter custom mode
PX4_AUTO, PX4_AUTO_MISSION = 4, 4  # main mode, sub mode
TERRAIN_FRAMES = (10, 11)  # MAV_FRAME_GLOBAL_TERRAIN_ALT(_INT)


@dataclass(frozen=True)
class Step:
    name: str
    command: int
    params: tuple[float, ...]


@dataclass(frozen=True)
class Dialect:
    name: Name
    home_item: bool  # the vehicle's item 0 is HOME, the plan goes from seq 1

    @property
    def offset(self) -> int:
        """The vehicle's seq of the plan's first item."""
        return 1 if self.home_item else 0

    def wire_items(self, items: list[MissionItem], home: tuple[float, float, float]) -> list[MissionItem]:
        """What to upload: the plan, behind a home item (lat, lon, AMSL alt) where item 0 is home."""
        if not self.home_item:
            return list(items)
        lat, lon, alt = home
        home_item = MissionItem(NAV_WAYPOINT, FRAME_GLOBAL, (0.0, 0.0, 0.0, 0.0, lat, lon, alt))
        return [home_item, *items]

    def plan_items(self, wire: list[MissionItem]) -> list[MissionItem]:
        """The plan's part of what the vehicle holds (without its home item)."""
        return wire[self.offset :]

    def upload_problem(self, items: list[MissionItem]) -> str | None:
        """Why this vehicle would refuse the upload, or None."""
        terrain = [k for k, i in enumerate(items) if i.has_position and i.frame in TERRAIN_FRAMES]
        if self.name == "px4" and terrain:  # mavlink_mission.cpp: MAV_MISSION_UNSUPPORTED_FRAME
            return (
                f"PX4 does not take terrain-frame items ({', '.join(map(str, terrain))}): plan them relative"
            )
        return None

    def start_problem(self, items: list[MissionItem]) -> str | None:
        """Why this vehicle would refuse to fly the plan from the ground, or None."""
        if self.name == "ardupilot" and (not items or items[0].command != NAV_TAKEOFF):
            return "ArduPilot starts AUTO on the ground only when the first item is a TAKEOFF"
        return None

    def start_steps(self) -> list[Step]:
        m = mavutil().mavlink
        custom = float(m.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED)
        arm = Step("arm", m.MAV_CMD_COMPONENT_ARM_DISARM, (1.0,))
        go = Step("mission start", m.MAV_CMD_MISSION_START, (0.0, 0.0))
        if self.name == "ardupilot":
            return [Step("mode GUIDED", m.MAV_CMD_DO_SET_MODE, (custom, float(COPTER_GUIDED))), arm, go]
        if self.name == "px4":
            mode = (custom, float(PX4_AUTO), float(PX4_AUTO_MISSION))
            return [Step("mode AUTO.MISSION", m.MAV_CMD_DO_SET_MODE, mode), arm, go]
        return [arm, go]


DIALECTS: dict[str, Dialect] = {
    "ardupilot": Dialect("ardupilot", home_item=True),
    "px4": Dialect("px4", home_item=False),
    "generic": Dialect("generic", home_item=False),
}


def dialect(name: str | None) -> Dialect:
    """The dialect of a vehicle by the name its HEARTBEAT gave (generic when unknown)."""
    return DIALECTS.get(name or "generic", DIALECTS["generic"])
