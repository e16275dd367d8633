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
