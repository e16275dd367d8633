"""Every gauge's flood state: grades (:mod:`telemetry.flood.rules`), offline gauges (a timer on
the receive time), stuck sensors, and the alert episodes they open and close."""

from __future__ import annotations

from dataclasses import dataclass, replace

from telemetry.alerts.book import Alert, AlertBook
from telemetry.derivation import Notice
from telemetry.flood.rules import FloodRules, GaugeHistory, GaugeState, Level
from telemetry.records import FloodAlert, GaugeReading


@dataclass(frozen=True, slots=True)
class FloodChange:
    """A gauge whose level changed; ``alert`` is its (new, escalated or cleared) alert."""

    gauge: str
    previous: Level
    level: Level
    state: GaugeState
    alert: Alert | None  # None when a gauge turns green without an open alert
    record: FloodAlert

    def message(self) -> dict[str, object]:
        """The retained MQTT payload of CONTRACT §3."""
        return {
            "gauge": self.gauge,
            "level": self.level,
            "depth_cm": self.state.depth_cm,
            "rise_cm_per_10min": round(self.state.rise_cm, 1),
            "since": self.record.time_ms,
            "reason": self.record.reason,
            "alert_id": self.record.alert_id,
        }

    def notice(self) -> Notice:
        """Retained on ``{root}/alert/flood/{gauge}``, posted to the flood webhooks of its level."""
        return Notice(f"alert/flood/{self.gauge}", "flood", self.level, self.message())


@dataclass(frozen=True, slots=True)
class GaugeView:
    level: Level
    since_ms: int  # when the level began (0: never changed since start)
    state: GaugeState
    fault: str | None  # a spike just ignored, or a stuck sensor


@dataclass
class _Gauge:
    history: GaugeHistory
    last_received_ms: int
    level: Level = "green"
    offline: bool = False
    same_since_ms: int | None = None
    last_change_ms: int = 0


class FloodEngine:
    def __init__(
        self,
        rules: FloodRules,
        book: AlertBook,
        *,
        thresholds: dict[str, tuple[float, float]] | None = None,
        offline_after_s: float = 900.0,
    ) -> None:
        self._rules = rules
        self._thresholds = thresholds or {}
        self._offline_after_ms = int(offline_after_s * 1000)
        self.book = book
        self._gauges: dict[str, _Gauge] = {}

    def _gauge(self, gauge: str, now_ms: int) -> _Gauge:
        g = self._gauges.get(gauge)
        if g is None:
            rules = self._rules
            if gauge in self._thresholds:
                yellow, red = self._thresholds[gauge]
                rules = replace(rules, yellow_cm=yellow, red_cm=red)
            g = self._gauges[gauge] = _Gauge(GaugeHistory(rules), now_ms)
        return g

    def expect(self, gauges: list[str], now_ms: int) -> None:
        """Registered gauges: offline if they say nothing for the offline time from now."""
        for gauge in gauges:
            self._gauge(gauge, now_ms)

    def restore(self, gauge: str, level: Level, alert: Alert | None, now_ms: int) -> None:
        """The level the store last recorded (before a restart): no alert repeats it."""
        g = self._gauge(gauge, now_ms)
        g.level = level
        g.offline = level == "offline"
        if alert is not None:
            self.book.restore(alert)

    def warm(self, reading: GaugeReading) -> None:
        """Feed a stored reading at start-up without raising anything."""
        g = self._gauge(reading.gauge, reading.time_ms)
        g.history.add(reading.time_ms, reading.depth_cm)

    def observe(self, readings: list[GaugeReading], received_ms: int) -> list[FloodChange]:
        touched: dict[str, _Gauge] = {}
        for r in readings:
            g = self._gauge(r.gauge, received_ms)
            before = g.history.state.depth_cm if g.history.state.last_ms >= 0 else None
            g.history.add(r.time_ms, r.depth_cm)
            g.last_received_ms = received_ms
            if before is not None and r.depth_cm != before:
                g.same_since_ms = None
            elif g.same_since_ms is None:
                g.same_since_ms = r.time_ms
            touched[r.gauge] = g
        changes = []
        for gauge, g in touched.items():
            g.offline = False
            change = self._settle(gauge, g, g.history.state.level, g.history.state.last_ms)
            if change is not None:
                changes.append(change)
        return changes

    def stuck(self, gauge: str) -> bool:
        """Identical readings for the stuck time while another gauge changed meanwhile."""
        g = self._gauges.get(gauge)
        if g is None or g.same_since_ms is None:
            return False
        last = g.history.state.last_ms
        others_moved = any(
            o.same_since_ms is None or o.same_since_ms > g.same_since_ms
            for k, o in self._gauges.items()
            if k != gauge
        )
        return last - g.same_since_ms >= self._rules.stuck_after_s * 1000 and others_moved

    def check_offline(self, now_ms: int) -> list[FloodChange]:
        changes = []
        for gauge, g in self._gauges.items():
            if not g.offline and now_ms - g.last_received_ms >= self._offline_after_ms:
                g.offline = True
                change = self._settle(gauge, g, "offline", now_ms)
                if change is not None:
                    changes.append(change)
        return changes

    def _settle(self, gauge: str, g: _Gauge, level: Level, time_ms: int) -> FloodChange | None:
        if level == g.level:
            return None
        previous, g.level = g.level, level
        g.last_change_ms = time_ms
        state = g.history.state
        silent = f"no reading for {self._offline_after_ms // 60000} min"
        reason = silent if level == "offline" else (state.fault or state.reason)
        if level == "green":
            alert = self.book.clear("flood", gauge, reason, time_ms)
        else:
            alert = self.book.raise_or_update("flood", gauge, level, reason, time_ms)
        alert_id = alert.id if alert is not None else ""
        record = FloodAlert(gauge, level, time_ms, state.depth_cm, round(state.rise_cm, 1), reason, alert_id)
        return FloodChange(gauge, previous, level, state, alert, record)

    def view(self) -> dict[str, GaugeView]:
        """Each gauge's level, since when, its last state and a sensor fault if it looks faulty."""
        out = {}
        for k, g in self._gauges.items():
            fault = g.history.state.fault or ("sensor fault: value stuck" if self.stuck(k) else None)
            out[k] = GaugeView(g.level, g.last_change_ms, g.history.state, fault)
        return out
