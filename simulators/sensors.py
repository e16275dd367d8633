"""The sensor fleet simulator: gauges, toilets and vehicles publishing CONTRACT §2 payloads.

Deterministic for a given ``seed``; ``rate`` is ticks per second (each tick publishes one message
per device). Runs in its own thread with a stop event (:meth:`SensorFleet.start`/``stop``) or in
the foreground (:meth:`SensorFleet.run`).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from simulators import scenarios as sc
from telemetry.assets import sample_assets_dir
from telemetry.geo import wgs84_to_gcj02
from telemetry.urls import parse_mqtt_url

log = logging.getLogger(__name__)
SCENARIOS = sc.SCENARIOS
NIGHT_FIX_S = 2.0  # seconds between the fixes of a night-shift backlog
NIGHT_CHUNK = 2000  # fixes per backlog message


@dataclass
class _Vehicle:
    id: str
    path: list[tuple[float, float]]  # (lon, lat)
    speed_kmh: float
    progress_m: float = 0.0
    role: int | None = None  # sweepers scenario: the sweeper's index among sweepers


def _load(directory: Path, name: str) -> list[dict[str, Any]]:
    path = directory / name
    if not path.exists():
        return []
    feats: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["features"]
    return feats


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    dx = (b[0] - a[0]) * 111_320 * math.cos(math.radians(a[1]))
    dy = (b[1] - a[1]) * 110_540
    return math.hypot(dx, dy)


def _along(path: list[tuple[float, float]], along: float) -> tuple[float, float]:
    for a, b in itertools.pairwise(path):
        d = _metres(a, b)
        if along <= d:
            f = along / d if d else 0.0
            return a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f
        along -= d
    return path[-1]


class SensorFleet:
    def __init__(
        self,
        broker_url: str,
        *,
        root: str = "city/haishu",
        seed: int = 1,
        rate_hz: float = 1.0,
        scenario: str = "normal",
        assets: Path | None = None,
        qos: int = 1,
        username: str = "",
        password: str = "",
    ) -> None:
        self._scenarios = sc.parse(scenario)
        self._address = parse_mqtt_url(broker_url)
        self._root = root
        self._rng = random.Random(seed)
        self._period_s = 1.0 / rate_hz
        self._qos = qos
        self._auth = (username, password)
        directory = assets or sample_assets_dir()
        self._gauges = {f["properties"]["id"]: 0.0 for f in _load(directory, "gauges.geojson")}
        self._toilets = {f["properties"]["id"]: 0 for f in _load(directory, "toilets.geojson")}
        self._vehicles = [
            _Vehicle(v, [tuple(c) for c in f["geometry"]["coordinates"]], 6.0 + 2 * i)
            for f in _load(directory, "routes.geojson")
            for i, v in enumerate(f["properties"].get("vehicles", []))
        ]
        self._seq = 0
        self._started: datetime | None = None
        if "sweepers" in self._scenarios:
            fleets = {v: f["properties"].get("fleet") for f in _load(directory, "routes.geojson")
                      for v in f["properties"].get("vehicles", [])}  # fmt: skip
            sweepers = [v for v in self._vehicles if fleets.get(v.id) == "sweeper"]
            for k, v in enumerate(sweepers):
                v.role = k
                v.speed_kmh = sc.sweeper_role(k)[0]
        self.published = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- payloads ---------------------------------------------------------------------------
    def tick(self, now: datetime) -> list[tuple[str, dict[str, Any]]]:
        """The messages of one tick: (topic, payload object)."""
        self._seq += 1
        ts = now.astimezone(UTC).isoformat(timespec="milliseconds")
        out: list[tuple[str, dict[str, Any]]] = []
        self._started = self._started or now
        storm = "rainstorm" in self._scenarios
        if storm:  # the storm's own clock: fast, from an hour ago, never ahead of now
            elapsed = (now - self._started).total_seconds()
            event = min(now, self._started + timedelta(seconds=elapsed * sc.STORM_SPEEDUP - sc.STORM_LEAD_S))
            storm_min = (elapsed * sc.STORM_SPEEDUP) / 60.0
        for k, (gid, previous) in enumerate(self._gauges.items()):
            depth = max(0.0, previous + self._rng.gauss(0, 0.3))
            gauge_ts = ts
            if storm and k < 5:
                depth = sc.storm_depth_cm(k, storm_min) + self._rng.gauss(0, 0.2)
                gauge_ts = event.astimezone(UTC).isoformat(timespec="milliseconds")
            self._gauges[gid] = depth
            payload = {
                "ts": gauge_ts,
                "seq": self._seq,
                "depth_cm": round(max(0.0, depth), 1),
                "battery_v": 3.6,
            }
            out.append((f"{self._root}/gauge/{gid}/telemetry", payload))
        rush = "toilet-rush" in self._scenarios
        for k, (tid, total) in enumerate(self._toilets.items()):
            entries = (
                self._rng.choice((0, 0, 0, 0, 1)) if not (rush and k == 0) else self._rng.choice((2, 3, 4))
            )
            self._toilets[tid] = total + entries
            nh3 = abs(self._rng.gauss(0.1, 0.05)) + (0.4 if rush and k == 1 else 0.0)
            payload = {
                "ts": ts,
                "seq": self._seq,
                "entries": entries,
                "total": total + entries,
                "nh3_mg_m3": round(nh3, 3),
                "h2s_mg_m3": round(abs(self._rng.gauss(0.003, 0.001)), 4),
            }
            out.append((f"{self._root}/toilet/{tid}/telemetry", payload))
        for v in self._vehicles:
            v.progress_m += v.speed_kmh / 3.6 * self._period_s
            lon, lat = self._position(v)
            crs = "WGS84"
            if v.role is not None:
                _, north_m, crs = sc.sweeper_role(v.role)
                lat += north_m / 110_540
                if crs == "GCJ02":
                    lat, lon = wgs84_to_gcj02(lat, lon)
            payload = {
                "ts": ts,
                "seq": self._seq,
                "lat": round(lat, 7),
                "lon": round(lon, 7),
                "crs": crs,
                "speed_kmh": v.speed_kmh,
                "hdop": 0.9,
                "working": True,
            }
            out.append((f"{self._root}/vehicle/{v.id}/telemetry", payload))
        return out

    def night_shift(
        self, now: datetime, timezone: str = "Asia/Shanghai"
    ) -> list[tuple[str, list[dict[str, Any]]]]:
        """The sweepers scenario's last night: each sweeper's one pass of its route, in its role,
        from 00:30 local time, as backlog arrays (CONTRACT §2) a vehicle uploads when it comes
        back online; today's night if that pass is over by ``now``, else yesterday's. This gives
        the compliance table whole passes to judge at once: one compliant sweeper, one speeding,
        one off its route, one sending GCJ-02."""
        if "sweepers" not in self._scenarios:
            return []
        zone = ZoneInfo(timezone)
        out: list[tuple[str, list[dict[str, Any]]]] = []
        for v in self._vehicles:
            if v.role is None:
                continue
            speed_kmh, north_m, crs = sc.sweeper_role(v.role)
            length = sum(_metres(a, b) for a, b in itertools.pairwise(v.path))
            duration_s = length / (speed_kmh / 3.6)
            local = now.astimezone(zone)
            start = datetime.combine(local.date(), dtime(0, 30), zone)
            if start + timedelta(seconds=duration_s) > now:
                start -= timedelta(days=1)
            fixes = []
            for k in range(int(duration_s // NIGHT_FIX_S) + 1):
                lon, lat = _along(v.path, min(length, k * NIGHT_FIX_S * speed_kmh / 3.6))
                lat += north_m / 110_540
                if crs == "GCJ02":
                    lat, lon = wgs84_to_gcj02(lat, lon)
                ts = (start + timedelta(seconds=k * NIGHT_FIX_S)).astimezone(UTC)
                fixes.append({"ts": ts.isoformat(timespec="milliseconds"), "lat": round(lat, 7),
                              "lon": round(lon, 7), "crs": crs, "speed_kmh": speed_kmh, "hdop": 0.9,
                              "working": True})  # fmt: skip
            for i in range(0, len(fixes), NIGHT_CHUNK):
                out.append((f"{self._root}/vehicle/{v.id}/telemetry", fixes[i : i + NIGHT_CHUNK]))
        return out

    @staticmethod
    def _position(v: _Vehicle) -> tuple[float, float]:
        legs = list(zip(v.path, v.path[1:], strict=False))
        total = sum(_metres(a, b) for a, b in legs)
        along = v.progress_m % (2 * total)
        if along > total:  # back along the route
            along = 2 * total - along
        return _along(v.path, along)

    # --- running ----------------------------------------------------------------------------
    def _connect(self) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        if self._auth[0]:
            client.username_pw_set(*self._auth)
        if self._address.tls:
            client.tls_set()
        client.connect(self._address.host, self._address.port, keepalive=30)
        client.loop_start()
        return client

    def run(self, duration_s: float | None = None) -> int:
        """Publish until stopped or ``duration_s`` passes; returns the number published."""
        client = self._connect()
        try:
            for topic, backlog in self.night_shift(datetime.now(UTC)):
                client.publish(topic, json.dumps(backlog), qos=self._qos)
                self.published += 1
            deadline = None if duration_s is None else time.monotonic() + duration_s
            next_tick = time.monotonic()
            while not self._stop.is_set() and (deadline is None or time.monotonic() < deadline):
                for topic, payload in self.tick(datetime.now(UTC)):
                    client.publish(topic, json.dumps(payload), qos=self._qos)
                    self.published += 1
                next_tick += self._period_s
                self._stop.wait(max(0.0, next_tick - time.monotonic()))
        finally:
            client.disconnect()
            client.loop_stop()
        return self.published

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="sensor-fleet", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
