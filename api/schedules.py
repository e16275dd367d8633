"""The schedule book (docs/schedules.md): patrol schedules kept in the store and the record of
each one's last run. Every change of a schedule (created, run, deleted) writes a new ``schedule``
point holding its whole JSON document through the pipeline, answered only once durable; the
newest point of each schedule restores it at start-up. A mission a run planned carries the
schedule's id and the due time (its log), so a run whose mission was stored but whose schedule
point was not is not run again after a crash. The recurrence is drones/schedules.py's."""

from __future__ import annotations

import itertools
import json
import logging
import re
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

from api.params import iso
from drones.mission_service import Mission
from drones.schedules import Schedule, from_document, next_runs
from telemetry import instants
from telemetry.alerts.book import AlertBook
from telemetry.alerts.durable import active_alerts
from telemetry.derivation import Submit
from telemetry.durable import DURABLE_TIMEOUT_S, write_durably
from telemetry.ports import Store
from telemetry.records import Record, ScheduleRecord

log = logging.getLogger("drones.schedules")
MEASUREMENT = "schedule"
ALERT_KIND = "schedule"


def scheduled_due(m: Mission) -> int | None:
    """The due time a scheduled mission was planned for (from its log)."""
    due = next((e.get("due_ms") for e in m.log if e.get("action") == "scheduled"), None)
    return int(due) if isinstance(due, int | float) else None


class ScheduleBook:
    """Used from the event loop only. ``storm`` is the flood emergency mode's seam: while true,
    a schedule with ``storm_every_hours`` runs at that interval instead."""

    def __init__(self, timezone: str) -> None:
        self.zone = ZoneInfo(timezone)
        self.schedules: dict[str, Schedule] = {}
        self.storm = False
        self._ids = itertools.count(1)
        self._last_stamp: dict[str, int] = {}

    def new_id(self, now_ms: int) -> str:
        return f"s{next(self._ids)}-{now_ms // 1000}"

    def restore(self, values: list[Any], missions: list[Mission]) -> None:
        """The store's newest ``schedule`` points (deleted ones stay out), each schedule's last
        handled due time raised to that of the newest mission it planned."""
        numbers = [0]
        for v in values:
            s = from_document(json.loads(str(dict(v.fields)["document"])))
            if n := re.match(r"s(\d+)-", s.id):
                numbers.append(int(n.group(1)))
            self._last_stamp[s.id] = v.time_ms
            if s.state == "active":
                self.schedules[s.id] = s
        for m in missions:
            known = self.schedules.get(m.schedule or "")
            due = scheduled_due(m)
            if known and due is not None and (known.last_due_ms is None or due > known.last_due_ms):
                run = {"due_ms": due, "mission": m.id, "state": m.state, "reason": m.reason, "drone": m.drone}
                self.schedules[known.id] = replace(known, last_due_ms=due, last_run=run)
        self._ids = itertools.count(max(numbers) + 1)
        if self.schedules:
            log.info("%d schedules restored from the store", len(self.schedules))

    def record(self, s: Schedule) -> ScheduleRecord:
        """Each point of a schedule a new time, strictly after its last one (wall clock: the
        newest point must stay the newest across restarts)."""
        t = max(instants.now_ms(), self._last_stamp.get(s.id, 0) + 1)
        self._last_stamp[s.id] = t
        return ScheduleRecord(s.id, t, json.dumps(s.to_document(), separators=(",", ":")), s.state)

    def put(self, s: Schedule) -> ScheduleRecord:
        if s.state == "active":
            self.schedules[s.id] = s
        else:
            self.schedules.pop(s.id, None)
        return self.record(s)

    def view(self, s: Schedule, now_ms: int) -> dict[str, Any]:
        """A schedule as the API answers it: its body, the next 3 due times, its last run."""
        d = s.to_document()
        last = dict(s.last_run) if s.last_run else None
        if last is not None:
            last["due"] = iso(int(last["due_ms"]))
            if "at_ms" in last:
                last["at"] = iso(int(last["at_ms"]))
        runs = next_runs(s, now_ms, self.zone, 3, self.storm)
        return {
            "id": s.id, "name": s.name, "mission": s.mission, "drones": list(s.drones),
            "start": iso(s.start_ms), "every_hours": s.every_hours, "weekly": d["weekly"],
            "launch": s.launch, "approvals": d["approvals"], "storm_every_hours": s.storm_every_hours,
            "created_by": s.created_by, "created_at": iso(s.created_at_ms), "state": s.state,
            "next_runs": [iso(t) for t in runs], "last_run": last, "storm": self.storm,
        }  # fmt: skip


async def restore(book: ScheduleBook, store: Store, missions: list[Mission], alerts: AlertBook) -> None:
    """The schedules, their last runs and their active alerts (kind ``schedule``)."""
    book.restore(await store.latest(MEASUREMENT), missions)
    for stored in await active_alerts(store, [ALERT_KIND]):
        alerts.restore(stored.alert)


async def durable(submit: Submit | None, records: tuple[Record, ...], source: str = "schedules") -> None:
    """Write the records and wait until they are durable (a kill -9 right after loses nothing)."""
    if submit is None or not records:
        return
    if not await write_durably(submit, source, records):
        log.warning("schedule records not durable after %.0f s (the spool keeps them)", DURABLE_TIMEOUT_S)
