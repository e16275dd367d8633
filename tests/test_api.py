"""The HTTP contract: roles, JSON errors, parameter validation (real app, real embedded store,
real broker)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from telemetry.assets import load_registry, sample_assets_dir
from telemetry.config import load_settings
from tests.mqtt_util import wait_until
from tests.servers import Mosquitto

pytestmark = pytest.mark.integration
TOKENS = {"viewer": "v-token", "manager": "m-token", "pilot": "p-token", "admin": "a-token"}


@pytest.fixture
def client(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[TestClient]:
    settings = load_settings(
        overrides={
            "store": {"path": str(tmp_path / "store")},
            "mqtt": {"url": mosquitto.url, "client_id": "api-test"},
            "api": {"tokens": [{"token": t, "role": r} for r, t in TOKENS.items()]},
        }
    )
    with TestClient(create_app(settings, registry=load_registry(sample_assets_dir()))) as c:
        wait_until(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
        yield c


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


def test_health_endpoints_need_no_token(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready"
    assert set(ready["components"]) == {"mqtt", "pipeline", "spool", "store", "mavlink:udpin:0.0.0.0:14550"}
    metrics = client.get("/metrics").text
    for name in ("telemetry_received_total", "telemetry_written_total", "telemetry_rejected_total",
                 "telemetry_spooled", "telemetry_dropped_total"):  # fmt: skip
        assert name in metrics


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}])
def test_401_without_a_valid_token_is_a_json_error(client: TestClient, headers: dict[str, str]) -> None:
    r = client.get("/api/v1/devices", headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"
    assert r.json()["error"]["message"]
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("role", list(TOKENS))
def test_every_role_may_read(client: TestClient, role: str) -> None:
    assert client.get("/api/v1/devices", headers=auth(role)).status_code == 200


def test_devices_lists_registered_devices_unseen(client: TestClient) -> None:
    body = client.get("/api/v1/devices", params={"kind": "gauge"}, headers=auth("viewer")).json()
    assert body["count"] == 5
    assert [d["id"] for d in body["items"]] == ["G01", "G02", "G03", "G04", "G05"]
    assert all(d["registered"] and d["last_seen"] is None for d in body["items"])


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/api/v1/series/nonsense", {}, 404, "not_found"),
        ("/api/v1/series/water_depth", {"field": "speed"}, 400, "bad_query"),
        ("/api/v1/series/water_depth", {"fn": "median"}, 422, "invalid_request"),
        ("/api/v1/series/water_depth", {"every": "fortnight"}, 400, "bad_request"),
        ("/api/v1/series/water_depth", {"start": "yesterday"}, 400, "bad_request"),
        ("/api/v1/series/water_depth", {"start": "2026-11-25T00:00:00"}, 400, "bad_request"),
        ("/api/v1/series/water_depth", {"limit": "0"}, 422, "invalid_request"),
        ("/api/v1/devices", {"kind": "submarine"}, 400, "bad_request"),
        ("/api/v1/nothing-here", {}, 404, "not_found"),
    ],
)
def test_bad_requests_are_json_errors(
    client: TestClient, path: str, params: dict[str, str], status: int, code: str
) -> None:
    r = client.get(path, params=params, headers=auth("viewer"))
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code


def test_series_accepts_epoch_ms_and_comma_fields(client: TestClient) -> None:
    r = client.get(
        "/api/v1/series/water_depth",
        params={"field": "depth_cm,battery_v", "start": "0", "stop": "2026-11-26T00:00:00+08:00"},
        headers=auth("viewer"),
    )
    assert r.status_code == 200
    assert r.json() == {"items": [], "count": 0}


def test_openapi_documents_the_routes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/api/v1/devices", "/api/v1/series/{measurement}", "/readyz", "/metrics"} <= set(spec["paths"])


@pytest.mark.parametrize(
    ("role", "status"), [("viewer", 403), ("manager", 403), ("pilot", 403), ("admin", 200)]
)
def test_dead_letters_are_for_admins(client: TestClient, role: str, status: int) -> None:
    r = client.get("/api/v1/dead-letters", headers=auth(role))
    assert r.status_code == status
    if status == 403:
        assert r.json()["error"] == {"code": "forbidden", "message": f"role {role!r} may not admin"}
