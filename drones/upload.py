"""The mission protocol as a ground station (MAVLink 2): upload with a per-item timeout,
re-send on re-request, tolerance of duplicate and out-of-order requests; download and compare;
start (mode AUTO, arm, MISSION_START). Works over any :class:`Session` (the collector's link, or
a plain pymavlink connection in tests)."""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from drones.mavlink import mavutil
from drones.missions import MissionItem

AUTO = 3  # ArduCopter mode number
ITEM_TIMEOUT_S = 1.5
RETRIES = 8


class Session(Protocol):
    def send(self, msg: Any) -> None: ...

    def receive(self, timeout_s: float) -> Any | None:
        """The next message from the vehicle (mission protocol and command acks), or None."""
        ...


@dataclass(frozen=True)
class UploadResult:
    ok: bool
    items: int
    verified: bool
    error: str | None = None


class LinkSession:
    """A session over a pymavlink connection that this session alone reads (tests, CLI)."""

    def __init__(self, conn: Any, target: int) -> None:
        self._conn = conn
        self._target = target

    def send(self, msg: Any) -> None:
        self._conn.mav.send(msg)

    def receive(self, timeout_s: float) -> Any | None:
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            msg = self._conn.recv_match(blocking=True, timeout=left)
            if msg is not None and msg.get_srcSystem() == self._target:
                return msg
        return None


class QueueSession:
    """A session over the collector's link: the collector routes the vehicle's protocol messages
    into ``inbox`` while this session sends with ``send_lock`` held."""

    def __init__(
        self, send: Callable[[Any], None], inbox: queue.Queue[Any], send_lock: threading.Lock
    ) -> None:
        self._send = send
        self._inbox = inbox
        self._lock = send_lock

    def send(self, msg: Any) -> None:
        with self._lock:
            self._send(msg)

    def receive(self, timeout_s: float) -> Any | None:
        try:
            return self._inbox.get(timeout=timeout_s)
        except queue.Empty:
            return None


def _wire(it: MissionItem, seq: int, target: int) -> Any:
    m = mavutil().mavlink
    p = [math.nan if v is None else float(v) for v in it.params]
    x = round((it.lat or 0.0) * 1e7) if it.has_position else int(p[4]) if not math.isnan(p[4]) else 0
    y = round((it.lon or 0.0) * 1e7) if it.has_position else int(p[5]) if not math.isnan(p[5]) else 0
    z = 0.0 if math.isnan(p[6]) else p[6]
    current, auto = (1 if seq == 0 else 0), (1 if it.autocontinue else 0)
    return m.MAVLink_mission_item_int_message(
        target, 1, seq, it.frame, it.command, current, auto, p[0], p[1], p[2], p[3], x, y, z, 0
    )


def upload(session: Session, target: int, items: list[MissionItem]) -> UploadResult:
    m = mavutil().mavlink
    count = m.MAVLink_mission_count_message(target, 1, len(items), 0)
    session.send(count)
    requested: set[int] = set()
    tries = 0
    last_sent: Any = count
    while True:
        msg = session.receive(ITEM_TIMEOUT_S)
        if msg is None:
            tries += 1
            if tries > RETRIES:
                return UploadResult(False, len(requested), False, "the vehicle stopped answering")
            session.send(last_sent)  # our last message may have been lost: send it again
            continue
        kind = msg.get_type()
        if kind in ("MISSION_REQUEST_INT", "MISSION_REQUEST"):
            if not 0 <= msg.seq < len(items):
                return UploadResult(False, len(requested), False, f"the vehicle asked for item {msg.seq}")
            tries = 0
            requested.add(msg.seq)
            last_sent = _wire(items[msg.seq], msg.seq, target)  # re-requests and duplicates get it again
            session.send(last_sent)
        elif kind == "MISSION_ACK":
            if msg.type == m.MAV_MISSION_ACCEPTED and len(requested) == len(items):
                return UploadResult(True, len(items), False)
            if msg.type != m.MAV_MISSION_ACCEPTED:
                return UploadResult(
                    False, len(requested), False, f"the vehicle refused: MISSION_ACK {msg.type}"
                )


def download(session: Session, target: int) -> list[Any] | None:
    m = mavutil().mavlink
    request_list = m.MAVLink_mission_request_list_message(target, 1, 0)
    count = None
    for _ in range(RETRIES):
        session.send(request_list)
        count = _await(session, "MISSION_COUNT")
        if count is not None:
            break
    if count is None:
        return None
    got: list[Any] = []
    for seq in range(count.count):
        item = None
        for _ in range(RETRIES):
            session.send(m.MAVLink_mission_request_int_message(target, 1, seq, 0))
            item = _await(session, "MISSION_ITEM_INT", seq)
            if item is not None:
                break
        if item is None:
            return None
        got.append(item)
    session.send(m.MAVLink_mission_ack_message(target, 1, m.MAV_MISSION_ACCEPTED, 0))
    return got


def _await(session: Session, kind: str, seq: int | None = None) -> Any | None:
    deadline = time.monotonic() + ITEM_TIMEOUT_S
    while (left := deadline - time.monotonic()) > 0:
        msg = session.receive(left)
        if msg is not None and msg.get_type() == kind and (seq is None or msg.seq == seq):
            return msg
    return None


def same(items: list[MissionItem], wire: list[Any]) -> bool:
    """Our items and what the vehicle holds (float32 on the wire, NaN for unset)."""
    if len(items) != len(wire):
        return False
    for k, (it, w) in enumerate(zip(items, wire, strict=True)):
        sent = _wire(it, k, 0)
        if (w.command, w.frame, w.x, w.y) != (sent.command, sent.frame, sent.x, sent.y):
            return False
        theirs = (w.param1, w.param2, w.param3, w.param4, w.z)
        ours = (sent.param1, sent.param2, sent.param3, sent.param4, sent.z)
        for a, b in zip(theirs, ours, strict=True):
            if not (math.isnan(a) and math.isnan(b)) and abs(a - b) > 1e-3 * max(1.0, abs(b)):
                return False
    return True


def command(session: Session, target: int, cmd: int, *params: float) -> bool:
    m = mavutil().mavlink
    p = [*params, *([0.0] * (7 - len(params)))]
    for attempt in range(RETRIES):
        session.send(m.MAVLink_command_long_message(target, 1, cmd, attempt, *p))
        deadline = time.monotonic() + ITEM_TIMEOUT_S
        while (left := deadline - time.monotonic()) > 0:
            msg = session.receive(left)
            if msg is not None and msg.get_type() == "COMMAND_ACK" and msg.command == cmd:
                return bool(msg.result == m.MAV_RESULT_ACCEPTED)
    return False


def start(session: Session, target: int) -> str | None:
    """Mode AUTO, arm, MISSION_START. Returns an error, or None when the vehicle took all three."""
    m = mavutil().mavlink
    steps = [
        ("mode AUTO", m.MAV_CMD_DO_SET_MODE, (float(m.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED), float(AUTO))),
        ("arm", m.MAV_CMD_COMPONENT_ARM_DISARM, (1.0,)),
        ("mission start", m.MAV_CMD_MISSION_START, (0.0, 0.0)),
    ]
    for name, cmd, params in steps:
        if not command(session, target, cmd, *params):
            return f"the vehicle refused or did not answer: {name}"
    return None
