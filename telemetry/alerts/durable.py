"""Alerts kept in the store (decision 85): each raise, escalation and clear of a kind that has no
record of its own (toilet, sanitation) is an ``alert`` point written through the pipeline with
the derivation's other records; at start-up the active ones come back into the
:class:`~telemetry.alerts.book.AlertBook` with their ids, raise times and acknowledgements
(``alert_ack``), so a restart neither raises them again nor forgets who acknowledged them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from telemetry.alerts.book import Alert, AlertBook
from telemetry.ports import Store
from telemetry.queries import LatestValue
from telemetry.records import AlertChange


def change_of(alert: Alert, time_ms: int, since_ms: int | None = None) -> AlertChange:
    """The stored form of the alert as it is now (``time_ms``: when it changed)."""
    return AlertChange(
        alert.id, alert.kind, alert.subject, alert.level, alert.state, alert.reason,
        alert.raised_at_ms, time_ms, alert.cleared_at_ms, since_ms,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class StoredAlert:
    alert: Alert
    since_ms: int | None  # since when its condition holds, when stored


def _int(fields: Mapping[str, object], name: str) -> int | None:
    v = fields.get(name)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


async def acks(store: Store) -> dict[str, LatestValue]:
    return {v.device: v for v in await store.latest("alert_ack")}


def with_ack(alert: Alert, stored: dict[str, LatestValue]) -> Alert:
    ack = stored.get(alert.id)
    if ack is None or alert.acknowledged_by is not None:
        return alert
    return replace(alert, acknowledged_by=str(dict(ack.fields).get("by")), acknowledged_at_ms=ack.time_ms)


async def active_alerts(store: Store, kinds: Iterable[str]) -> list[StoredAlert]:
    """The alerts of ``kinds`` whose last stored change left them active, acknowledgements
    attached; the newest per (kind, subject) when the store holds more than one."""
    wanted = set(kinds)
    known = await acks(store)
    newest: dict[tuple[str, str], tuple[int, StoredAlert]] = {}
    for v in await store.latest("alert"):
        tags, fields = dict(v.tags), dict(v.fields)
        kind, subject = tags.get("kind", ""), str(fields.get("subject") or "")
        if kind not in wanted or fields.get("state") != "active" or not subject:
            continue
        raised = _int(fields, "raised_at_ms")
        level, reason = str(fields.get("level") or ""), str(fields.get("reason") or "")
        raised_at = raised if raised is not None else v.time_ms
        alert = Alert(v.device, kind, subject, level, "active", reason, raised_at)
        key = (kind, subject)
        if key not in newest or newest[key][0] < v.time_ms:
            newest[key] = (v.time_ms, StoredAlert(with_ack(alert, known), _int(fields, "since_ms")))
    return [s for _, s in sorted(newest.values(), key=lambda x: x[0])]


async def restore_acks(store: Store, book: AlertBook) -> None:
    """Acknowledgements of the alerts the derivations restored without them (one step for all)."""
    known = await acks(store)
    for alert in book.list("active"):
        ack = known.get(alert.id)
        if ack is not None and alert.acknowledged_by is None:
            book.ack(alert.id, str(dict(ack.fields).get("by")), ack.time_ms)
