"""Who is calling: HTTP basic users and bearer tokens, each with the admin or read-only role."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import yaml
from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import (
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
)


class Role(StrEnum):
    """What a caller may do: read-only callers cannot ingest or delete."""

    ADMIN = "admin"
    READ_ONLY = "read-only"


@dataclass
class AuthConfig:
    """Accepted credentials. With none configured the API is open and every caller is admin."""

    users: dict[str, tuple[str, Role]] = field(default_factory=dict)
    tokens: dict[str, Role] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        """True when any credential is configured."""
        return bool(self.users or self.tokens)

    def add_user(self, spec: str) -> None:
        """Add `NAME:PASSWORD[:ROLE]` (role defaults to admin)."""
        name, sep, rest = spec.partition(":")
        if not name or not sep:
            raise ValueError("user must be NAME:PASSWORD[:ROLE]")
        password, role = rest, Role.ADMIN
        head, sep, tail = rest.rpartition(":")
        if sep and tail in {r.value for r in Role}:
            password, role = head, Role(tail)
        if not password:
            raise ValueError("password must not be empty")
        self.users[name] = (password, role)

    def add_token(self, spec: str) -> None:
        """Add `TOKEN[:ROLE]` (role defaults to admin)."""
        token, role = spec, Role.ADMIN
        head, sep, tail = spec.rpartition(":")
        if sep and tail in {r.value for r in Role}:
            token, role = head, Role(tail)
        if not token:
            raise ValueError("token must not be empty")
        self.tokens[token] = role

    @classmethod
    def from_file(cls, path: str | Path) -> AuthConfig:
        """Read a YAML file: `users: [{name, password, role}]`, `tokens: [{token, role}]`."""
        data = yaml.safe_load(Path(path).read_text()) or {}
        config = cls()
        for user in data.get("users") or []:
            config.users[str(user["name"])] = (
                str(user["password"]),
                Role(user.get("role", Role.ADMIN)),
            )
        for token in data.get("tokens") or []:
            config.tokens[str(token["token"])] = Role(token.get("role", Role.ADMIN))
        return config

    def check_basic(self, name: str, password: str) -> Role | None:
        """Role of a valid user/password pair."""
        entry = self.users.get(name)
        # compare against something even for unknown users to keep timing flat
        expected, role = entry if entry else ("\0invalid", Role.READ_ONLY)
        ok = hmac.compare_digest(password.encode(), expected.encode())
        return role if ok and entry else None

    def check_token(self, token: str) -> Role | None:
        """Role of a valid bearer token."""
        found = None
        for candidate, role in self.tokens.items():
            if hmac.compare_digest(token.encode(), candidate.encode()):
                found = role
        return found


READ_METHODS = frozenset({"GET", "HEAD"})

_basic = HTTPBasic(auto_error=False, realm="lanner")
_bearer = HTTPBearer(auto_error=False)


def current_role(
    request: Request,
    basic: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    access_token: Annotated[
        str | None,
        Query(
            description="Bearer token for reads (GET) by clients that cannot set headers "
            "(EventSource); writes need the Authorization header"
        ),
    ] = None,
) -> Role:
    """Resolve the caller's role or answer 401. A token in the URL (which ends up in proxy
    and browser histories) only authenticates reads."""
    config: AuthConfig = request.app.state.auth
    if not config.enabled:
        return Role.ADMIN
    role = None
    if basic is not None:
        role = config.check_basic(basic.username, basic.password)
    elif bearer is not None:
        role = config.check_token(bearer.credentials)
    elif access_token and request.method in READ_METHODS:
        role = config.check_token(access_token)
    if role is None:
        # the single-page UI asks for credentials itself, without the browser's dialog
        from_ui = request.headers.get("x-requested-with") == "lanner-ui"
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "authentication required",
            headers=None if from_ui else {"WWW-Authenticate": 'Basic realm="lanner"'},
        )
    return role


def require_admin(role: Annotated[Role, Depends(current_role)]) -> Role:
    """Dependency for writes: 403 for read-only callers."""
    if role is not Role.ADMIN:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "read-only role")
    return role
