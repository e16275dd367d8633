"""Publishing helpers for tests: a real paho client against the test broker."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import Counter
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


class WireTap:
    """A TCP relay between clients and the broker that reads the MQTT packets crossing it, so a
    test observes what the broker delivers and what the client acknowledges on the wire instead
    of trusting the client's own counters: ``deliveries`` counts each QoS-1 PUBLISH the broker
    sends by payload (a redelivery counts twice), ``max_in_flight`` is the most QoS-1 messages
    the broker had sent on one connection without a PUBACK back."""

    def __init__(self, broker_port: int) -> None:
        self._broker_port = broker_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self.deliveries: Counter[bytes] = Counter()
        self.connections = 0
        self.protocols: set[int] = set()  # the protocol levels of the CONNECTs (4: 3.1.1, 5: 5)
        self.in_flight = 0
        self.max_in_flight = 0
        self._threads: list[threading.Thread] = []
        self._socks: list[socket.socket] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._listener.close()
        for s in list(self._socks):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        for t in [self._accepting, *self._threads]:
            t.join(10)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            try:
                broker = socket.create_connection(("127.0.0.1", self._broker_port))
            except OSError:  # the broker is away: the client sees a refused connection
                client.close()
                continue
            self._socks += [client, broker]
            pending: set[int] = set()  # this connection's unacknowledged packet ids
            v5 = [False]  # the protocol, from the CONNECT (client side) for the PUBLISH (broker side)
            with self._lock:
                self.connections += 1
            for src, dst, down in ((broker, client, True), (client, broker, False)):
                t = threading.Thread(target=self._pump, args=(src, dst, down, pending, v5), daemon=True)
                self._threads.append(t)
                t.start()

    def _pump(
        self, src: socket.socket, dst: socket.socket, down: bool, pending: set[int], v5: list[bool]
    ) -> None:
        buf = b""
        try:
            while data := src.recv(65536):
                # Seen before it is passed on: the client's CONNECT says whether the broker's
                # PUBLISHes carry MQTT 5 properties, and a resumed session's first PUBLISH can
                # follow the CONNACK at once (parsed after forwarding, it raced the CONNECT).
                buf += data
                while (packet := _split(buf)) is not None:
                    first, body, buf = packet
                    self._saw(first, body, down, pending, v5)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self.in_flight -= len(pending)
                pending.clear()

    def _saw(self, first: int, body: bytes, down: bool, pending: set[int], v5: list[bool]) -> None:
        kind = first >> 4
        with self._lock:
            if kind == 1:  # CONNECT: protocol level after the protocol name
                name_len = int.from_bytes(body[:2], "big")
                v5[0] = body[2 + name_len] == 5
                self.protocols.add(body[2 + name_len])
            elif kind == 3 and down and (first >> 1) & 3:  # a QoS>0 PUBLISH to the client
                topic_len = int.from_bytes(body[:2], "big")
                pid = int.from_bytes(body[2 + topic_len : 4 + topic_len], "big")
                rest = body[4 + topic_len :]
                if v5[0]:
                    n, used = _varint(rest)
                    rest = rest[used + n :]
                self.deliveries[rest] += 1
                if pid not in pending:
                    pending.add(pid)
                    self.in_flight += 1
                    self.max_in_flight = max(self.max_in_flight, self.in_flight)
            elif kind == 4 and not down:  # PUBACK from the client
                pid = int.from_bytes(body[:2], "big")
                if pid in pending:
                    pending.discard(pid)
                    self.in_flight -= 1


def _varint(data: bytes) -> tuple[int, int]:
    """An MQTT variable byte integer: (value, bytes used); (-1, 0) when incomplete."""
    value, shift = 0, 0
    for i, byte in enumerate(data[:4]):
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i + 1
        shift += 7
    return -1, 0


def _split(buf: bytes) -> tuple[int, bytes, bytes] | None:
    """The first complete MQTT packet in ``buf``: (first byte, body, the rest), or None."""
    if len(buf) < 2:
        return None
    length, used = _varint(buf[1:])
    if length < 0 or len(buf) < 1 + used + length:
        return None
    start = 1 + used
    return buf[0], buf[start : start + length], buf[start + length :]
