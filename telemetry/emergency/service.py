"""The flood emergency mode as a derivation (issue 20): restored from the store, fed with the
gauges' acknowledgements, ticked for the automatic rule and the commands owed again. The flood
derivation is reached only through two injected callables (derivations never import each
other): ``red`` (the gauges red now) and ``limits`` (what a level puts in force). Commands, the
retained mode message, audit lines and the schedules' storm flag leave through the hooks the
runtime sets (``send``, ``publish``, ``audit``, ``storm``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from telemetry.assets import Registry
from telemetry.config_derivations import FloodConfig
from telemetry.config_emergency import EmergencyConfig
from telemetry.derivation import NOTHING, Derived
from telemetry.emergency.desk import Command, ModeDesk, Outcome, Step
from telemetry.emergency.rules import InForce
from telemetry.ports import Store
from telemetry.records import Record
from telemetry.records_mode import GaugeEvent, ModeRecord

log = logging.getLogger(__name__)


class EmergencyService:
    name = "emergency"

    def __init__(
        self,
        cfg: EmergencyConfig,
        flood: FloodConfig,
        registry: Registry,
        district: str,
        *,
        red: Callable[[], list[str]],
        limits: Callable[[InForce], None],
    ) -> None:
        self.tick_interval_s: float | None = cfg.check_interval_s
        self.desk = ModeDesk(cfg, flood, [d.id for d in registry.of_kind("gauge")], district)
        self._red, self._limits = red, limits
        self.send: Callable[[Command], None] | None = None
        self.publish: Callable[[dict[str, object]], None] | None = None  # the retained mode message
        self.audit: Callable[[Step], None] | None = None
        self.storm: Callable[[bool], None] | None = None
        self._announce = False  # publish the mode at the next tick (after a restore)

    async def restore(self, store: Store, now_ms: int) -> None:
        newest: ModeRecord | None = None
        for v in await store.latest("mode"):
            f = dict(v.fields)
            if newest is None or v.time_ms > newest.time_ms:
                newest = ModeRecord(
                    v.device,
                    v.time_ms,
                    str(f.get("level", "none")),
                    str(f.get("by", "")),
                    str(f.get("previous", "")),
                )
        acks = []
        for v in await store.latest("gauge_event"):
            interval = dict(v.fields).get("interval_s")
            if dict(v.tags).get("type") == "command_ack" and isinstance(interval, int):
                acks.append((v.device, v.time_ms, interval))
        self.desk.restore(newest, acks, self._red())
        self._limits(self.desk.force)
        self._announce = newest is not None
        if newest is not None:
            log.info(
                "flood response level %s restored (since %d, by %s)", newest.level, newest.time_ms, newest.by
            )

    def observe(self, messages: Sequence[tuple[Record, ...]], now_ms: int) -> Derived:
        for records in messages:
            for r in records:
                if isinstance(r, GaugeEvent) and r.type == "command_ack":
                    self.desk.acknowledge(r.gauge, r.interval_s)
        return NOTHING

    def tick(self, now_ms: int) -> Derived:
        out = self.desk.tick(now_ms, self._red())
        if self._announce and not out.changed:
            self._announce = not self._hook("publish", self.publish, self.desk.message())
        return self.settle(out)

    def set(self, level: str, by: str, now_ms: int) -> Outcome:
        """An admin's choice (the route stores the records, then calls :meth:`settle`)."""
        return self.desk.set(level, by, now_ms)

    def settle(self, out: Outcome) -> Derived:
        """Apply what the level puts in force, audit, publish the mode, send the commands; the
        records go to the caller. A hook that fails is logged and does not lose the records: the
        mode is published again at the next tick, the commands are sent again while owed."""
        if not out:
            return NOTHING
        if out.changed:
            self._limits(self.desk.force)
            self._hook("storm", self.storm, self.desk.force.storm_schedules)
        for step in out.steps:
            self._hook("audit", self.audit, step)
        if out.changed:
            self._announce = not self._hook("publish", self.publish, self.desk.message())
        for command in out.commands:
            self._hook("send", self.send, command)
        return Derived(tuple(out.records))

    def _hook(self, name: str, hook: Callable[[Any], None] | None, arg: object) -> bool:
        if hook is None:
            return False
        try:
            hook(arg)
        except Exception:  # logged; the records must still be stored
            log.exception("emergency mode: the %s hook failed", name)
            return False
        return True
