"""The hand-off of decoded records from an ingest worker to its parent's derivations
(telemetry/ingest/handoff.py) over a real socket pair: records arrive whole and in order, a
worker's batch is acknowledged only once written AND observed, and a parent that is gone leaves
the batch unacknowledged. The end-to-end run with real processes, Mosquitto and influxd is
tests/test_workers.py."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from sensors.mqtt_collector import MqttCollector
from telemetry.assets import load_registry, sample_assets_dir
from telemetry.config import PipelineConfig, load_settings
from telemetry.health import Health
from telemetry.ingest.handoff import HandOffClosedError, HandOffReceiver, HandOffSender, decode, encode
from telemetry.ingest.pipeline import Pipeline
from telemetry.ingest.writer import Writer
from telemetry.metrics import Metrics
from telemetry.ports import Envelope
from telemetry.records import (
    Decoded,
    DroneState,
    GaugeReading,
    Record,
    ToiletReading,
    VehicleFix,
)
from telemetry.records_people import OfficerPosition
from tests.mqtt_util import publish_all
from tests.servers import Mosquitto
from tests.test_pipeline import MemoryStore

T0 = 1_795_564_800_000
ROOT = "city/haishu"
CFG = PipelineConfig(batch_size=50, flush_interval_s=0.05, queue_size=1000)


def sample_messages() -> list[tuple[Record, ...]]:
    return [
        (GaugeReading("W01", "haishu", T0, 12.5, road="Road A", battery_v=3.7, seq=9),),
        (GaugeReading("W02", "haishu", T0 + 1, 0.0), GaugeReading("W02", "haishu", T0 + 2, 1.5)),
        (ToiletReading("T01", "haishu", T0, entries=5, total=3, nh3_mg_m3=1.2),),
        (VehicleFix("SW001", "haishu", "sweeper", T0, 29.87, 121.55, speed_kmh=8.0),),
        (OfficerPosition("O1", "haishu", T0, 29.86, 121.54, "available"),),
        (DroneState(1, T0, lat=29.8, lon=121.5, mode="AUTO", armed=True),),
    ]


def test_records_cross_whole_and_in_order() -> None:
    messages = sample_messages()
    assert decode(encode(messages)) == messages


def gauge_envelope(i: int, acks: list[int]) -> Envelope:
    return Envelope(
        "mqtt", Decoded((GaugeReading(f"W{i % 3}", "haishu", T0 + i, float(i)),)), lambda: acks.append(i)
    )


async def parent_and_worker(
    worker_end: socket.socket, parent_end: socket.socket, observed: list[Record]
) -> tuple[Pipeline, HandOffReceiver]:
    def observe(messages: list[tuple[Record, ...]]) -> None:
        observed.extend(r for m in messages for r in m)

    derivation_input = Pipeline(
        Writer(MemoryStore(), Metrics(), Health()), Metrics(), Health(), CFG, [observe], store_input=False
    )
    receiver = HandOffReceiver(derivation_input.submit)
    receiver.attach(0, parent_end)
    return derivation_input, receiver


def test_a_worker_acknowledges_only_what_is_written_and_observed_by_the_parent() -> None:
    async def go() -> tuple[list[int], list[Record], int]:
        worker_end, parent_end = socket.socketpair()
        observed: list[Record] = []
        derivation_input, receiver = await parent_and_worker(worker_end, parent_end, observed)
        store = MemoryStore()
        acks: list[int] = []
        async with HandOffSender(worker_end) as sender:
            metrics = Metrics()
            worker = Pipeline(Writer(store, metrics, Health()), metrics, Health(), CFG, hand_off=sender.send)
            w_task = asyncio.create_task(worker.run())
            # The parent's derivation input is not running yet: written, but not acknowledged.
            for i in range(120):
                await worker.submit(gauge_envelope(i, acks))
            await asyncio.sleep(0.3)
            assert len(store.points) > 0
            assert acks == []
            p_task = asyncio.create_task(derivation_input.run())
            assert await worker.drain(10)
            w_task.cancel()
            await asyncio.gather(w_task, return_exceptions=True)
        assert await derivation_input.drain(10)
        p_task.cancel()
        await receiver.close()
        return acks, observed, len(store.points)

    acks, observed, stored = asyncio.run(go())
    assert acks == list(range(120))
    assert stored == 120
    assert [r.time_ms for r in observed] == [T0 + i for i in range(120)]


def test_a_parent_that_is_gone_leaves_the_batch_unacknowledged() -> None:
    async def go() -> tuple[list[int], BaseException | None]:
        worker_end, parent_end = socket.socketpair()
        parent_end.close()  # the parent died
        acks: list[int] = []
        async with HandOffSender(worker_end) as sender:
            metrics = Metrics()
            worker = Pipeline(
                Writer(MemoryStore(), metrics, Health()), metrics, Health(), CFG, hand_off=sender.send
            )
            task = asyncio.create_task(worker.run())
            await worker.submit(gauge_envelope(1, acks))
            done, _ = await asyncio.wait([task], timeout=5)
            error = task.exception() if done else None
            task.cancel()
        return acks, error

    acks, error = asyncio.run(go())
    assert acks == []
    assert isinstance(error, HandOffClosedError)


def test_send_fails_once_closed() -> None:
    async def go() -> None:
        worker_end, parent_end = socket.socketpair()
        async with HandOffSender(worker_end) as sender:
            parent_end.close()
            with pytest.raises(HandOffClosedError):
                await asyncio.wait_for(sender.send(sample_messages()), 5)
            with pytest.raises(HandOffClosedError):  # and every send after
                await sender.send(sample_messages())

    asyncio.run(go())


class _Counting:
    """A sink that only counts what the collector hands it (and acknowledges it)."""

    closed = False

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    def submit_threadsafe(self, envelope: Envelope, timeout_s: float) -> bool:
        self.envelopes.append(envelope)
        if envelope.ack is not None:  # not under the collector's lock, as the pipeline does
            threading.Timer(0.01, envelope.ack).start()
        return True


@pytest.mark.integration
def test_the_parents_connection_drops_what_its_session_kept_from_a_single_process_run(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    # `serve` under client id X (one process) leaves a persistent session subscribed to the
    # telemetry; `serve --workers` under X must not keep receiving (and storing) it in the parent.
    cfg = load_settings(overrides={"mqtt": {"url": mosquitto.url, "client_id": "parent-x"}}).mqtt
    registry = load_registry(sample_assets_dir())

    async def connect(subscribe: bool, sink: _Counting, then: Callable[[], object] | None = None) -> None:
        health = Health()
        collector = MqttCollector(cfg, registry, "haishu", sink, Metrics(), health, subscribe=subscribe)
        async with collector:
            for _ in range(200):
                if any(c.name == "mqtt" and c.state == "up" for c in health.snapshot()):
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # the SUBSCRIBE or UNSUBSCRIBE is with the broker
            if then is not None:
                await asyncio.to_thread(then)
                await asyncio.sleep(1.0)

    reading = [(f"{ROOT}/gauge/W01/telemetry", f'{{"ts": {T0}, "depth_cm": 1.0}}')]
    single = _Counting()
    asyncio.run(connect(True, single, lambda: publish_all(mosquitto.url, reading)))
    assert len(single.envelopes) == 1  # the session subscribes
    parent = _Counting()
    asyncio.run(connect(False, parent, lambda: publish_all(mosquitto.url, reading)))
    assert parent.envelopes == []


def test_replays_drone_points_cross_as_drone_states() -> None:
    from telemetry.records_drones import drone_point

    record = drone_point(3, T0, (("lat", 29.8), ("lon", 121.5), ("mode", "AUTO")))
    ((back,),) = decode(encode([(record,)]))
    assert back == DroneState(3, T0, lat=29.8, lon=121.5, mode="AUTO")
