"""Incidents as a derivation (issue 19): the duty desk restored from the store, fed with officers'
positions and reports and drones' states, ticked for its timers. What people do through the API
goes through :meth:`IncidentService.act`. Commands for officers and the audit lines of each step
leave through the two hooks the runtime sets (``send``, ``audit``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from telemetry.alerts.book import AlertBook
from telemetry.alerts.durable import active_alerts
from telemetry.assets import Registry
from telemetry.config_dispatch import DispatchConfig
from telemetry.derivation import NOTHING, Derived
from telemetry.incidents.desk import OVERDUE_KIND, Command, IncidentDesk, Outcome, from_document
from telemetry.incidents.rules import Officer
from telemetry.ports import Store
from telemetry.records import Record
from telemetry.records_people import IncidentEvent, OfficerPosition

log = logging.getLogger(__name__)
SUBJECT_KIND = {"flood": "gauge", "gauge_offline": "gauge", "sensor_fault": "gauge", "toilet": "toilet",
                "toilet_air": "toilet", "toilet_surge": "toilet", "toilet_silent": "toilet",
                "toilet_daily": "toilet"}  # fmt: skip
"""Alert kind → the registry kind of its subject, whose position is the incident's place."""


def officers_of(registry: Registry) -> list[Officer]:
    return [Officer(d.id, d.name, d.unit or "") for d in registry.of_kind("officer")]


class IncidentService:
    name = "incidents"

    def __init__(self, cfg: DispatchConfig, registry: Registry, book: AlertBook) -> None:
        self.cfg = cfg
        self.tick_interval_s: float | None = cfg.check_interval_s
        self.desk = IncidentDesk(cfg, book, officers_of(registry), self._place)
        self._registry = registry
        self.send: Callable[[Command], None] | None = None
        self.audit: Callable[[IncidentEvent], None] | None = None

    def _place(self, kind: str, subject: str) -> tuple[float, float] | None:
        device = self._registry.get(SUBJECT_KIND.get(kind, ""), subject)
        if device is None or device.lat is None or device.lon is None:
            return None
        return device.lat, device.lon

    async def restore(self, store: Store, now_ms: int) -> None:
        incidents = [from_document(str(dict(v.fields)["document"])) for v in await store.latest("incident")]
        positions = []
        for v in await store.latest("officer_position"):
            f, t = dict(v.fields), dict(v.tags)
            lat, lon = f.get("lat"), f.get("lon")
            if isinstance(lat, int | float) and isinstance(lon, int | float):
                district, status = t.get("district", ""), str(f.get("status", "off"))
                positions.append(
                    OfficerPosition(v.device, district, v.time_ms, float(lat), float(lon), status)
                )
        self.desk.restore(incidents, positions)
        for stored in await active_alerts(store, [OVERDUE_KIND]):
            self.desk.book.restore(stored.alert)
        if incidents:
            log.info("%d incidents restored from the store", len(incidents))

    def observe(self, messages: Sequence[tuple[Record, ...]], now_ms: int) -> Derived:
        out = Outcome()
        for records in messages:
            out.add(self.desk.observe(records, now_ms))
        return self.settle(out)

    def tick(self, now_ms: int) -> Derived:
        return self.settle(self.desk.tick(now_ms))

    def settle(self, out: Outcome) -> Derived:
        """Audit each step and send each command now; the records and notices go to the caller."""
        if not out and not out.events:
            return NOTHING
        for event in out.events:
            if self.audit is not None:
                self.audit(event)
        for command in out.commands:
            if self.send is not None:
                self.send(command)
        return Derived(tuple(out.records), tuple(out.notices))
