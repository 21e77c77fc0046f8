"""Bearer tokens for the admin API: who is asking, and may they act or only look."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from handlers.errors import AuthRequired, Forbidden
from handlers.inbound import header

Role = Literal["viewer", "operator"]


@dataclass(frozen=True)
class AdminIdentity:
    """A configured token: its name (what the action log records), secret and role."""

    name: str
    token: str
    role: Role

    def __repr__(self) -> str:  # the token never prints
        return f"AdminIdentity(name={self.name!r}, role={self.role!r})"


def authenticate(request: web.Request, identities: tuple[AdminIdentity, ...]) -> AdminIdentity:
    """The identity whose token the request bears. Every token is compared, in constant time,
    so the answer's timing tells nothing of which one came close. Raises AuthRequired."""
    if not identities:
        raise AuthRequired("the admin API is off: no [[admin.tokens]] are configured")
    authorization = header(request.headers, "Authorization", invalid=AuthRequired)
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise AuthRequired("send Authorization: Bearer <admin token>")
    offered = presented.strip().encode()
    match: AdminIdentity | None = None
    for identity in identities:
        if hmac.compare_digest(offered, identity.token.encode()):
            match = identity
    if match is None:
        raise AuthRequired("the admin token is not valid")
    return match


def require_operator(identity: AdminIdentity) -> None:
    """Raise Forbidden unless the identity may change things."""
    if identity.role != "operator":
        raise Forbidden(f"token {identity.name!r} is read-only (role viewer)")
