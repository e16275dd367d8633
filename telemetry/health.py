"""Component health for ``/readyz``: each loop reports its state here; and liveness for
``/healthz``: whether the runtime has failed for good (:mod:`telemetry.supervise`)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Literal

State = Literal["up", "down", "starting", "disabled"]


@dataclass(frozen=True, slots=True)
class ComponentState:
    name: str
    state: State
    detail: str
    since_s: float  # time.time() of the last change


class Health:
    """Thread-safe registry of component states."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, ComponentState] = {}
        self._failure: str | None = None

    def set(self, name: str, state: State, detail: str = "") -> bool:
        """Record a state; returns True when it changed (so callers log once per change)."""
        with self._lock:
            old = self._states.get(name)
            if old is not None and old.state == state and old.detail == detail:
                return False
            changed = old is None or old.state != state
            since = time.time() if changed or old is None else old.since_s
            self._states[name] = ComponentState(name, state, detail, since)
            return changed

    def snapshot(self) -> list[ComponentState]:
        with self._lock:
            return sorted(self._states.values(), key=lambda c: c.name)

    def ready(self) -> bool:
        return all(c.state in ("up", "disabled") for c in self.snapshot())

    def fail(self, reason: str) -> None:
        """The runtime is dead (a task failed that no restart repairs): ``/healthz`` answers
        503 with the first such reason from now on."""
        with self._lock:
            if self._failure is None:
                self._failure = reason

    @property
    def failure(self) -> str | None:
        with self._lock:
            return self._failure


def failure_reason(exc: BaseException, limit: int = 300) -> str:
    """How a failure reads in ``/readyz``: the exception's type and message (the one inside a
    group of one, as a TaskGroup raises it), shortened to ``limit`` characters."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
