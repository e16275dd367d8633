"""JSON errors for every failure: ``{"error": {"code", "message"}}`` (CONTRACT §6)."""

from __future__ import annotations

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
