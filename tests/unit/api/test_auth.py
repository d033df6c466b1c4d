from __future__ import annotations

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
        (None, f"Basic {A}", f"Basic {A}"),
    ],
)
def test_presented_key(x_api_key: str | None, authorization: str | None, expected: str | None) -> None:
    assert presented_key(x_api_key, authorization) == expected
