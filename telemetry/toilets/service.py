"""The toilet derivation: fed by the pipeline, ticked for cleanings due, silence and the daily
minimum, rebuilt from the store at start-up. Derived entries and the system's events (overdue,
silent, reporting, minimum_missed) go back through the pipeline into the store; alerts are published
retained on ``{root}/alert/toilet/{id}/{type}`` (type: cleaning, air, surge, silent, daily) and
posted to the webhooks configured for kind ``toilet``.

Opening hours are the ``opening_hours`` property of toilets.geojson (``"HH:MM-HH:MM"``, several
comma-separated, local time; absent: all day), read here like sanitation reads its routes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from telemetry.alerts.book import Alert, AlertBook
from telemetry.alerts.durable import active_alerts, change_of, restore_acks
from telemetry.assets import Registry
from telemetry.config import SiteConfig, ToiletsConfig
from telemetry.derivation import NOTHING, Derived
from telemetry.errors import ConfigError
from telemetry.ports import Store
from telemetry.queries import SeriesQuery
from telemetry.records import Record, ToiletReading
from telemetry.toilets.engine import ToiletChange, ToiletEngine
from telemetry.toilets.rules import ALL_DAY, DAY_MS, Hours, ToiletInfo, day_span_ms, local_day, parse_hours

DURABLE_KINDS = ("toilet_air", "toilet_surge")
"""Kinds restored from ``alert`` points; overdue, silent and daily come back from ``toilet_event``."""
LOOKBACK_DAYS = 7  # stored toilet data this far before yesterday: yesterday was watched, judge it


def opening_hours(source: str) -> dict[str, Hours]:
    """``opening_hours`` of each toilet in ``{source}/toilets.geojson``; a bad value stops
    start-up with the toilet and the reason."""
    path = Path(source) / "toilets.geojson" if source else None
    if path is None or not path.is_file():
        return {}
    out: dict[str, Hours] = {}
    for f in json.loads(path.read_text(encoding="utf-8")).get("features", []):
        props = f.get("properties") or {}
        text = props.get("opening_hours")
        if text is None:
            continue
        try:
            out[str(props["id"])] = parse_hours(str(text))
        except ValueError as exc:
            raise ConfigError([(f"{path}: {props['id']}", f"opening_hours: {exc}")]) from exc
    return out


class ToiletService:
    name = "toilets"

    def __init__(
        self,
        cfg: ToiletsConfig,
        registry: Registry,
        book: AlertBook,
        district: str,
        start_ms: int,
        *,
        timezone: str | None = None,
    ) -> None:
        hours = opening_hours(registry.source)
        info = {
            d.id: ToiletInfo(
                d.toilet_class or 2,
                d.traffic or "medium",
                d.capacity_per_15min,
                d.district or district,
                hours.get(d.id, ALL_DAY),
            )
            for d in registry.of_kind("toilet")
        }
        self.zone = ZoneInfo(timezone or SiteConfig().timezone)
        self.engine = ToiletEngine(cfg, book, info, start_ms, zone=self.zone)
        self.tick_interval_s: float | None = cfg.check_interval_s
        self._registry = registry
        self._missing: list[Record] = []  # derived entries lost at the last stop, stored first

    async def restore(self, store: Store, now_ms: int) -> None:
        """Cleanings (the last, and those of yesterday and today), an overdue state not yet
        cleaned, the entries since, the last totals, the last report, an active silent or
        daily-minimum alert, an active air or surge alert (``alert`` points), the acknowledgements
        of them all, and whether yesterday was watched (so it is judged)."""
        latest: dict[tuple[str, str], int] = {}
        for v in await store.latest("toilet_event"):
            key = (v.device, dict(v.tags).get("type", ""))
            latest[key] = max(latest.get(key, -1), v.time_ms)
        footfall = await store.latest("toilet_footfall")
        reported = {v.device: v.time_ms for v in footfall}
        districts = {v.device: dict(v.tags).get("district", "") for v in footfall}
        yesterday = local_day(now_ms, self.zone) - timedelta(days=1)
        y_start, y_end = day_span_ms(yesterday, self.zone)
        if await self._any_before(store, y_start):
            self.engine.restore_observed_from(y_start)
        registered = {d.id for d in self._registry.of_kind("toilet")}
        toilets = registered | {toilet for toilet, kind in latest if kind == "cleaned"}
        for toilet in sorted(toilets):
            cleaned = latest.get((toilet, "cleaned"), -1)
            times = await self._cleanings(store, toilet, y_start, now_ms)
            for t in [*times, cleaned] if cleaned >= 0 else times:
                self.engine.restore_cleaned(toilet, t)
            overdue = latest.get((toilet, "overdue"), -1)
            if overdue > cleaned:
                self.engine.restore_overdue(
                    _active("toilet", toilet, "overdue", "not cleaned in time", overdue)
                )
            since = cleaned if cleaned >= 0 else None
            self._missing += await self._warm(store, toilet, districts.get(toilet, ""), since, now_ms)
            if toilet in reported:
                self.engine.restore_report(toilet, reported[toilet])
            silent = latest.get((toilet, "silent"), -1)
            if silent > max(reported.get(toilet, -1), latest.get((toilet, "reporting"), -1)):
                reason = "no report in opening hours"
                self.engine.restore_alert(_active("toilet_silent", toilet, "silent", reason, silent))
            missed = latest.get((toilet, "minimum_missed"), -1)
            if y_start <= missed < y_end:
                reason = f"daily minimum of cleanings missed on {yesterday}"
                alert = _active("toilet_daily", toilet, "missed", reason, missed)
                self.engine.restore_alert(alert, missed_day=yesterday)
        for stored in await active_alerts(store, DURABLE_KINDS):  # decision 85
            self.engine.restore_alert(stored.alert)
        await restore_acks(store, self.engine.book)  # overdue, silent and daily too

    async def _any_before(self, store: Store, before_ms: int) -> bool:
        start = before_ms - LOOKBACK_DAYS * DAY_MS
        for measurement, fields in (("toilet_footfall", ("entries", "total")), ("toilet_event", ("by",))):
            rows = await store.query_series(
                SeriesQuery(measurement, fields, None, start, before_ms, fn="count")
            )
            if any(int(v or 0) > 0 for row in rows for _, v in row.values if isinstance(v, int | float)):
                return True
        return False

    @staticmethod
    async def _cleanings(store: Store, toilet: str, start_ms: int, now_ms: int) -> list[int]:
        query = SeriesQuery("toilet_event", ("by",), toilet, start_ms, now_ms + 1, limit=10_000,
                            tags=(("type", "cleaned"),))  # fmt: skip
        return [r.time_ms for r in await store.query_series(query)]

    async def _warm(
        self, store: Store, toilet: str, district: str, cleaned: int | None, now_ms: int
    ) -> list[Record]:
        since = cleaned if cleaned is not None else now_ms - DAY_MS
        start = max(since, now_ms - DAY_MS)
        query = SeriesQuery("toilet_footfall", ("entries", "total"), toilet, start_ms=start, limit=100_000)
        warm = tuple(
            ToiletReading(
                toilet, district, r.time_ms, **{k: int(v) for k, v in r.values if isinstance(v, int | float)}
            )
            for r in await store.query_series(query)
        )
        return self.engine.warm(warm)  # the counts only: alerts come back from the store (decision 85)

    def observe(self, messages: Sequence[tuple[Record, ...]], now_ms: int) -> Derived:
        records, self._missing = self._missing, []
        changes: list[ToiletChange] = []
        for message in messages:
            derived, changed = self.engine.observe(message, now_ms)
            records += derived
            changes += changed
        return _derived(records, changes)

    def tick(self, now_ms: int) -> Derived:
        records, changes = self.engine.check_due(now_ms)
        missing, self._missing = self._missing, []
        return _derived([*missing, *records], changes)


def _active(kind: str, toilet: str, level: str, reason: str, time_ms: int) -> Alert:
    """An active alert as the book would have raised it at ``time_ms`` (same id)."""
    return Alert(f"{kind}-{toilet}-{time_ms}", kind, toilet, level, "active", reason, time_ms)


def _derived(records: list[Record], changes: list[ToiletChange]) -> Derived:
    if not records and not changes:
        return NOTHING
    stored = tuple(change_of(c.alert, c.time_ms) for c in changes)  # every kind: decision 85
    return Derived((*records, *stored), tuple(c.notice() for c in changes))
