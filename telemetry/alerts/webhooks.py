"""Alert webhooks: POST the alert's JSON to the URLs configured for its kind and level (SMS
gateways, duty officers' pagers), with retries and back-off. Every delivery is stored
(:mod:`telemetry.alerts.deliveries`: pending before the first try, its outcome at the end),
audited, counted, and resumed at the next start when the service stopped half-way. A delivery
never raises into the alert path, whatever goes wrong (a refused connection, an invalid URL,
a store that cannot be written)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

import httpx

from telemetry.alerts import deliveries
from telemetry.alerts.deliveries import DELIVERED, FAILED, GONE, IDEMPOTENCY_HEADER, Delivery
from telemetry.config import AlertsConfig
from telemetry.derivation import Submit
from telemetry.instants import now_ms
from telemetry.metrics import Metrics
from telemetry.ports import Store

log = logging.getLogger(__name__)
BACKOFF_S = 1.0  # before the second try; doubled before each next one
Audit = Callable[[str, str, str, Mapping[str, object]], None]
"""``AuditLog.record(actor, action, subject, data)``."""


class Webhooks:
    """``submit`` (the pipeline's) is set by the runtime once the pipeline exists; without it
    deliveries are made but not stored. :meth:`close` cancels the resumed deliveries still
    running (they stay pending in the store) and closes the HTTP client."""

    def __init__(
        self,
        cfg: AlertsConfig,
        metrics: Metrics,
        timeout_s: float = 5.0,
        *,
        audit: Audit | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._cfg = cfg
        self._metrics = metrics
        self._audit = audit
        self._clock = clock
        self._client = httpx.AsyncClient(timeout=timeout_s)
        self._resumed: set[asyncio.Task[None]] = set()
        self.submit: Submit | None = None

    async def close(self) -> None:
        for task in self._resumed:
            task.cancel()
        await asyncio.gather(*self._resumed, return_exceptions=True)
        await self._client.aclose()

    async def post(self, kind: str, level: str, payload: dict[str, object]) -> None:
        for hook in self._cfg.webhooks:
            if kind in hook.kinds and level in hook.levels:
                await self._deliver(Delivery.new(hook.url, kind, level, payload))

    async def resume(self, store: Store) -> int:
        """Deliver again, each in a task of its own, what the store holds as pending (the
        process stopped or died mid-delivery); how many."""
        stored = await deliveries.pending(store, (h.url for h in self._cfg.webhooks))
        for d in stored:
            task = asyncio.create_task(self._deliver(d, resumed=True), name=f"webhook-{d.id}")
            self._resumed.add(task)
            task.add_done_callback(self._resumed.discard)
        if stored:
            log.info("%d webhook deliveries pending at the last stop: delivering them again", len(stored))
        return len(stored)

    async def _deliver(self, d: Delivery, *, resumed: bool = False) -> None:
        if not resumed:  # pending and durable before the first try: a crash cannot lose it
            await self._save(d, durable=True)
        try:
            if not d.url:
                d.state, d.last_error = FAILED, GONE
            else:
                await self._tries(d)
        except Exception as exc:  # the alert path must survive anything a delivery meets
            log.exception("webhook delivery %s to %s", d.id, d.shown_url)
            if d.state != DELIVERED:
                d.state, d.last_error = FAILED, deliveries.short(exc)
        await self._save(d)
        self._metrics.webhooks.labels(d.state).inc()
        if d.state == FAILED:
            log.warning("webhook %s failed after %d tries: %s", d.shown_url, d.attempts, d.last_error)
        if self._audit is not None:
            try:
                self._audit("service", "webhook_delivery", d.id, d.audit_data())
            except Exception:  # a full disk must not stop alerting
                log.exception("webhook delivery %s: audit record failed", d.id)

    async def _tries(self, d: Delivery) -> None:
        delay = BACKOFF_S
        for n in range(self._cfg.webhook_retries + 1):
            retry = await self._try(d)
            if d.state == DELIVERED:
                return
            if not retry or n == self._cfg.webhook_retries:
                break
            await self._save(d)  # still pending: the tries so far and the last error
            await asyncio.sleep(delay)
            delay *= 2
        d.state = FAILED

    async def _try(self, d: Delivery) -> bool:
        """One POST; True when another try may succeed."""
        d.attempts += 1
        headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: d.id}
        try:
            r = await self._client.post(d.url, content=d.body.encode(), headers=headers)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:  # trying again changes nothing
            d.last_error = deliveries.short(exc)
            return False
        except httpx.TransportError as exc:  # refused, reset, timed out: the receiver may come back
            d.last_error = deliveries.short(exc)
            return True
        except Exception as exc:  # noqa: BLE001 - anything else is stored as the reason, not raised
            d.last_error = deliveries.short(exc)
            return False
        d.status_code = r.status_code
        if r.status_code < 300:
            d.state, d.last_error = DELIVERED, None
            return False
        d.last_error = f"HTTP {r.status_code}"
        return r.status_code >= 500 or r.status_code in (408, 429)

    async def _save(self, d: Delivery, *, durable: bool = False) -> None:
        if self.submit is None:
            return
        try:
            await deliveries.save(self.submit, d.record(self._clock()), durable)
        except Exception as exc:  # noqa: BLE001 - e.g. the pipeline closed at a stop: still pending
            log.warning("webhook delivery %s (%s) not stored: %s", d.id, d.state, deliveries.short(exc))
