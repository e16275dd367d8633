"""``telemetry serve`` as a real process on a real broker, started, SIGKILLed and started again on
the same configuration (tests/test_sigkill_durability.py)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from telemetry.assets import sample_assets_dir
from telemetry.config import token_sha256
from tests.mqtt_util import wait_until
from tests.servers import env_without_telemetry, free_port, start_serve, wait_port

TOKENS = {"pilot": "pilot-token-for-the-sigkill-tests", "viewer": "viewer-token-for-the-sigkill-tests",
          "manager": "manager-token-for-the-sigkill-tests"}  # fmt: skip
USERS = {"pilot": "pilot-07", "viewer": "viewer-01", "manager": "duty-03"}


class Serve:
    """One configuration; ``start()`` and ``kill()`` as often as the test likes."""

    def __init__(self, folder: Path, mqtt_url: str, client_id: str, extra: str = "") -> None:
        self.folder = folder
        self.port = free_port()
        self.config = folder / "telemetry.toml"
        tokens = "".join(
            f'[[api.tokens]]\ntoken_sha256 = "{token_sha256(t)}"\nrole = "{role}"\nuser = "{USERS[role]}"\n'
            for role, t in TOKENS.items()
        )
        self.config.write_text(
            f'[mqtt]\nurl = "{mqtt_url}"\nclient_id = "{client_id}"\n'
            f'[store]\npath = "{folder / "store"}"\n[spool]\npath = "{folder / "spool"}"\n'
            f'[assets]\ndir = "{sample_assets_dir()}"\n'
            f"[pipeline]\nflush_interval_s = 0.05\n[api]\nport = {self.port}\n{tokens}{extra}"
        )
        self.log = folder / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = start_serve(self.config, self.folder, self.log)
        wait_port(self.port, 60)
        wait_until(lambda: self.get("/readyz", "viewer").status_code == 200, 30, "readiness")

    def kill(self) -> None:
        """SIGKILL: no drain, no close, no last checkpoint."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def get(self, path: str, role: str = "viewer", **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {TOKENS[role]}"}
        return httpx.get(f"{self.base}{path}", params=params, headers=headers, timeout=10)

    def post(self, path: str, role: str, body: Any = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {TOKENS[role]}"}
        return httpx.post(f"{self.base}{path}", json=body, headers=headers, timeout=30)

    def json(self, path: str, role: str = "viewer", **params: Any) -> Any:
        r = self.get(path, role, **params)
        assert r.status_code == 200, r.text
        return r.json()

    def audit(self, action: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.json("/api/v1/audit", "manager", action=action)["items"]
        return items

    def audit_log(self) -> Path:
        return self.folder / "store" / "audit" / "audit.jsonl"

    def verify_audit(self) -> subprocess.CompletedProcess[str]:
        """``telemetry audit verify --config`` as an auditor runs it (while serve runs)."""
        return subprocess.run(
            [sys.executable, "-m", "api.cli", "audit", "verify", "--config", str(self.config)],
            capture_output=True, text=True, timeout=60, check=False, cwd=self.folder,
            env=env_without_telemetry(),
        )  # fmt: skip

    def count(self, measurement: str, device: str, field: str) -> int:
        rows = self.json(f"/api/v1/series/{measurement}", device=device, field=field, fn="count")["items"]
        return int(rows[0][field] or 0) if rows else 0
