"""The sensor fleet simulator: gauges, toilets and vehicles publishing CONTRACT §2 payloads.

Each device reports at the rate of its fielded kind (:mod:`simulators.devices`): gauges every 5
minutes dry and every minute wet, toilet counters a cumulative total every minute (reset at local
midnight), vehicle GPS terminals every ``gps_interval_s`` (default 15 s). ``rate`` is how often
the fleet wakes up to publish what is due (the resolution, not the reporting rate).
Deterministic for a given ``seed``. Runs in its own thread with a stop event
(:meth:`SensorFleet.start`/``stop``) or in the foreground (:meth:`SensorFleet.run`).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import queue
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from simulators import scenarios as sc
from simulators.devices import Counter, Gauge, Rates, Schedule, iso
from telemetry.assets import sample_assets_dir
from telemetry.geo import wgs84_to_gcj02
from telemetry.instants import epoch_ms
from telemetry.urls import parse_mqtt_url

log = logging.getLogger(__name__)
SCENARIOS = sc.SCENARIOS
NIGHT_CHUNK = 2000  # fixes per backlog message


@dataclass
class _Vehicle:
    id: str
    path: list[tuple[float, float]]  # (lon, lat)
    speed_kmh: float
    progress_m: float = 0.0
    role: int | None = None  # sweepers scenario: the sweeper's index among sweepers
    terminal: Schedule = field(default_factory=Schedule)


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
        rates: Rates | None = None,
        timezone: str = "Asia/Shanghai",
        storm_every_s: float = sc.STORM_EVERY_S,
    ) -> None:
        self._scenarios = sc.parse(scenario)
        self._address = parse_mqtt_url(broker_url)
        self._root = root
        self._rng = random.Random(seed)
        if rate_hz <= 0:
            raise ValueError("--rate must be > 0 wake-ups per second")
        self._period_s = 1.0 / rate_hz
        self.rates = rates or Rates()
        self._zone = ZoneInfo(timezone)
        self._qos = qos
        self._auth = (username, password)
        directory = assets or sample_assets_dir()
        self._gauges = [Gauge(f["properties"]["id"]) for f in _load(directory, "gauges.geojson")]
        self.storms = [  # the rainstorm's gauges, each on its own event clock
            sc.StormClock(k, storm_every_s, min(sc.STORM_GAUGES, len(self._gauges)))
            for k in range(min(sc.STORM_GAUGES, len(self._gauges)))
        ]
        toilets = [
            (f["properties"]["id"], f["properties"].get("traffic"))
            for f in _load(directory, "toilets.geojson")
        ]
        self.counters = [Counter(t, sc.TRAFFIC_PER_MIN.get(traffic, 0.5)) for t, traffic in toilets]
        self._cleaners: list[tuple[float, Schedule]] = []  # (round in s, schedule)
        for k, (_, traffic) in enumerate(toilets):
            every_s = sc.CLEAN_EVERY_MIN.get(traffic, 240.0) * 60
            phase_s = every_s * (k + 1) / (len(toilets) + 1)  # the first rounds spread out
            self._cleaners.append((every_s, Schedule(phase_s)))
        self._vehicles = [
            _Vehicle(v, [tuple(c) for c in f["geometry"]["coordinates"]], 6.0 + 2 * i)
            for f in _load(directory, "routes.geojson")
            for i, v in enumerate(f["properties"].get("vehicles", []))
        ]
        for k, v in enumerate(self._vehicles):  # staggered: some vehicle moves every few seconds
            v.terminal.phase_s = self.rates.gps_interval_s * k / len(self._vehicles)
        self._seq: dict[str, int] = {}
        self._commands: queue.SimpleQueue[tuple[str, bytes]] = queue.SimpleQueue()  # from paho's thread
        self._started: datetime | None = None
        self._last: datetime | None = None
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
    def _message(
        self, kind: str, device: str, payload: dict[str, Any], channel: str = "telemetry"
    ) -> tuple[str, dict[str, Any]]:
        key = f"{kind}/{device}/{channel}"
        self._seq[key] = self._seq.get(key, 0) + 1
        return f"{self._root}/{key}", {**payload, "seq": self._seq[key]}

    def tick(self, now: datetime) -> list[tuple[str, dict[str, Any]]]:
        """What the devices report at ``now`` (topic, payload object): each device publishes
        when its own interval has passed, in the clock it stamps its messages with."""
        now_ms = epoch_ms(now)
        dt_s = (now - self._last).total_seconds() if self._last is not None else 0.0
        self._last = now
        self._started = self._started or now
        out: list[tuple[str, dict[str, Any]]] = self._obey(now_ms)
        storm = "rainstorm" in self._scenarios
        wall_s = (now - self._started).total_seconds()
        for k, g in enumerate(self._gauges):
            noise = self._rng.gauss(0, 0.2)
            if storm and k < len(self.storms):  # the gauge's storm clock: never ahead of now
                event_s, depth = self.storms[k].step(wall_s)
                event_ms = min(now_ms, epoch_ms(self._started) + round(event_s * 1000))
                report = g.step(event_ms, (depth or 0.0) + noise, self.rates)
            else:
                report = g.step(now_ms, noise, self.rates)  # dry: a few millimetres of noise at most
            if report is not None:
                out.append(self._message("gauge", g.id, report))
        rush = "toilet-rush" in self._scenarios
        for k, c in enumerate(self.counters):
            per_min = sc.RUSH_PER_MIN if rush and k == 0 else None
            for t_ms, total in c.step(self._rng, now_ms, self._zone, self.rates, per_min):
                nh3 = abs(self._rng.gauss(0.1, 0.05)) + (0.4 if rush and k == 1 else 0.0)
                h2s = abs(self._rng.gauss(0.003, 0.001))
                payload = {"ts": iso(t_ms), "total": total, "nh3_mg_m3": round(nh3, 3),
                           "h2s_mg_m3": round(h2s, 4)}  # fmt: skip
                out.append(self._message("toilet", c.id, payload))
            every_s, cleaner = self._cleaners[k]
            if cleaner.due(now_ms, every_s):
                check_in = {"ts": iso(now_ms), "type": "cleaned", "by": "保洁员"}
                out.append(self._message("toilet", c.id, check_in, "event"))
        for v in self._vehicles:
            v.progress_m += v.speed_kmh / 3.6 * dt_s
            if v.terminal.due(now_ms, self.rates.gps_interval_s):
                out.append(self._message("vehicle", v.id, self._fix(v, now_ms)))
        return out

    def storm_now(self, gauge: str | None = None) -> str | None:
        """Start a storm cell at the next tick over ``gauge`` (default: the storm gauge whose clock
        is furthest behind, i.e. the one that can have it soonest); returns the gauge's id, or
        None without the rainstorm scenario. The cell waits until the gauge's event clock is far
        enough behind the wall clock to run it (see :mod:`simulators.scenarios`)."""
        if "rainstorm" not in self._scenarios or not self.storms:
            return None
        ids = [g.id for g in self._gauges[: len(self.storms)]]
        if gauge is None:
            k = min(range(len(self.storms)), key=lambda i: (self.storms[i].event_s, i))
        elif gauge in ids:
            k = ids.index(gauge)
        else:
            raise ValueError(f"{gauge} is not one of the storm's gauges {', '.join(ids)}")
        self.storms[k].start_cell_now()
        return ids[k]

    def _fix(self, v: _Vehicle, now_ms: int) -> dict[str, Any]:
        lon, lat = self._position(v)
        crs = "WGS84"
        if v.role is not None:
            _, north_m, crs = sc.sweeper_role(v.role)
            lat += north_m / 110_540
            if crs == "GCJ02":
                lat, lon = wgs84_to_gcj02(lat, lon)
        return {"ts": iso(now_ms), "lat": round(lat, 7), "lon": round(lon, 7), "crs": crs,
                "speed_kmh": v.speed_kmh, "hdop": 0.9, "working": True}  # fmt: skip

    def night_shift(
        self, now: datetime, timezone: str | None = None
    ) -> list[tuple[str, list[dict[str, Any]]]]:
        """The sweepers scenario's last night: each sweeper's one pass of its route, in its role,
        from 00:30 local time, a fix every ``gps_interval_s``, as backlog arrays (CONTRACT §2) a
        vehicle uploads when it comes back online; today's night if that pass is over by
        ``now``, else yesterday's. This gives the compliance table whole passes to judge at once:
        one compliant sweeper, one speeding, one off its route, one sending GCJ-02."""
        if "sweepers" not in self._scenarios:
            return []
        zone = ZoneInfo(timezone) if timezone else self._zone
        out: list[tuple[str, list[dict[str, Any]]]] = []
        step_s = self.rates.gps_interval_s
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
            offsets = [k * step_s for k in range(int(duration_s // step_s) + 1)]
            if offsets[-1] < duration_s:
                offsets.append(duration_s)  # the terminal's fix at the end of the pass
            fixes = []
            for t in offsets:
                lon, lat = _along(v.path, min(length, t * speed_kmh / 3.6))
                lat += north_m / 110_540
                if crs == "GCJ02":
                    lat, lon = wgs84_to_gcj02(lat, lon)
                ts = (start + timedelta(seconds=t)).astimezone(UTC)
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
    def gauge(self, gauge_id: str) -> Gauge:
        """One simulated gauge (its commanded interval, its last report)."""
        return next(g for g in self._gauges if g.id == gauge_id)

    def command(self, topic: str, body: bytes) -> None:
        """A command for a gauge (``{root}/gauge/{id}/command``), obeyed at the next tick."""
        self._commands.put((topic, body))

    def _obey(self, now_ms: int) -> list[tuple[str, dict[str, Any]]]:
        """The commands received since the last tick: each gauge takes its new interval and
        acknowledges it on its event channel (CONTRACT §2 ``command_ack``)."""
        out: list[tuple[str, dict[str, Any]]] = []
        gauges = {g.id: g for g in self._gauges}
        while not self._commands.empty():
            topic, body = self._commands.get_nowait()
            parts = topic.split("/")
            gauge = gauges.get(parts[-2]) if len(parts) >= 3 and parts[-1] == "command" else None
            ack = gauge.command(body, now_ms) if gauge is not None else None
            if gauge is not None and ack is not None:
                out.append(self._message("gauge", gauge.id, ack, "event"))
        return out

    def _connect(self) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        if self._auth[0]:
            client.username_pw_set(*self._auth)
        if self._address.tls:
            client.tls_set()
        commands = f"{self._root}/gauge/+/command"  # the gauges obey interval commands
        client.on_connect = lambda c, *_: c.subscribe(commands, qos=1)  # again after a reconnect
        client.on_message = lambda c, u, m: self.command(m.topic, bytes(m.payload))
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
            started, origin = time.monotonic(), datetime.now(UTC)
            k = 0
            while not self._stop.is_set() and (deadline is None or time.monotonic() < deadline):
                # the k-th wake-up's time is exact, so the devices' intervals are too
                for topic, payload in self.tick(origin + timedelta(seconds=k * self._period_s)):
                    client.publish(topic, json.dumps(payload), qos=self._qos)
                    self.published += 1
                k += 1
                self._stop.wait(max(0.0, started + k * self._period_s - time.monotonic()))
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
