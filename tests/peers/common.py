"""Shared plumbing of the test peers: the thread, the lossy link, telemetry and the command loop.

Each peer owns one pymavlink connection and one thread. Everything the vehicle does happens on that
thread (receive, react, fly, stream), so the attributes tests read (``armed``, ``mode``,
``mission``, ``fence``, ``reached``, ``complete``, ``commands``) change from one thread only.
Flight is not simulated: a vehicle "flies" a leg by jumping to its end after ``item_s`` seconds.
"""

from __future__ import annotations

import os
import random
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple, Self

os.environ.setdefault("MAVLINK20", "1")

from pymavlink import mavutil

if mavutil.mavlink.WIRE_PROTOCOL_VERSION != "2.0":  # imported as MAVLink 1 by someone else first
    mavutil.set_dialect("ardupilotmega")

M: Any = mavutil.mavlink
GLOBAL_FRAMES = frozenset({0, 3, 5, 6, 10, 11})  # GLOBAL, RELATIVE_ALT, TERRAIN_ALT and their _INT twins
ABSOLUTE_FRAMES = frozenset({0, 5})
UNKNOWN_PROGRESS = 255  # COMMAND_ACK.progress: UINT8_MAX when the progress is unknown (common.xml)
LONG_RUNNING = frozenset({400, 300})  # COMPONENT_ARM_DISARM, MISSION_START: may be acked IN_PROGRESS


def ids(numbers: str) -> frozenset[int]:
    """A set of MAV_CMD numbers written as one string."""
    return frozenset(int(n) for n in numbers.split())


class MissionItem(NamedTuple):
    """One stored mission/fence item, as MISSION_ITEM_INT carries it (x, y in degE7 for global frames)."""

    seq: int
    frame: int
    command: int
    current: int
    autocontinue: int
    param1: float
    param2: float
    param3: float
    param4: float
    x: int
    y: int
    z: float
    mission_type: int = 0

    @classmethod
    def from_msg(cls, m: Any) -> MissionItem:
        """From MISSION_ITEM_INT, or MISSION_ITEM (whose float lat/lon are scaled to degE7)."""
        x, y = m.x, m.y
        if m.get_type() == "MISSION_ITEM":
            scale = 1e7 if m.frame in GLOBAL_FRAMES else 1.0
            x, y = round(m.x * scale), round(m.y * scale)
        fields = (m.frame, m.command, m.current, m.autocontinue, m.param1, m.param2, m.param3, m.param4)
        return cls(m.seq, *fields, int(x), int(y), float(m.z), getattr(m, "mission_type", 0))


class _LossyFile:
    """Stands in for ``mav.file``: packs happen (sequence numbers advance), some datagrams vanish."""

    def __init__(self, conn: Any, rng: random.Random, p: float) -> None:
        self.conn, self.rng, self.p, self.dropped = conn, rng, p, 0

    def write(self, buf: bytes) -> None:
        if self.p > 0 and self.rng.random() < self.p:
            self.dropped += 1
            return
        self.conn.write(buf)


