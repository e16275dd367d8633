"""The live fleet view: what each vehicle last said, and whether it is online (heartbeats in
the last ``offline_after_s``). Written by collector threads, read by the API: thread-safe."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace

from telemetry.records import DroneState, MissionEvent, Record


@dataclass(frozen=True, slots=True)
class MissionProgress:
    id: str
    current: int
    total: int
    state: str  # planned | uploaded | verified | running | done | failed


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


@dataclass
class _Vehicle:
    link: str
    last_heartbeat: float | None = None  # monotonic
    last_heartbeat_ms: int | None = None
    state: dict[str, object] = field(default_factory=dict)
    mission: MissionProgress | None = None


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
                for name in ("lat", "lon", "alt_rel_m", "battery_pct", "mode", "armed", "mission_seq"):
                    value = getattr(record, name)
                    if value is not None:
                        v.state[name] = value
                if record.mission_seq is not None and v.mission is not None:
                    current = min(record.mission_seq, v.mission.total)
                    state = "done" if current >= v.mission.total > 0 else v.mission.state
                    v.mission = replace(v.mission, current=current, state=state)

    def set_mission(self, drone: int, mission: MissionProgress | None) -> None:
        with self._lock:
            v = self._vehicles.get(drone)
            if v is not None:
                v.mission = mission

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
                    )
                )
            return out


def _f(v: object) -> float | None:
    return float(v) if isinstance(v, int | float) else None
