"""The service as the API tests use it: the real app on the embedded store in a temporary folder,
the real broker, the given MAVLink endpoints (none by default) and tokens; ready before it is handed over."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from telemetry.assets import load_registry, sample_assets_dir
from telemetry.config import load_settings
from tests.mqtt_util import wait_until
from tests.servers import Mosquitto


@contextlib.contextmanager
def app_client(
    mosquitto: Mosquitto,
    folder: Path,
    tokens: dict[str, str],
    client_id: str,
    endpoints: tuple[str, ...] = (),
    api: dict[str, Any] | None = None,
    sections: dict[str, dict[str, Any]] | None = None,
) -> Iterator[TestClient]:
    """``tokens`` maps each token to its role; ``endpoints`` are MAVLink links to listen on;
    ``api``: more ``[api]`` keys (e.g. ``rate_limit_per_s = 0`` for many requests); ``sections``:
    other sections (e.g. ``{"dispatch": {"accept_timeout_s": 3}}``)."""
    settings = load_settings(
        overrides={
            "store": {"path": str(folder / "store")},
            "spool": {"path": str(folder / "spool")},
            "mqtt": {"url": mosquitto.url, "client_id": client_id},
            "mavlink": {"endpoints": list(endpoints)},
            "api": {"tokens": [{"token": t, "role": r} for t, r in tokens.items()], **(api or {})},
            **(sections or {}),
        }
    )
    with TestClient(create_app(settings, registry=load_registry(sample_assets_dir()))) as c:
        wait_until(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
        yield c
