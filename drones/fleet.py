"""The live fleet view: what each vehicle last said, and whether it is online (heartbeats in
the last ``offline_after_s``), and how far it is through the mission it was given. Written by
collector threads, read by the API: thread-safe.

A mission is ``done`` when the vehicle says so as real autopilots do (DOMAIN.md, dialects):
MISSION_ITEM_REACHED of the last navigation item, MISSION_CURRENT with ``mission_state``
COMPLETE, or the vehicle disarmed (landed) after reaching its last item; never by a seq == total
convention. Vehicle seqs map to plan items by the dialect's offset (ArduPilot's home item)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace

from telemetry.records import DroneState, MissionEvent, Record

MISSION_STATE_COMPLETE = 5  # MAVLink MISSION_STATE
FIX_2D = 2  # GPS_FIX_TYPE_2D_FIX


@dataclass(frozen=True, slots=True)
class MissionProgress:
    id: str
    current: int  # the plan item being flown (0-based); ``total`` once done
    total: int
    state: str  # planned | uploaded | verified | running | done | failed
    offset: int = 0  # the vehicle's seq of plan item 0 (1 behind ArduPilot's home item)
    last_nav: int = -1  # the plan index of the last navigation item (-1: the last item)

    def at(self, vehicle_seq: int) -> MissionProgress:
        """Flying the vehicle's item ``vehicle_seq``."""
        if self.state != "running":
            return self
        return replace(self, current=max(0, min(vehicle_seq - self.offset, self.total)))

    def reached(self, vehicle_seq: int) -> MissionProgress:
        last = self.last_nav if self.last_nav >= 0 else self.total - 1
        if self.state == "running" and vehicle_seq - self.offset >= last:
            return self.done()
        return self

    def done(self) -> MissionProgress:
        return replace(self, current=self.total, state="done") if self.state == "running" else self


@dataclass(frozen=True, slots=True)
class DroneStatus:
    """A vehicle as the fleet view shows it (GET /api/v1/drones)."""

    drone: int
    online: bool
    last_heartbeat_ms: int | None
    lat: float | None
    lon: float | None
    alt_rel_m: float | None
    battery_pct: float | None
    mode: str | None
    armed: bool | None
    link: str
    mission: MissionProgress | None
    autopilot: str | None = None  # ardupilot | px4 | generic
    gps_fix: int | None = None  # GPS_FIX_TYPE; < 2: no fix (no position is kept)
    home: tuple[float, float, float] | None = None  # HOME_POSITION: lat, lon, AMSL alt


@dataclass
class _Vehicle:
    link: str
    last_heartbeat: float | None = None  # monotonic
    last_heartbeat_ms: int | None = None
    state: dict[str, object] = field(default_factory=dict)
    mission: MissionProgress | None = None
    armed_in_mission: bool = False  # seen armed since the mission started


class Fleet:
    def __init__(self, offline_after_s: float = 5.0) -> None:
        self._offline_after_s = offline_after_s
        self._lock = threading.Lock()
        self._vehicles: dict[int, _Vehicle] = {}

    def observe(self, record: Record, link: str, *, heartbeat: bool = False) -> None:
        if not isinstance(record, DroneState | MissionEvent):
            return
        with self._lock:
            v = self._vehicles.setdefault(record.drone, _Vehicle(link))
            v.link = link
            if heartbeat:
                v.last_heartbeat = time.monotonic()
                v.last_heartbeat_ms = record.time_ms
            if isinstance(record, DroneState):
                self._state(v, record)
            elif record.event == "item_reached" and record.seq is not None and v.mission is not None:
                v.mission = v.mission.reached(record.seq)

    @staticmethod
    def _state(v: _Vehicle, record: DroneState) -> None:
        if record.gps_fix is not None and record.gps_fix < FIX_2D:
            v.state.pop("lat", None)  # the fix is lost: the last position is no longer where it is
            v.state.pop("lon", None)
        for name in _KEPT:
            value = getattr(record, name)
            if value is not None:
                v.state[name] = value
        if v.mission is None:
            return
        if record.mission_seq is not None:
            v.mission = v.mission.at(record.mission_seq)
        if record.mission_state == MISSION_STATE_COMPLETE:
            v.mission = v.mission.done()
        if record.armed and v.mission.state == "running":
            v.armed_in_mission = True
        last = v.mission.last_nav if v.mission.last_nav >= 0 else v.mission.total - 1
        if record.armed is False and v.armed_in_mission and v.mission.current >= last:
            v.mission = v.mission.done()  # landed and disarmed after its last item

    def set_mission(self, drone: int, mission: MissionProgress | None) -> None:
        with self._lock:
            v = self._vehicles.get(drone)
            if v is not None:
                v.mission = mission
                v.armed_in_mission = False

    def known(self, drone: int) -> bool:
        with self._lock:
            return drone in self._vehicles

    def snapshot(self) -> list[DroneStatus]:
        now = time.monotonic()
        with self._lock:
            out = []
            for sysid, v in sorted(self._vehicles.items()):
                online = v.last_heartbeat is not None and now - v.last_heartbeat < self._offline_after_s
                s = v.state
                out.append(
                    DroneStatus(
                        drone=sysid,
                        online=online,
                        last_heartbeat_ms=v.last_heartbeat_ms,
                        lat=_f(s.get("lat")),
                        lon=_f(s.get("lon")),
                        alt_rel_m=_f(s.get("alt_rel_m")),
                        battery_pct=_f(s.get("battery_pct")),
                        mode=str(s["mode"]) if "mode" in s else None,
                        armed=bool(s["armed"]) if "armed" in s else None,
                        link=v.link,
                        mission=v.mission,
                        autopilot=str(s["autopilot"]) if "autopilot" in s else None,
                        gps_fix=int(str(s["gps_fix"])) if "gps_fix" in s else None,
                        home=_home(s),
                    )
                )
            return out


_KEPT = ("lat", "lon", "alt_rel_m", "battery_pct", "mode", "armed", "mission_seq", "gps_fix", "autopilot",
         "home_lat", "home_lon", "home_alt_msl_m")  # fmt: skip


def _home(s: dict[str, object]) -> tuple[float, float, float] | None:
    lat, lon, alt = _f(s.get("home_lat")), _f(s.get("home_lon")), _f(s.get("home_alt_msl_m"))
    return (lat, lon, alt) if lat is not None and lon is not None and alt is not None else None


def _f(v: object) -> float | None:
    return float(v) if isinstance(v, int | float) else None
