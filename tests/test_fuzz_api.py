"""Schemathesis over the HTTP API: requests generated from ``/openapi.json`` (valid and invalid),
sent with each role's token and with none, to the real app (its lifespan running: embedded store,
MQTT collector on a real Mosquitto, MAVLink endpoint). No answer is a 500; a request the schema
does not allow is refused with a 4xx; every status code, content type and response body is the
one the OpenAPI documents.

Excluded: ``GET /api/v1/events`` (Server-Sent Events: a response that streams for ``max_s``
seconds cannot be fuzzed request by request). Mission upload and start are fuzzed: without a
connected drone they answer 404/409 at once (checked below).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from drones.planning import survey
from telemetry.assets import load_registry, sample_assets_dir
from telemetry.config import Settings, load_settings
from tests.mqtt_util import wait_until
from tests.servers import Mosquitto, free_udp_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TOKENS = {"viewer": "v-fuzz", "manager": "m-fuzz", "pilot": "p-fuzz", "admin": "a-fuzz"}
ROLES: list[str | None] = [None, *TOKENS]
# positive_data_acceptance is left out: a schema-valid survey can still be unflyable (400), and
# dates and device kinds are checked by the routes (400), not by the schema.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]  # fmt: skip
SENT = {"method", "url", "headers", "params", "cookies", "json", "data", "content", "files"}


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    server = Mosquitto(tmp_path_factory.mktemp("fuzz-broker"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def service(broker: Mosquitto, tmp: Path, **api: object) -> TestClient:
    settings = load_settings(
        overrides={
            "store": {"path": str(tmp / "store")},
            "spool": {"path": str(tmp / "spool")},
            "mqtt": {"url": broker.url, "client_id": f"fuzz-api-{tmp.name}"},
            "mavlink": {"endpoints": [f"udpin:127.0.0.1:{free_udp_port()}"]},
            "api": {"tokens": [{"token": t, "role": r} for r, t in TOKENS.items()], **api},
        }
    )
    return TestClient(create_app(settings, registry=load_registry(sample_assets_dir())))


@pytest.fixture(scope="module")
def client(broker: Mosquitto, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    # No rate limit: thousands of requests from one client are the point here (429 is checked below).
    with service(broker, tmp_path_factory.mktemp("fuzz-api"), rate_limit_per_s=0) as c:
        wait_until(lambda: c.get("/readyz").status_code == 200, 15, "readiness")
        yield c


# The OpenAPI document does not depend on the configuration: read it from an app that is never
# started (no lifespan, no clients), so the operations are known when pytest collects them; the
# defaults are built without reading TELEMETRY_* (collection must not depend on the shell).
schema = schemathesis.openapi.from_dict(create_app(Settings.model_construct()).openapi()).exclude(
    path="/api/v1/events"
)


@schema.parametrize()
@schema.given(role=st.sampled_from(ROLES))
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_no_500_and_every_answer_is_documented(
    case: schemathesis.Case, client: TestClient, role: str | None
) -> None:
    headers = {"Authorization": f"Bearer {TOKENS[role]}"} if role else {}
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
    response = client.request(**{k: v for k, v in kwargs.items() if k in SENT})
    case.validate_response(response, checks=CHECKS)


def test_upload_and_start_without_a_drone_answer_4xx_at_once(client: TestClient) -> None:
    pilot = {"Authorization": f"Bearer {TOKENS['pilot']}"}
    body = {"type": "points", "points": [[121.55, 29.87], [121.551, 29.871]], "altitude_agl_m": 50}
    r = client.post("/api/v1/missions", json=body, headers=pilot)
    assert r.status_code == 201, r.text
    mission = r.json()["id"]
    up = client.post(f"/api/v1/missions/{mission}/upload", json={"drone": 7}, headers=pilot)
    assert (up.status_code, up.json()["error"]["code"]) == (409, "conflict")
    start = client.post(f"/api/v1/missions/{mission}/start", headers=pilot)
    assert (start.status_code, start.json()["error"]["code"]) == (409, "conflict")
    assert client.post("/api/v1/missions/nope/start", headers=pilot).status_code == 404


@pytest.mark.parametrize(
    ("ring", "altitude", "why"),
    [
        (
            [(121.55, 29.87), (121.56, 29.87), (121.56, 29.88), (121.55, 29.88)],
            1e-300,
            "lanes",
        ),  # looped forever
        ([(121.55, 29.87), (121.56, 29.87), (121.57, 29.87), (121.55, 29.87)], 60, "area"),  # IndexError
        ([(121.55, 29.87), (121.56, 29.88), (121.56, 29.87), (121.55, 29.88)], 60, "area"),  # a bow tie
    ],
)
def test_surveys_the_fuzzer_broke_are_refused_with_a_reason(
    ring: list[tuple[float, float]], altitude: float, why: str
) -> None:
    with pytest.raises(ValueError, match=why):
        survey(ring, altitude)


def test_an_infinite_coordinate_is_a_422(client: TestClient) -> None:
    pilot = {"Authorization": f"Bearer {TOKENS['pilot']}", "Content-Type": "application/json"}
    body = b'{"type": "points", "points": [[1e400, 29.87]], "altitude_agl_m": 50}'  # 1e400 parses as inf
    r = client.post("/api/v1/missions", content=body, headers=pilot)
    assert (r.status_code, r.json()["error"]["code"]) == (422, "invalid_request")


def test_the_limits_answer_as_documented(broker: Mosquitto, tmp_path: Path) -> None:
    """413 and 429 are documented on every /api route, with the error body: checked against the
    OpenAPI by the same schemathesis checks."""
    viewer = {"Authorization": f"Bearer {TOKENS['viewer']}"}
    with service(broker, tmp_path, max_body_bytes=1024, rate_limit_per_s=0.001, rate_burst=2) as c:
        approval = schema["/api/v1/missions/{mission_id}/approval"]["POST"]
        case = approval.Case(path_parameters={"mission_id": "m1"}, body={"approval_id": "x" * 2000})
        too_large = c.request(
            **{k: v for k, v in case.as_transport_kwargs(headers=viewer).items() if k in SENT}
        )
        assert too_large.status_code == 413
        case.validate_response(too_large, checks=CHECKS)
        devices = schema["/api/v1/devices"]["GET"].Case()
        answers = [c.get("/api/v1/devices", headers=viewer) for _ in range(3)]
        assert [r.status_code for r in answers][-1] == 429
        devices.validate_response(answers[-1], checks=CHECKS)
