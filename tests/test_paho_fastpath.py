"""The collector's paho fast path (sensors/mqtt_fastpath.py, issue 22) against a real Mosquitto:
what ``on_publish_fast`` gets is what paho's own ``on_message`` gets (topic, payload, QoS, packet
id), with MQTT 5 property blocks of every length skipped, large payloads, MQTT 3.1.1, and QoS-1
acknowledgements; without the hook paho's own path runs."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from sensors.mqtt_fastpath import FastClient
from tests.servers import Mosquitto

Received = tuple[str, bytes, int, bool]  # topic, payload, qos, had a packet id


def props(**kw: object) -> Properties:
    p = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    for k, v in kw.items():
        setattr(p, k, v)
    return p


MESSAGES: list[tuple[str, bytes, Properties | None]] = [
    ("city/a/gauge/G1/telemetry", b'{"depth_cm": 1}', None),
    ("city/a/gauge/G1/telemetry", b"x" * 200_000, None),  # a 3-byte remaining length
    ("city/a/ü/G2/telemetry", b"", props(ContentType="application/json")),
    (
        "city/a/gauge/G3/telemetry",
        b"\x00\xff",
        props(UserProperty=[("k", "v" * 300)]),
    ),  # 2-byte property length
    ("city/a/gauge/G4/telemetry", b"{}", props(MessageExpiryInterval=60, PayloadFormatIndicator=1)),
]


def receive(broker: Mosquitto, qos: int, protocol: int, fast: bool) -> list[Received]:
    got: list[Received] = []
    done = threading.Event()
    sub = FastClient(CallbackAPIVersion.VERSION2, client_id=f"sub-{qos}-{protocol}-{fast}", protocol=protocol)

    def keep(topic: str, payload: bytes, q: int, mid: int) -> None:
        assert type(payload) is bytes
        got.append((topic, payload, q, mid > 0))
        if len(got) == len(MESSAGES):
            done.set()

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        keep(msg.topic, bytes(msg.payload), msg.qos, msg.mid)

    sub.on_message = on_message
    if fast:
        sub.on_publish_fast = keep
    subscribed = threading.Event()
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.connect("127.0.0.1", broker.port)
    sub.subscribe("city/#", qos=qos)
    sub.loop_start()
    try:
        assert subscribed.wait(10)
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="pub", protocol=mqtt.MQTTv5)
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        for topic, payload, p in MESSAGES:
            pub.publish(topic, payload, qos=qos, properties=p).wait_for_publish(10)
        pub.disconnect()
        pub.loop_stop()
        assert done.wait(10), got
    finally:
        sub.disconnect()
        sub.loop_stop()
    return got


@pytest.mark.parametrize("protocol", [mqtt.MQTTv5, mqtt.MQTTv311])
@pytest.mark.parametrize("qos", [0, 1])
def test_the_fast_path_delivers_what_paho_delivers(mosquitto: Mosquitto, qos: int, protocol: int) -> None:
    ours = receive(mosquitto, qos, protocol, fast=True)
    paho = receive(mosquitto, qos, protocol, fast=False)
    assert ours == paho == [(t, p, qos, qos > 0) for t, p, _ in MESSAGES]


def test_qos1_is_acknowledged_by_the_caller_with_manual_ack(mosquitto: Mosquitto) -> None:
    """Unacknowledged, the broker redelivers to the persistent session; acknowledged, it does not."""

    def session(ack: bool) -> list[bytes]:
        got: list[bytes] = []
        seen = threading.Event()
        c = FastClient(CallbackAPIVersion.VERSION2, client_id="acker", protocol=mqtt.MQTTv5, manual_ack=True)

        def on(topic: str, payload: bytes, qos: int, mid: int) -> None:
            got.append(payload)
            if ack:
                c.ack(mid, qos)
            seen.set()

        c.on_publish_fast = on
        c.connect("127.0.0.1", mosquitto.port, clean_start=False, properties=expiry())
        c.subscribe("city/#", qos=1)
        c.loop_start()
        seen.wait(5)
        c.disconnect()
        c.loop_stop()
        return got

    def expiry() -> Properties:
        p = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        p.SessionExpiryInterval = 3600
        return p

    session(ack=True)  # the session exists from here
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="pub1", protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", mosquitto.port)
    pub.loop_start()
    pub.publish("city/a/gauge/G1/telemetry", b"once", qos=1).wait_for_publish(10)
    pub.disconnect()
    pub.loop_stop()
    assert session(ack=False) == [b"once"]
    assert session(ack=True) == [b"once"]  # redelivered: it was not acknowledged
