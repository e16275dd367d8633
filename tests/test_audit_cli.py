"""``telemetry audit export|verify`` against tampering, ``hash-token --user``, and what the API
records in the audit log (configured users, rate-limited auth failures, ``/api/v1/audit``)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from api.app import create_app
from api.cli import main
from telemetry.assets import Registry
from telemetry.audit.chain import record_hash
from telemetry.audit.log import AuditLog
from telemetry.config import load_settings
from tests.mqtt_util import wait_until
from tests.servers import Mosquitto

PLANS = Path(__file__).parent / "fixtures" / "qgc-plans"


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    """An export of 25 records with checkpoints every 5, from a configured log."""
    (tmp_path / "t.toml").write_text(
        f'[store]\npath = "{tmp_path / "store"}"\n[audit]\ncheckpoint_every = 5\n'
    )
    settings = load_settings(tmp_path / "t.toml")
    log = settings.audit.log_path(settings.store.path)
    with AuditLog(log, settings.audit.key_path(settings.store.path), checkpoint_every=5) as audit:
        for i in range(20):
            audit.record("duty-07", "test", f"s{i}", {"i": i})
    out = tmp_path / "export.jsonl"
    assert main(["audit", "export", "--config", str(tmp_path / "t.toml"), "--out", str(out)]) == 0
    return out


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def verify(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["audit", "verify", "--file", str(path)])
    return code, capsys.readouterr().out


def test_the_untouched_export_and_the_live_log_verify(
    exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = lines(exported)
    assert len(rows) == 25
    assert json.loads(rows[-1]).keys() == {"public_key", "key_id"}
    assert sum(json.loads(r).get("action") == "checkpoint" for r in rows) == 4
    assert verify(exported, capsys)[0] == 0
    assert main(["audit", "verify", "--config", str(tmp_path / "t.toml")]) == 0


def tampered(exported: Path, rows: list[str]) -> Path:
    out = exported.with_name("tampered.jsonl")
    out.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return out


def test_one_changed_byte_is_named(exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = lines(exported)
    rows[7] = rows[7].replace('"i":6', '"i":7')
    code, out = verify(tampered(exported, rows), capsys)
    assert code == 1
    assert "seq 7: hash mismatch" in out


def test_a_removed_record_is_named(exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = lines(exported)
    del rows[3]
    code, out = verify(tampered(exported, rows), capsys)
    assert code == 1
    assert "seq 4: gap in seq: expected 3" in out


def test_two_reordered_records_are_named(exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = lines(exported)
    rows[8], rows[9] = rows[9], rows[8]
    code, out = verify(tampered(exported, rows), capsys)
    assert code == 1
    assert "seq 9: gap in seq: expected 8" in out


def test_a_rechained_forgery_fails_on_prev(exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = lines(exported)
    rec = json.loads(rows[2])
    rec["data"] = {"i": 99}
    rec["hash"] = record_hash(rec)  # a consistent record, but the next one links the old hash
    rows[2] = json.dumps(rec)
    code, out = verify(tampered(exported, rows), capsys)
    assert code == 1
    assert "seq 3: prev mismatch" in out


def resign(exported: Path, *, replace_key: bool) -> Path:
    rows = lines(exported)
    other = Ed25519PrivateKey.generate()
    idx = next(i for i, r in enumerate(rows) if json.loads(r).get("action") == "checkpoint")
    rec = json.loads(rows[idx])
    rec["data"]["signature"] = base64.b64encode(other.sign(rec["data"]["signs"].encode())).decode()
    rec["hash"] = record_hash(rec)
    rows[idx] = json.dumps(rec, ensure_ascii=False)
    for j in range(idx + 1, len(rows) - 1):  # re-chain everything after it, as a forger would
        nxt = json.loads(rows[j])
        nxt["prev"] = json.loads(rows[j - 1])["hash"]
        if nxt["action"] == "checkpoint":
            nxt["data"]["signs"] = nxt["prev"]
        nxt["hash"] = record_hash(nxt)
        rows[j] = json.dumps(nxt, ensure_ascii=False)
    if not replace_key:
        return tampered(exported, rows)
    raw = other.public_key().public_bytes_raw()
    rows[-1] = json.dumps({"public_key": base64.b64encode(raw).decode(), "key_id": "x"})
    return tampered(exported, rows)


def test_a_checkpoint_resigned_with_another_key_is_named(
    exported: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = verify(resign(exported, replace_key=False), capsys)
    assert code == 1
    assert "seq 5: bad signature" in out
    code, out = verify(resign(exported, replace_key=True), capsys)  # the key line swapped too
    assert code == 1
    assert "seq 5: missing key" in out


def test_hash_token_prints_the_user(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "api.cli", "hash-token", "--role", "manager", "--user", "duty-07"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    _token, *entry = r.stdout.splitlines()
    assert entry[0] == "[[api.tokens]]"
    assert entry[-1] == 'user = "duty-07"'
    (tmp_path / "t.toml").write_text("[api]\n" + "\n".join(entry) + "\n")
    (token,) = load_settings(tmp_path / "t.toml").api.tokens
    assert (token.user_name, token.role) == ("duty-07", "manager")
    assert main(["hash-token", "--user", "bad\u0007name"]) == 2


MANAGER, PILOT, VIEWER = ("m" * 40, "p" * 40, "v" * 40)


@pytest.fixture
def client(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[TestClient]:
    tokens = [
        {"token": MANAGER, "role": "manager", "user": "duty-07"},
        {"token": PILOT, "role": "pilot", "user": "pilot-li"},
        {"token": VIEWER, "role": "viewer"},
    ]
    settings = load_settings(
        overrides={
            "store": {"path": str(tmp_path / "store")},
            "spool": {"path": str(tmp_path / "spool")},
            "mqtt": {"url": mosquitto.url, "client_id": f"audit-{tmp_path.name}"},
            "mavlink": {"endpoints": []},
            "api": {"tokens": tokens},
        }
    )
    with TestClient(create_app(settings, registry=Registry())) as c:
        wait_until(lambda: c.get("/readyz").status_code == 200, 15, "readiness")
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def audit(c: TestClient, **params: Any) -> list[dict[str, Any]]:
    r = c.get("/api/v1/audit", params=params, headers=bearer(MANAGER))
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


@pytest.mark.integration
def test_the_api_records_the_configured_users(client: TestClient) -> None:
    (start,) = audit(client, action="service_start")
    assert {"user": "duty-07", "role": "manager"} in start["data"]["users"]
    assert len(start["data"]["config_sha256"]) == 64
    assert MANAGER not in json.dumps(start)
    rt = client.app.state.runtime  # type: ignore[attr-defined]
    alert = rt.alerts.raise_or_update("flood", "G04", "yellow", "test", 1_700_000_000_000)
    r = client.post(f"/api/v1/alerts/{alert.id}/ack", headers=bearer(MANAGER))
    assert r.status_code == 200
    assert r.json()["acknowledged_by"] == "duty-07"
    plan = {"type": "import", "plan": json.loads((PLANS / "simple_square.plan").read_text())}
    r = client.post("/api/v1/missions", json=plan, headers=bearer(PILOT))
    assert r.status_code == 201, r.text
    (ack,) = audit(client, action="alert_ack")
    assert (ack["actor"], ack["subject"]) == ("duty-07", alert.id)
    (planned,) = audit(client, actor="pilot-li")
    assert (planned["action"], planned["subject"]) == ("mission_plan", r.json()["id"])


@pytest.mark.integration
def test_wrong_tokens_make_one_record_a_minute(client: TestClient) -> None:
    for _ in range(5):
        assert client.get("/api/v1/alerts", headers=bearer("wrong" * 8)).status_code == 401
    (failure,) = audit(client, action="auth_failure")
    assert failure["actor"] == "anonymous"
    assert failure["data"] == {"reason": "invalid token", "count": 1}


@pytest.mark.integration
def test_only_managers_and_admins_read_the_audit_log(client: TestClient) -> None:
    assert client.get("/api/v1/audit", headers=bearer(VIEWER)).status_code == 403
    assert client.get("/api/v1/audit", headers=bearer(PILOT)).status_code == 403
    assert client.get("/api/v1/audit").status_code == 401
    assert (
        client.get("/api/v1/audit", params={"from": "yesterday"}, headers=bearer(MANAGER)).status_code == 400
    )
    assert audit(client, limit=1)[0]["seq"] >= 0


def test_a_line_that_is_not_json_is_named(exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = lines(exported)
    rows.insert(4, "not json")
    code, out = verify(tampered(exported, rows), capsys)
    assert code == 1
    assert "line 5: not a record" in out


@pytest.mark.integration
def test_every_alert_transition_is_recorded(client: TestClient, mosquitto: Mosquitto) -> None:
    import time

    from tests.mqtt_util import publish_all

    now = int(time.time() * 1000)
    publish_all(mosquitto.url, [("city/haishu/gauge/G09/telemetry", {"ts": now, "depth_cm": 35.0})])
    wait_until(lambda: audit(client, action="alert"), 15, "an alert record")
    (red,) = [r for r in audit(client, action="alert") if r["subject"] == "alert/flood/G09"]
    assert (red["actor"], red["data"]["level"], red["data"]["gauge"]) == ("service", "red", "G09")
