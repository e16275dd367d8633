"""Webhook deliveries in the store (telemetry/alerts/deliveries.py): the service on the embedded
store and real Mosquitto posts a flood alert to a real local HTTP receiver; every delivery is
stored (pending before the first try, then its outcome) and audited; a receiver that is down
ends ``failed`` with the reason; an invalid URL is stored as failed and never reaches the alert
path; a delivery cut off by a stop, or left pending by a dead process, is delivered again at the
next start with the same ``Idempotency-Key`` and the same body."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from storage.embedded import EmbeddedStore
from telemetry.alerts import deliveries, webhooks
from telemetry.assets import load_registry, sample_assets_dir
from telemetry.audit.log import select
from telemetry.config import AlertsConfig, Settings, WebhookConfig, load_settings
from telemetry.queries import LatestValue, SeriesQuery
from telemetry.records import WebhookDelivery
from tests.mqtt_util import Subscriber, publish_all, wait_until
from tests.servers import Mosquitto, free_port

ROOT = "city/haishu"


class Receiver:
    """A real HTTP server in a thread: answers each POST with the next of ``statuses`` (then 204);
    while ``hold`` is set, a request waits (at most 10 s) before it is answered."""

    def __init__(self, statuses: tuple[int, ...] = ()) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.hold = threading.Event()
        self.released = threading.Event()
        answers = list(statuses)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.hold.is_set():
                    receiver.received.append((dict(self.headers), body))
                    receiver.released.wait(10)
                    return  # the client gave up meanwhile
                status = answers.pop(0) if answers else 204
                if status < 300:
                    receiver.received.append((dict(self.headers), body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/sms?access_token=s3cret"

    def close(self) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver((500,))  # the first try fails: one retry
    yield r
    r.close()


@pytest.fixture(autouse=True)
def _quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhooks, "BACKOFF_S", 0.05)


@pytest.fixture
def announced(mosquitto: Mosquitto) -> Iterator[Subscriber]:
    sub = Subscriber(mosquitto.url, f"{ROOT}/alert/flood/#")
    yield sub
    sub.close()


def settings(mosquitto: Mosquitto, tmp_path: Path, url: str, retries: int = 2) -> Settings:
    s = load_settings(
        overrides={
            "store": {"path": str(tmp_path / "store")},
            "spool": {"path": str(tmp_path / "spool")},
            "mqtt": {"url": mosquitto.url, "client_id": "durable-hooks"},
            "mavlink": {"endpoints": []},
            "api": {"tokens": [{"token": "v", "role": "viewer"}]},
            "pipeline": {"flush_interval_s": 0.05},
        }
    )
    # Built without validation: what the hook's URL is decides the test, not the config check.
    hook = WebhookConfig.model_construct(url=url, levels=["red"], kinds=["flood"])
    return s.model_copy(
        update={"alerts": AlertsConfig.model_construct(webhooks=[hook], webhook_retries=retries)}
    )


def app(s: Settings) -> TestClient:
    return TestClient(create_app(s, registry=load_registry(sample_assets_dir())))


def red(mosquitto: Mosquitto, gauge: str) -> None:
    publish_all(
        mosquitto.url,
        [(f"{ROOT}/gauge/{gauge}/telemetry", {"ts": int(time.time() * 1000), "depth_cm": 45.0})],
    )


def audited(s: Settings) -> list[dict[str, Any]]:
    return list(select(s.audit.log_path(s.store.path), action="webhook_delivery"))


def stored(s: Settings) -> tuple[list[LatestValue], dict[str, list[tuple[object, ...]]]]:
    """Each delivery's last stored form, and the (state, attempts) of every stored point of it."""

    async def read() -> tuple[list[LatestValue], dict[str, list[tuple[object, ...]]]]:
        async with EmbeddedStore(s.store.path) as store:
            latest = await store.latest(deliveries.MEASUREMENT)
            history: dict[str, list[tuple[object, ...]]] = {}
            for v in latest:
                q = SeriesQuery(deliveries.MEASUREMENT, ("state", "attempts"), device=v.device)
                history[v.device] = [tuple(x for _, x in r.values) for r in await store.query_series(q)]
            return latest, history

    return asyncio.run(read())


