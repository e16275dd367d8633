"""Unit tests of the pipeline's logic with an in-memory store (the integration with the real
store and broker is covered in test_mqtt_ingest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import TracebackType

from telemetry.config import PipelineConfig
from telemetry.errors import StoreError
from telemetry.health import Health
from telemetry.ingest.pipeline import Pipeline
from telemetry.ingest.writer import Writer
from telemetry.metrics import Metrics
from telemetry.ports import Envelope, Pruned
from telemetry.queries import LatestValue, SeriesQuery, SeriesRow
from telemetry.records import DeadLetter, Decoded, GaugeReading, Point

T0 = 1_795_564_800_000


class MemoryStore:
    name = "memory"

    def __init__(self, fail_times: int = 0, reject_depth: float | None = None) -> None:
        self.points: list[Point] = []
        self.letters: list[DeadLetter] = []
        self.batches: list[int] = []
        self.fail_times = fail_times
        self.reject_depth = reject_depth

    async def __aenter__(self) -> MemoryStore:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def write(self, points: Sequence[Point]) -> None:
        if self.fail_times > 0:
            self.fail_times -= 1
            raise StoreError("connection refused", retryable=True)
        if self.reject_depth is not None and any(p.field("depth_cm") == self.reject_depth for p in points):
            raise StoreError("field type conflict", retryable=False)
        self.batches.append(len(points))
        self.points.extend(points)

    async def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        self.letters.extend(letters)

    async def query_series(self, query: SeriesQuery) -> list[SeriesRow]:
        return []

    async def latest(self, measurement: str) -> list[LatestValue]:
        return []

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        return self.letters[:limit]

    async def prune_dead_letters(self, older_than_ms: int, max_bytes: int) -> Pruned:
        return Pruned(0, 0)

    async def ping(self) -> None:
        return None


def make(store: MemoryStore, cfg: PipelineConfig, metrics: Metrics | None = None) -> Pipeline:
    metrics = metrics or Metrics()
    return Pipeline(Writer(store, metrics, Health()), metrics, Health(), cfg)


def env(i: int, acks: list[int] | None = None, n: int = 1) -> Envelope:
    records = tuple(GaugeReading("G01", "haishu", T0 + i * 1000 + k, float(k)) for k in range(n))
    ack = (lambda: acks.append(i)) if acks is not None else None
    return Envelope("test", Decoded(records=records), ack)


async def run_pipeline(store: MemoryStore, cfg: PipelineConfig, envelopes: list[Envelope]) -> Metrics:
    metrics = Metrics()
    p = make(store, cfg, metrics)
    task = asyncio.create_task(p.run())
    for e in envelopes:
        await p.submit(e)
    assert await p.drain(10)
    task.cancel()
    return metrics


def test_batches_by_size_and_acks_after_write() -> None:
    store = MemoryStore()
    acks: list[int] = []
    cfg = PipelineConfig(batch_size=10, flush_interval_s=5, queue_size=100)
    asyncio.run(run_pipeline(store, cfg, [env(i, acks) for i in range(25)]))
    assert store.batches[:2] == [10, 10]  # size-triggered batches
    assert sum(store.batches) == 25
    assert sorted(acks) == list(range(25))


def test_batches_by_time_when_traffic_is_slow() -> None:
    async def go() -> list[int]:
        store = MemoryStore()
        p = make(store, PipelineConfig(batch_size=1000, flush_interval_s=0.05))
        task = asyncio.create_task(p.run())
        await p.submit(env(1))
        for _ in range(200):
            if store.batches:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        return store.batches

    assert asyncio.run(go()) == [1]


def test_retryable_errors_are_retried_and_nothing_is_acked_before() -> None:
    store = MemoryStore(fail_times=3)
    acks: list[int] = []
    metrics = asyncio.run(run_pipeline(store, PipelineConfig(batch_size=5), [env(i, acks) for i in range(5)]))
    assert len(store.points) == 5
    assert sorted(acks) == list(range(5))
    assert metrics.store_errors.labels("true")._value.get() == 3


def test_invalid_points_are_isolated_into_dead_letters() -> None:
    store = MemoryStore(reject_depth=3.0)
    acks: list[int] = []
    metrics = asyncio.run(run_pipeline(store, PipelineConfig(batch_size=100), [env(0, acks, n=8)]))
    assert len(store.points) == 7
    (letter,) = store.letters
    assert (letter.reason, letter.source) == ("store_rejected", "store")
    assert "field type conflict" in letter.detail
    assert acks == [0]
    assert metrics.rejected.labels("store_rejected")._value.get() == 1
    assert metrics.written.labels("water_depth")._value.get() == 7


def test_threadsafe_submit_blocks_when_full_then_proceeds() -> None:
    async def go() -> tuple[bool, int]:
        store = MemoryStore()
        p = make(store, PipelineConfig(queue_size=10, batch_size=5, flush_interval_s=0.01))
        p.bind(asyncio.get_running_loop())
        # Nothing consumes yet: the eleventh submit times out (back-pressure, not a drop).
        results = await asyncio.to_thread(lambda: [p.submit_threadsafe(env(i), 0.05) for i in range(11)])
        task = asyncio.create_task(p.run())
        late = await asyncio.to_thread(p.submit_threadsafe, env(99), 5.0)
        assert await p.drain(5)
        task.cancel()
        return results.count(False) == 1 and late, len(store.points)

    ok, written = asyncio.run(go())
    assert ok
    assert written == 11


def test_closed_pipeline_refuses_new_input() -> None:
    async def go() -> bool:
        p = make(MemoryStore(), PipelineConfig())
        p.bind(asyncio.get_running_loop())
        await p.drain(1)
        return await asyncio.to_thread(p.submit_threadsafe, env(1), 0.01)

    assert asyncio.run(go()) is False


def test_messages_awaiting_ack_are_not_held_for_the_interval() -> None:
    """A sender limited by unacknowledged messages must not be throttled by batching."""

    async def go() -> tuple[bool, list[int]]:
        store = MemoryStore()
        acks: list[int] = []
        p = make(store, PipelineConfig(batch_size=1000, flush_interval_s=30))
        task = asyncio.create_task(p.run())
        for i in range(3):
            await p.submit(env(i, acks))
        drained = await p.drain(5)  # far less than the 30 s interval
        task.cancel()
        return drained, acks

    drained, acks = asyncio.run(go())
    assert drained
    assert sorted(acks) == [0, 1, 2]


def test_drain_waits_for_envelopes_still_in_the_hand_off() -> None:
    """An envelope a collector thread handed over but the consumer has not taken yet is
    accepted: drain may not call the pipeline idle before it is written (QoS 0, MAVLink and
    derived records have no broker to redeliver them)."""

    async def go() -> tuple[bool, int]:
        store = MemoryStore()
        p = make(store, PipelineConfig(batch_size=1000, flush_interval_s=0.05))
        p.bind(asyncio.get_running_loop())
        task = asyncio.create_task(p.run())
        await asyncio.sleep(0)  # the consumer now waits for input
        assert p.submit_threadsafe(env(1), 1.0)  # in the hand-off; the consumer is only woken
        drained = await p.drain(5)
        written = len(store.points)  # what drain promised
        task.cancel()
        return drained, written

    assert asyncio.run(go()) == (True, 1)


def test_records_lost_at_shutdown_are_counted_as_dropped() -> None:
    """The drain runs out of time with the store down: records without an acknowledgement
    (QoS 0, MAVLink, derived) are lost and counted; QoS-1 messages stay unacknowledged at the
    broker (not dropped). Input refused once the pipeline is closed counts the same way."""

    async def go() -> tuple[bool, bool, bool, list[int], float]:
        metrics = Metrics()
        p = make(
            MemoryStore(fail_times=10**9), PipelineConfig(batch_size=1000, flush_interval_s=0.01), metrics
        )
        p.bind(asyncio.get_running_loop())
        task = asyncio.create_task(p.run())
        acks: list[int] = []
        await p.submit(env(1, n=3))  # no ack: lost if never written
        await p.submit(env(2, acks, n=2))  # acked only when durable
        drained = await p.drain(0.2)
        await asyncio.wait_for(task, 10)  # the consumer stops: the writer was stopped
        refused = p.submit_threadsafe(env(3, n=4), 0.01)
        refused_acked = p.submit_threadsafe(env(4, acks, n=5), 0.01)
        return drained, refused, refused_acked, acks, metrics.dropped._value.get()

    assert asyncio.run(go()) == (False, False, False, [], 3 + 4)


def big_letter(i: int, size: int) -> Envelope:
    letter = DeadLetter(T0 + i, "mqtt", f"city/haishu/gauge/G{i}/telemetry", b"x" * size, "bad_json", "-")
    return Envelope("test", Decoded(dead_letters=(letter,)))


def test_the_queue_is_bounded_in_bytes_as_well_as_envelopes() -> None:
    """Dead letters carry raw payloads up to 8 MiB: 20,000 of them would not fit in memory.
    Past ``max_queue_bytes`` collectors wait (back-pressure, not a drop); the bound may be
    passed by one message, so a message larger than the whole bound still gets through."""

    async def go() -> tuple[list[bool], bool, int, float]:
        store = MemoryStore()
        metrics = Metrics()
        cfg = PipelineConfig(queue_size=100, max_queue_bytes=1 << 20, batch_size=5, flush_interval_s=0.01)
        p = make(store, cfg, metrics)
        p.bind(asyncio.get_running_loop())
        # Nothing consumes yet: 400 kB messages are taken while under 1 MiB, the fourth waits.
        results = await asyncio.to_thread(
            lambda: [p.submit_threadsafe(big_letter(i, 400_000), 0.05) for i in range(4)]
        )
        task = asyncio.create_task(p.run())
        alone = await asyncio.to_thread(p.submit_threadsafe, big_letter(9, 3 << 20), 10.0)
        assert await p.drain(10)
        task.cancel()
        return results, alone, len(store.letters), metrics.dropped._value.get()

    assert asyncio.run(go()) == ([True, True, True, False], True, 4, 0)


def test_drain_writes_a_lingering_batch_without_waiting_out_the_flush_interval() -> None:
    # QoS-0 input (no ack) lingers to fill a batch; a drain must not wait the interval out
    store = MemoryStore()
    cfg = PipelineConfig(batch_size=1000, flush_interval_s=60, queue_size=100)

    async def go() -> bool:
        p = make(store, cfg)
        task = asyncio.create_task(p.run())
        await asyncio.sleep(0.05)  # the consumer waits for a first envelope
        for i in range(3):
            await p.submit(env(i))
        await asyncio.sleep(0.05)  # it holds them, waiting for more until the interval ends
        drained = await p.drain(timeout_s=2)
        task.cancel()
        return drained

    assert asyncio.run(go())
    assert store.batches == [3]
