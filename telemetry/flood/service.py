"""The flood derivation: fed by the pipeline, ticked for offline gauges, rebuilt from the store
at start-up. Each change of level is stored as a ``flood_alert`` point, published retained
(QoS 1) on ``{root}/alert/flood/{gauge}`` and posted to the webhooks configured for its level."""

from __future__ import annotations

from collections.abc import Sequence

from telemetry.alerts.book import Alert, AlertBook
from telemetry.assets import Registry
from telemetry.config import FloodConfig
from telemetry.derivation import NOTHING, Derived
from telemetry.flood.engine import FloodChange, FloodEngine
from telemetry.flood.rules import FloodRules, Level
from telemetry.ports import Store
from telemetry.queries import SeriesQuery
from telemetry.records import GaugeReading, Record

_LEVELS: dict[str, Level] = {"green": "green", "yellow": "yellow", "red": "red", "offline": "offline"}


class FloodService:
    name = "flood"

    def __init__(self, cfg: FloodConfig, registry: Registry, book: AlertBook) -> None:
        rules = FloodRules(
            cfg.yellow_cm, cfg.red_cm, cfg.rate_window_s, cfg.rate_yellow_cm, cfg.rate_red_cm,
            cfg.hysteresis_cm, cfg.dwell_s, cfg.spike_cm, cfg.spike_window_s, cfg.stuck_after_s,
        )  # fmt: skip
        thresholds = {d.id: d.thresholds_cm for d in registry.of_kind("gauge") if d.thresholds_cm is not None}
        self.engine = FloodEngine(rules, book, thresholds=thresholds, offline_after_s=cfg.offline_after_s)
        self.tick_interval_s: float | None = cfg.check_interval_s
        self._cfg = cfg
        self._registry = registry

    async def restore(self, store: Store, now_ms: int) -> None:
        """The last level each gauge had, and the recent readings, so that a restart neither
        repeats an alert nor forgets a rise in progress."""
        self.engine.expect([d.id for d in self._registry.of_kind("gauge")], now_ms)
        newest: dict[str, tuple[int, str, dict[str, object]]] = {}
        for v in await store.latest("flood_alert"):
            tags = dict(v.tags)
            if v.time_ms > newest.get(v.device, (-1, "", {}))[0]:
                newest[v.device] = (v.time_ms, tags.get("level", "green"), dict(v.fields))
        acks = {v.device: v for v in await store.latest("alert_ack")}
        for gauge, (t, name, fields) in newest.items():
            level = _LEVELS.get(name, "green")
            alert_id = str(fields.get("alert_id") or "")
            alert = None
            if level != "green" and alert_id:
                ack = acks.get(alert_id)
                alert = Alert(
                    alert_id, "flood", gauge, level, "active", str(fields.get("reason", "")), t,
                    acknowledged_by=str(dict(ack.fields).get("by")) if ack else None,
                    acknowledged_at_ms=ack.time_ms if ack else None,
                )  # fmt: skip
            self.engine.restore(gauge, level, alert, now_ms)
        window_ms = int((2 * (self._cfg.rate_window_s + self._cfg.dwell_s)) * 1000)
        for gauge in set(newest) | {d.id for d in self._registry.of_kind("gauge")}:
            rows = await store.query_series(
                SeriesQuery("water_depth", ("depth_cm",), gauge, start_ms=now_ms - window_ms, limit=100_000)
            )
            for r in rows:
                depth = dict(r.values).get("depth_cm")
                if isinstance(depth, int | float):
                    self.engine.warm(GaugeReading(gauge, "", r.time_ms, float(depth)))

    def observe(self, messages: Sequence[tuple[Record, ...]], now_ms: int) -> Derived:
        changes: list[FloodChange] = []
        for records in messages:
            readings = [r for r in records if isinstance(r, GaugeReading)]
            if readings:
                changes += self.engine.observe(readings, now_ms)
        return _derived(changes)

    def tick(self, now_ms: int) -> Derived:
        return _derived(self.engine.check_offline(now_ms))


def _derived(changes: list[FloodChange]) -> Derived:
    if not changes:
        return NOTHING
    return Derived(tuple(c.record for c in changes), tuple(c.notice() for c in changes))
