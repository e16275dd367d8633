"""The one loop that drives every derivation: observed batches and ticks become stored records
and announcements, in that order; webhooks only for notices with a kind."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from telemetry.derivation import NOTHING, DerivationRunner, Derived, Notice
from telemetry.ports import Envelope, Store
from telemetry.records import GaugeReading, Record


class _Counting:
    """A derivation that announces every gauge reading and, on each tick, the tick count."""

    name = "counting"

    def __init__(self, tick_interval_s: float | None) -> None:
        self.tick_interval_s = tick_interval_s
        self.ticks = 0

    async def restore(self, store: Store, now_ms: int) -> None:
        return None

    def observe(self, messages: Sequence[tuple[Record, ...]], now_ms: int) -> Derived:
        readings = [r for m in messages for r in m if isinstance(r, GaugeReading)]
        if not readings:
            return NOTHING
        notices = tuple(Notice(f"alert/x/{r.gauge}", "flood", "red", {"g": r.gauge}) for r in readings)
        return Derived(tuple(readings), notices)

    def tick(self, now_ms: int) -> Derived:
        self.ticks += 1
        return Derived(notices=(Notice("alert/tick", None, "green", {"n": self.ticks}),))


class _Announcer:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def publish(self, notice: Notice) -> None:
        self.log.append(f"publish {notice.topic}")

    async def post(self, notice: Notice) -> None:
        self.log.append(f"post {notice.topic}")


def test_records_are_submitted_before_their_notices_and_only_kinds_are_posted() -> None:
    async def go() -> tuple[list[str], int]:
        log: list[str] = []
        derivation = _Counting(tick_interval_s=0.01)
        runner = DerivationRunner(derivation, _Announcer(log))

        async def submit(env: Envelope) -> None:
            assert env.source == "counting"
            log.append(f"submit {len(env.decoded.records)}")

        task = asyncio.create_task(runner.run(submit))
        runner.observe([(GaugeReading("G1", "d", 1, 40.0),), (GaugeReading("G2", "d", 2, 1.0),)])
        runner.observe([])  # nothing derived: nothing queued
        await asyncio.sleep(0.2)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return log, derivation.ticks

    log, ticks = asyncio.run(go())
    assert log[:3] == ["submit 2", "publish alert/x/G1", "publish alert/x/G2"]
    assert sorted(e for e in log if e.startswith("post")) == ["post alert/x/G1", "post alert/x/G2"]
    assert ticks >= 2
    assert log.count("publish alert/tick") == ticks  # a tick's notice: MQTT only, never posted
    assert "post alert/tick" not in log


def test_a_derivation_without_time_rules_is_never_ticked() -> None:
    async def go() -> int:
        derivation = _Counting(tick_interval_s=None)
        runner = DerivationRunner(derivation, _Announcer([]))

        async def submit(env: Envelope) -> None:
            return None

        task = asyncio.create_task(runner.run(submit))
        await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return derivation.ticks

    assert asyncio.run(go()) == 0
