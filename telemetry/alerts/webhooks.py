"""Alert webhooks: POST the alert's JSON to the URLs configured for its kind and level (SMS
gateways, duty officers' pagers), with retries and back-off. A failed delivery is logged and
counted, never raised into the alert path."""

from __future__ import annotations

import asyncio
import logging

import httpx

from telemetry.config import AlertsConfig
from telemetry.metrics import Metrics

log = logging.getLogger(__name__)


class Webhooks:
    def __init__(self, cfg: AlertsConfig, metrics: Metrics, timeout_s: float = 5.0) -> None:
        self._cfg = cfg
        self._metrics = metrics
        self._client = httpx.AsyncClient(timeout=timeout_s)

    async def close(self) -> None:
        await self._client.aclose()

    async def post(self, kind: str, level: str, payload: dict[str, object]) -> None:
        for hook in self._cfg.webhooks:
            if kind in hook.kinds and level in hook.levels:
                await self._deliver(hook.url, payload)

    async def _deliver(self, url: str, payload: dict[str, object]) -> None:
        delay = 1.0
        for attempt in range(self._cfg.webhook_retries + 1):
            try:
                r = await self._client.post(url, json=payload)
                if r.status_code < 300:
                    self._metrics.webhooks.labels("delivered").inc()
                    return
                problem = f"HTTP {r.status_code}"
            except httpx.HTTPError as exc:
                problem = repr(exc)
            if attempt < self._cfg.webhook_retries:
                await asyncio.sleep(delay)
                delay *= 2
        self._metrics.webhooks.labels("failed").inc()
        log.warning("webhook %s failed after %d tries: %s", url, self._cfg.webhook_retries + 1, problem)
