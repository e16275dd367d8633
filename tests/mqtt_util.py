"""Publishing helpers for tests: a real paho client against the test broker."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from telemetry.urls import parse_mqtt_url


def publish_all(
    url: str, messages: Iterable[tuple[str, bytes | str | dict[str, object] | list[object]]], qos: int = 1
) -> int:
    """Publish and wait until the broker has every QoS-1 message; returns how many."""
    address = parse_mqtt_url(url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.max_queued_messages_set(0)
    client.max_inflight_messages_set(100)
    client.connect(address.host, address.port)
    client.loop_start()
    infos = []
    try:
        for topic, payload in messages:
            body = json.dumps(payload) if isinstance(payload, dict | list) else payload
            infos.append(client.publish(topic, body, qos=qos))
        for info in infos:
            info.wait_for_publish(timeout=30)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()
    return len(infos)


def wait_until(check: Callable[[], bool], timeout_s: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


class Subscriber:
    """A real paho subscriber collecting messages (JSON-decoded) of a topic filter."""

    def __init__(self, url: str, topic: str) -> None:
        address = parse_mqtt_url(url)
        self.messages: list[tuple[str, dict[str, object], bool]] = []  # (topic, payload, retained)
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self._client.on_message = lambda c, u, m: self.messages.append(
            (m.topic, json.loads(m.payload), m.retain)
        )
        subscribed: list[bool] = []
        self._client.on_subscribe = lambda *a: subscribed.append(True)
        self._client.connect(address.host, address.port)
        self._client.subscribe(topic, qos=1)
        self._client.loop_start()
        wait_until(lambda: bool(subscribed), 10, "subscription")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def levels(self, gauge: str) -> list[str]:
        return [str(p["level"]) for t, p, _ in self.messages if t.endswith(f"/{gauge}")]
