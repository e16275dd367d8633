"""Simulated duty officers (CONTRACT §2 ``officer``; issue 19): each patrols a beat on foot,
reports its position every ``report_s`` from a phone app, and on an ``assign`` command accepts
after a short while, rides to the incident on an e-bike, reports ``arrived`` on the spot (its
fixes also show it), handles it for a few minutes and reports ``resolved`` with a note and the
SHA-256 of its photo. ``cancel`` sends it back to its beat. The clock is the caller's
(:meth:`OfficerSquad.tick`), so tests drive it without waiting."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import queue
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from pyproj import Geod

from telemetry.urls import parse_mqtt_url

log = logging.getLogger(__name__)
_GEOD = Geod(ellps="WGS84")
CENTRE = (29.8683, 121.5440)  # Haishu, DOMAIN.md
NAMES = ("OF-01", "OF-02", "OF-03", "OF-04", "OF-05", "OF-06")


@dataclass
class _Officer:
    id: str
    lat: float
    lon: float
    beat: tuple[float, float]
    goal: tuple[float, float]
    status: str = "available"
    incident: str | None = None
    accept_at: float | None = None
    accepted: bool = False
    arrived: bool = False
    resolve_at: float | None = None
    next_report: float = 0.0


class OfficerSquad:
    def __init__(
        self, count: int = 6, *, root: str = "city/haishu", seed: int = 1, report_s: float = 10.0,
        walk_kmh: float = 5.0, ride_kmh: float = 18.0, accept_s: tuple[float, float] = (5.0, 20.0),
        handle_s: tuple[float, float] = (60.0, 180.0), decline: float = 0.0, beat_m: float = 800.0,
    ) -> None:  # fmt: skip
        self.root = root
        self._rng = random.Random(seed)
        self._report_s, self._walk, self._ride = report_s, walk_kmh / 3.6, ride_kmh / 3.6
        self._accept_s, self._handle_s, self._decline, self._beat_m = accept_s, handle_s, decline, beat_m
        self.officers: dict[str, _Officer] = {}
        for i in range(count):
            oid = NAMES[i] if i < len(NAMES) else f"OF-{i + 1:02d}"
            beat = self._around(CENTRE, 1500.0)
            lat, lon = self._around(beat, beat_m)
            self.officers[oid] = _Officer(oid, lat, lon, beat, self._around(beat, beat_m))
        self._commands: queue.SimpleQueue[tuple[str, dict[str, Any]]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self.published = 0

    def _around(self, centre: tuple[float, float], radius_m: float) -> tuple[float, float]:
        az, d = self._rng.uniform(0, 360), radius_m * math.sqrt(self._rng.random())
        lon, lat, _ = _GEOD.fwd(centre[1], centre[0], az, d)
        return lat, lon

    # --- what an officer does ------------------------------------------------------------------
    def command(self, officer: str, body: dict[str, Any], now: float) -> None:
        """An ``assign`` or ``cancel`` from ``{root}/officer/{id}/command``."""
        o = self.officers.get(officer)
        incident = body.get("incident")
        if o is None or not isinstance(incident, str):
            return
        if body.get("action") == "assign" and isinstance(body.get("lat"), int | float):
            o.incident, o.goal = incident, (float(body["lat"]), float(body["lon"]))
            o.accept_at, o.accepted, o.arrived, o.resolve_at = (
                now + self._rng.uniform(*self._accept_s),
                False,
                False,
                None,
            )
        elif body.get("action") == "cancel" and o.incident == incident:
            o.incident, o.status, o.goal = None, "available", self._around(o.beat, self._beat_m)

    def tick(self, now: float, dt: float) -> list[tuple[str, dict[str, Any]]]:
        """Move everyone by ``dt`` seconds to ``now`` (epoch seconds); what they publish."""
        out: list[tuple[str, dict[str, Any]]] = []
        ts = int(now * 1000)
        for o in self.officers.values():
            out += self._decide(o, now, ts)
            speed = self._ride if o.incident and o.accepted and not o.arrived else self._walk
            if not (o.incident and o.arrived):
                self._move(o, speed * dt)
            if o.incident and o.accepted and not o.arrived and self._distance(o, o.goal) < 10.0:
                o.arrived, o.resolve_at = True, now + self._rng.uniform(*self._handle_s)
                out.append(self._event(o, "arrived", ts))
            if now >= o.next_report:
                o.next_report = now + self._report_s
                body = {"ts": ts, "lat": round(o.lat, 7), "lon": round(o.lon, 7), "status": o.status}
                out.append((f"{self.root}/officer/{o.id}/telemetry", body))
        return out

    def _decide(self, o: _Officer, now: float, ts: int) -> list[tuple[str, dict[str, Any]]]:
        if o.incident is None:
            return []
        if not o.accepted and o.accept_at is not None and now >= o.accept_at:
            if self._rng.random() < self._decline:
                declined = self._event(o, "decline", ts)
                o.incident, o.goal = None, self._around(o.beat, self._beat_m)
                return [declined]
            o.accepted, o.status = True, "busy"
            return [self._event(o, "accept", ts)]
        if o.arrived and o.resolve_at is not None and now >= o.resolve_at:
            photo = f"{o.id} {o.incident} {ts}".encode()
            done = self._event(
                o, "resolved", ts, note="已处置", evidence_sha256=hashlib.sha256(photo).hexdigest()
            )
            o.incident, o.status, o.goal = None, "available", self._around(o.beat, self._beat_m)
            return [done]
        return []

    def _event(self, o: _Officer, kind: str, ts: int, **extra: str) -> tuple[str, dict[str, Any]]:
        return f"{self.root}/officer/{o.id}/event", {"ts": ts, "type": kind, "incident": o.incident, **extra}

    @staticmethod
    def _distance(o: _Officer, to: tuple[float, float]) -> float:
        return float(_GEOD.inv(o.lon, o.lat, to[1], to[0])[2])

    def _move(self, o: _Officer, step_m: float) -> None:
        left = self._distance(o, o.goal)
        if left <= step_m:
            o.lat, o.lon = o.goal
            if o.incident is None:
                o.goal = self._around(o.beat, self._beat_m)  # patrol on
            return
        az = _GEOD.inv(o.lon, o.lat, o.goal[1], o.goal[0])[0]
        o.lon, o.lat, _ = _GEOD.fwd(o.lon, o.lat, az, step_m)

    # --- running -------------------------------------------------------------------------------
    def run(self, broker: str, duration_s: float | None = None, qos: int = 1) -> int:
        """Publish until stopped or ``duration_s`` passes, obeying commands; the number published."""
        address = parse_mqtt_url(broker)
        client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        if address.tls:
            client.tls_set()

        def on_connect(c: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
            c.subscribe(f"{self.root}/officer/+/command", qos=1)

        def on_message(c: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
            try:
                body = json.loads(msg.payload)
            except ValueError:
                return
            if isinstance(body, dict):
                self._commands.put((msg.topic.split("/")[-2], body))

        client.on_connect, client.on_message = on_connect, on_message
        client.connect(address.host, address.port, keepalive=30)
        client.loop_start()
        deadline = None if duration_s is None else time.monotonic() + duration_s
        last = time.time()
        try:
            while not self._stop.is_set() and (deadline is None or time.monotonic() < deadline):
                now = time.time()
                while not self._commands.empty():
                    self.command(*self._commands.get(), now)
                for topic, body in self.tick(now, now - last):
                    client.publish(topic, json.dumps(body, ensure_ascii=False), qos=qos)
                    self.published += 1
                last = now
                self._stop.wait(1.0)
        finally:
            client.disconnect()
            client.loop_stop()
        return self.published

    def start(self, broker: str) -> None:
        self._thread = threading.Thread(target=self.run, args=(broker,), name="officers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread = getattr(self, "_thread", None)
        if thread is not None:
            thread.join(timeout=10)
