from __future__ import annotations

import base64

import pytest

from api.auth import (
    ANONYMOUS,
    Access,
    Scope,
    Verdict,
    decide,
    parse_api_keys,
    presented_key,
)

R = "r" * 16
A = "a" * 20


KEYS = parse_api_keys(f"{R}:read,{A}:admin")
ALLOW, UNAUTH, FORBID = Verdict.ALLOW, Verdict.UNAUTHORIZED, Verdict.FORBIDDEN


@pytest.mark.parametrize(
    ("presented", "needed", "public_read", "verdict", "access"),
    [
        # no key
        (None, Scope.READ, False, UNAUTH, ANONYMOUS),
        (None, Scope.READ, True, ALLOW, ANONYMOUS),
        (None, Scope.ADMIN, True, UNAUTH, ANONYMOUS),
        (None, None, False, ALLOW, ANONYMOUS),
        # read key
        (R, Scope.READ, False, ALLOW, Access(Scope.READ)),
        (R, Scope.ADMIN, False, FORBID, Access(Scope.READ)),
        (R, Scope.ADMIN, True, FORBID, Access(Scope.READ)),
        (R, None, False, ALLOW, Access(Scope.READ)),
        # admin key
        (A, Scope.READ, False, ALLOW, Access(Scope.ADMIN)),
        (A, Scope.ADMIN, False, ALLOW, Access(Scope.ADMIN)),
        # wrong key: refused even where none is needed
        ("x" * 16, Scope.READ, True, UNAUTH, ANONYMOUS),
        ("x" * 16, None, False, UNAUTH, ANONYMOUS),
        (R[:-1], Scope.READ, False, UNAUTH, ANONYMOUS),
        (R + "r", Scope.READ, False, UNAUTH, ANONYMOUS),
    ],
)
def test_decide(presented: str | None, needed: Scope | None, public_read: bool, verdict: Verdict,
                access: Access) -> None:
    assert decide(KEYS, presented, needed, public_read) == (verdict, access)


def test_no_keys_configured() -> None:
    assert decide(parse_api_keys(""), R, Scope.READ, True)[0] is UNAUTH
    assert decide(parse_api_keys(""), None, Scope.READ, True)[0] is ALLOW


@pytest.mark.parametrize(
    ("x_api_key", "authorization", "expected"),
    [
        (None, None, None),
        ("", None, None),
        (R, None, R),
        (R, f"Bearer {A}", R),  # X-API-Key wins
        (None, f"Bearer {A}", A),
        (None, f"bearer   {A} ", A),
        (None, "Bearer ", "Bearer"),  # shown but empty: a wrong key, not an absent one
        (None, f"Basic {A}", f"Basic {A}"),  # not base64 of user:password
        (None, "Basic " + base64.b64encode(f"station:{A}".encode()).decode(), A),  # the password is the key
        (None, "basic " + base64.b64encode(f":{A}".encode()).decode(), A),
        (None, "Basic " + base64.b64encode(b"station:").decode(), "Basic c3RhdGlvbjo="),  # no password
    ],
)
def test_presented_key(x_api_key: str | None, authorization: str | None, expected: str | None) -> None:
    assert presented_key(x_api_key, authorization) == expected


def test_ingest_scope_stands_alone() -> None:
    # An ingest key pushes and does nothing else; an admin key does not push (api_keys.Scope.allows says why).
    assert Scope.INGEST.allows(Scope.INGEST)
    assert not Scope.INGEST.allows(Scope.READ)
    assert not Scope.INGEST.allows(Scope.ADMIN)
    assert not Scope.ADMIN.allows(Scope.INGEST)
    assert not Scope.READ.allows(Scope.INGEST)
    keys = parse_api_keys(f"{R}:read,{A}:admin,{'i' * 16}:ingest")
    assert decide(keys, "i" * 16, Scope.INGEST, False) == (ALLOW, Access(Scope.INGEST))
    assert decide(keys, "i" * 16, Scope.READ, True)[0] is FORBID  # even with public read: a key shown counts
    assert decide(keys, R, Scope.INGEST, False)[0] is FORBID
    assert decide(keys, A, Scope.INGEST, False)[0] is FORBID
    assert decide(keys, None, Scope.INGEST, True)[0] is UNAUTH


def test_admin_scope_includes_read() -> None:
    assert Scope.ADMIN.allows(Scope.READ)
    assert Scope.ADMIN.allows(Scope.ADMIN)
    assert Scope.READ.allows(Scope.READ)
    assert not Scope.READ.allows(Scope.ADMIN)
