"""Every gauge's flood state: grades (:mod:`telemetry.flood.rules`), offline gauges (a timer on
the receive time), stuck sensors (:mod:`telemetry.flood.faults`), and the alerts they open and
close: one ``flood`` alert per episode (yellow or red), a ``gauge_offline`` alert while a gauge
is silent (it keeps its last grade), a ``sensor_fault`` alert while it is stuck (its flood alert
stops meanwhile)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from telemetry.alerts.book import Alert, AlertBook
from telemetry.derivation import Notice
from telemetry.flood.faults import BUCKETS, Excursions, Run, neighbours_within
from telemetry.flood.rules import FloodRules, GaugeHistory, GaugeState, Level
from telemetry.records import FloodAlert, GaugeReading

OFFLINE = "gauge_offline"  # alert kinds besides "flood"
FAULT = "sensor_fault"


@dataclass(frozen=True, slots=True)
class StuckRules:
    after_s: float = 6 * 3600.0  # identical readings for this long ...
    radius_m: float = 3000.0  # ... while gauges this close ...
    neighbours: int = 2  # ... at least this many ...
    change_cm: float = 5.0  # ... changed by this much


@dataclass(frozen=True, slots=True)
class Published:
    """What was last announced for a gauge (the retained MQTT state)."""

    level: Level = "green"
    since_ms: int | None = None  # event time of the reading where the level began (None: never heard)
    offline: bool = False
    fault: str | None = None  # a stuck sensor
    reason: str = ""  # why the level (as announced when it began)


@dataclass(frozen=True, slots=True)
class FloodChange:
    """A change of a gauge's announced state: its level, offline flag or sensor fault. ``alert``,
    ``offline_alert`` and ``fault_alert`` are the alerts it raised, escalated or cleared."""

    gauge: str
    before: Published
    now: Published
    state: GaugeState
    record: FloodAlert
    alert: Alert | None = None
    offline_alert: Alert | None = None
    fault_alert: Alert | None = None
    to_flood_hooks: bool = False  # the flood alert was raised, escalated or cleared by its level

    @property
    def level(self) -> Level:
        return self.now.level

    @property
    def previous(self) -> Level:
        return self.before.level

    def message(self) -> dict[str, object]:
        """The retained MQTT payload of CONTRACT §3; ``offline`` and ``sensor_fault`` appear only
        while they hold."""
        msg: dict[str, object] = {
            "gauge": self.gauge,
            "level": self.now.level,
            "depth_cm": self.state.depth_cm,
            "rise_cm_per_10min": round(self.state.rise_cm, 1),
            "since": self.now.since_ms,
            "reason": self.record.reason,
            "alert_id": self.record.alert_id,
        }
        if self.now.offline:
            msg["offline"] = True
        if self.now.fault is not None:
            msg["sensor_fault"] = self.now.fault
        return msg

    def notices(self) -> tuple[Notice, ...]:
        """Retained on ``{root}/alert/flood/{gauge}`` (posted to the flood webhooks of its level
        when the flood alert changed); the offline and fault alerts on ``{root}/alert/{kind}/{gauge}``
        in the same shape, posted to the webhooks of their kind."""
        out = [
            Notice(
                f"alert/flood/{self.gauge}",
                "flood" if self.to_flood_hooks else None,
                self.level,
                self.message(),
            )
        ]
        for kind, alert in ((OFFLINE, self.offline_alert), (FAULT, self.fault_alert)):
            if alert is not None:
                active = alert.state == "active"
                level = alert.level if active else "green"
                payload = {
                    "gauge": self.gauge,
                    "level": level,
                    "depth_cm": self.state.depth_cm,
                    "rise_cm_per_10min": round(self.state.rise_cm, 1),
                    "since": alert.raised_at_ms if active else alert.cleared_at_ms,
                    "reason": alert.reason,
                    "alert_id": alert.id,
                }
                out.append(Notice(f"alert/{kind}/{self.gauge}", kind, level, payload))
        return tuple(out)


@dataclass(frozen=True, slots=True)
class GaugeView:
    level: Level
    since_ms: int  # when the level began (0: unknown)
    state: GaugeState
    fault: str | None  # a stuck sensor, or a spike just ignored
    offline: bool = False


@dataclass(frozen=True, slots=True)
class Restored:
    """A gauge's state as the store last recorded it (CONTRACT §4 ``flood_alert``)."""

    level: Level
    since_ms: int
    record_ms: int  # the stored point's time
    depth_cm: float = 0.0
    reason: str = ""
    flood_alert: Alert | None = None
    offline_alert: Alert | None = None  # not None: the gauge was offline
    fault: str | None = None
    fault_alert: Alert | None = None


