"""JSON errors for every failure: ``{"error": {"code", "message"}}`` (CONTRACT §6)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from telemetry.errors import QueryError, StoreError

_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 409: "conflict", 413: "too_large", 422: "invalid_request",
          429: "rate_limited", 503: "unavailable"}  # fmt: skip


def error_body(status: int, message: str, code: str | None = None) -> dict[str, dict[str, str]]:
    return {"error": {"code": code or _CODES.get(status, "error"), "message": message}}


# The body of every error answer, documented inline so that it stays JSON on routes whose own
# answer is another media type (a model here would be documented under the route's type).
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}


_WHY = {400: "a parameter that cannot be used as given", 401: "no valid bearer token",
        403: "the token's role may not do this", 404: "no such resource", 409: "not possible in this state",
        413: "request body over [api] max_body_bytes", 422: "a request that does not match this schema",
        429: "over the rate limit (Retry-After says when)", 503: "the store is unavailable"}  # fmt: skip


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` documentation of these error statuses, with the shared error body."""
    return {
        s: {"description": _WHY[s], "content": {"application/json": {"schema": ERROR_SCHEMA}}}
        for s in statuses
    }


# What any /api/ route may answer besides its own: auth (CONTRACT §6), the limits, validation and
# a store outage. Routes add the statuses only they give (400, 404, 409).
API_ERRORS = error_responses(401, 403, 413, 422, 429, 503)


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        self.status = status
        self.message = message
        self.code = code
        super().__init__(message)


def install_error_handlers(app: FastAPI) -> None:
    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(error_body(exc.status, exc.message, exc.code), exc.status, headers)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return JSONResponse(error_body(exc.status_code, str(exc.detail)), exc.status_code)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return JSONResponse(error_body(422, "; ".join(parts)), 422)

    async def query_error(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(error_body(400, str(exc), "bad_query"), 400)

    async def store_error(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(error_body(503, str(exc), "store_unavailable"), 503)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(QueryError, query_error)
    app.add_exception_handler(StoreError, store_error)
