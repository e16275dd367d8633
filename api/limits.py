"""Request limits in front of the routes, as pure ASGI middleware (docs/decisions.md §41, §42).

- A request body over ``[api] max_body_bytes`` answers 413: at once when its Content-Length
  says so (nothing of it is read), otherwise as soon as the chunks received add up to more.
- A token bucket per client (the bearer token when it is a valid one, else the client address)
  refilled at ``rate_limit_per_s`` and holding ``rate_burst`` answers 429 with Retry-After.
  Health, readiness and metrics are never throttled; a rate of 0 turns the limit off.

Both answer the API's JSON error shape ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import hashlib
import math
import time

import orjson
from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import TokenBook
from api.errors import error_body
from telemetry.config import ApiConfig

UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
MAX_CLIENTS = 10_000  # buckets kept; beyond, the least recently seen client's is forgotten


async def send_error(send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]]) -> None:
    body = orjson.dumps(error_body(status, message))
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body})


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when the chunks exceed the limit; FastAPI's body parsing lets an
    HTTPException through, so the app's error handler answers it (else the middleware does)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over the limit of {limit} bytes")


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await send_error(send, 413, f"request body over the limit of {self.max_bytes} bytes", [])
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge as exc:
            if started:
                raise
            await send_error(send, 413, str(exc.detail), [])


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class TokenBuckets:
    """One bucket per key: ``burst`` requests at once, refilled at ``per_s``. Not thread-safe:
    the event loop is its only user."""

    def __init__(self, per_s: float, burst: int, max_keys: int = MAX_CLIENTS) -> None:
        self.per_s = per_s
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (level, when), least recent first

    def take(self, key: str, now: float) -> float:
        """Take one request from ``key``'s bucket: 0 when allowed, else the seconds to wait."""
        level, then = self._buckets.pop(key, (self.burst, now))
        level = min(self.burst, level + (now - then) * self.per_s)
        wait = 0.0
        if level >= 1.0:
            level -= 1.0
        else:
            wait = (1.0 - level) / self.per_s
        self._buckets[key] = (level, now)
        while len(self._buckets) > self.max_keys:
            del self._buckets[next(iter(self._buckets))]
        return wait

    def __len__(self) -> int:
        return len(self._buckets)


class RateLimit:
    def __init__(self, app: ASGIApp, per_s: float, burst: int, tokens: TokenBook) -> None:
        self.app = app
        self.buckets = TokenBuckets(per_s, burst) if per_s > 0 else None
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.buckets is None or scope["type"] != "http" or scope["path"] in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        wait = self.buckets.take(self._key(scope), time.monotonic())
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        retry = max(1, math.ceil(wait))
        message = (
            f"more than {self.buckets.per_s:g} requests/s (bursts of {self.buckets.burst:g}); "
            f"retry after {retry} s"
        )
        await send_error(send, 429, message, [(b"retry-after", str(retry).encode())])

    def _key(self, scope: Scope) -> str:
        """The valid bearer token's digest, else the client address: a client guessing tokens
        is limited by its address, not granted a fresh bucket per guess."""
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                token = token.strip()
                if scheme.lower() == "bearer" and token and self.tokens.user(token) is not None:
                    return "token:" + hashlib.sha256(token.encode()).hexdigest()
                break
        client = scope.get("client")
        return f"addr:{client[0] if client else '?'}"


def install_limits(app: FastAPI, cfg: ApiConfig, tokens: TokenBook) -> None:
    """The body limit inside the rate limit: a throttled request is refused before its body."""
    app.add_middleware(BodyLimit, max_bytes=cfg.max_body_bytes)
    app.add_middleware(RateLimit, per_s=cfg.rate_limit_per_s, burst=cfg.rate_burst, tokens=tokens)
