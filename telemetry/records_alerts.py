"""Records of alerts: acknowledgements, raises and clears of the kinds without a record of their
own, and deliveries to webhooks (extension measurements ``alert_ack``, ``alert``,
``webhook_delivery``)."""

from __future__ import annotations

from dataclasses import dataclass

from telemetry.points import Point


@dataclass(frozen=True, slots=True)
class AlertAck:
    """Who acknowledged an alert, and when (extension measurement ``alert_ack``)."""

    alert: str
    kind: str
    by: str
    time_ms: int

    def to_point(self) -> Point:
        return Point.make(
            "alert_ack", {"alert": self.alert, "kind": self.kind}, {"by": self.by}, self.time_ms
        )


@dataclass(frozen=True, slots=True)
class AlertChange:
    """An alert raised, escalated or cleared (extension measurement ``alert``), for the kinds not
    stored with their derivation's own records; ``since_ms``: since when its condition holds."""

    alert: str
    kind: str
    subject: str
    level: str
    state: str  # active | cleared
    reason: str
    raised_at_ms: int
    time_ms: int
    cleared_at_ms: int | None = None
    since_ms: int | None = None

    def to_point(self) -> Point:
        return Point.make(
            "alert",
            {"alert": self.alert, "kind": self.kind},
            {
                "subject": self.subject,
                "level": self.level,
                "state": self.state,
                "reason": self.reason,
                "raised_at_ms": self.raised_at_ms,
                "cleared_at_ms": self.cleared_at_ms,
                "since_ms": self.since_ms,
            },
            self.time_ms,
        )


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One alert's delivery to one webhook as it stands (extension measurement
    ``webhook_delivery``, telemetry/alerts/deliveries.py): ``pending`` until the receiver answers
    2xx (``delivered``) or the tries are spent (``failed``). ``url`` is shown with its secrets
    masked; ``hook`` (a digest of the real URL) finds the configured hook again; ``body`` is the
    alert JSON exactly as posted."""

    delivery: str  # the id, sent as the Idempotency-Key header
    time_ms: int
    url: str
    hook: str
    kind: str
    level: str
    state: str  # pending | delivered | failed
    attempts: int
    body: str
    alert: str | None = None
    last_error: str | None = None
    status_code: int | None = None

    def to_point(self) -> Point:
        return Point.make(
            "webhook_delivery",
            {"delivery": self.delivery, "alert": self.alert or None},
            {
                "url": self.url,
                "hook": self.hook,
                "kind": self.kind,
                "level": self.level,
                "state": self.state,
                "attempts": self.attempts,
                "body": self.body,
                "last_error": self.last_error,
                "status_code": self.status_code,
            },
            self.time_ms,
        )
