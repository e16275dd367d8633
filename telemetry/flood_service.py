"""The flood derivation at run time: fed by the pipeline (after durable writes), ticked by a
timer for offline gauges, rebuilt from the store at start-up. Each change of level is stored as
a ``flood_alert`` point, published retained (QoS 1) on ``{root}/alert/flood/{gauge}``, and
posted to the webhooks configured for its level."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from telemetry.alerts import Alert, AlertBook
from telemetry.assets import Registry
from telemetry.config import FloodConfig
from telemetry.flood import FloodRules, Level
from telemetry.flood_engine import FloodChange, FloodEngine
from telemetry.instants import now_ms
from telemetry.ports import Envelope, Store
from telemetry.queries import SeriesQuery
from telemetry.records import Decoded, GaugeReading, Record
from telemetry.webhooks import Webhooks

log = logging.getLogger(__name__)
Publish = Callable[[str, bytes], None]  # (topic, payload): retained, QoS 1
_LEVELS: dict[str, Level] = {"green": "green", "yellow": "yellow", "red": "red", "offline": "offline"}


class FloodService:
    def __init__(
        self,
        cfg: FloodConfig,
        registry: Registry,
        book: AlertBook,
        root: str,
        webhooks: Webhooks | None = None,
    ) -> None:
        rules = FloodRules(
            cfg.yellow_cm, cfg.red_cm, cfg.rate_window_s, cfg.rate_yellow_cm, cfg.rate_red_cm,
            cfg.hysteresis_cm, cfg.dwell_s, cfg.spike_cm, cfg.spike_window_s, cfg.stuck_after_s,
        )  # fmt: skip
        thresholds = {d.id: d.thresholds_cm for d in registry.of_kind("gauge") if d.thresholds_cm is not None}
        self.engine = FloodEngine(rules, book, thresholds=thresholds, offline_after_s=cfg.offline_after_s)
        self._cfg = cfg
        self._registry = registry
        self._root = root
        self._webhooks = webhooks
        self._changes: asyncio.Queue[FloodChange] = asyncio.Queue()
        self.publish: Publish | None = None

    # --- start-up ---------------------------------------------------------------------------
    async def restore(self, store: Store) -> None:
        """The last level each gauge had, and the recent readings, so that a restart neither
        repeats an alert nor forgets a rise in progress."""
        now = now_ms()
        self.engine.expect([d.id for d in self._registry.of_kind("gauge")], now)
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
            self.engine.restore(gauge, level, alert, now)
        window_ms = int((2 * (self._cfg.rate_window_s + self._cfg.dwell_s)) * 1000)
        for gauge in set(newest) | {d.id for d in self._registry.of_kind("gauge")}:
            rows = await store.query_series(
                SeriesQuery("water_depth", ("depth_cm",), gauge, start_ms=now - window_ms, limit=100_000)
            )
            for r in rows:
                depth = dict(r.values).get("depth_cm")
                if isinstance(depth, int | float):
                    self.engine.warm(GaugeReading(gauge, "", r.time_ms, float(depth)))

    # --- feeding ----------------------------------------------------------------------------
    def observe(self, messages: list[tuple[Record, ...]]) -> None:
        """Pipeline observer (event loop): grade the gauge readings of durable messages. A
        message settles as a whole, so a backlog array raises at most one alert per gauge."""
        now = now_ms()
        for records in messages:
            readings = [r for r in records if isinstance(r, GaugeReading)]
            if readings:
                for change in self.engine.observe(readings, now):
                    self._changes.put_nowait(change)

    async def run(self, submit: Callable[[Envelope], Awaitable[None]]) -> None:
        """Until cancelled: tick the offline timer, and send every change on its ways."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._tick())
            while True:
                change = await self._changes.get()
                await submit(Envelope("flood", Decoded(records=(change.record,))))
                self._publish(change)
                if self._webhooks is not None:
                    tasks.create_task(self._webhooks.post("flood", change.level, change.message()))

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._cfg.check_interval_s)
            for change in self.engine.check_offline(now_ms()):
                self._changes.put_nowait(change)

    def _publish(self, change: FloodChange) -> None:
        if self.publish is None:
            return
        body = json.dumps(change.message(), ensure_ascii=False).encode()
        self.publish(f"{self._root}/alert/flood/{change.gauge}", body)
