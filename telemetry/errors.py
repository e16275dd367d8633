"""The core error hierarchy. Third-party exceptions are mapped at the boundary with
``raise Ours(...) from exc``; a store error says whether a retry makes sense."""

from __future__ import annotations


class TelemetryError(Exception):
    """Base of every error this service raises on purpose."""


class ConfigError(TelemetryError):
    """A configuration that cannot start the service. ``problems`` lists (key path, reason)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{path}: {reason}" for path, reason in problems))


class DecodeError(TelemetryError):
    """An input message that does not match the contract. ``reason`` is a short metric label,
    ``detail`` the human explanation kept with the dead letter."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class StoreError(TelemetryError):
    """A store operation failed. ``retryable`` tells whether the same call may succeed later;
    ``retry_after_s`` is the server's hint (HTTP Retry-After), when it gave one."""

    def __init__(self, message: str, *, retryable: bool, retry_after_s: float | None = None) -> None:
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        super().__init__(message)


class QueryError(TelemetryError):
    """A query that cannot be answered as asked (unknown measurement, field or function)."""


class CollectorError(TelemetryError):
    """A collector cannot run (bad URL, unreachable broker at start-up that will not recover)."""
