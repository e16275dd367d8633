"""How a derivation's notices leave the service: a retained QoS-1 MQTT message on
``{root}/{topic}`` (CONTRACT §3) and the webhooks configured for the notice's kind and level."""

from __future__ import annotations

import json
from collections.abc import Callable

from telemetry.alerts.webhooks import Webhooks
from telemetry.derivation import Notice

Publish = Callable[[str, bytes], None]
"""(topic, payload): published retained with QoS 1 (the MQTT collector's ``publish``)."""


class MqttAnnouncer:
    """The :class:`telemetry.derivation.Announcer` of the service. ``publish_to`` is set once the
    MQTT collector exists; until then notices go to the webhooks only."""

    def __init__(self, root: str, webhooks: Webhooks | None = None) -> None:
        self._root = root
        self._webhooks = webhooks
        self.publish_to: Publish | None = None

    def publish(self, notice: Notice) -> None:
        if self.publish_to is not None:
            body = json.dumps(dict(notice.payload), ensure_ascii=False).encode()
            self.publish_to(f"{self._root}/{notice.topic}", body)

    async def post(self, notice: Notice) -> None:
        if self._webhooks is not None and notice.kind is not None:
            await self._webhooks.post(notice.kind, notice.level, dict(notice.payload))
