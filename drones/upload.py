"""The mission protocol as a ground station (MAVLink 2, mavlink.io "Mission Protocol"): upload
with a per-item timeout, re-send on re-request, tolerance of duplicate and out-of-order requests;
download and compare; for missions, fences and rally points alike (``mission_type``); commands
with retries that wait out ``MAV_RESULT_IN_PROGRESS``. Works over any :class:`Session` (the
collector's link, or a plain pymavlink connection in tests). What to upload and how to start
each autopilot is :mod:`drones.dialects`; :mod:`drones.mission_link` puts them together."""

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

ITEM_TIMEOUT_S = 1.5
RETRIES = 8
PATIENCE_S = 10.0  # an upload gives up after RETRIES timeouts and at least this long without progress
IN_PROGRESS_MAX_S = 30.0  # how long a command answered IN_PROGRESS may take to finish
MISSION, FENCE = 0, 1  # MAV_MISSION_TYPE


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
    sent_all: bool = False  # every item was asked for and sent: the read-back tells what it holds


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


def _wire(it: MissionItem, seq: int, target: int, mission_type: int = MISSION) -> Any:
    m = mavutil().mavlink
    p = [math.nan if v is None else float(v) for v in it.params]
    x = round((it.lat or 0.0) * 1e7) if it.has_position else int(p[4]) if not math.isnan(p[4]) else 0
    y = round((it.lon or 0.0) * 1e7) if it.has_position else int(p[5]) if not math.isnan(p[5]) else 0
    z = 0.0 if math.isnan(p[6]) else p[6]
    current, auto = (1 if seq == 0 and mission_type == MISSION else 0), (1 if it.autocontinue else 0)
    return m.MAVLink_mission_item_int_message(
        target, 1, seq, it.frame, it.command, current, auto, p[0], p[1], p[2], p[3], x, y, z, mission_type
    )


def _of_type(msg: Any, mission_type: int) -> bool:
    return int(getattr(msg, "mission_type", 0) or 0) == mission_type


def upload(
    session: Session,
    target: int,
    items: list[MissionItem],
    mission_type: int = MISSION,
    timeout_s: float = ITEM_TIMEOUT_S,
) -> UploadResult:
    """Send ``items`` as the vehicle asks for them. When the vehicle had asked for every item but
    its final MISSION_ACK is lost, or what follows is an error (ArduPilot answers a re-sent last
    item with MAV_MISSION_ERROR once the transfer is over), the result is not ``ok`` but
    ``sent_all``: reading the mission back tells whether the vehicle holds it."""
    m = mavutil().mavlink
    count = m.MAVLink_mission_count_message(target, 1, len(items), mission_type)
    session.send(count)
    requested: set[int] = set()
    tries = 0
    last_sent: Any = count
    deadline = time.monotonic() + timeout_s  # telemetry in between does not extend it
    progress = time.monotonic()
    busy: str | None = None  # the refusal of a vehicle busy with another transfer, if any
    while True:
        left = deadline - time.monotonic()
        msg = session.receive(left) if left > 0 else None
        if msg is None:
            tries += 1
            if tries > RETRIES and time.monotonic() - progress > PATIENCE_S:
                sent_all = bool(items) and len(requested) == len(items)
                problem = busy or "the vehicle stopped answering"
                return UploadResult(False, len(requested), False, problem, sent_all)
            session.send(last_sent)  # our last message may have been lost: send it again
            deadline = time.monotonic() + timeout_s
            continue
        kind = msg.get_type()
        if kind.startswith("MISSION_") and not _of_type(msg, mission_type):
            continue  # another plan type's protocol (a late answer of an earlier exchange)
        if kind in ("MISSION_REQUEST_INT", "MISSION_REQUEST"):
            if not 0 <= msg.seq < len(items):
                return UploadResult(False, len(requested), False, f"the vehicle asked for item {msg.seq}")
            tries, progress = 0, time.monotonic()
            requested.add(msg.seq)
            last_sent = _wire(items[msg.seq], msg.seq, target, mission_type)  # re-requests get it again
            session.send(last_sent)
            deadline = time.monotonic() + timeout_s
        elif kind == "MISSION_ACK":
            if msg.type == m.MAV_MISSION_ACCEPTED:
                if len(requested) == len(items):
                    return UploadResult(True, len(items), False)
                continue  # a late ack of an earlier transfer
            if msg.type == m.MAV_MISSION_INVALID_SEQUENCE and requested:
                continue  # our re-sent item was one it has (ArduPilot): it asks for the next again
            if msg.type == m.MAV_MISSION_ERROR and not requested:
                busy = "the vehicle refused: MISSION_ACK MAV_MISSION_ERROR (busy with another transfer?)"
                continue  # PX4 keeps a download whose final ack was lost open 5 s: ask again
            refused = f"the vehicle refused: MISSION_ACK {_ack_name(msg.type)}"
            return UploadResult(False, len(requested), False, refused, len(requested) == len(items))