class Peer(ABC):
    """Base vehicle: subclasses define the heartbeat, the mission protocol and the commands."""

    AUTOPILOT = 0
    DEFAULT_MODE = 0
    HOME_Q: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)

    def __init__(
        self,
        url: str,
        *,
        sysid: int = 1,
        home: tuple[float, float, float] = (29.8737, 121.5453, 5.0),
        item_s: float = 0.3,
        rate_hz: float = 4.0,
        fix_type: int = 3,
        battery_pct: int = 100,
        drop_out: float = 0.0,
        drop_in: float = 0.0,
        seed: int = 0,
        in_progress_acks: bool = False,
        mode: int | None = None,
    ) -> None:
        self.url, self.sysid, self.item_s, self.rate_hz = url, sysid, item_s, rate_hz
        self.home = home  # lat, lon (deg), altitude AMSL (m)
        self.fix_type, self.battery_pct = fix_type, battery_pct
        self.drop_out, self.drop_in, self.in_progress_acks = drop_out, drop_in, in_progress_acks
        self.armed = False
        self.mode: int = self.DEFAULT_MODE if mode is None else mode
        self.mission: list[MissionItem] = []
        self.fence: list[MissionItem] = []
        self.reached: list[int] = []
        self.complete = False
        self.commands: list[tuple[int, int]] = []
        self.lat, self.lon, self.rel_alt, self.landed = home[0], home[1], 0.0, True
        self.flown = False  # took off since it armed
        self.home_set = False  # set (and HOME_POSITION sent) by the first tick with a 3D fix
        self.dropped_in = 0
        self.error: BaseException | None = None  # what killed the thread, re-raised by stop()
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: Any = None
        self._out: _LossyFile | None = None
        self._leg: tuple[float, tuple[Callable[[], object], ...]] | None = None
        self._next_hb = self._next_status = 0.0
        self._armed_landed_since: float | None = None
        self._t0 = time.monotonic()
        self._after_ack: list[Callable[[], object]] = []  # replies a command queues behind its COMMAND_ACK
        self._handlers: dict[str, Callable[[Any], None]] = {
            "COMMAND_LONG": self._on_command,
            "COMMAND_INT": self._on_command,
        }

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._conn = mavutil.mavlink_connection(self.url, source_system=self.sysid, source_component=1)
        self._out = _LossyFile(self._conn, self._rng, self.drop_out)
        self._conn.mav.file = self._out
        self._stop.clear()
        name = f"{type(self).__name__}-{self.sysid}"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self.error is not None:
            raise RuntimeError(f"{type(self).__name__} thread failed") from self.error

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def dropped_out(self) -> int:
        return self._out.dropped if self._out is not None else 0

    # ---- loop ------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # kept for stop(), so a broken peer fails the test using it
            self.error = exc
            raise

    def _loop(self) -> None:
        while not self._stop.is_set():
            while (m := self._conn.recv_msg()) is not None:
                if m.get_type() == "BAD_DATA" or m.get_srcSystem() == self.sysid:
                    continue
                if self.drop_in > 0 and self._rng.random() < self.drop_in:
                    self.dropped_in += 1
                    continue
                handler = self._handlers.get(m.get_type())
                if handler is not None:
                    handler(m)
            self._tick(time.monotonic())
            self._stop.wait(0.01)

    def _tick(self, now: float) -> None:
        if not self.home_set and self.position_ok:  # home is set once the GPS has a 3D fix
            self.home_set = True
            self._send_home()
        if self._leg is not None and now >= self._leg[0]:
            actions, self._leg = self._leg[1], None
            for action in actions:
                action()
        self._auto_disarm(now)
        self._protocol_tick(now)
        if now >= self._next_hb:
            self._next_hb = now + 1.0
            self._send_heartbeat()
        if now >= self._next_status:
            self._next_status = now + 1.0 / self.rate_hz
            self._send_position()
            self._send_status()

    def _schedule(self, *actions: Callable[[], object]) -> None:
        """Run ``actions`` in order after ``item_s`` seconds: the time the vehicle needs for one leg."""
        self._leg = (time.monotonic() + self.item_s, actions)

    def _cancel_leg(self) -> None:
        self._leg = None

    # ---- hooks for subclasses ----------------------------------------------------------------
    def _protocol_tick(self, now: float) -> None:  # noqa: B027 - an optional hook, nothing by default
        """Mission-protocol timers and mission progress."""

    @abstractmethod
    def _send_heartbeat(self) -> None: ...

    def _send_status(self) -> None:
        """Streams at ``rate_hz`` besides position: SYS_STATUS, MISSION_CURRENT..."""
        self._send_sys_status()

    @abstractmethod
    def _command(self, cmd: int, p: tuple[float, ...], m: Any) -> int: ...

    def _disarm_delay(self) -> float | None:
        """Seconds armed on the ground before the autopilot disarms by itself (None: never)."""
        return None

    def _disarm(self) -> None:
        self.armed, self.landed, self.flown = False, True, False

    # ---- helpers ---------------------------------------------------------------------------
    def send(self, name: str, *args: Any) -> None:
        if self._conn is not None:
            getattr(self._conn.mav, f"{name}_send")(*args)

    def _auto_disarm(self, now: float) -> None:
        delay = self._disarm_delay()
        if not (self.armed and self.landed) or delay is None:
            self._armed_landed_since = None
            return
        if self._armed_landed_since is None:
            self._armed_landed_since = now
        elif now - self._armed_landed_since >= delay:
            self._disarm()

    @property
    def position_ok(self) -> bool:
        return self.fix_type >= 3

    def target_of(self, item: MissionItem) -> tuple[float, float, float]:
        """Where a nav item sends the vehicle: lat, lon (current ones when 0) and altitude above home."""
        lat = item.x / 1e7 if item.x else self.lat
        lon = item.y / 1e7 if item.y else self.lon
        alt = item.z - self.home[2] if item.frame in ABSOLUTE_FRAMES else item.z
        return lat, lon, alt

    def _time_boot_ms(self) -> int:
        return int((time.monotonic() - self._t0) * 1000) & 0xFFFFFFFF

    def _send_position(self) -> None:
        lat, lon = round(self.lat * 1e7), round(self.lon * 1e7)
        amsl_mm = round((self.home[2] + self.rel_alt) * 1000)
        rel_mm = round(self.rel_alt * 1000)
        self.send("global_position_int", self._time_boot_ms(), lat, lon, amsl_mm, rel_mm, 0, 0, 0, 0)
        fix = (lat, lon, amsl_mm, 80, 120, 0, 0, 12) if self.fix_type >= 3 else (0, 0, 0, 9999, 9999, 0, 0, 0)
        self.send("gps_raw_int", int(time.time() * 1e6), self.fix_type, *fix)

    def _send_sys_status(self) -> None:
        gps = M.MAV_SYS_STATUS_SENSOR_GPS
        health = gps if self.fix_type >= 3 else 0
        self.send("sys_status", gps, gps, health, 0, 12600, -1, self.battery_pct, 0, 0, 0, 0, 0, 0)

    def _send_home(self) -> None:
        if not self.home_set:
            return
        lat, lon, alt = (round(self.home[0] * 1e7), round(self.home[1] * 1e7), round(self.home[2] * 1000))
        q, now_us = list(self.HOME_Q), int(time.time() * 1e6)
        self.send("home_position", lat, lon, alt, 0.0, 0.0, 0.0, q, 0.0, 0.0, 0.0, now_us)

    def _reset_home_here(self) -> None:
        """Both autopilots move home to the current position when they arm (if they have a fix)."""
        if self.position_ok:
            self.home = (self.lat, self.lon, self.home[2] + self.rel_alt)
            self.home_set = True
            self._send_home()

    # ---- mission plumbing shared by both autopilots ------------------------------------------
    def mission_ack(self, m: Any, mission_type: int, result: int) -> None:
        self.send("mission_ack", m.get_srcSystem(), m.get_srcComponent(), result, mission_type)

    def send_item(self, m: Any, item: MissionItem, as_int: bool) -> None:
        """Answer a request with MISSION_ITEM_INT, or MISSION_ITEM (lat/lon as float degrees)."""
        src = (m.get_srcSystem(), m.get_srcComponent())
        if as_int:
            self.send("mission_item_int", *src, *item)
            return
        scale = 1e-7 if item.frame in GLOBAL_FRAMES else 1.0
        self.send("mission_item", *src, *item[:9], item.x * scale, item.y * scale, *item[11:])

    def reached_item(self, seq: int) -> None:
        self.reached.append(seq)
        self.send("mission_item_reached", seq)

    # ---- flight ----------------------------------------------------------------------------
    def move(self, lat: float, lon: float, alt: float) -> None:
        self.lat, self.lon, self.rel_alt = lat, lon, alt

    def takeoff(self, alt: float, then: Callable[[], object]) -> None:
        """One leg: climb to ``alt`` above home where we stand."""
        self.landed, self.flown = False, True
        self._schedule(partial(self.move, self.lat, self.lon, alt), then)

    def touch_down(self) -> None:
        self.rel_alt, self.landed = 0.0, True

    def fly_home_and_land(self, then: Callable[[], object]) -> None:
        """Two legs: to home at the current altitude, then down; ``then`` runs on the ground."""
        home = partial(self.move, self.home[0], self.home[1])
        self._schedule(lambda: home(self.rel_alt), lambda: self._schedule(self.touch_down, then))

    # ---- commands ---------------------------------------------------------------------------
    def _on_command(self, m: Any) -> None:
        if m.target_system not in (0, self.sysid) or m.target_component not in (0, 1):
            return
        if m.get_type() == "COMMAND_INT":
            p = (m.param1, m.param2, m.param3, m.param4, m.x / 1e7, m.y / 1e7, m.z)
        else:
            p = (m.param1, m.param2, m.param3, m.param4, m.param5, m.param6, m.param7)
        src = (m.get_srcSystem(), m.get_srcComponent())
        if self.in_progress_acks and m.command in LONG_RUNNING:
            # MAVLink command protocol: a long-running command may be acked IN_PROGRESS first.
            self.send("command_ack", m.command, M.MAV_RESULT_IN_PROGRESS, UNKNOWN_PROGRESS, 0, *src)
        result = self._command(m.command, p, m)
        self.commands.append((m.command, result))
        self.send("command_ack", m.command, result, 0, 0, *src)
        for reply in self._after_ack:
            reply()
        self._after_ack.clear()
