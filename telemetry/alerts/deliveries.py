"""Webhook deliveries kept in the store (docs/storage.md, ``webhook_delivery``): each alert posted
to a hook is one delivery with an id, stored ``pending`` (durably) before its first try, again
after each failed try, and ``delivered`` or ``failed`` at the end. Whatever was still ``pending``
when the service stopped or died is delivered again at the next start: at least once, and the
receiver tells repeats apart by the ``Idempotency-Key`` header (the delivery id).

The stored URL has its secrets masked (the store is readable by every API user; a DingTalk or
WeCom robot's URL carries its token in the query); the configured hook is found again by
``hook``, a digest of the real URL."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from telemetry.derivation import Submit
from telemetry.durable import DURABLE_TIMEOUT_S, write_durably
from telemetry.ports import Envelope, Store
from telemetry.records import Decoded, WebhookDelivery

log = logging.getLogger(__name__)
MEASUREMENT = "webhook_delivery"
SOURCE = "webhooks"  # the pipeline source of the records
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
IDEMPOTENCY_HEADER = "Idempotency-Key"
GONE = "webhook no longer configured"


def hook_id(url: str) -> str:
    """The stored identity of a hook: the first 16 hex digits of the SHA-256 of its URL."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def shown(url: str) -> str:
    """The URL as stored and audited: user info and query values masked, fragment dropped."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port, like a bad IPv6 literal above
    except ValueError:
        return "<invalid URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = "&".join(f"{k}=***" for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


def short(exc: BaseException) -> str:
    """An exception as a stored ``last_error``: its type and message, at most 200 characters."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:200]


@dataclass
class Delivery:
    """One alert to one hook. ``url`` is the real URL ("" when a restored delivery's hook is no
    longer configured); ``time_ms`` is its last stored form's, so each change is a new point."""

    id: str
    url: str
    hook: str
    shown_url: str
    kind: str
    level: str
    body: str  # the alert JSON as posted
    alert: str | None = None
    state: str = PENDING
    attempts: int = 0
    last_error: str | None = None
    status_code: int | None = None
    time_ms: int = 0

    @classmethod
    def new(cls, url: str, kind: str, level: str, payload: Mapping[str, object]) -> Delivery:
        alert = payload.get("alert_id")
        body = json.dumps(dict(payload), ensure_ascii=False, separators=(",", ":"))
        return cls(uuid.uuid4().hex, url, hook_id(url), shown(url), kind, level, body,
                   str(alert) if alert else None)  # fmt: skip

    def record(self, now_ms: int) -> WebhookDelivery:
        self.time_ms = max(now_ms, self.time_ms + 1)
        return WebhookDelivery(
            self.id, self.time_ms, self.shown_url, self.hook, self.kind, self.level, self.state,
            self.attempts, self.body, self.alert, self.last_error, self.status_code,
        )  # fmt: skip

    def audit_data(self) -> dict[str, object]:
        """The ``data`` of its ``webhook_delivery`` audit record (docs/audit.md)."""
        return {
            "alert": self.alert, "url": self.shown_url, "kind": self.kind, "level": self.level,
            "state": self.state, "attempts": self.attempts, "status_code": self.status_code,
            "last_error": self.last_error,
        }  # fmt: skip


async def pending(store: Store, urls: Iterable[str]) -> list[Delivery]:
    """The deliveries whose last stored state is ``pending``, oldest first, each with the
    configured URL of its hook (among ``urls``), or "" when that hook is gone."""
    real = {hook_id(u): u for u in urls}
    out = []
    for v in await store.latest(MEASUREMENT):
        f, tags = dict(v.fields), dict(v.tags)
        if f.get("state") != PENDING:
            continue
        hook, attempts, error = str(f.get("hook", "")), f.get("attempts"), f.get("last_error")
        d = Delivery(v.device, real.get(hook, ""), hook, str(f.get("url", "")), str(f.get("kind", "")),
                     str(f.get("level", "")), str(f.get("body", "")), tags.get("alert"))  # fmt: skip
        d.attempts = attempts if isinstance(attempts, int) else 0
        d.last_error = str(error) if error is not None else None
        d.time_ms = v.time_ms
        out.append(d)
    return sorted(out, key=lambda d: d.time_ms)


async def save(submit: Submit, record: WebhookDelivery, durable: bool) -> None:
    """Write the record through the pipeline; with ``durable``, return once it is written or
    spooled (at most :data:`DURABLE_TIMEOUT_S`)."""
    if not durable:
        await submit(Envelope(SOURCE, Decoded(records=(record,))))
        return
    if not await write_durably(submit, SOURCE, (record,), DURABLE_TIMEOUT_S):
        log.warning("webhook delivery %s: not durable after %.0f s", record.delivery, DURABLE_TIMEOUT_S)
