"""The package-level arrows point one way: the CLI and the wings (bench/, devenv/) at the top, then
api / ingest / simulators, then the ground (citysense's settings, endpoints, keys, live-bus format,
backoff; models/, the domain). Read from the imports themselves, every .py file, including the
imports inside functions; there is no list of exceptions."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WINGS = frozenset({"bench", "devenv"})
PRODUCT = ("ingest", "api", "simulators", "models")
PROJECT = frozenset({*PRODUCT, *WINGS, "citysense"})

# package -> the project packages it may not import
FORBIDDEN: dict[str, frozenset[str]] = {
    "models": PROJECT - {"models"},
    "ingest": WINGS | {"api", "simulators"},
    "simulators": WINGS | {"api"},
    # HTTP push (api/push) checks a payload with ingest's own decode step (ingest.prepare) so the sender hears
    # the decoder's reason, and records a refused one with ingest's writer; the API never needs the simulators.
    "api": WINGS | {"simulators"},
    # the ground: everything of citysense/ except the command at the top (citysense/cli.py)
    "citysense": PROJECT - {"citysense", "models"},
}
ROOF = frozenset({"citysense.cli"})


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported(path: Path, root: Path = ROOT) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, at any depth."""
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            yield node.lineno, name
            # `from pkg import module` imports pkg.module too
            for alias in node.names:
                yield node.lineno, f"{name}.{alias.name}"


def _files(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_points_the_wrong_way(package: str) -> None:
    files = _files(package)
    assert files, f"no Python files under {package}/"
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in files
        if _module_name(path) not in ROOF
        for line, name in _imported(path)
        if name.split(".")[0] in FORBIDDEN[package]
    ]
    assert wrong == [], "\n".join(wrong)


def test_the_walk_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    """Not fooled by an import inside a function (what hid most of the old back-arrows) or a relative one."""
    (tmp_path / "models").mkdir()
    probe = tmp_path / "models" / "probe.py"
    probe.write_text("def f() -> None:\n    from api import app\n    from . import metrics\n")
    assert [name for _, name in _imported(probe, tmp_path)] == ["api", "api.app", "models", "models.metrics"]
