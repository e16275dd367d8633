"""A paho client whose QoS 0/1 PUBLISH path does only what the collector needs (issue 22).

paho 2.x builds, for every received PUBLISH, an ``MQTTMessage`` (with an ``MQTTMessageInfo`` and
its ``threading.Condition``), an MQTT 5 ``Properties`` object it fills by parsing the property
block, struct format strings, a debug-log call, and walks the topic matcher for per-topic
callbacks; the collector reads none of it but the topic, payload, QoS and packet id. Profiled
(py-spy, bench/ingest.py --profile) this was about a fifth of paho's network thread.

:class:`FastClient` overrides ``Client._handle_publish`` (paho 2.2, client.py) for QoS 0 and 1
when ``on_publish_fast`` is set: it reads the topic, the packet id, skips the property block by
its length (MQTT 5 §3.3.2.3, a Variable Byte Integer) and calls
``on_publish_fast(topic, payload, qos, mid)`` under paho's callback lock, exactly where paho would
call ``on_message``; a QoS-1 message is acknowledged as paho would (by the caller with
``manual_ack``). Anything else goes to paho's own path: QoS 2, an empty topic (a Topic Alias: a
server never sends one to a client whose CONNECT announced no Topic Alias Maximum, MQTT 5
§3.1.2.11.5 [MQTT-3.1.2-27], and we announce none), a topic that is not UTF-8, a malformed
packet (paho raises its own error), and every packet while ``on_publish_fast`` is None.
Per-topic callbacks (``message_callback_add``) are bypassed while it is set: the collector
uses none.
"""

from __future__ import annotations

from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

OnPublish = Callable[[str, bytes, int, int], None]
"""(topic, payload, qos, packet id) of one received PUBLISH."""


class FastClient(mqtt.Client):
    on_publish_fast: OnPublish | None = None

    def _handle_publish(self) -> MQTTErrorCode:
        fast = self.on_publish_fast
        header: int = self._in_packet["command"]
        qos = (header & 0x06) >> 1
        if fast is None or qos == 2:
            return super()._handle_publish()
        packet: bytearray = self._in_packet["packet"]
        try:
            end = 2 + ((packet[0] << 8) | packet[1])
            topic = packet[2:end].decode("utf-8")
            mid = 0
            if qos:
                mid = (packet[end] << 8) | packet[end + 1]
                end += 2
            if self._protocol == mqtt.MQTTv5:
                length, shift = 0, 0
                while True:  # the property length: a Variable Byte Integer of at most 4 bytes
                    byte = packet[end]
                    end += 1
                    length |= (byte & 0x7F) << shift
                    if not byte & 0x80:
                        break
                    shift += 7
                    if shift > 21:
                        raise IndexError("property length longer than 4 bytes")
                end += length
        except (IndexError, UnicodeDecodeError):
            return super()._handle_publish()  # paho reports it its own way
        if not topic or end > len(packet):
            return super()._handle_publish()
        payload = bytes(packet[end:])
        with self._in_callback_mutex:
            try:
                fast(topic, payload, qos, mid)
            except Exception as err:
                self._easy_log(mqtt.MQTT_LOG_ERR, "Caught exception in on_publish_fast: %s", err)
                if not self.suppress_exceptions:
                    raise
        if qos == 1 and not self._manual_ack:
            return self._send_puback(mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS
