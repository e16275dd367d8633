"""An in-process MQTT broker (amqtt, MQTT 3.1.1) for the demo and ``[mqtt] url = "embedded"``.

Runs on the caller's event loop; bound to 127.0.0.1 only.
"""

from __future__ import annotations

import logging
import socket
from types import TracebackType
from typing import Any, Self

from amqtt.broker import Broker

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedBroker:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._broker: Any = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Self:
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self._broker = Broker(config)
        await self._broker.start()
        log.info("embedded MQTT broker on %s", self.url)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None