def write(s: Settings, *records: WebhookDelivery) -> None:
    async def go() -> None:
        async with EmbeddedStore(s.store.path) as store:
            await store.write([r.to_point() for r in records])

    asyncio.run(go())


def ready(c: TestClient) -> None:
    wait_until(lambda: c.get("/readyz").status_code == 200, 10, "readiness")


def test_a_delivery_is_stored_pending_then_delivered_and_audited(
    mosquitto: Mosquitto, tmp_path: Path, receiver: Receiver, announced: Subscriber
) -> None:
    s = settings(mosquitto, tmp_path, receiver.url)
    with app(s) as c:
        ready(c)
        red(mosquitto, "G03")
        wait_until(lambda: len(audited(s)) == 1, 15, "the delivery's audit record")
    (headers, body), (record,) = receiver.received[0], audited(s)
    alert = next(p for t, p, _ in announced.messages if t.endswith("/G03") and p["level"] == "red")
    assert json.loads(body) == alert  # the body is the alert JSON as published
    assert headers["Idempotency-Key"] == record["subject"]
    assert record["actor"] == "service"
    assert record["data"] == {
        "alert": alert["alert_id"], "url": receiver.url.replace("s3cret", "***"), "kind": "flood",
        "level": "red", "state": "delivered", "attempts": 2, "status_code": 204, "last_error": None,
    }  # fmt: skip
    (latest,), history = stored(s)
    fields = dict(latest.fields)
    assert latest.device == record["subject"]
    assert dict(latest.tags)["alert"] == alert["alert_id"]
    assert (fields["state"], fields["attempts"], fields["status_code"]) == ("delivered", 2, 204)
    assert "s3cret" not in str(fields["url"])  # the store is readable by every API user
    assert str(fields["body"]).encode() == body
    # pending before the first try, pending after the failed one, then delivered
    assert history[latest.device] == [("pending", 0), ("pending", 1), ("delivered", 2)]


def test_a_receiver_that_is_down_ends_failed_with_the_reason(mosquitto: Mosquitto, tmp_path: Path) -> None:
    s = settings(mosquitto, tmp_path, f"http://127.0.0.1:{free_port()}/hook", retries=2)
    with app(s) as c:
        ready(c)
        red(mosquitto, "G03")
        wait_until(lambda: len(audited(s)) == 1, 15, "the delivery's audit record")
        assert 'telemetry_webhooks_total{outcome="failed"} 1.0' in c.get("/metrics").text
    (record,) = audited(s)
    assert record["data"]["state"] == "failed"
    assert record["data"]["attempts"] == 3
    assert "ConnectError" in record["data"]["last_error"]
    (latest,), history = stored(s)
    fields = dict(latest.fields)
    assert (fields["state"], fields["attempts"]) == ("failed", 3)
    assert "ConnectError" in str(fields["last_error"])
    assert history[latest.device] == [("pending", 0), ("pending", 1), ("pending", 2), ("failed", 3)]


def test_an_invalid_url_is_stored_failed_and_alerting_goes_on(
    mosquitto: Mosquitto, tmp_path: Path, announced: Subscriber
) -> None:
    s = settings(mosquitto, tmp_path, "http://[::1")  # httpx.InvalidURL, not an httpx.HTTPError
    with app(s) as c:
        ready(c)
        red(mosquitto, "G03")
        wait_until(lambda: len(audited(s)) == 1, 15, "the delivery's audit record")
        red(mosquitto, "G05")  # the service still derives and announces
        wait_until(lambda: "red" in announced.levels("G05"), 15, "the next alert")
        wait_until(lambda: len(audited(s)) == 2, 15, "the next delivery's audit record")
        assert c.get("/readyz").status_code == 200
        assert 'telemetry_webhooks_total{outcome="failed"} 2.0' in c.get("/metrics").text
    first = audited(s)[0]["data"]
    assert (first["state"], first["attempts"], first["url"]) == ("failed", 1, "<invalid URL>")  # no retry
    assert first["last_error"].startswith("InvalidURL")
    latest, _ = stored(s)
    assert [dict(v.fields)["state"] for v in latest] == ["failed", "failed"]
    assert all(str(dict(v.fields)["last_error"]).startswith("InvalidURL") for v in latest)


