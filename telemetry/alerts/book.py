"""Alerts of every kind (flood, sanitation, toilet, ...): raised, escalated, cleared and
acknowledged. One active alert per (kind, subject) at a time; its id stays the same through
escalations until it clears. Used from the event loop only."""

from __future__ import annotations

from dataclasses import dataclass, replace

from telemetry.errors import TelemetryError


class UnknownAlertError(TelemetryError):
    pass


@dataclass(frozen=True, slots=True)
class Alert:
    id: str
    kind: str
    subject: str
    level: str
    state: str  # active | cleared
    reason: str
    raised_at_ms: int
    cleared_at_ms: int | None = None
    acknowledged_by: str | None = None
    acknowledged_at_ms: int | None = None


class AlertBook:
    def __init__(self, keep_cleared: int = 1000) -> None:
        self._alerts: dict[str, Alert] = {}
        self._active: dict[tuple[str, str], str] = {}
        self._keep_cleared = keep_cleared

    def raise_or_update(self, kind: str, subject: str, level: str, reason: str, time_ms: int) -> Alert:
        current = self._active.get((kind, subject))
        if current is not None:
            alert = replace(self._alerts[current], level=level, reason=reason)
        else:
            alert = Alert(f"{kind}-{subject}-{time_ms}", kind, subject, level, "active", reason, time_ms)
            self._active[(kind, subject)] = alert.id
        self._alerts[alert.id] = alert
        return alert

    def clear(self, kind: str, subject: str, reason: str, time_ms: int) -> Alert | None:
        current = self._active.pop((kind, subject), None)
        if current is None:
            return None
        alert = replace(self._alerts[current], state="cleared", cleared_at_ms=time_ms, reason=reason)
        self._alerts[alert.id] = alert
        self._trim()
        return alert

    def restore(self, alert: Alert) -> None:
        """Put back an alert known from the store (at start-up)."""
        self._alerts[alert.id] = alert
        if alert.state == "active":
            self._active[(alert.kind, alert.subject)] = alert.id

    def get(self, alert_id: str) -> Alert | None:
        return self._alerts.get(alert_id)

    def active(self, kind: str, subject: str) -> Alert | None:
        current = self._active.get((kind, subject))
        return self._alerts[current] if current is not None else None

    def ack(self, alert_id: str, user: str, time_ms: int) -> Alert:
        alert = self._alerts.get(alert_id)
        if alert is None:
            raise UnknownAlertError(alert_id)
        if alert.acknowledged_by is None:
            alert = replace(alert, acknowledged_by=user, acknowledged_at_ms=time_ms)
            self._alerts[alert_id] = alert
        return alert

    def list(self, state: str = "active", kind: str | None = None) -> list[Alert]:
        return sorted(
            (a for a in self._alerts.values() if state in ("all", a.state) and kind in (None, a.kind)),
            key=lambda a: a.raised_at_ms,
            reverse=True,
        )

    def _trim(self) -> None:
        cleared = [a for a in self._alerts.values() if a.state == "cleared"]
        for a in sorted(cleared, key=lambda a: a.cleared_at_ms or 0)[
            : max(0, len(cleared) - self._keep_cleared)
        ]:
            del self._alerts[a.id]
