"""The MQTT collector: paho-mqtt 2.x in its own network thread, manual acknowledgement.

- Persistent session: a fixed client id, clean start off, a session expiry of at least a day,
  so that the broker keeps unacknowledged QoS-1 messages across our restarts.
- Subscriptions are (re)made in every ``on_connect``: no silent consumer after a broker restart.
- paho reconnects by itself with exponential back-off capped at ``reconnect_max_s`` (≤ 30 s).
- A QoS-1 message is acknowledged only when the pipeline has written its points or its dead
  letter. Unacknowledged messages are bounded by ``receive_maximum``: we announce it to MQTT 5
  brokers *and* enforce it here, because Mosquitto 2.0.11 was measured sending hundreds beyond it
  once acknowledgements flow (docs/decisions.md).
- paho sends PINGREQ only from its network loop, after the callbacks of the packets it read
  returned (``_loop`` -> ``loop_read`` -> ``on_message``, then ``loop_misc`` ->
  ``_check_keepalive``), so this thread never waits longer than ``keepalive_s / 4`` at a time:
  a message the pipeline has no room for waits in a bounded overflow that a feeder thread hands
  over; at the in-flight bound the thread waits for an acknowledgement at most that long, then
  takes the message anyway (only a broker that exceeds its in-flight limit gets that far, one
  message per wait). A store outage longer than the keepalive no longer drops the connection.
- An acknowledgement that arrives after the connection it belongs to was lost is dropped: the
  broker redelivers the message on the new connection and the write is idempotent. (Acking it
  on the new connection could acknowledge a different message that reused the packet id.)
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from sensors.decoders import DecodeContext, decode_message, subscriptions
from sensors.mqtt_fastpath import FastClient
from telemetry.assets import Registry
from telemetry.config import MqttConfig
from telemetry.errors import CollectorError
from telemetry.health import Health
from telemetry.instants import now_ms
from telemetry.metrics import Metrics
from telemetry.ports import Envelope, Sink
from telemetry.records import DeadLetter, Decoded
from telemetry.urls import parse_mqtt_url

log = logging.getLogger(__name__)

_SUBMIT_WAIT_S = 0.5


def build_client(cfg: MqttConfig, client_id: str, *, clean: bool = False) -> FastClient:
    """A paho client configured from ``[mqtt]`` (TLS, credentials, protocol, back-off); its
    ``on_publish_fast`` hook skips what paho builds per message that nobody reads
    (:mod:`sensors.mqtt_fastpath`)."""
    v5 = cfg.protocol == "5"
    client = FastClient(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        clean_session=None if v5 else clean,
        manual_ack=True,
    )
    if cfg.username:
        client.username_pw_set(cfg.username, cfg.password or None)
    if cfg.url.startswith("mqtts://"):
        client.tls_set(
            ca_certs=cfg.ca_file or None,
            certfile=cfg.cert_file or None,
            keyfile=cfg.key_file or None,
        )
    client.reconnect_delay_set(min_delay=1, max_delay=int(cfg.reconnect_max_s))
    return client


@dataclass(frozen=True, slots=True)
class _Held:
    """A message the pipeline had no room for, waiting in the overflow for the feeder."""

    envelope: Envelope
    qos: int
    generation: int


class MqttCollector:
    name = "mqtt"

    def __init__(
        self,
        cfg: MqttConfig,
        registry: Registry,
        district: str,
        sink: Sink,
        metrics: Metrics,
        health: Health,
        *,
        subscribe: bool = True,
    ) -> None:
        """``subscribe=False``: a connection only to publish (alerts, commands), as the parent of
        ``serve --workers N``, whose workers receive the input."""
        self._cfg = cfg
        self._sink = sink
        self._metrics = metrics
        self._health = health
        self._ctx = DecodeContext(cfg.root, registry, district, int(cfg.max_future_s * 1000))
        self._filters = subscriptions(cfg.root) if subscribe else []
        if cfg.shared_group:
            self._filters = [f"$share/{cfg.shared_group}/{f}" for f in self._filters]
        # Not subscribing: what a persistent session of this client id kept from an earlier run
        # (a single-process `serve` under the same id) is removed, or the broker keeps sending it.
        self._stale_filters = [] if subscribe else subscriptions(cfg.root)
        if not subscribe and cfg.shared_group:
            self._stale_filters += [f"$share/{cfg.shared_group}/{f}" for f in self._stale_filters]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # an ack, room in the overflow, a stop
        self._generation = 0
        self._unacked = 0
        # Received, not yet taken by the pipeline; in order. QoS-1 entries are bounded by the
        # in-flight bound, QoS-0 ones by ``receive_maximum`` (beyond it they are dropped, counted).
        self._overflow: deque[_Held] = deque()
        self._max_wait_s = cfg.keepalive_s / 4  # the longest this thread waits at a time
        self._feeder: threading.Thread | None = None
        self._client: mqtt.Client | None = None
        self._refused = ""  # the broker's reason while it refuses our CONNECT (bad password, ACL)

    # --- lifecycle --------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        try:
            address = parse_mqtt_url(self._cfg.url)
        except ValueError as exc:
            raise CollectorError(str(exc)) from exc
        client = build_client(self._cfg, self._cfg.client_id)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message  # paho's own path: QoS 2, malformed packets
        client.on_publish_fast = lambda topic, payload, qos, mid: self._received(
            client, topic, payload, qos, mid
        )
        props = None
        if self._cfg.protocol == "5":
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = self._cfg.session_expiry_s
            props.ReceiveMaximum = self._cfg.receive_maximum
        self._health.set("mqtt", "starting", f"connecting to {address.host}:{address.port}")
        client.connect_async(
            address.host,
            address.port,
            keepalive=self._cfg.keepalive_s,
            clean_start=False if self._cfg.protocol == "5" else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            properties=props,
        )
        self._client = client
        self._feeder = threading.Thread(target=self._feed, name="mqtt-feeder", daemon=True)
        self._feeder.start()  # stopped by _stop, joined in __aexit__
        client.loop_start()  # paho's network thread; stopped and joined in __aexit__
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        with self._changed:
            self._stop.set()
            self._changed.notify_all()
        client = self._client
        if client is None:
            return
        client.disconnect()
        client.loop_stop()  # joins the network thread
        if self._feeder is not None:
            self._feeder.join()
            self._feeder = None
        # QoS-1 messages left in the overflow were never acknowledged: the broker keeps them.
        self._drop(h for h in self._overflow if h.qos == 0)
        self._overflow.clear()
        self._client = None
        self._health.set("mqtt", "down", "stopped")
        self._metrics.mqtt_connected.set(0)

    def publish(self, topic: str, payload: bytes, *, retain: bool = True) -> None:
        """Publish at QoS 1, retained by default (alerts; commands to devices are not). paho
        queues it while the broker is away."""
        if self._client is not None:
            self._client.publish(topic, payload, qos=1, retain=retain)

    # --- paho callbacks (network thread) ----------------------------------------------------
    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            self._refused = str(reason)
            self._health.set("mqtt", "down", f"connection refused: {reason}")
            log.warning("MQTT connection refused: %s", reason)
            return
        self._refused = ""
        with self._changed:
            self._generation += 1
            self._unacked = 0
            self._metrics.unacked.set(0)
            # The broker sends the old connection's unacknowledged messages again: drop our
            # copies that the pipeline has not taken yet (acknowledging them is no longer possible).
            self._overflow = deque(h for h in self._overflow if h.qos == 0)
            self._changed.notify_all()
        if self._filters:
            client.subscribe([(f, self._cfg.qos) for f in self._filters])
        elif self._stale_filters:
            client.unsubscribe(self._stale_filters)
        self._metrics.mqtt_connected.set(1)
        self._metrics.mqtt_connects.inc()
        present = getattr(flags, "session_present", False)
        if self._health.set("mqtt", "up", f"session present: {present}"):
            log.info("MQTT connected to %s (session present: %s)", self._cfg.url, present)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        self._metrics.mqtt_connected.set(0)
        if self._stop.is_set():
            return
        # A refused CONNECT is followed by a disconnect ("Protocol error"): keep the real reason.
        why = f"connection refused: {self._refused}" if self._refused else f"disconnected: {reason}"
        if self._health.set("mqtt", "down", f"{why}; reconnecting"):
            log.warning("MQTT disconnected (%s); paho reconnects with back-off", reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        """paho's own path (QoS 2, what the fast path leaves to paho): the same handling."""
        received_ms = now_ms()
        try:
            decoded = decode_message(msg.topic, msg.payload, received_ms, self._ctx)
        except Exception as exc:  # msg.topic raises on a topic that is not UTF-8
            log.exception("decoder failed on a message from %r", msg._topic)
            decoded = self._failed(
                bytes(msg._topic).decode("utf-8", "replace"), bytes(msg.payload), received_ms, exc
            )
        self._hand(client, decoded, msg.qos, msg.mid)

    def _received(self, client: mqtt.Client, topic: str, payload: bytes, qos: int, mid: int) -> None:
        """One PUBLISH from :class:`FastClient` (network thread)."""
        received_ms = now_ms()
        try:
            decoded = decode_message(topic, payload, received_ms, self._ctx)
        except Exception as exc:  # a decoder bug must neither lose the message nor kill this thread
            log.exception("decoder failed on a message from %r", topic)
            decoded = self._failed(topic, payload, received_ms, exc)
        self._hand(client, decoded, qos, mid)

    @staticmethod
    def _failed(topic: str, payload: bytes, received_ms: int, exc: Exception) -> Decoded:
        letter = DeadLetter(received_ms, "mqtt", topic, payload, "internal_error", repr(exc))
        return Decoded(dead_letters=(letter,))

    def _hand(self, client: mqtt.Client, decoded: Decoded, qos: int, mid: int) -> None:
        """To the pipeline, or the overflow; counted against the in-flight bound."""
        with self._changed:
            self._wait_for_room(qos)
            ack = None
            if qos > 0:
                self._unacked += 1
                self._metrics.unacked.set(self._unacked)
                ack = self._acker(client, mid, qos, self._generation)
            held = _Held(Envelope("mqtt", decoded, ack), qos, self._generation)
            if not self._overflow and self._sink.submit_threadsafe(held.envelope, 0):
                return  # the pipeline had room: the usual case
            if (
                self._stop.is_set()
                or self._sink.closed
                or (qos == 0 and len(self._overflow) >= self._cfg.receive_maximum)
            ):
                # Shutting down, or QoS 0 with no room: a QoS-1 message is never acknowledged
                # (the broker redelivers it); a QoS-0 one is lost and counted.
                self._drop([held] if qos == 0 else [])
                return
            self._overflow.append(held)
            self._changed.notify_all()

    def _wait_for_room(self, qos: int) -> None:
        """At the bound, wait for an acknowledgement (or the feeder), but never longer than
        ``keepalive_s / 4``: paho sends PINGREQ only when this callback has returned."""
        deadline = time.monotonic() + self._max_wait_s
        while not self._stop.is_set() and (
            self._unacked >= self._cfg.receive_maximum
            if qos > 0
            else len(self._overflow) >= self._cfg.receive_maximum
        ):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._changed.wait(remaining)

    def _drop(self, held: Iterable[_Held]) -> None:
        n = sum(max(1, len(h.envelope.decoded.records) + len(h.envelope.decoded.dead_letters)) for h in held)
        if n:
            self._metrics.dropped.inc(n)
            log.warning("%d QoS-0 MQTT inputs dropped: no room in the pipeline", n)

    # --- feeder thread: overflow -> pipeline, waiting for room there ---------------------------
    def _feed(self) -> None:
        while True:
            with self._changed:
                while not self._overflow and not self._stop.is_set():
                    self._changed.wait()
                if self._stop.is_set():
                    return
                held = self._overflow[0]
            while not self._sink.submit_threadsafe(held.envelope, _SUBMIT_WAIT_S):
                if self._stop.is_set() or self._sink.closed:
                    return  # left in the overflow: counted (QoS 0) or redelivered (QoS 1)
            with self._changed:
                if self._overflow and self._overflow[0] is held:
                    self._overflow.popleft()
                self._changed.notify_all()

    def _acker(self, client: mqtt.Client, mid: int, qos: int, generation: int) -> Any:
        def ack() -> None:
            with self._changed:
                if generation != self._generation:
                    return  # the broker redelivers on the new connection
                self._unacked -= 1
                self._metrics.unacked.set(self._unacked)
                self._changed.notify_all()
            client.ack(mid, qos)

        return ack
