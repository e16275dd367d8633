"""API security: tokens stored as SHA-256 digests, request body limits (413) and the per-client
rate limit (429), against the real app (real broker, embedded store) and a real uvicorn server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.app import create_app
from api.limits import TokenBuckets
from telemetry.assets import Registry
from telemetry.config import ApiConfig, load_settings, production_problems, token_sha256
from tests.mqtt_util import wait_until
from tests.servers import Mosquitto, free_port, wait_port

pytestmark = pytest.mark.integration
PLANS = Path(__file__).parent / "fixtures" / "qgc-plans"
PILOT_TOKEN = "pilot-token-0123456789abcdefghijklmnop"
VIEWER_TOKEN = "viewer-token-0123456789abcdefghijklmno"


def app_settings(broker: Mosquitto, tmp: Path, **api: Any) -> Any:
    tokens = [
        {"token_sha256": token_sha256(PILOT_TOKEN), "role": "pilot"},
        {"token_sha256": token_sha256(VIEWER_TOKEN), "role": "viewer"},
    ]
    return load_settings(
        overrides={
            "store": {"path": str(tmp / "store")},
            "spool": {"path": str(tmp / "spool")},
            "mqtt": {"url": broker.url, "client_id": f"security-{tmp.name}"},
            "mavlink": {"endpoints": []},
            "api": {"tokens": tokens, **api},
        }
    )


@pytest.fixture
def client_for(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[Any]:
    opened: list[TestClient] = []

    def make(**api: Any) -> TestClient:
        c = TestClient(create_app(app_settings(mosquitto, tmp_path, **api), registry=Registry()))
        c.__enter__()
        opened.append(c)
        wait_until(lambda: c.get("/readyz").status_code == 200, 15, "readiness")
        return c

    yield make
    for c in opened:
        c.__exit__(None, None, None)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_hash_token_prints_a_line_that_configures_a_token_the_api_accepts(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "api.cli", "hash-token", "--role", "admin"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    first, *entry = r.stdout.splitlines()
    token = first.removeprefix("token: ")
    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    assert token not in "\n".join(entry)  # only its digest goes into the configuration
    cfg = tmp_path / "telemetry.toml"
    cfg.write_text("\n".join(entry) + "\n")
    check = subprocess.run(
        [sys.executable, "-m", "api.cli", "check-config", str(cfg)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr
    file_settings = load_settings(cfg)
    assert production_problems(file_settings) == []
    digest = file_settings.api.tokens[0].token_sha256
    settings = app_settings(mosquitto, tmp_path)
    settings = settings.model_copy(update={"api": file_settings.api})
    with TestClient(create_app(settings, registry=Registry())) as c:
        assert c.get("/api/v1/dead-letters", headers=bearer(token)).status_code == 200  # admin
        assert c.get("/api/v1/dead-letters", headers=bearer(digest)).status_code == 401  # not a credential
        assert c.get("/api/v1/dead-letters", headers=bearer(token[:-1])).status_code == 401


def test_bodies_over_the_limit_answer_413_and_smaller_ones_pass(client_for: Any) -> None:
    c = client_for(max_body_bytes=2048)
    small = {"type": "import", "plan": json.loads((PLANS / "simple_square.plan").read_text())}
    large = {"type": "import", "plan": json.loads((PLANS / "TerrainTest-ArduCopter.plan").read_text())}
    assert len(json.dumps(small)) < 2048 < len(json.dumps(large))
    ok = c.post("/api/v1/missions", json=small, headers=bearer(PILOT_TOKEN))
    assert ok.status_code == 201, ok.text

    declared = c.post("/api/v1/missions", json=large, headers=bearer(PILOT_TOKEN))
    assert declared.status_code == 413
    assert declared.json()["error"]["code"] == "too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        body = json.dumps(large).encode()
        for k in range(0, len(body), 500):
            yield body[k : k + 500]

    streamed = c.post(
        "/api/v1/missions",
        content=chunks(),
        headers={**bearer(PILOT_TOKEN), "Content-Type": "application/json"},
    )
    assert streamed.status_code == 413, streamed.text
    assert streamed.json()["error"]["code"] == "too_large"
    lying = c.post(
        "/api/v1/missions",
        content=json.dumps(large).encode(),
        headers={**bearer(PILOT_TOKEN), "Content-Type": "application/json", "Content-Length": "100"},
    )
    assert lying.status_code == 413
    again = c.post("/api/v1/missions", json=small, headers=bearer(PILOT_TOKEN))
    assert again.status_code == 201  # the service is fine after refusing


def test_a_real_server_refuses_a_huge_declared_body_without_waiting_for_it(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    port = free_port()
    app = create_app(app_settings(mosquitto, tmp_path), registry=Registry())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_port(port, 30)
        with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
            s.sendall(
                b"POST /api/v1/missions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Authorization: Bearer " + PILOT_TOKEN.encode() + b"\r\n"
                b"Content-Length: 1073741824\r\n\r\n" + b'{"type": "import", "plan": ' + b" " * 1000
            )  # 1 GiB announced, 1 kB sent: an answer now means the body was not awaited
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413"), answer
        assert json.loads(body)["error"]["code"] == "too_large"
    finally:
        server.should_exit = True
        thread.join(30)


def test_rate_limit_answers_429_with_retry_after_per_token_and_spares_health(client_for: Any) -> None:
    c = client_for(rate_limit_per_s=0.01, rate_burst=3)  # a refill every 100 s: none during the test
    for _ in range(3):
        assert c.get("/api/v1/devices", headers=bearer(VIEWER_TOKEN)).status_code == 200
    limited = c.get("/api/v1/devices", headers=bearer(VIEWER_TOKEN))
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 100
    for path in ("/healthz", "/readyz", "/metrics"):
        for _ in range(10):
            assert c.get(path).status_code == 200, path
    assert c.get("/api/v1/devices", headers=bearer(PILOT_TOKEN)).status_code == 200  # its own bucket
    # Guessing tokens from one address: one bucket for the address, not one per guess.
    codes = [c.get("/api/v1/devices", headers=bearer(f"guess-{k}")).status_code for k in range(5)]
    assert codes == [401, 401, 401, 429, 429]


def test_rate_limit_zero_turns_it_off(client_for: Any) -> None:
    c = client_for(rate_limit_per_s=0, rate_burst=1)
    codes = {c.get("/api/v1/devices", headers=bearer(VIEWER_TOKEN)).status_code for _ in range(50)}
    assert codes == {200}


def test_default_limits_let_the_dashboard_poll_for_an_hour() -> None:
    cfg = ApiConfig()
    buckets = TokenBuckets(cfg.rate_limit_per_s, cfg.rate_burst)
    waits = [buckets.take("dashboard", 0.0) for _ in range(60)]  # page load: assets, layers, views
    t = 0.0
    while t < 3600:  # then 8 endpoints every 2 s, and a reload every 5 minutes
        t += 2.0
        waits += [buckets.take("dashboard", t) for _ in range(8 + (60 if t % 300 == 0 else 0))]
    assert max(waits) == 0.0
    flood = [buckets.take("script", 0.0) for _ in range(cfg.rate_burst + 1)]
    assert flood[-1] > 0  # a runaway client is still held back


def test_token_buckets_refill_at_the_rate_and_stay_bounded() -> None:
    b = TokenBuckets(per_s=2.0, burst=2, max_keys=3)
    assert [b.take("a", 10.0) for _ in range(3)] == [0.0, 0.0, 0.5]
    assert b.take("a", 10.5) == 0.0  # half a second refilled one request
    assert b.take("a", 10.5) == pytest.approx(0.5)
    for key in "bcde":
        b.take(key, 11.0)
    assert len(b) == 3
