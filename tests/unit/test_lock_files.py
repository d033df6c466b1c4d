"""requirements.lock (the image) and requirements-dev.lock (make) stay in step with pyproject.toml.

A dependency added to pyproject.toml without `make lock` would install unpinned on a fresh
clone (the lock is a constraints file) and never reach the image: this fails first.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _pins(lock: str) -> dict[str, str]:
    """name -> version of every `name==version` line that applies on Linux with Python 3.11."""
    env = default_environment() | {"sys_platform": "linux", "platform_system": "Linux",
                                   "python_version": "3.11", "python_full_version": "3.11.7"}
    pins: dict[str, str] = {}
    for line in (ROOT / lock).read_text().splitlines():
        if not line or line[0] in "# ":
            continue
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        (spec,) = req.specifier
        assert spec.operator == "==", f"{lock}: {line!r} is not an exact pin"
        pins[canonicalize_name(req.name)] = spec.version
    return pins


@pytest.mark.parametrize(("lock", "declared"), [
    ("requirements.lock", PROJECT["dependencies"]),
    ("requirements-dev.lock", PROJECT["dependencies"] + PROJECT["optional-dependencies"]["dev"]),
])
def test_every_declared_dependency_is_pinned_within_its_range(lock: str, declared: list[str]) -> None:
    pins = _pins(lock)
    problems = []
    for line in declared:
        req = Requirement(line)
        version = pins.get(canonicalize_name(req.name))
        if version is None:
            problems.append(f"{req.name} is not in {lock}")
        elif not req.specifier.contains(version, prereleases=True):
            problems.append(f"{req.name}=={version} in {lock} is outside pyproject's {req.specifier}")
    assert not problems, "; ".join(problems) + " — run `make lock`"


def test_the_image_lock_holds_no_test_tooling() -> None:
    # Some dev extras are also runtime needs of others (websockets, pyyaml via uvicorn[standard]);
    # the test runners and checkers are not.
    assert not {"pytest", "mypy", "ruff", "playwright", "hypothesis", "uv"} & _pins("requirements.lock").keys()
