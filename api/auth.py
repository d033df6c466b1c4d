"""Who may call what: the access decision for a request's key. Pure.

The keys themselves (CITYSENSE_API_KEYS, scopes, parsing) are citysense.api_keys.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from enum import Enum

# Re-exported: the API modules take the keys' types from here, next to the decision.
from citysense.api_keys import ApiKeys as ApiKeys
from citysense.api_keys import Scope as Scope
from citysense.api_keys import parse_api_keys as parse_api_keys


class Verdict(Enum):
    ALLOW = "allow"
    UNAUTHORIZED = "unauthorized"  # 401: no key where one is needed, or a key we do not know
    FORBIDDEN = "forbidden"  # 403: a known key whose scope is not enough


@dataclass(frozen=True, slots=True)
class Access:
    """Who is calling: `scope` None for an anonymous caller admitted by public read."""

    scope: Scope | None

    @property
    def authenticated(self) -> bool:
        return self.scope is not None


ANONYMOUS = Access(None)


def decide(keys: ApiKeys, presented: str | None, needed: Scope | None, public_read: bool) -> tuple[Verdict, Access]:
    """`needed` None: an open endpoint (anyone, but a key shown must be valid)."""
    if presented:
        scope = keys.scope_of(presented)
        if scope is None:
            # A wrong key is refused even where none is needed: silently serving it as
            # anonymous would hide a misconfigured client.
            return Verdict.UNAUTHORIZED, ANONYMOUS
        if needed is not None and not scope.allows(needed):
            return Verdict.FORBIDDEN, Access(scope)
        return Verdict.ALLOW, Access(scope)
    if needed is None or (needed is Scope.READ and public_read):
        return Verdict.ALLOW, ANONYMOUS
    return Verdict.UNAUTHORIZED, ANONYMOUS


def basic_password(token: str) -> str | None:
    """The password of HTTP basic credentials (`base64(user:password)`), None when they are not that.
    Some senders (airrohr stations) can only do basic auth: the password is the key, the user is free."""
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    _user, sep, password = decoded.partition(":")
    return password if sep and password else None


def presented_key(x_api_key: str | None, authorization: str | None) -> str | None:
    """The key a request shows: `X-API-Key`, else `Authorization: Bearer <key>`, else the password of
    `Authorization: Basic …`."""
    if x_api_key:
        return x_api_key.strip() or None
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        if scheme.lower() == "basic":
            password = basic_password(token)
            if password is not None:
                return password
        return authorization.strip()  # anything else is a wrong key, not an absent one
    return None
