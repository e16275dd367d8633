"""MAVLink packets straight to records, for .tlog replay: the stored message types unpacked with
pymavlink's own per-message metadata, without building pymavlink message objects.

Behaves as ``MAVLink(None).decode`` followed by :func:`drones.convert.convert` (tests/
test_tlog_wire.py compares the two): a packet of a message type the dialect knows has its CRC
checked (a bad one is "bad", as decode's MAVError); a message id the dialect does not know is
skipped without a check (decode returns ``MAVLink_unknown``); a signature is neither checked nor
kept (no secret key); the converted types go through the same converters (STATE_CONVERTERS,
FIELD_CONVERTERS). A drone_state message's point is built here, once, from its converter's fields
(``DronePoint``, whose ``to_point`` returns it), not through a ``DroneState`` and its ``to_point``.

Sources relied on:
- MAVLink packet serialization (mavlink.io/en/guide/serialization.html): v1 header 6 bytes
  (magic 0xFE, len, seq, sysid, compid, msgid), v2 header 10 bytes (magic 0xFD, len,
  incompat_flags, compat_flags, seq, sysid, compid, msgid 24-bit little-endian), payload,
  CRC-16/MCRF4XX (little-endian) over everything after the magic byte plus the message's
  CRC_EXTRA; incompat flag 0x01 = 13 signature bytes after the CRC; MAVLink 2 payloads drop
  their trailing zero bytes (truncation), the receiver fills them back in.
- pymavlink 2.4 generated ``MAVLink.decode`` (dialects/v20/all.py): ``mavlink_map`` (id →
  class), ``crc_extra``, ``unpacker`` (struct.Struct of the wire order), the payload padded
  with zeros to ``unpacker.size`` and cut to it, fields put in ``fieldnames`` order through
  ``orders`` and ``lengths`` (arrays), char arrays ``rstrip(b"\\0")``; MAV_IGNORE_CRC.
- CRC-16/MCRF4XX is CRC-CCITT (poly 0x1021, init 0xFFFF, no final xor) reflected: computed
  with ``binascii.crc_hqx`` over bit-reversed bytes, the 16-bit result reversed (:func:`x25`).
"""

from __future__ import annotations

from binascii import crc_hqx
from collections.abc import Callable
from operator import itemgetter
from struct import Struct
from typing import Any

from drones.convert import (
    FIELD_CONVERTERS,
    MAX_MS,
    MIN_MS,
    STATE_CONVERTERS,
    StreamFilter,
    bad_time,
    packet_letter,
)
from drones.mavlink import mavutil
from telemetry.errors import DecodeError
from telemetry.instants import now_ms
from telemetry.records import DeadLetter, Record
from telemetry.records_drones import drone_point

REVERSED = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))  # each byte's bits reversed
_ZEROS = bytes(256)
_TIME = Struct(">Q").unpack_from  # a .tlog's 8-byte big-endian microseconds before each packet
_V2, _V1 = 0xFD, 0xFE

Getter = Callable[[tuple[Any, ...]], tuple[Any, ...]]
# a stored type: (CRC_EXTRA bit-reversed, payload size, unpack, unpack_from, name, getter,
# converter, whether the converter gives a drone_state point's fields rather than a record)
Spec = tuple[bytes, int, Callable[..., Any], Callable[..., Any], str, Getter, Callable[..., Any], bool]


def x25(data: bytes) -> int:
    """MAVLink's checksum (CRC-16/MCRF4XX) of ``data``, at C speed."""
    crc = crc_hqx(data.translate(REVERSED), 0xFFFF)
    return REVERSED[crc & 0xFF] << 8 | REVERSED[crc >> 8]


def _getter(cls: Any, names: tuple[str, ...], name: str) -> Getter:
    """The converter's arguments out of the unpacked (wire-ordered, arrays flat) payload, as
    pymavlink's decode would set the fields: arrays as sequences, char arrays cut at the
    first NUL and decoded as pymavlink's message classes do."""
    where: dict[str, Any] = {}  # field → its index in the unpacked payload (a slice: an array)
    for i, field in enumerate(cls.fieldnames):
        order = cls.orders[i]
        size, tip = cls.lengths[order], sum(cls.lengths[:order])
        where[field] = tip if size == 1 else slice(tip, tip + size)
    chars = {f for f, kind in zip(cls.fieldnames, cls.fieldtypes, strict=True) if kind == "char"}
    if chars & set(names) or any(f not in where for f in names):
        # text as its message class makes it (STATUSTEXT: up to the first NUL, ASCII); a field
        # the dialect lacks (an extension) is None, as convert's getattr makes it
        spots = [(where.get(f), f in chars) for f in names]
        return lambda p: tuple(_field(p, k, text) for k, text in spots)
    if len(names) == 1 and isinstance(where[names[0]], int):
        k = where[names[0]]
        return itemgetter(slice(k, k + 1))  # a 1-tuple (itemgetter of one index is the value)
    return itemgetter(*(where[f] for f in names))


