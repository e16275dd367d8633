"""Real servers for integration tests, started on free loopback ports (no mocks)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from telemetry.config import token_sha256


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


def find_binary(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()), None
    )


class Mosquitto:
    """A Mosquitto broker in a temporary folder. ``restart()`` keeps its port and, with
    persistence on, its sessions and queued messages (saved on SIGTERM)."""

    def __init__(
        self, workdir: Path, *, persistence: bool = True, anonymous: bool = True, extra_conf: str = ""
    ) -> None:
        binary = find_binary("mosquitto")
        if binary is None:
            raise RuntimeError("mosquitto is not installed: apt-get install mosquitto (make test does)")
        self.binary = binary
        self.port = free_port()
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"allow_anonymous {'true' if anonymous else 'false'}\n"
            # Running as root, Mosquitto would switch to its own user and fail to save its
            # persistence file in our temporary folder.
            "user root\n"
            # The settings the no-loss guarantee needs (ARCHITECTURE.md): no per-session queue
            # limit, persistence on so that a restart keeps sessions and queued messages.
            "max_queued_messages 0\n"
            f"persistence {'true' if persistence else 'false'}\n"
            f"persistence_location {self.dir}/\n"
            "log_dest stderr\n"
            "log_type error\n"
            "log_type warning\n" + extra_conf
            # Listener options (TLS) apply to the one listener above; password_file, acl_file.
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.dir / "mosquitto.log").open("ab")
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdout=log, stderr=log)
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def restart(self, pause_s: float = 0.5) -> None:
        self.stop()
        time.sleep(pause_s)
        self.start()


def env_without_telemetry() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRY_")}


TomlValue = str | int | float | bool


def write_serve_config(path: Path, sections: dict[str, dict[str, TomlValue]], tokens: dict[str, str]) -> Path:
    """A configuration file for ``telemetry serve``: ``sections`` as TOML tables (strings quoted,
    numbers and booleans as they are) and ``tokens`` (token → role) as ``token_sha256`` entries,
    the form ``serve`` accepts."""

    def value(v: TomlValue) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        return f'"{v}"' if isinstance(v, str) else str(v)

    lines = []
    for name, keys in sections.items():
        lines += [f"[{name}]", *(f"{k} = {value(v)}" for k, v in keys.items())]
    for token, role in tokens.items():
        lines += ["[[api.tokens]]", f'token_sha256 = "{token_sha256(token)}"', f'role = "{role}"']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def start_serve(cfg: Path, cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    """``telemetry serve --config cfg`` as users run it, its output appended to ``log``."""
    with log.open("ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--config", str(cfg)],
            cwd=cwd,
            stdout=out,
            stderr=out,
            env=env_without_telemetry(),
        )


class Influxd:
    """Debian's InfluxDB 1.x with its data in a temporary folder; ``stop()``/``start()`` keep
    the port and the data (an outage, not a new server)."""

    def __init__(self, workdir: Path, *, auth: tuple[str, str] | None = None) -> None:
        """``auth``: (user, password) of an admin made at the first start, with
        ``auth-enabled`` on (every request then needs credentials)."""
        binary = find_binary("influxd")
        if binary is None:
            raise RuntimeError("influxd is not installed: apt-get install influxdb (make test does)")
        self.binary = binary
        self.port = free_port()
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "influxdb.conf"
        self.conf.write_text(
            f"""
reporting-disabled = true
bind-address = "127.0.0.1:{free_port()}"
[meta]
  dir = "{self.dir}/meta"
[data]
  dir = "{self.dir}/data"
  wal-dir = "{self.dir}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
  auth-enabled = {"true" if auth else "false"}
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
"""
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.auth = auth

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _make_admin(self) -> None:
        """With auth on and no user yet, InfluxDB 1.x accepts this one statement unauthenticated."""
        import httpx

        assert self.auth is not None
        user, password = self.auth
        q = f"CREATE USER \"{user}\" WITH PASSWORD '{password}' WITH ALL PRIVILEGES"
        r = httpx.post(f"{self.url}/query", params={"q": q}, timeout=10)
        if r.status_code == 401:  # made at an earlier start: the user exists
            return
        r.raise_for_status()

    def start(self) -> None:
        import httpx

        log = (self.dir / "influxd.log").open("ab")
        self.proc = subprocess.Popen([self.binary, "-config", str(self.conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/ping", timeout=1).status_code == 204:
                    if self.auth:
                        self._make_admin()
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"influxd did not answer /ping on {self.url}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def query(self, q: str, db: str = "telemetry") -> list[dict[str, object]]:
        import httpx

        r = httpx.get(f"{self.url}/query", params={"db": db, "q": q}, auth=self.auth, timeout=30)
        r.raise_for_status()
        result = r.json()["results"][0]
        series: list[dict[str, object]] = result.get("series", [])
        return series


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
