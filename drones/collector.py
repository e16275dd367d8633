"""The MAVLink collector: one pymavlink connection per endpoint (udpin, udpout, tcp, tcpin,
serial), each in its own thread with a stop event, handing records to the pipeline through its
thread-safe entrance. Many vehicles per endpoint, told apart by system id. With a signing key,
MAVLink 2 signing is required: unsigned packets are refused and counted.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from types import TracebackType
from typing import Any, Self

from drones.convert import StreamFilter, convert, dead_letter
from drones.fleet import Fleet
from drones.flight_log import FlightRecorder
from drones.mavlink import mavutil
from drones.upload import QueueSession
from telemetry.config import MavlinkConfig
from telemetry.errors import DecodeError, TelemetryError
from telemetry.health import Health, failure_reason
from telemetry.instants import now_ms
from telemetry.metrics import Metrics
from telemetry.ports import Envelope, Sink
from telemetry.records import Decoded

log = logging.getLogger(__name__)

_RECV_TIMEOUT_S = 0.5
_REOPEN_MIN_S = 1.0
_RECONNECT_MAX_S = 30.0
GCS_SYSTEM_ID = 255
GCS_COMPONENT_ID = 190  # MAV_COMP_ID_MISSIONPLANNER
_SESSION_MESSAGES = frozenset(
    {
        "MISSION_REQUEST_INT",
        "MISSION_REQUEST",
        "MISSION_ACK",
        "MISSION_COUNT",
        "MISSION_ITEM_INT",
        "COMMAND_ACK",
    }
)


class SessionBusyError(TelemetryError):
    """Another mission-protocol session with the vehicle is running (one at a time per drone)."""


class MavlinkCollector:
    name = "mavlink"

    def __init__(
        self, cfg: MavlinkConfig, sink: Sink, metrics: Metrics, health: Health, fleet: Fleet
    ) -> None:
        self._cfg = cfg
        self._sink = sink
        self._metrics = metrics
        self._health = health
        self.fleet = fleet
        self._key = bytes.fromhex(cfg.signing_key) if cfg.signing_key else None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._links: dict[str, Any] = {}
        self._links_lock = threading.Lock()
        self.missions: dict[int, str] = {}  # system id → the mission id its events belong to
        self._inboxes: dict[int, queue.Queue[Any]] = {}  # system id → a ground-station session's inbox
        self._send_locks: dict[str, threading.Lock] = {}
        self._filter = StreamFilter()  # one per collector: links of one vehicle share it
        self.flights: FlightRecorder | None = None  # each mission's packets, as a .tlog

    async def __aenter__(self) -> Self:
        for url in self._cfg.endpoints:
            self._health.set(f"mavlink:{url}", "starting")
            t = threading.Thread(target=self._run, args=(url,), name=f"mavlink {url}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        self._threads.clear()

    def link(self, url: str) -> Any:
        """The open connection of an endpoint (to send commands), or None."""
        with self._links_lock:
            return self._links.get(url)

    def open_session(self, sysid: int) -> QueueSession | None:
        """A mission-protocol session with a vehicle over the link it was heard on, or None when
        it is not connected. One at a time per vehicle: a second raises :class:`SessionBusyError`
        until the first is closed (two uploads interleaved would corrupt both)."""
        status = next((d for d in self.fleet.snapshot() if d.drone == sysid), None)
        conn = self.link(status.link) if status is not None else None
        if status is None or conn is None:
            return None
        inbox: queue.Queue[Any] = queue.Queue()
        with self._links_lock:
            if sysid in self._inboxes:
                raise SessionBusyError(f"drone {sysid} is busy with another mission command")
            self._inboxes[sysid] = inbox
            lock = self._send_locks.setdefault(status.link, threading.Lock())
        return QueueSession(conn.mav.send, inbox, lock)

    def close_session(self, sysid: int) -> None:
        with self._links_lock:
            self._inboxes.pop(sysid, None)

    def _connect(self, url: str) -> Any:
        conn = mavutil().mavlink_connection(
            url, source_system=GCS_SYSTEM_ID, source_component=GCS_COMPONENT_ID
        )
        if self._key is not None:
            conn.setup_signing(self._key, sign_outgoing=True, allow_unsigned_callback=self._unsigned)
        return conn

    def _unsigned(self, mav: Any, msgid: int) -> bool:
        self._metrics.mavlink_unsigned.inc()
        return False

    def _run(self, url: str) -> None:
        """The link's thread until the stop event: open, receive; any failure (a socket or serial
        error, an exception out of pymavlink's parser, a bug in a converter) marks the link down
        in ``/readyz`` with the reason, and it is reopened after a doubling back-off capped at
        30 s. It never ends silently: what escapes even this is reported before it ends."""
        component = f"mavlink:{url}"
        backoff = _REOPEN_MIN_S
        try:
            while not self._stop.is_set():
                opened = time.monotonic()
                failure = self._session(url, component)
                if failure is None:
                    return  # stopped
                self._metrics.mavlink_link_failures.labels(link=url).inc()
                if time.monotonic() - opened >= _RECONNECT_MAX_S:
                    backoff = _REOPEN_MIN_S  # it had been up a while: a fresh failure
                if self._health.set(component, "down", f"{failure}; reopening in {backoff:g} s"):
                    log.warning("MAVLink endpoint %s: %s; reopening", url, failure)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, _RECONNECT_MAX_S)
        except BaseException as exc:
            self._health.set(component, "down", f"link thread ended: {failure_reason(exc)}")
            log.exception("MAVLink endpoint %s: the link thread ended", url)
            raise

    def _session(self, url: str, component: str) -> str | None:
        """One connection, from open to failure (its reason) or to the stop event (None)."""
        try:
            conn = self._connect(url)
        except Exception as exc:  # noqa: BLE001 - any failure to open is reported and retried
            return f"cannot open: {failure_reason(exc)}"
        with self._links_lock:
            self._links[url] = conn
        if self._health.set(component, "up", "listening"):
            log.info("MAVLink endpoint %s open", url)
        try:
            self._receive(conn, url)
        except Exception as exc:  # reported in /readyz, the link reopened
            if not isinstance(exc, OSError):  # not the network's: keep the traceback
                log.warning("MAVLink endpoint %s failed", url, exc_info=exc)
            return f"link lost: {failure_reason(exc)}"
        finally:
            with self._links_lock:
                self._links.pop(url, None)
            try:
                conn.close()
            except Exception as exc:  # noqa: BLE001 - closing a broken link may fail too
                log.debug("MAVLink endpoint %s: close failed: %s", url, exc)
        return None

    def _receive(self, conn: Any, url: str) -> None:
        while not self._stop.is_set():
            msg = conn.recv_match(blocking=True, timeout=_RECV_TIMEOUT_S)
            if msg is None:
                continue
            kind = msg.get_type()
            if kind == "BAD_DATA":
                self._metrics.mavlink_bad.inc()
                continue
            sysid = msg.get_srcSystem()
            if self.flights is not None:
                self.flights.write(sysid, bytes(msg.get_msgbuf()), time.time_ns() // 1000)
            if kind in _SESSION_MESSAGES:
                with self._links_lock:
                    inbox = self._inboxes.get(sysid)
                if inbox is not None:
                    inbox.put(msg)
            received_ms = now_ms()
            try:
                record = convert(msg, received_ms, self.missions.get(sysid, "unassigned"))
            except DecodeError as err:  # an impossible value: kept as a dead letter
                envelope = Envelope(
                    "mavlink", Decoded(dead_letters=(dead_letter(msg, err, received_ms, "mavlink"),))
                )
            else:
                if record is None:
                    continue
                record = self._filter.apply(record)
                if record is None:
                    continue
                self.fleet.observe(record, url, heartbeat=kind == "HEARTBEAT")
                envelope = Envelope("mavlink", Decoded(records=(record,)))
            # Offered at least once: after the pipeline closed it refuses and counts the record
            # as dropped (telemetry_dropped_total), rather than this loop losing it uncounted.
            while not self._sink.submit_threadsafe(envelope, _RECV_TIMEOUT_S):
                if self._stop.is_set() or self._sink.closed:
                    break
