"""What the API records in the audit log (docs/audit.md): the service's start with a digest of
its configuration, authentication failures (at most one record per source a minute, with the
count), and, through ``rt.audit``, acknowledgements and mission commands."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from fastapi import Request

from telemetry.audit.chain import canonical
from telemetry.audit.log import SERVICE, AuditLog
from telemetry.config import Settings
from telemetry.derivation import Announcer, Notice
from telemetry.emergency.desk import Command as GaugeCommand
from telemetry.emergency.desk import Step
from telemetry.emergency.service import EmergencyService
from telemetry.incidents.desk import Command
from telemetry.incidents.service import IncidentService
from telemetry.records_people import IncidentEvent

AUTH_WINDOW_S = 60.0
MAX_SOURCES = 10_000
_SECRET = re.compile(r"token|password|secret|signing_key|key_file", re.IGNORECASE)


def open_audit(settings: Settings) -> AuditLog:
    cfg, store = settings.audit, settings.store.path
    return AuditLog(cfg.log_path(store), cfg.key_path(store), checkpoint_every=cfg.checkpoint_every).open()


def _without_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_secrets(v) for k, v in value.items() if not _SECRET.search(k)}
    if isinstance(value, list):
        return [_without_secrets(v) for v in value]
    return value


def config_digest(settings: Settings) -> str:
    """SHA-256 of the canonical JSON of the settings with every secret-named key removed (tokens
    and their digests, passwords, signing keys, the audit key's path)."""
    return hashlib.sha256(canonical(_without_secrets(settings.model_dump(mode="json")))).hexdigest()


def record_start(audit: AuditLog, settings: Settings) -> None:
    users = sorted({(t.user_name, t.role) for t in settings.api.tokens})
    data = {
        "config_sha256": config_digest(settings),
        "store": settings.store.backend,
        "users": [{"user": u, "role": r} for u, r in users],
    }
    audit.record(SERVICE, "service_start", settings.site.district, data)


class AuthFailures:
    """At most one ``auth_failure`` record per source a minute: the first failure is recorded at
    once; later ones are counted and the count goes out with the source's next record."""

    def __init__(self, audit: AuditLog, window_s: float = AUTH_WINDOW_S) -> None:
        self._audit, self._window = audit, window_s
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}  # source -> when its last record was made
        self._pending: dict[str, int] = {}  # source -> failures not yet recorded

    def failed(self, source: str, reason: str, now: float | None = None) -> bool:
        """Count one failure; True when it made a record."""
        now = time.monotonic() if now is None else now
        with self._lock:
            count = self._pending.pop(source, 0) + 1
            last = self._last.get(source)
            if last is not None and now - last < self._window:
                self._pending[source] = count
                return False
            if len(self._last) >= MAX_SOURCES:  # forget the quiet ones first
                cutoff = now - self._window
                self._last = {s: t for s, t in self._last.items() if t >= cutoff}
                self._pending = {s: c for s, c in self._pending.items() if s in self._last}
            self._last[source] = now
        self._audit.record("anonymous", "auth_failure", source, {"reason": reason, "count": count})
        return True


def auth_failed(request: Request, reason: str) -> None:
    failures: AuthFailures | None = getattr(request.app.state, "auth_failures", None)
    if failures is not None:
        failures.failed(request.client.host if request.client else "unknown", reason)


class AuditedAnnouncer:
    """Every alert transition a derivation announces is also an audit record (actor ``service``,
    action ``alert``, the topic as subject, the payload as data), before it goes out."""

    def __init__(self, inner: Announcer, audit: AuditLog) -> None:
        self._inner, self._audit = inner, audit

    def publish(self, notice: Notice) -> None:
        self._audit.record(SERVICE, "alert", notice.topic, dict(notice.payload))
        self._inner.publish(notice)

    async def post(self, notice: Notice) -> None:
        await self._inner.post(notice)


def incident_hooks(
    service: IncidentService | None, audit: AuditLog, root: str, publish: Callable[..., None]
) -> None:
    """Each step of an incident is an audit record (actor: the person or officer, or ``service``;
    action ``incident_<event>``); each command goes to ``{root}/officer/{id}/command`` (QoS 1, not
    retained: an officer who connects later must not act on an old assignment)."""
    if service is None:
        return

    def send(command: Command) -> None:
        body = json.dumps(command.payload, ensure_ascii=False).encode()
        publish(f"{root}/officer/{command.officer}/command", body, retain=False)

    def record(event: IncidentEvent) -> None:
        data = {"kind": event.kind, "officer": event.officer, "detail": event.detail}
        audit.record(event.actor or SERVICE, f"incident_{event.event}", event.incident, data)

    service.send, service.audit = send, record


def emergency_hooks(
    service: EmergencyService | None,
    audit: AuditLog,
    root: str,
    publish: Callable[..., None],
    storm: Callable[[bool], None],
) -> None:
    """Entering and leaving a flood response level are audit records (actor: the admin or
    ``service``; action ``mode_enter`` / ``mode_leave``, the level as subject); the level goes
    retained (QoS 1) on ``{root}/mode``; each interval command goes to
    ``{root}/gauge/{id}/command`` (QoS 1, not retained); the schedules' storm flag follows the
    level at once (docs/emergency.md)."""
    if service is None:
        return

    def send(command: GaugeCommand) -> None:
        publish(f"{root}/gauge/{command.gauge}/command", json.dumps(command.payload).encode(), retain=False)

    def mode(message: dict[str, object]) -> None:
        publish(f"{root}/mode", json.dumps(message).encode(), retain=True)

    def record(step: Step) -> None:
        audit.record(step.actor, step.action, step.level, step.data)

    service.send, service.publish, service.audit, service.storm = send, mode, record, storm
    storm(service.desk.force.storm_schedules)