@dataclass
class _Gauge:
    history: GaugeHistory
    excursions: Excursions
    last_received_ms: int
    published: Published = Published()
    offline: bool = False
    run: Run = field(default_factory=Run)
    stuck: str | None = None
    last_record_ms: int = -1  # the newest stored point: each new one is later


class FloodEngine:
    def __init__(
        self,
        rules: FloodRules,
        book: AlertBook,
        *,
        thresholds: Mapping[str, tuple[float, float]] | None = None,
        offline_after_s: float = 900.0,
        positions: Mapping[str, tuple[float, float]] | None = None,
        stuck: StuckRules | None = None,
    ) -> None:
        """``positions``: the registry's gauges as WGS84 (lon, lat); neighbours are computed once."""
        self._rules = rules
        self._thresholds = dict(thresholds or {})
        self._offline_after_ms = int(offline_after_s * 1000)
        self._stuck = stuck or StuckRules()
        self._stuck_ms = int(self._stuck.after_s * 1000)
        self._neighbours = neighbours_within(positions or {}, self._stuck.radius_m)
        self.book = book
        self._gauges: dict[str, _Gauge] = {}
        self._limits: tuple[float, float] | None = None  # the emergency mode's (yellow, red)

    def set_limits(self, limits: tuple[float, float] | None, offline_after_s: float) -> None:
        """The flood emergency mode's seam (docs/emergency.md): ``limits`` (yellow, red) in force
        over every gauge's own thresholds, the lower of each winning (None: the normal ones
        again), and the offline time. A gauge is graded with them from its next reading on."""
        self._limits = limits
        self._offline_after_ms = int(offline_after_s * 1000)
        for gauge, g in self._gauges.items():
            g.history.rules = self._rules_of(gauge)

    def neighbours(self, gauge: str) -> tuple[str, ...]:
        return self._neighbours.get(gauge, ())

    def _gauge(self, gauge: str, now_ms: int) -> _Gauge:
        g = self._gauges.get(gauge)
        if g is None:
            width = max(1, self._stuck_ms // BUCKETS)
            g = self._gauges[gauge] = _Gauge(GaugeHistory(self._rules_of(gauge)), Excursions(width), now_ms)
        return g

    def _rules_of(self, gauge: str) -> FloodRules:
        yellow, red = self._thresholds.get(gauge, (self._rules.yellow_cm, self._rules.red_cm))
        if self._limits is not None:
            yellow, red = min(yellow, self._limits[0]), min(red, self._limits[1])
        if (yellow, red) == (self._rules.yellow_cm, self._rules.red_cm):
            return self._rules
        return replace(self._rules, yellow_cm=yellow, red_cm=red)

    def expect(self, gauges: list[str], now_ms: int) -> None:
        """Registered gauges: offline if they say nothing for the offline time from now."""
        for gauge in gauges:
            self._gauge(gauge, now_ms)

    def restore(self, gauge: str, r: Restored, now_ms: int) -> None:
        """The state the store last recorded (before a restart): no alert repeats it."""
        g = self._gauge(gauge, now_ms)
        seed = GaugeState(
            level=r.level, since_ms=r.since_ms, depth_cm=r.depth_cm, reason=r.reason, last_ms=r.since_ms
        )
        g.history = GaugeHistory(self._rules_of(gauge), seed)
        g.offline = r.offline_alert is not None
        g.stuck = r.fault
        g.published = Published(r.level, r.since_ms, g.offline, r.fault, r.reason)
        g.last_record_ms = r.record_ms
        if r.fault is not None:  # stuck at that value until a different one comes
            raised = r.fault_alert.raised_at_ms if r.fault_alert else r.record_ms
            g.run = Run(r.depth_cm, raised - self._stuck_ms, r.record_ms)
        for alert in (r.flood_alert, r.offline_alert, r.fault_alert):
            if alert is not None:
                self.book.restore(alert)

    def warm(self, reading: GaugeReading) -> None:
        """Feed a stored reading at start-up without raising anything."""
        self._fold(self._gauge(reading.gauge, reading.time_ms), reading)

    def settle_stale(self, now_ms: int) -> list[FloodChange]:
        """After the restore and the warm-up: a gauge whose stored readings grade another level
        than its newest stored point (a change whose point a crash lost, decision 36) settles
        now rather than at its next reading. Stuck gauges are left to their next reading."""
        changes = []
        for gauge, g in self._gauges.items():
            state, published = g.history.state, g.published
            if state.last_ms < 0 or g.stuck is not None or published.fault is not None:
                continue
            if state.level != published.level and (change := self._settle(gauge, g, now_ms)) is not None:
                changes.append(change)
        return changes

    def observe(
        self, readings: list[GaugeReading], received_ms: int, *, refold: bool = True
    ) -> list[FloodChange]:
        """One message's readings (a backlog settles as a whole: one change per gauge at most).
        ``refold=False``: late readings are inserted first and each gauge regraded once."""
        touched: dict[str, _Gauge] = {}
        for r in readings if len(readings) == 1 else sorted(readings, key=lambda r: r.time_ms):
            g = self._gauge(r.gauge, received_ms)
            g.last_received_ms = max(g.last_received_ms, received_ms)
            g.offline = False
            self._fold(g, r, refold=refold)
            touched[r.gauge] = g
        changes = []
        for gauge, g in touched.items():
            g.history.refold()  # nothing to do unless late readings wait for it
            self._check_stuck(gauge, g)
            change = self._settle(gauge, g, received_ms)
            if change is not None:
                changes.append(change)
        return changes

    def observe_batch(self, messages: Sequence[list[GaugeReading]], received_ms: int) -> list[FloodChange]:
        """A batch's messages, in order, except readings older than their gauge's latest before
        the batch (input split among ``serve --workers``, a device's backlog): those are folded
        in together first, with one regrade and one settle per gauge."""
        late: list[GaugeReading] = []
        on_time: list[list[GaugeReading]] = []
        for readings in messages:
            kept = []
            for r in readings:
                g = self._gauges.get(r.gauge)
                if g is not None and g.history.stamps and r.time_ms < g.history.stamps[-1]:
                    late.append(r)
                else:
                    kept.append(r)
            if kept:
                on_time.append(kept)
        changes = self.observe(late, received_ms, refold=False) if late else []
        for readings in on_time:
            changes += self.observe(readings, received_ms)
        return changes

    def check_offline(self, now_ms: int) -> list[FloodChange]:
        """The timer: gauges silent for the offline time keep their grade and turn offline."""
        changes = []
        for gauge, g in self._gauges.items():
            if not g.offline and now_ms - g.last_received_ms >= self._offline_after_ms:
                g.offline = True
                change = self._settle(gauge, g, now_ms)
                if change is not None:
                    changes.append(change)
        return changes

    def _fold(self, g: _Gauge, r: GaugeReading, *, refold: bool = True) -> None:
        g.history.add(r.time_ms, r.depth_cm, refold=refold)
        if g.history.spike is None:  # a spike is no reading for the rate, the run or a neighbour
            g.excursions.add(r.time_ms, r.depth_cm)
            if g.run.add(r.time_ms, r.depth_cm):
                g.stuck = None  # a different value: not stuck (any more)

    def _check_stuck(self, gauge: str, g: _Gauge) -> None:
        if g.stuck is not None or g.run.length_ms() < self._stuck_ms:
            return
        moved = []
        for other in self._neighbours.get(gauge, ()):
            o = self._gauges.get(other)
            if o is not None and o.excursions.change_since(g.run.since_ms) >= self._stuck.change_cm:
                moved.append(other)
        if len(moved) >= self._stuck.neighbours:
            hours = g.run.length_ms() / 3_600_000
            g.stuck = (
                f"sensor fault: {g.run.value:g} cm unchanged for {hours:.1f} h while {', '.join(moved)} "
                f"within {self._stuck.radius_m / 1000:g} km changed by {self._stuck.change_cm:g} cm or more"
            )

    def _settle(self, gauge: str, g: _Gauge, time_ms: int) -> FloodChange | None:
        state = g.history.state
        old = g.published
        if (state.level, g.offline, g.stuck) == (old.level, old.offline, old.fault):
            return None  # nothing announced changes: the usual reading (no Published built)
        since = state.since_ms if state.last_ms >= 0 else old.since_ms
        level_changed = state.level != old.level
        reason = state.reason if level_changed or not old.reason else old.reason
        new = Published(state.level, since, g.offline, g.stuck, reason)
        fault_changed = (new.fault is None) != (old.fault is None)
        when = new.since_ms if level_changed and new.since_ms is not None else time_ms
        alert, to_hooks = None, False
        if new.fault is not None:
            if fault_changed:  # a stuck gauge's flood alert stops
                alert = self.book.clear("flood", gauge, new.fault, time_ms)
        elif new.level == "green":
            if level_changed:
                alert, to_hooks = self.book.clear("flood", gauge, reason, when), True
        elif level_changed or fault_changed:
            alert, to_hooks = self.book.raise_or_update("flood", gauge, new.level, reason, when), True
        offline_alert = fault_alert = None
        if new.offline != old.offline:
            minutes = self._offline_after_ms / 60000
            offline_alert = (
                self.book.raise_or_update(
                    OFFLINE, gauge, "offline", f"no reading for {minutes:g} min", time_ms
                )
                if new.offline
                else self.book.clear(OFFLINE, gauge, "reading again", time_ms)
            )
        if fault_changed:
            fault_alert = (
                self.book.raise_or_update(FAULT, gauge, "fault", new.fault, time_ms)
                if new.fault is not None
                else self.book.clear(FAULT, gauge, "readings change again", time_ms)
            )
        flood = alert or self.book.active("flood", gauge)
        off, bad = self.book.active(OFFLINE, gauge), self.book.active(FAULT, gauge)
        g.last_record_ms = record_ms = max(when, g.last_record_ms + 1)
        record = FloodAlert(
            gauge, new.level, record_ms, state.depth_cm, round(state.rise_cm, 1), reason,
            flood.id if flood else "", since_ms=new.since_ms, offline=new.offline,
            offline_alert_id=off.id if off else None, sensor_fault=new.fault,
            fault_alert_id=bad.id if bad else None,
        )  # fmt: skip
        g.published = new
        return FloodChange(gauge, old, new, state, record, alert, offline_alert, fault_alert, to_hooks)

    def view(self) -> dict[str, GaugeView]:
        """Each gauge's announced level, since when, its last state, a sensor fault, offline."""
        out = {}
        for k, g in self._gauges.items():
            p = g.published
            out[k] = GaugeView(
                p.level, p.since_ms or 0, g.history.state, g.stuck or g.history.state.fault, p.offline
            )
        return out
