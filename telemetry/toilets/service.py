"""The toilet derivation: fed by the pipeline, ticked for cleanings due, rebuilt from the store
at start-up. Derived entries and overdue events go back through the pipeline into the store;
alerts are published retained on ``{root}/alert/toilet/{id}/{type}`` (type: cleaning, air,
surge) and posted to the webhooks configured for kind ``toilet``."""

from __future__ import annotations

from collections.abc import Sequence

from telemetry.alerts.book import Alert, AlertBook
from telemetry.assets import Registry
from telemetry.config import ToiletsConfig
from telemetry.derivation import NOTHING, Derived
from telemetry.ports import Store
from telemetry.queries import SeriesQuery
from telemetry.records import Record, ToiletReading
from telemetry.toilets.engine import ToiletChange, ToiletEngine
from telemetry.toilets.rules import DAY_MS, ToiletInfo


class ToiletService:
    name = "toilets"

    def __init__(
        self, cfg: ToiletsConfig, registry: Registry, book: AlertBook, district: str, start_ms: int
    ) -> None:
        info = {
            d.id: ToiletInfo(
                d.toilet_class or 2, d.traffic or "medium", d.capacity_per_15min, d.district or district
            )
            for d in registry.of_kind("toilet")
        }
        self.engine = ToiletEngine(cfg, book, info, start_ms)
        self.tick_interval_s: float | None = cfg.check_interval_s
        self._registry = registry

    async def restore(self, store: Store, now_ms: int) -> None:
        """Last cleanings, an overdue state not yet cleaned, the entries since, the last totals."""
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
            since = cleaned.get(toilet, now_ms - DAY_MS)
            query = SeriesQuery(
                "toilet_footfall",
                ("entries", "total"),
                toilet,
                start_ms=max(since, now_ms - DAY_MS),
                limit=100_000,
            )
            warm = tuple(
                ToiletReading(
                    toilet, "", r.time_ms, **{k: int(v) for k, v in r.values if isinstance(v, int | float)}
                )
                for r in await store.query_series(query)
            )
            self.engine.observe(warm, now_ms)  # no alert from the past: its changes are dropped

    def observe(self, messages: Sequence[tuple[Record, ...]], now_ms: int) -> Derived:
        records: list[Record] = []
        changes: list[ToiletChange] = []
        for message in messages:
            derived, changed = self.engine.observe(message, now_ms)
            records += derived
            changes += changed
        return _derived(records, changes)

    def tick(self, now_ms: int) -> Derived:
        return _derived(*self.engine.check_due(now_ms))


def _derived(records: list[Record], changes: list[ToiletChange]) -> Derived:
    if not records and not changes:
        return NOTHING
    return Derived(tuple(records), tuple(c.notice() for c in changes))
