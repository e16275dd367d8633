"""The vehicle's side of the MAVLink mission protocol, for missions and geofences, as each
autopilot runs it (https://mavlink.io/en/services/mission.html; ArduPilot
``libraries/GCS_MAVLink/MissionItemProtocol*.cpp``; PX4 ``src/modules/mavlink/mavlink_mission.cpp``).

Upload: MISSION_COUNT → (request → MISSION_ITEM_INT)* → MISSION_ACK; download: MISSION_REQUEST_LIST
→ MISSION_COUNT → (MISSION_REQUEST_INT → MISSION_ITEM_INT)* → MISSION_ACK; every message carries
``mission_type``. Where the two differ:

- requests: ArduPilot asks with MISSION_REQUEST, PX4 with MISSION_REQUEST_INT;
- an item out of sequence: ArduPilot answers MISSION_ACK INVALID_SEQUENCE and keeps receiving,
  PX4 ignores it; both ask again for the item they need after their retry timeout (1 s, 0.25 s);
- a silent ground station: ArduPilot cancels after 8 s (MISSION_ACK OPERATION_CANCELLED), PX4
  goes idle after 5 s with a STATUSTEXT and no ACK;
- an item when no upload of its type runs (e.g. a repeated last item after the final ACK): PX4
  sends the final ACK again, ArduPilot answers MISSION_ACK ERROR (GCS_MAVLINK::handle_mission_item);
- ArduPilot writes each item as it arrives (a broken upload leaves a mixed mission), PX4 swaps in
  the new plan when the last item is in;
- ArduPilot's item 0 is home: a download returns the vehicle's home there.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simulators import mission_items
from simulators.autopilots import ArduPilot, Autopilot
from simulators.drone_model import NAV_WAYPOINT, Item, Run, Vehicle

# MAV_MISSION_RESULT
ACCEPTED, ERROR, UNSUPPORTED, INVALID_SEQUENCE, DENIED, CANCELLED = 0, 1, 3, 13, 14, 15
MISSION, FENCE = 0, 1
Send = Callable[..., None]  # (pymavlink message name, *fields, force=…)


@dataclass
class _Upload:
    mission_type: int
    count: int
    peer: tuple[int, int]
    items: dict[int, Item] = field(default_factory=dict)
    next: int = 0
    asked_at: float = 0.0
    received_at: float = 0.0


class MissionServer:
    def __init__(
        self, autopilot: Autopilot, vehicle: Vehicle, send: Send, text: Callable[[str, int], None],
        *, autopilot_readback: bool = False, clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self._ap, self._v, self._send, self._text = autopilot, vehicle, send, text
        self._readback = autopilot_readback
        self._clock = clock
        self._upload: _Upload | None = None
        self._last_done: tuple[int, int] | None = None  # (mission_type, count) of the last upload

    @property
    def _ardupilot(self) -> bool:
        return isinstance(self._ap, ArduPilot)

    def _stored(self, mission_type: int) -> list[Item]:
        return self._v.fence if mission_type == FENCE else self._v.mission

    def _ack(self, peer: tuple[int, int], result: int, mission_type: int) -> None:
        self._send("mission_ack", peer[0], peer[1], result, mission_type, force=True)

    # --- upload ------------------------------------------------------------------------------
    def on_count(self, msg: Any) -> None:
        peer, mtype = (msg.get_srcSystem(), msg.get_srcComponent()), int(getattr(msg, "mission_type", 0))
        if mtype not in (MISSION, FENCE):
            self._ack(peer, UNSUPPORTED, mtype)  # rally points are not simulated
            return
        up = self._upload
        if up is not None and (up.peer != peer or (not self._ardupilot and up.next > 0)):
            self._ack(peer, DENIED if self._ardupilot else ERROR, mtype)  # someone is uploading
            return
        if up is not None and not self._ardupilot:
            self._request()  # PX4: "looks like our MISSION_REQUEST was lost, try again"
            return
        now = self._clock()
        self._upload = _Upload(mtype, int(msg.count), peer, received_at=now)
        if self._ardupilot and mtype == MISSION:
            del self._v.mission[msg.count :]  # MissionItemProtocol_Waypoints::truncate
        if msg.count == 0:
            self._finish()
            return
        self._request()

    def _request(self) -> None:
        up = self._upload
        assert up is not None
        up.asked_at = self._clock()
        name = self._ap.request_message
        self._send(name, up.peer[0], up.peer[1], up.next, up.mission_type)

    def tick(self) -> None:
        up = self._upload
        if up is None:
            return
        now = self._clock()
        if now - up.received_at > self._ap.upload_timeout_s:
            self._upload = None
            if self._ardupilot:
                kind = "Mission" if up.mission_type == MISSION else "Fence"
                self._text(f"{kind} upload timeout", 4)
                self._ack(up.peer, CANCELLED, up.mission_type)
            else:
                self._text("Operation timeout", 2)
        elif now - up.asked_at > self._ap.re_request_s:
            self._request()

    def on_item(self, msg: Any, item: Item) -> None:
        peer = (msg.get_srcSystem(), msg.get_srcComponent())
        up = self._upload
        if up is None or item.mission_type != up.mission_type:
            if self._ardupilot:  # GCS_MAVLINK::handle_mission_item: not receiving that type
                known = item.mission_type in (MISSION, FENCE)
                self._ack(peer, ERROR if known else UNSUPPORTED, item.mission_type)
            elif up is None:
                # PX4: a repeat of the last item after the final ACK gets that ACK again
                done = self._last_done
                again = done is not None and done == (item.mission_type, item.seq + 1)
                self._ack(peer, ACCEPTED if again else ERROR, item.mission_type)
            else:
                self._ack(peer, ERROR, up.mission_type)
            return
        if item.seq != up.next:
            if self._ardupilot:
                self._ack(peer, INVALID_SEQUENCE, up.mission_type)
            return  # PX4 ignores it; both re-request on their timer
        if peer != up.peer:
            self._ack(peer, DENIED if self._ardupilot else ERROR, up.mission_type)
            return
        result = mission_items.check(self._ap.name, item, up.mission_type, up.count)
        if result != ACCEPTED:
            self._ack(peer, result, up.mission_type)
            self._upload = None
            return
        if self._readback:
            item = mission_items.stored(self._ap.name, item, up.mission_type)
        up.items[item.seq] = item
        if self._ardupilot and up.mission_type == MISSION:  # written at once (replace or append)
            if item.seq < len(self._v.mission):
                self._v.mission[item.seq] = item
            else:
                self._v.mission.append(item)
        up.next += 1
        up.received_at = self._clock()
        if up.next < up.count:
            self._request()
        else:
            self._finish()

    def _finish(self) -> None:
        up = self._upload
        assert up is not None
        self._upload = None
        items = [up.items[k] for k in range(up.count)]
        if up.mission_type == FENCE:
            self._v.fence = items
        else:
            self._v.mission = items
            current = next((it.seq for it in items if it.current), -1)
            self._ap.on_upload(self._v, current)
            if self._ardupilot:
                self._text("Flight plan received", 6)  # MissionItemProtocol_Waypoints::complete
        self._last_done = (up.mission_type, up.count)
        self._ack(up.peer, ACCEPTED, up.mission_type)

    # --- download ----------------------------------------------------------------------------
    def on_request_list(self, msg: Any) -> None:
        peer, mtype = (msg.get_srcSystem(), msg.get_srcComponent()), int(getattr(msg, "mission_type", 0))
        if mtype not in (MISSION, FENCE):
            self._ack(peer, UNSUPPORTED, mtype)
            return
        if self._upload is not None and self._upload.mission_type == mtype:
            self._ack(peer, DENIED, mtype)  # "someone is uploading a mission"
            return
        self._send("mission_count", peer[0], peer[1], len(self._stored(mtype)), mtype, force=True)

    def on_request(self, msg: Any, as_int: bool) -> None:
        peer, mtype = (msg.get_srcSystem(), msg.get_srcComponent()), int(getattr(msg, "mission_type", 0))
        if mtype not in (MISSION, FENCE):
            self._ack(peer, UNSUPPORTED, mtype)
            return
        stored = self._stored(mtype)
        seq = int(msg.seq)
        home_slot = self._ardupilot and mtype == MISSION and seq == 0  # "always allow HOME to be read"
        if seq >= len(stored) and not home_slot:
            if self._ardupilot and mtype == MISSION:  # "educate the GCS on the actual size"
                self._send("mission_count", peer[0], peer[1], len(stored), mtype, force=True)
            self._ack(peer, ERROR, mtype)
            return
        it = self._home_item() if home_slot else stored[seq]
        current = self._current_flag(it)
        x: float = it.x
        y: float = it.y
        if not as_int:  # MISSION_ITEM carries degrees as float
            x, y = it.x / 1e7, it.y / 1e7
            if self._ardupilot and mtype == MISSION:
                self._text("got MISSION_REQUEST; use MISSION_REQUEST_INT!", 4)
        self._send(
            "mission_item_int" if as_int else "mission_item", peer[0], peer[1], seq, it.frame, it.command,
            current, it.autocontinue, it.param1, it.param2, it.param3, it.param4, x, y, it.z, mtype,
        )  # fmt: skip

    def _home_item(self) -> Item:
        """AP_Mission::read_cmd_from_storage(0): the vehicle's home, absolute altitude."""
        v = self._v
        return Item(
            0, mission_items.GLOBAL, NAV_WAYPOINT, 0, 1, 0.0, 0.0, 0.0, 0.0, round(v.home_lat * 1e7),
            round(v.home_lon * 1e7), v.home_alt_msl_m,
        )  # fmt: skip

    def _current_flag(self, it: Item) -> int:
        if it.mission_type == FENCE:
            return 0
        if self._ardupilot and self._readback:
            # MissionItemProtocol_Waypoints::get_item compares the command *id* with the index
            return 1 if it.command == self._v.current else 0
        return 1 if it.seq == self._v.current else 0

    def on_clear_all(self, msg: Any) -> None:
        peer, mtype = (msg.get_srcSystem(), msg.get_srcComponent()), int(getattr(msg, "mission_type", 0))
        kinds = [MISSION, FENCE] if (mtype == 255 and not self._ardupilot) else [mtype]
        if any(k not in (MISSION, FENCE) for k in kinds):
            self._ack(peer, UNSUPPORTED, mtype)
            return
        if self._upload is not None:
            self._ack(peer, ERROR, mtype)
            return
        v = self._v
        if self._ardupilot and MISSION in kinds and v.run is Run.RUNNING:
            self._ack(peer, ERROR, mtype)  # AP_Mission::clear: not while the mission runs
            return
        for k in kinds:
            if k == FENCE:
                v.fence = []
            else:
                v.mission = []
                self._ap.on_upload(v, -1)
        self._ack(peer, ACCEPTED, mtype)

    def on_set_current(self, msg: Any) -> bool:
        """MISSION_SET_CURRENT: ArduPilot flies from item 1 when asked for 0 (set_current_cmd)."""
        v = self._v
        seq = max(int(msg.seq), v.first_item)
        if seq >= len(v.mission):
            if not self._ardupilot:
                self._text("WPM: WP CURR CMD: Not in list", 2)
            return False
        v.current = seq
        v.hold_left_s = None
        if v.run is Run.RUNNING:
            v.resume_mission()
        return True


def item_from(msg: Any, as_int: bool) -> Item:
    """A received MISSION_ITEM(_INT) as an Item (MISSION_ITEM's degrees scaled by 1e7)."""
    x, y = (int(msg.x), int(msg.y)) if as_int else (_e7(msg.x), _e7(msg.y))
    return Item(
        msg.seq, msg.frame, msg.command, msg.current, msg.autocontinue, msg.param1, msg.param2,
        msg.param3, msg.param4, x, y, msg.z, int(getattr(msg, "mission_type", 0)),
    )  # fmt: skip


def _e7(v: float) -> int:
    return round(v * 1e7) if math.isfinite(v) else 0
