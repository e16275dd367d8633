"""Bearer tokens with one role each (CONTRACT §6): 401 without a valid token, 403 without the
role. Tokens are compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Request

from api.audit import auth_failed
from api.errors import ApiError
from telemetry.config import TokenConfig

Permission = Literal["read", "ack", "missions", "audit", "admin"]
ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "viewer": frozenset({"read"}),
    "manager": frozenset({"read", "ack", "audit"}),
    "pilot": frozenset({"read", "missions"}),
    "admin": frozenset({"read", "ack", "missions", "audit", "admin"}),
}


@dataclass(frozen=True, slots=True)
class User:
    name: str  # who acknowledgements, commands and the audit log record: the token's configured user
    role: str


class TokenBook:
    """The configured tokens as SHA-256 digests (docs/decisions.md §40); a presented token is
    hashed once and compared with every digest in constant time."""

    def __init__(self, digests: list[tuple[str, str, str]]) -> None:
        """``digests``: (SHA-256 hex, role, user) of each token."""
        self._tokens = [(bytes.fromhex(d), User(user, role)) for d, role, user in digests]

    @classmethod
    def from_config(cls, tokens: list[TokenConfig]) -> TokenBook:
        return cls([(t.digest, t.role, t.user_name) for t in tokens])

    def user(self, token: str) -> User | None:
        given = hashlib.sha256(token.encode()).digest()
        found: User | None = None
        for known, user in self._tokens:  # no early exit: constant time in the match position
            if hmac.compare_digest(known, given):
                found = user
        return found


def authenticate(request: Request) -> User:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        auth_failed(request, "missing token")
        raise ApiError(401, "missing bearer token (Authorization: Bearer <token>)")
    book: TokenBook = request.app.state.tokens
    user = book.user(token.strip())
    if user is None:
        auth_failed(request, "invalid token")
        raise ApiError(401, "invalid token")
    return user


def require(permission: Permission) -> Callable[[Request], Coroutine[Any, Any, User]]:
    async def check(request: Request) -> User:
        user = authenticate(request)
        if permission not in ROLE_PERMISSIONS[user.role]:
            raise ApiError(403, f"role {user.role!r} may not {permission}")
        return user

    return check


Reader = Annotated[User, Depends(require("read"))]
Manager = Annotated[User, Depends(require("ack"))]
Pilot = Annotated[User, Depends(require("missions"))]
Auditor = Annotated[User, Depends(require("audit"))]
Admin = Annotated[User, Depends(require("admin"))]
