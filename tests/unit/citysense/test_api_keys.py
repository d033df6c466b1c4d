from __future__ import annotations

import dataclasses

import pytest

from citysense.api_keys import Scope, parse_api_keys

R = "r" * 16
A = "a" * 20


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("  ", {}),
        (f"{R}:read", {R: Scope.READ}),
        (f"{R}:read,{A}:admin", {R: Scope.READ, A: Scope.ADMIN}),
        (f" {R} : READ , {A}:Admin ", {R: Scope.READ, A: Scope.ADMIN}),
        ("k.e_y~+/=-0123456789:read", {"k.e_y~+/=-0123456789": Scope.READ}),
    ],
)
def test_parse_valid(text: str, expected: dict[str, Scope]) -> None:
    assert dict(parse_api_keys(text).by_key) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("short:read", "at least 16"),
        (f"{R}", "not key:scope"),
        (":read", "not key:scope"),
        (f"{R}:write", "use read, admin or ingest"),
        (f"{R}:read,,{A}:admin", "entry 2 is empty"),
        (f"{R}:read,{R}:admin", "repeats"),
        ("with space 0123456789:read", "letters, digits"),
        ("ünïcode-0123456789:read", "letters, digits"),
    ],
)
def test_parse_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_api_keys(text)
    assert R not in str(info.value)
    assert "0123456789" not in str(info.value)


def test_keys_are_immutable_and_never_printed() -> None:
    keys = parse_api_keys(f"{R}:read")
    with pytest.raises(TypeError):
        keys.by_key[A] = Scope.ADMIN  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        keys.by_key = {}  # type: ignore[misc]
    assert R not in repr(keys)


def test_admin_scope_includes_read() -> None:
    assert Scope.ADMIN.allows(Scope.READ)
    assert Scope.ADMIN.allows(Scope.ADMIN)
    assert Scope.READ.allows(Scope.READ)
    assert not Scope.READ.allows(Scope.ADMIN)
