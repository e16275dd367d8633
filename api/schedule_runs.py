"""Running the schedules (docs/schedules.md): a timer on the service's clock that, at each due
time, plans the schedule's mission with the checks of that moment, chooses the pool's first
online drone whose battery covers the flight, and leaves the mission ``awaiting_pilot``; or
records it ``failed`` with the reason and raises a ``schedule`` alert (retained on
``alert/schedule/{id}``, audited). It launches by itself only when the schedule says
``launch: true`` and, where the mission needs an approval, one of the schedule's approvals
covers the due time's local date: the approval is recorded, the mission uploaded, read back
and started as the pilot's routes do (api/routes_missions.py)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any, Protocol

from api import flight_logs
from api.mission_store import plan_locked, save
from api.schedules import ALERT_KIND, ScheduleBook, durable
from drones.collector import MavlinkCollector, SessionBusyError
from drones.dialects import dialect
from drones.fence import fence_items
from drones.fleet import Fleet, MissionProgress
from drones.flight_log import FlightRecorder
from drones.formats import MissionFormatError
from drones.launch import battery_needed_pct, start_problem
from drones.mission_link import last_nav, launch, send_fence, send_plan, vehicle_home
from drones.mission_service import Mission, MissionPlanner
from drones.schedules import Schedule, approval_for, owed
from telemetry.alerts.book import AlertBook
from telemetry.alerts.durable import change_of
from telemetry.assets import Registry
from telemetry.audit.log import AuditLog
from telemetry.config import Settings
from telemetry.derivation import Announcer, Notice, Submit
from telemetry.flood.service import FloodService
from telemetry.instants import now_ms

log = logging.getLogger("drones.schedules")
SERVICE = "service"
TICK_S = 1.0  # how often due times are looked for (the clock is the service's)
SETTLE_S = 6.0  # before the first look: drones heard by then count as online (5 s heartbeat rule)
LAUNCH_LATE_MS = 15 * 60_000  # a run more late than this (service down at its time) never launches
_RANK = {"yellow": 1, "red": 2}


class Parts(Protocol):
    """What a run needs of the runtime (api/runtime.py's Runtime)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def registry(self) -> Registry: ...
    @property
    def audit(self) -> AuditLog: ...
    @property
    def fleet(self) -> Fleet: ...
    @property
    def alerts(self) -> AlertBook: ...
    @property
    def flood(self) -> FloodService | None: ...
    @property
    def submit(self) -> Submit | None: ...
    @property
    def missions(self) -> MissionPlanner | None: ...
    @property
    def mavlink(self) -> MavlinkCollector | None: ...
    @property
    def flights(self) -> FlightRecorder | None: ...


def hotspots(rt: Parts, min_level: str) -> list[tuple[float, float]]:
    """The gauges at ``min_level`` or above, as [lon, lat] (as the mission route plans them)."""
    view = rt.flood.engine.view() if rt.flood else {}
    out = []
    for gauge, g in sorted(view.items()):
        device = rt.registry.get("gauge", gauge)
        at_level = _RANK.get(g.level, 0) >= _RANK[min_level]
        if at_level and device and device.lon is not None and device.lat is not None:
            out.append((device.lon, device.lat))
    return out


def check_problem(m: Mission) -> str | None:
    c = m.checks
    if c.no_fly_violations:
        return f"no-fly violation: {', '.join(c.no_fly_violations)}"
    if c.max_true_height_m >= c.height_limit_m:
        return f"true height {c.max_true_height_m:.0f} m reaches the limit of {c.height_limit_m:.0f} m"
    if c.missing_altitude:
        return f"items {', '.join(str(k) for k in c.missing_altitude)} have no altitude"
    if not c.battery_ok:
        return f"battery: {c.battery_at_rtl_pct:.0f} % left at return, below the reserve"
    return None


def choose_drone(rt: Parts, pool: tuple[int, ...], m: Mission) -> tuple[int | None, str | None]:
    """The pool's first online drone whose battery covers the estimated flight, or why none (an
    empty pool: any drone of the fleet, by system id)."""
    status = {d.drone: d for d in rt.fleet.snapshot()}
    pool = pool or tuple(status)  # no drone named: any of the fleet
    online = [status[d] for d in pool if d in status and status[d].online]
    if not online:
        return None, "drone offline: " + (", ".join(str(d) for d in pool) or "no drone known")
    why = []
    for d in online:
        need = battery_needed_pct(m.checks.estimated_flight_s, rt.settings.drones.type_of(d.drone))
        if d.battery_pct is not None and d.battery_pct >= need:
            return d.drone, None
        have = "unknown" if d.battery_pct is None else f"{d.battery_pct:.0f} %"
        why.append(f"drone {d.drone} {have} < {need:.0f} %")
    return None, "battery: " + "; ".join(why)


async def plan_due(rt: Parts, s: Schedule, due_ms: int) -> tuple[Mission | None, str | None]:
    """Plan the schedule's mission now; the mission (stored) and why it cannot fly (None: it can)."""
    planner = rt.missions
    if planner is None:
        return None, "mission planning is not available"
    body = dict(s.mission)
    spots = hotspots(rt, str(body.get("min_level", "yellow"))) if body.get("type") == "hotspots" else None
    try:
        m = await asyncio.to_thread(plan_locked, planner, body, spots)
    except (ValueError, KeyError, TypeError, MissionFormatError) as exc:
        return None, f"not planned: {exc}"
    m.schedule = s.id
    m.log.append({"user": SERVICE, "action": "scheduled", "schedule": s.id, "due_ms": due_ms})
    reason = check_problem(m)
    if reason is None:
        m.drone, reason = choose_drone(rt, s.drones, m)
    m.state, m.reason = ("failed", reason) if reason else ("awaiting_pilot", None)
    await save(rt.submit, m)
    return m, reason


async def fly(rt: Parts, m: Mission) -> str | None:
    """Upload, read back, compare and start on the mission's drone (the pilot's routes' steps,
    actor ``service``); why it did not start, or None."""
    assert m.drone is not None
    if rt.mavlink is None:
        return "no MAVLink links"
    drone = m.drone
    status = next((d for d in rt.fleet.snapshot() if d.drone == drone), None)
    vehicle = dialect(status.autopilot if status else None)
    problem = vehicle.upload_problem(m.items)
    if problem is not None:
        return problem
    try:
        session = rt.mavlink.open_session(drone)
    except SessionBusyError as exc:
        return str(exc)
    if session is None:
        return f"drone {drone} is not connected"
    known = status.home if status else None
    try:
        await flight_logs.start(rt.flights, rt.audit, drone, m.id)  # evidence: upload to landing
        home = await asyncio.to_thread(vehicle_home, session, drone, lambda: known)
        result = await asyncio.to_thread(send_plan, session, drone, vehicle, m.items, home or m.home3)
        if result.verified:
            fenced = await asyncio.to_thread(send_fence, session, drone, fence_items(m.fence))
            result = fenced if not fenced.verified else result
        m.state, m.vehicle_offset = ("verified" if result.verified else "failed"), vehicle.offset
        m.log.append({"user": SERVICE, "action": "upload", "drone": drone, "ok": result.verified})
        rt.audit.record(SERVICE, "mission_upload", m.id, {"drone": drone, "ok": result.verified,
                                                          "error": result.error})  # fmt: skip
        error = None if result.verified else f"upload: {result.error}"
        if error is None:
            status = next((d for d in rt.fleet.snapshot() if d.drone == drone), None)
            error = start_problem(m, status, rt.settings.drones.type_of(drone))
        if error is None:
            error = await asyncio.to_thread(launch, session, drone, vehicle)
            m.log.append({"user": SERVICE, "action": "start", "drone": drone, "error": error})
            rt.audit.record(SERVICE, "mission_start", m.id, {"drone": drone, "error": error})
    finally:
        rt.mavlink.close_session(drone)
    progress_state = "verified" if error else "running"
    if not error:
        m.state = "running"
        rt.mavlink.missions[drone] = m.id
    elif m.state == "failed":
        await flight_logs.finish(rt.flights, rt.audit, drone, m.id)
    rt.fleet.set_mission(drone, MissionProgress(m.id, 0, len(m.items), progress_state, vehicle.offset,
                                                last_nav(m.items)))  # fmt: skip
    await save(rt.submit, m)
    return error


async def run_due(rt: Parts, book: ScheduleBook, s: Schedule, due_ms: int, at_ms: int) -> dict[str, Any]:
    """One run of a schedule for one due time; its result (kept as the schedule's last run)."""
    m, reason = await plan_due(rt, s, due_ms)
    launched = False
    if m is not None and reason is None and s.launch:
        approval = approval_for(s, due_ms, book.zone)
        if at_ms - due_ms > LAUNCH_LATE_MS:
            m.log.append({"user": SERVICE, "action": "not_launched", "reason": "run late"})
        elif m.checks.approval_required and approval is None:
            m.log.append({"user": SERVICE, "action": "not_launched", "reason": "no approval covers the date"})
        else:
            if approval is not None and rt.missions is not None:
                rt.missions.approve(m.id, approval, SERVICE)
                data = {"approval_id": approval, "schedule": s.id}
                rt.audit.record(SERVICE, "mission_approval", m.id, data)
            error = await fly(rt, m)
            launched = error is None
            if error is not None:
                reason = f"launch: {error}"
                m.reason = reason
                await save(rt.submit, m)
    state = m.state if m is not None else "failed"
    return {"due_ms": due_ms, "at_ms": at_ms, "mission": m.id if m else None, "state": state,
            "reason": reason, "drone": m.drone if m else None, "launched": launched}  # fmt: skip


def _notice(s: Schedule, alert_id: str, level: str, reason: str, since: int) -> Notice:
    payload = {"schedule": s.id, "name": s.name, "level": level, "reason": reason, "since": since,
               "alert_id": alert_id}  # fmt: skip
    return Notice(f"alert/schedule/{s.id}", ALERT_KIND, level, payload)


async def handle(
    rt: Parts, book: ScheduleBook, announcer: Announcer, s: Schedule, due_ms: int, at_ms: int
) -> list[Notice]:
    """Run the schedule for ``due_ms``, store its result, audit it; the alert notices to send."""
    run = await run_due(rt, book, s, due_ms, at_ms)
    current = book.schedules.get(s.id, s)  # deleted meanwhile: the run is still recorded
    record = book.put(replace(current, last_due_ms=due_ms, last_run=run))
    notices: list[Notice] = []
    records: list[Any] = [record]
    if run["reason"]:
        alert = rt.alerts.raise_or_update(ALERT_KIND, s.id, "red", f"{s.name}: {run['reason']}", at_ms)
        records.append(change_of(alert, at_ms))
        notices.append(_notice(s, alert.id, alert.level, alert.reason, alert.raised_at_ms))
    elif (cleared := rt.alerts.clear(ALERT_KIND, s.id, f"run for {due_ms} planned", at_ms)) is not None:
        records.append(change_of(cleared, at_ms))
        notices.append(_notice(s, cleared.id, "green", cleared.reason, cleared.raised_at_ms))
    await durable(rt.submit, tuple(records))
    rt.audit.record(SERVICE, "schedule_run", s.id, run)
    log.info("schedule %s due %d: %s %s", s.id, due_ms, run["state"], run["reason"] or "")
    return notices


async def run_forever(rt: Parts, book: ScheduleBook, announcer: Announcer) -> None:
    """Until cancelled: after SETTLE_S, every TICK_S, run each schedule owed a run (one run per
    due time; those missed while the service was down collapse into one run at start)."""
    await asyncio.sleep(SETTLE_S)
    async with asyncio.TaskGroup() as posts:
        while True:
            for s in list(book.schedules.values()):
                at = now_ms()
                due = owed(s, at, book.zone, book.storm)
                if due is None:
                    continue
                for notice in await handle(rt, book, announcer, s, due, at):
                    announcer.publish(notice)
                    posts.create_task(announcer.post(notice))
            await asyncio.sleep(TICK_S)