def _field(payload: tuple[Any, ...], at: Any, text: bool) -> Any:
    if at is None:
        return None
    return payload[at].split(b"\0", 1)[0].decode("ascii", errors="replace") if text else payload[at]


class WireDecoder:
    """Decodes the packets of a .tlog buffer into records and dead letters (see the module)."""

    def __init__(self, mission: str = "unassigned", on_bad: Callable[[], None] | None = None) -> None:
        m = mavutil().mavlink
        self._mission = mission
        self._on_bad = on_bad
        self._check_crc = not m.MAVLINK_IGNORE_CRC
        self._stream = StreamFilter()
        self.known: dict[int, bytes] = {}  # every id of the dialect → its CRC_EXTRA, bit-reversed
        self.stored: dict[int, Spec] = {}
        for msgid, cls in m.mavlink_map.items():
            extra = bytes((REVERSED[cls.crc_extra],))
            self.known[msgid] = extra
            state = STATE_CONVERTERS.get(cls.msgname)
            spec = FIELD_CONVERTERS.get(cls.msgname) if state is None else state
            if spec is not None:
                names, fn = spec
                unpacker = cls.unpacker
                getter = _getter(cls, names, cls.msgname)
                self.stored[msgid] = (
                    extra,
                    unpacker.size,
                    unpacker.unpack,
                    unpacker.unpack_from,
                    cls.msgname,
                    getter,
                    fn,
                    state is not None,
                )

    def decode(
        self, buf: bytes, rbuf: bytes, i: int, records: list[Record], letters: list[DeadLetter], want: int
    ) -> int:
        """Decode the timestamped packets of ``buf`` (``rbuf``: ``buf.translate(REVERSED)``)
        from ``i`` into ``records`` and ``letters``, until they hold ``want`` together or the
        buffer ends (at a packet not whole). Returns where it stopped."""
        stored, known, apply, on_bad = self.stored, self.known, self._stream.apply, self._on_bad
        state_of = self._stream.state
        check_crc, mission = self._check_crc, self._mission
        end = len(buf)
        have = len(records) + len(letters)
        while have < want and i + 10 <= end:
            at = i + 8
            magic = buf[at]
            if magic == _V2:
                if at + 2 >= end:
                    break
                body = at + 10
                crc_at = body + buf[at + 1]
                nxt = crc_at + (15 if buf[at + 2] & 1 else 2)
                if nxt > end:
                    break
                msgid = buf[at + 7] | buf[at + 8] << 8 | buf[at + 9] << 16
                sysid = buf[at + 5]
            elif magic == _V1:
                body = at + 6
                crc_at = body + buf[at + 1]
                nxt = crc_at + 2
                if nxt > end:
                    break
                msgid, sysid = buf[at + 5], buf[at + 3]
            else:  # lost sync: look for the next plausible record
                i += 1
                if on_bad is not None:
                    on_bad()
                continue
            stamp = i
            i = nxt
            spec = stored.get(msgid)
            extra = known.get(msgid) if spec is None else spec[0]
            if extra is None:
                continue  # an id the dialect does not know: decode's MAVLink_unknown, unchecked
            if check_crc and crc_hqx(extra, crc_hqx(rbuf[at + 1 : crc_at], 0xFFFF)) != (
                rbuf[crc_at] << 8 | rbuf[crc_at + 1]
            ):
                if on_bad is not None:
                    on_bad()
                continue
            if spec is None:
                continue  # a type we do not store
            _, size, unpack, unpack_from, name, getter, fn, is_state = spec
            if crc_at - body >= size:
                payload = unpack_from(buf, body)
            else:  # truncated (MAVLink 2) or shorter (MAVLink 1): zeros fill it up
                payload = unpack(buf[body:crc_at] + _ZEROS[: size - (crc_at - body)])
            time_ms = _TIME(buf, stamp)[0] // 1000
            try:
                if not MIN_MS <= time_ms < MAX_MS:
                    raise bad_time(time_ms)
                if is_state:  # its point, built once (telemetry/records_drones.py DronePoint)
                    fields = fn(*getter(payload))
                else:
                    record = fn(sysid, time_ms, mission, *getter(payload))
            except DecodeError as err:
                letters.append(packet_letter(sysid, name, buf[at:nxt], err, now_ms(), "replay"))
                have += 1
                continue
            if is_state:
                if fields is not None:
                    fields = state_of(sysid, fields)
                    if fields is not None:
                        records.append(drone_point(sysid, time_ms, fields))
                        have += 1
            elif record is not None:
                record = apply(record)
                if record is not None:
                    records.append(record)
                    have += 1
        return i
