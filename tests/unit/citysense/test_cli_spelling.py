from __future__ import annotations

import pytest

from citysense.cli import build_parser, canonical_words


@pytest.mark.parametrize(("words", "api"), [
    (["simulate", "telraam-api", "--port", "9"], "telraam"),
    (["simulate", "sensor-community-api", "--port", "9"], "sensor-community"),
    (["simulate-api", "telraam", "--port", "9"], "telraam"),
])
def test_the_simulated_apis_have_two_spellings(words: list[str], api: str) -> None:
    args = build_parser("simulate-api").parse_args(canonical_words(words))
    assert (args.command, args.api, args.port) == ("simulate-api", api, 9)


def test_plain_simulate_is_left_alone() -> None:
    assert canonical_words(["simulate", "--speed", "10"]) == ["simulate", "--speed", "10"]
