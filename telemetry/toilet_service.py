"""Toilet derivations at run time: fed by the pipeline, ticked by a timer for cleanings due,
rebuilt from the store at start-up. Derived entries and overdue events go back through the
pipeline into the store; alerts are published retained on ``{root}/alert/toilet/{id}/{type}``
(type: cleaning, air, surge) and posted to the webhooks configured for kind ``toilet``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from telemetry.alerts import Alert, AlertBook
from telemetry.assets import Registry
from telemetry.config import ToiletsConfig
from telemetry.instants import now_ms
from telemetry.ports import Envelope, Store
from telemetry.queries import SeriesQuery
from telemetry.records import Decoded, Record, ToiletReading
from telemetry.toilets import DAY_MS, ToiletChange, ToiletEngine, ToiletInfo
from telemetry.webhooks import Webhooks

Publish = Callable[[str, bytes], None]


class ToiletService:
    def __init__(
        self, cfg: ToiletsConfig, registry: Registry, book: AlertBook, root: str, district: str,
        webhooks: Webhooks | None = None,
    ) -> None:  # fmt: skip
        info = {
            d.id: ToiletInfo(
                d.toilet_class or 2, d.traffic or "medium", d.capacity_per_15min, d.district or district
            )
            for d in registry.of_kind("toilet")
        }
        self.engine = ToiletEngine(cfg, book, info, now_ms())
        self._cfg = cfg
        self._registry = registry
        self._root = root
        self._webhooks = webhooks
        self._out: asyncio.Queue[tuple[list[Record], list[ToiletChange]]] = asyncio.Queue()
        self.publish: Publish | None = None

    async def restore(self, store: Store) -> None:
        """Last cleanings, an overdue state not yet cleaned, the entries since, the last totals."""
        now = now_ms()
        cleaned: dict[str, int] = {}
        overdue: dict[str, int] = {}
        for v in await store.latest("toilet_event"):
            kind = dict(v.tags).get("type")
            target = cleaned if kind == "cleaned" else overdue if kind == "overdue" else None
            if target is not None and v.time_ms > target.get(v.device, -1):
                target[v.device] = v.time_ms
        toilets = {d.id for d in self._registry.of_kind("toilet")} | set(cleaned)
        for toilet in sorted(toilets):
            if toilet in cleaned:
                self.engine.restore_cleaned(toilet, cleaned[toilet])
            if overdue.get(toilet, -1) > cleaned.get(toilet, -1):
                t = overdue[toilet]
                self.engine.restore_overdue(
                    Alert(
                        f"toilet-{toilet}-{t}",
                        "toilet",
                        toilet,
                        "overdue",
                        "active",
                        "not cleaned in time",
                        t,
                    )
                )
            since = cleaned.get(toilet, now - DAY_MS)
            rows = await store.query_series(
                SeriesQuery(
                    "toilet_footfall",
                    ("entries", "total"),
                    toilet,
                    start_ms=max(since, now - DAY_MS),
                    limit=100_000,
                )
            )
            warm = tuple(
                ToiletReading(
                    toilet, "", r.time_ms, **{k: int(v) for k, v in r.values if isinstance(v, int | float)}
                )
                for r in rows
            )
            self.engine.observe(warm, now)  # no alert from the past: its changes are dropped

    def observe(self, messages: list[tuple[Record, ...]]) -> None:
        now = now_ms()
        for records in messages:
            derived, changes = self.engine.observe(records, now)
            if derived or changes:
                self._out.put_nowait((derived, changes))

    async def run(self, submit: Callable[[Envelope], Awaitable[None]]) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._tick())
            while True:
                derived, changes = await self._out.get()
                if derived:
                    await submit(Envelope("toilets", Decoded(records=tuple(derived))))
                for change in changes:
                    self._publish(change)
                    if self._webhooks is not None:
                        tasks.create_task(self._webhooks.post("toilet", change.alert.level, change.message()))

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._cfg.check_interval_s)
            derived, changes = self.engine.check_due(now_ms())
            if derived or changes:
                self._out.put_nowait((derived, changes))

    def _publish(self, change: ToiletChange) -> None:
        if self.publish is not None:
            body = json.dumps(change.message(), ensure_ascii=False).encode()
            self.publish(f"{self._root}/alert/toilet/{change.toilet}/{change.topic_suffix()}", body)