def test_a_delivery_cut_off_by_a_stop_is_delivered_again_at_the_start(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    receiver = Receiver()
    try:
        s = settings(mosquitto, tmp_path, receiver.url)
        receiver.hold.set()  # the receiver takes the POST and does not answer
        with app(s) as c:
            ready(c)
            red(mosquitto, "G03")
            wait_until(lambda: len(receiver.received) == 1, 15, "the first POST")
        assert audited(s) == []  # the service stopped mid-delivery
        ((latest,), _) = stored(s)
        assert dict(latest.fields)["state"] == "pending"
        receiver.hold.clear()
        with app(s) as c:
            ready(c)
            wait_until(lambda: len(audited(s)) == 1, 15, "the resumed delivery's audit record")
    finally:
        receiver.close()
    (cut, _), (again, body) = receiver.received
    assert again["Idempotency-Key"] == cut["Idempotency-Key"] == latest.device
    assert json.loads(body)["gauge"] == "G03"
    (record,) = audited(s)
    assert (record["subject"], record["data"]["state"]) == (latest.device, "delivered")


def test_pending_deliveries_in_the_store_are_delivered_once(
    mosquitto: Mosquitto, tmp_path: Path, receiver: Receiver
) -> None:
    """What a process killed mid-delivery leaves: a pending point. One for a hook that is still
    configured is posted again (same key, byte-identical body); one for a hook that is gone ends
    failed without a POST."""
    s = settings(mosquitto, tmp_path, receiver.url)
    body = json.dumps(
        {"gauge": "G01", "level": "red", "alert_id": "flood-G01-1", "reason": "Zoë"}, ensure_ascii=False
    )
    old = "http://127.0.0.1:9/removed"
    now = int(time.time() * 1000)
    kept_url, kept_hook = deliveries.shown(receiver.url), deliveries.hook_id(receiver.url)
    pending = ("flood", "red", "pending")
    write(
        s,
        WebhookDelivery(
            "d-kept", now - 2000, kept_url, kept_hook, *pending, 1, body, "flood-G01-1", "ConnectError"
        ),
        WebhookDelivery("d-gone", now - 1000, old, deliveries.hook_id(old), *pending, 0, body),
    )
    with app(s) as c:
        ready(c)
        wait_until(lambda: len(audited(s)) == 2, 15, "both deliveries' audit records")
    ((headers, posted),) = receiver.received  # the gone hook got nothing; the first try got 500
    assert headers["Idempotency-Key"] == "d-kept"
    assert posted == body.encode()
    outcome = {r["subject"]: r["data"] for r in audited(s)}
    assert (outcome["d-kept"]["state"], outcome["d-kept"]["attempts"]) == ("delivered", 3)
    assert (outcome["d-gone"]["state"], outcome["d-gone"]["last_error"]) == ("failed", deliveries.GONE)
    latest, _ = stored(s)
    assert {v.device: dict(v.fields)["state"] for v in latest} == {"d-kept": "delivered", "d-gone": "failed"}

    async def left() -> list[deliveries.Delivery]:
        async with EmbeddedStore(s.store.path) as store:
            return await deliveries.pending(store, [receiver.url])

    assert asyncio.run(left()) == []  # nothing is delivered a second time at the next start


def test_the_stored_url_masks_secrets() -> None:
    assert deliveries.shown("https://u:pw@sms.example/send?access_token=abc&x=") == (
        "https://***@sms.example/send?access_token=***&x=***"
    )
    assert deliveries.shown("http://[::1") == "<invalid URL>"
