"""Records written through the pipeline and waited for until they are durable: what people do
and what the service decides (missions, incidents, schedules, the response level, webhook
deliveries) is answered only once it is in the store or the spool, so a kill -9 right after the
answer loses nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from telemetry.derivation import Submit
from telemetry.ports import Envelope
from telemetry.records import Decoded, Record

DURABLE_TIMEOUT_S = 10.0


async def write_durably(
    submit: Submit, source: str, records: Sequence[Record], timeout_s: float = DURABLE_TIMEOUT_S
) -> bool:
    """Submit the records as one envelope and wait for the pipeline's acknowledgement (written or
    spooled); False when it did not come within ``timeout_s`` (the pipeline still holds them)."""
    if not records:
        return True
    loop = asyncio.get_running_loop()
    written: asyncio.Future[None] = loop.create_future()

    def done() -> None:
        if not written.done():
            written.set_result(None)

    def ack() -> None:  # the writer's thread
        loop.call_soon_threadsafe(done)

    await submit(Envelope(source, Decoded(records=tuple(records)), ack))
    try:
        await asyncio.wait_for(written, timeout_s)
    except TimeoutError:
        return False
    return True
