"""The flood derivation: fed by the pipeline, ticked for offline gauges, rebuilt from the store
at start-up. Each change of a gauge's state (level, offline, sensor fault) is stored as a
``flood_alert`` point, published retained (QoS 1) on ``{root}/alert/flood/{gauge}`` and posted
to the webhooks configured for its level; the offline and sensor-fault alerts go on
``{root}/alert/gauge_offline/{gauge}`` and ``{root}/alert/sensor_fault/{gauge}``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from telemetry.alerts.book import Alert, AlertBook
from telemetry.assets import Registry
from telemetry.config import FloodConfig
from telemetry.derivation import NOTHING, Derived
from telemetry.flood.engine import FAULT, OFFLINE, FloodChange, FloodEngine, Restored, StuckRules
from telemetry.flood.faults import BUCKETS
from telemetry.flood.rules import BY_RANK, RANK, FloodRules
from telemetry.ports import Store
from telemetry.queries import LatestValue, SeriesQuery
from telemetry.records import GaugeReading, Record


def rules_of(cfg: FloodConfig) -> FloodRules:
    return FloodRules(
        yellow_cm=cfg.yellow_cm, red_cm=cfg.red_cm, rate_window_s=cfg.rate_window_s,
        rate_yellow_cm=cfg.rate_yellow_cm, rate_red_cm=cfg.rate_red_cm, hysteresis_cm=cfg.hysteresis_cm,
        dwell_s=cfg.dwell_s, spike_cm=cfg.spike_cm, spike_window_s=cfg.spike_window_s,
        max_plausible_cm=cfg.max_plausible_cm,
    )  # fmt: skip


class FloodService:
    name = "flood"

    def __init__(self, cfg: FloodConfig, registry: Registry, book: AlertBook) -> None:
        gauges = registry.of_kind("gauge")
        self.engine = FloodEngine(
            rules_of(cfg),
            book,
            thresholds={d.id: d.thresholds_cm for d in gauges if d.thresholds_cm is not None},
            offline_after_s=cfg.offline_after_s,
            positions={d.id: (d.lon, d.lat) for d in gauges if d.lon is not None and d.lat is not None},
            stuck=StuckRules(
                cfg.stuck_after_s, cfg.stuck_radius_m, cfg.stuck_neighbours, cfg.stuck_change_cm
            ),
        )
        self.tick_interval_s: float | None = cfg.check_interval_s
        self._cfg = cfg
        self._registry = registry
        self._stale: list[FloodChange] = []  # settled at the restore, announced with the first output

    def set_limits(
        self, yellow_cm: float | None, red_cm: float | None, offline_after_s: float | None
    ) -> None:
        """The flood emergency mode's thresholds and offline time (None: the normal ones)."""
        limits = (yellow_cm, red_cm) if yellow_cm is not None and red_cm is not None else None
        offline = self._cfg.offline_after_s if offline_after_s is None else offline_after_s
        self.engine.set_limits(limits, offline)

    async def restore(self, store: Store, now_ms: int) -> None:
        """Each gauge's last stored state (level and since when, offline, sensor fault, and their
        alerts with acknowledgements) and its recent readings (the rate window and the stuck
        window), so that a restart neither repeats an alert nor forgets a rise or a stuck run."""
        registered = [d.id for d in self._registry.of_kind("gauge")]
        self.engine.expect(registered, now_ms)
        newest: dict[str, LatestValue] = {}
        graded: dict[str, LatestValue] = {}  # the newest point with a grade (not a legacy "offline")
        for v in await store.latest("flood_alert"):
            if v.time_ms > (newest[v.device].time_ms if v.device in newest else -1):
                newest[v.device] = v
            if dict(v.tags).get("level") in RANK and v.time_ms > (
                graded[v.device].time_ms if v.device in graded else -1
            ):
                graded[v.device] = v
        acks = {v.device: v for v in await store.latest("alert_ack")}
        for gauge, v in newest.items():
            self.engine.restore(gauge, self._restored(gauge, v, graded.get(gauge), acks), now_ms)
        cfg = self._cfg
        window_s = max(2 * (cfg.rate_window_s + cfg.dwell_s), cfg.stuck_after_s * (1 + 2 / BUCKETS))
        for gauge in sorted(set(newest) | set(registered)):
            rows = await store.query_series(
                SeriesQuery(
                    "water_depth", ("depth_cm",), gauge, start_ms=now_ms - int(window_s * 1000), limit=100_000
                )
            )
            for r in rows:
                depth = dict(r.values).get("depth_cm")
                if isinstance(depth, int | float):
                    self.engine.warm(GaugeReading(gauge, "", r.time_ms, float(depth)))
        self._stale = self.engine.settle_stale(now_ms)
        for change in self._stale:  # the same alert id as the lost change: its acknowledgement
            ack = acks.get(change.alert.id) if change.alert is not None else None
            if change.alert is not None and ack is not None and change.alert.state == "active":
                by = str(dict(ack.fields).get("by"))
                self.engine.book.restore(
                    replace(change.alert, acknowledged_by=by, acknowledged_at_ms=ack.time_ms)
                )

    def _restored(
        self, gauge: str, v: LatestValue, graded: LatestValue | None, acks: Mapping[str, LatestValue]
    ) -> Restored:
        fields = dict(v.fields)
        name = dict(v.tags).get("level", "green")
        legacy_offline = name not in RANK  # before version 2's offline flag: level "offline"
        src = graded if legacy_offline else v
        level = BY_RANK[RANK[dict(src.tags).get("level", "green")]] if src is not None else "green"
        src_fields = dict(src.fields) if src is not None else {}
        since = src_fields.get("since_ms")
        since_ms = since if isinstance(since, int) else src.time_ms if src is not None else v.time_ms
        depth = src_fields.get("depth_cm")
        reason = str(src_fields.get("reason") or "")
        alert_id = str(fields.get("alert_id") or "")
        fault = fields.get("sensor_fault")
        fault = fault if isinstance(fault, str) and fault else None
        offline = fields.get("offline") is True or legacy_offline

        def alert(kind: str, alert_id: str, level: str, reason: str) -> Alert:
            ack = acks.get(alert_id)
            tail = alert_id.rsplit("-", 1)[-1]  # the alert book's ids end with the raise time
            return Alert(
                alert_id, kind, gauge, level, "active", reason, int(tail) if tail.isdigit() else v.time_ms,
                acknowledged_by=str(dict(ack.fields).get("by")) if ack else None,
                acknowledged_at_ms=ack.time_ms if ack else None,
            )  # fmt: skip

        flood = offline_alert = fault_alert = None
        if level != "green" and alert_id and fault is None:
            flood = alert("flood", alert_id, level, reason)
        if offline:
            off_id = str(fields.get("offline_alert_id") or "")
            if not off_id:  # legacy: a green gauge's "offline" flood alert is its offline alert
                off_id = (
                    alert_id
                    if legacy_offline and level == "green" and alert_id
                    else f"{OFFLINE}-{gauge}-{v.time_ms}"
                )
            minutes = self._cfg.offline_after_s / 60
            offline_alert = alert(OFFLINE, off_id, "offline", f"no reading for {minutes:g} min")
        if fault is not None:
            fault_alert = alert(
                FAULT, str(fields.get("fault_alert_id") or f"{FAULT}-{gauge}-{v.time_ms}"), "fault", fault
            )
        return Restored(
            level, since_ms, v.time_ms, float(depth) if isinstance(depth, int | float) else 0.0, reason,
            flood, offline_alert, fault, fault_alert,
        )  # fmt: skip

    def observe(self, messages: Sequence[tuple[Record, ...]], now_ms: int) -> Derived:
        changes, self._stale = self._stale, []
        batch = [
            readings
            for records in messages
            if (readings := [r for r in records if isinstance(r, GaugeReading)])
        ]
        if batch:
            changes += self.engine.observe_batch(batch, now_ms)
        return _derived(changes)

    def tick(self, now_ms: int) -> Derived:
        stale, self._stale = self._stale, []
        return _derived([*stale, *self.engine.check_offline(now_ms)])


def _derived(changes: list[FloodChange]) -> Derived:
    if not changes:
        return NOTHING
    return Derived(tuple(c.record for c in changes), tuple(n for c in changes for n in c.notices()))