def download(
    session: Session, target: int, mission_type: int = MISSION, timeout_s: float = ITEM_TIMEOUT_S
) -> list[Any] | None:
    m = mavutil().mavlink
    request_list = m.MAVLink_mission_request_list_message(target, 1, mission_type)
    count = None
    for _ in range(RETRIES):
        session.send(request_list)
        count = _await(session, "MISSION_COUNT", None, mission_type, timeout_s)
        if count is not None:
            break
    if count is None:
        return None
    got: list[Any] = []
    for seq in range(count.count):
        item = None
        for _ in range(RETRIES):
            session.send(m.MAVLink_mission_request_int_message(target, 1, seq, mission_type))
            item = _await(session, "MISSION_ITEM_INT", seq, mission_type, timeout_s)
            if item is not None:
                break
        if item is None:
            return None
        got.append(item)
    session.send(m.MAVLink_mission_ack_message(target, 1, m.MAV_MISSION_ACCEPTED, mission_type))
    return got


def _await(session: Session, kind: str, seq: int | None, mission_type: int, timeout_s: float) -> Any | None:
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        msg = session.receive(left)
        if (
            msg is not None
            and msg.get_type() == kind
            and (seq is None or msg.seq == seq)
            and _of_type(msg, mission_type)
        ):
            return msg
    return None


def _ack_name(result: int) -> str:
    entry = mavutil().mavlink.enums["MAV_MISSION_RESULT"].get(result)
    return entry.name if entry is not None else str(result)


_REFERENCE = {0: "amsl", 5: "amsl", 3: "relative", 6: "relative", 10: "terrain", 11: "terrain"}


def _kept(ours: float, theirs: float, angle: bool) -> bool:
    """One parameter as an autopilot gives it back: the same value, or what it keeps of it
    (ArduPilot stores some as whole uint16 seconds or as ±1 flags, and drops the ones its
    command does not use as 0; PX4 gives yaw back in 0-360°)."""
    if math.isnan(ours) or ours == 0:
        return True  # unset or zero: nothing for the vehicle to keep
    if math.isnan(theirs):
        return False
    if theirs == 0 or abs(theirs - ours) <= 1e-3 * max(1.0, abs(ours)) or theirs == float(int(ours) & 0xFFFF):
        return True
    if abs(theirs) == 1.0 and math.copysign(1.0, theirs) == math.copysign(1.0, ours):
        return True  # a flag
    return angle and abs((theirs - ours + 180.0) % 360.0 - 180.0) < 1e-2


def same(items: list[MissionItem], wire: list[Any]) -> bool:
    """Whether the vehicle holds our items as it flies them: the same commands in the same order,
    the same positions (1e-7°) and altitudes (to the cm, in the same reference: relative,
    AMSL or terrain), and the parameters it keeps (:func:`_kept`; each autopilot stores items
    its own way, e.g. ArduPilot's ``mission_cmd_to_mavlink_int``). The frame of an item without
    a position (RTL, DO_ commands) is the autopilot's business."""
    if len(items) != len(wire):
        return False
    for k, (it, w) in enumerate(zip(items, wire, strict=True)):
        sent = _wire(it, k, 0)
        if (w.command, w.x, w.y) != (sent.command, sent.x, sent.y):
            return False
        if it.has_position and (
            _REFERENCE.get(w.frame) != _REFERENCE.get(sent.frame) or abs(w.z - sent.z) > 0.011
        ):
            return False
        theirs = (w.param1, w.param2, w.param3, w.param4)
        ours = (sent.param1, sent.param2, sent.param3, sent.param4)
        if not all(_kept(o, t, angle=(n == 3)) for n, (o, t) in enumerate(zip(ours, theirs, strict=True))):
            return False
    return True


def command(session: Session, target: int, cmd: int, *params: float) -> int | None:
    """Send a COMMAND_LONG until the vehicle acknowledges it (``confirmation`` counts the
    re-sends); ``MAV_RESULT_IN_PROGRESS`` means "wait for the final ack", not a refusal
    (mavlink.io "Command Protocol"). Returns the final MAV_RESULT, or None without an answer."""
    m = mavutil().mavlink
    p = [*params, *([0.0] * (7 - len(params)))]
    in_progress_until: float | None = None
    for attempt in range(RETRIES):
        session.send(m.MAVLink_command_long_message(target, 1, cmd, attempt, *p))
        deadline = in_progress_until or time.monotonic() + ITEM_TIMEOUT_S
        while (left := deadline - time.monotonic()) > 0:
            msg = session.receive(left)
            if msg is None or msg.get_type() != "COMMAND_ACK" or msg.command != cmd:
                continue
            if msg.result != m.MAV_RESULT_IN_PROGRESS:
                return int(msg.result)
            if in_progress_until is None:  # the final ack will come: wait for it, up to a bound
                in_progress_until = deadline = time.monotonic() + IN_PROGRESS_MAX_S
        if in_progress_until is not None and time.monotonic() >= in_progress_until:
            return None  # it never finished
    return None


def result_name(result: int | None) -> str:
    if result is None:
        return "no answer"
    entry = mavutil().mavlink.enums["MAV_RESULT"].get(result)
    return entry.name if entry is not None else f"MAV_RESULT {result}"
