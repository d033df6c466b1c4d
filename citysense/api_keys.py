"""API keys and scopes: parsed once from CITYSENSE_API_KEYS into immutable values. Pure.

Ground, not API: the settings validate CITYSENSE_API_KEYS with it at start-up, and the API's
access decisions (api.auth) use the parsed keys.

`CITYSENSE_API_KEYS` is `key:scope,key:scope`, scope `read`, `admin` (admin may
also read) or `ingest` (may push device payloads, nothing else; an admin key may not
push: see Scope.allows). Errors never quote a key: settings errors end up in logs.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

MIN_KEY_LENGTH = 16
# No ':' or ',' (the separators), no whitespace, nothing a header cannot carry.
_KEY_CHARS = re.compile(r"[A-Za-z0-9._~+/=-]+")


class Scope(StrEnum):
    READ = "read"
    ADMIN = "admin"
    INGEST = "ingest"

    def allows(self, needed: Scope) -> bool:
        # Admin covers reading, not pushing: an ingest key lives in device configs and third-party
        # consoles (a TTN webhook, an airrohr station's settings), where an admin key must never end up,
        # and a leaked ingest key can neither read private data nor change the registry.
        return self is needed or (self is Scope.ADMIN and needed is Scope.READ)


@dataclass(frozen=True, slots=True)
class ApiKeys:
    by_key: Mapping[str, Scope]

    def __len__(self) -> int:
        return len(self.by_key)

    def __repr__(self) -> str:  # never print the keys themselves
        return f"ApiKeys({len(self.by_key)} key(s))"

    def scope_of(self, presented: str) -> Scope | None:
        # Compare against every key so the time taken does not tell which prefix matched.
        found: Scope | None = None
        given = presented.encode()
        for key, scope in self.by_key.items():
            if hmac.compare_digest(key.encode(), given):
                found = scope
        return found


NO_KEYS = ApiKeys(MappingProxyType({}))


def parse_api_keys(text: str) -> ApiKeys:
    """`key:scope,key:scope` → ApiKeys; ValueError naming the entry (by position) that is wrong."""
    keys: dict[str, Scope] = {}
    entries = [e.strip() for e in text.split(",")]
    if all(not e for e in entries):
        return NO_KEYS
    for n, entry in enumerate(entries, start=1):
        if not entry:
            raise ValueError(f"CITYSENSE_API_KEYS entry {n} is empty")
        key, sep, scope = entry.rpartition(":")
        if not sep or not key:
            raise ValueError(f"CITYSENSE_API_KEYS entry {n} is not key:scope")
        try:
            parsed = Scope(scope.strip().lower())
        except ValueError:
            raise ValueError(
                f"CITYSENSE_API_KEYS entry {n} has scope {scope.strip()!r}; use read, admin or ingest"
            ) from None
        key = key.strip()
        if len(key) < MIN_KEY_LENGTH:
            raise ValueError(
                f"CITYSENSE_API_KEYS entry {n}: a key needs at least {MIN_KEY_LENGTH} characters"
            )
        if not _KEY_CHARS.fullmatch(key):
            raise ValueError(
                f"CITYSENSE_API_KEYS entry {n}: a key may hold letters, digits and . _ ~ + / = - only"
            )
        if key in keys:
            raise ValueError(f"CITYSENSE_API_KEYS entry {n} repeats an earlier key")
        keys[key] = parsed
    return ApiKeys(MappingProxyType(keys))
