"""Missions in the store (extension measurement ``mission``, docs/missions.md): each change of a
mission writes a new point holding its whole JSON document, so the store's newest point of a
mission is its current form; at start-up the planner is restored from those points, and a
mission that was running is followed again once its drone is heard (``follow``)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from drones.fleet import Fleet, MissionProgress
from drones.mission_link import last_nav
from drones.mission_service import Mission
from drones.missions import Checks, MissionItem
from telemetry.queries import LatestValue
from telemetry.records import MissionRecord

MEASUREMENT = "mission"
_TUPLES = ("no_fly_violations", "approval_reasons", "notes", "missing_altitude")


def document(m: Mission) -> dict[str, Any]:
    """What is kept of a mission besides its state, drone and approval."""
    return {
        "id": m.id,
        "type": m.type,
        "items": [dataclasses.astuple(i) for i in m.items],  # rows in MissionItem's field order
        "checks": dataclasses.asdict(m.checks),
        "home": list(m.home),
        "home_amsl_m": m.home_amsl_m,
        "speed_ms": m.speed_ms,
        "fence": [[list(v) for v in poly] for poly in m.fence],
        "planned_at_ms": m.planned_at_ms,
        "vehicle_offset": m.vehicle_offset,
        "log": m.log,
        "schedule": m.schedule,
        "reason": m.reason,
        "profile": [[p["distance_m"], p["ground_m"], p["flight_m"]] for p in m.profile],  # rows
    }


def to_record(m: Mission, time_ms: int) -> MissionRecord:
    return MissionRecord(
        m.id,
        time_ms,
        json.dumps(document(m), separators=(",", ":")),
        m.state,
        m.drone,
        m.approval_id,
        m.approved_by,
        m.approved_at_ms,
    )


def from_latest(value: LatestValue) -> Mission:
    f = dict(value.fields)
    d = json.loads(str(f["document"]))
    items = [MissionItem(row[0], row[1], tuple(row[2]), *row[3:]) for row in d["items"]]
    checks = Checks(**(d["checks"] | {k: tuple(d["checks"][k]) for k in _TUPLES}))
    drone, approved_at = f.get("drone"), f.get("approved_at_ms")
    return Mission(
        d["id"],
        d["type"],
        items,
        checks,
        (float(d["home"][0]), float(d["home"][1])),
        float(d["speed_ms"]),
        state=str(f["state"]),
        approval_id=_str(f.get("approval_id")),
        drone=int(drone) if isinstance(drone, int | float) else None,
        log=list(d.get("log", [])),
        home_amsl_m=float(d["home_amsl_m"]),
        fence=[[(float(a), float(b)) for a, b in poly] for poly in d["fence"]],
        planned_at_ms=int(d["planned_at_ms"]),
        approved_by=_str(f.get("approved_by")),
        approved_at_ms=int(approved_at) if isinstance(approved_at, int | float) else None,
        vehicle_offset=int(d.get("vehicle_offset", 0)),
        schedule=_str(d.get("schedule")),
        reason=_str(d.get("reason")),
        profile=[{"distance_m": r[0], "ground_m": r[1], "flight_m": r[2]} for r in d.get("profile", [])],
    )


def _str(v: object) -> str | None:
    return str(v) if v is not None else None


def restore(values: list[LatestValue]) -> list[Mission]:
    """The missions of the store's newest ``mission`` points, oldest first."""
    return sorted((from_latest(v) for v in values), key=lambda m: (m.planned_at_ms, m.id))


class Stamps:
    """Each point of a mission a new time: strictly after its last one (two changes in one
    millisecond would otherwise be one point, CONTRACT §4 idempotence)."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    def record(self, m: Mission, now_ms: int) -> MissionRecord:
        t = max(now_ms, self._last.get(m.id, 0) + 1)
        self._last[m.id] = t
        return to_record(m, t)


def progress(m: Mission) -> MissionProgress:
    return MissionProgress(m.id, 0, len(m.items), m.state, m.vehicle_offset, last_nav(m.items))


def follow(missions: dict[str, Mission], fleet: Fleet) -> list[Mission]:
    """Keep missions and the fleet in step: a running mission whose drone is heard but has no
    progress gets it back (after a restart); a mission whose progress changed state (running →
    done) takes that state. The missions changed, to be stored."""
    changed = []
    by_drone = {s.drone: s.mission for s in fleet.snapshot()}
    for m in list(missions.values()):
        if m.state != "running" or m.drone is None or m.drone not in by_drone:
            continue
        p = by_drone[m.drone]
        if p is None:
            fleet.set_mission(m.drone, progress(m))
        elif p.id == m.id and p.state != m.state:
            m.state = p.state
            m.log.append({"action": p.state, "drone": m.drone})
            changed.append(m)
    return changed
