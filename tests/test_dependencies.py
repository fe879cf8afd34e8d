"""Dependencies as a contract: every third-party package modellock imports is declared in pyproject,
and every declared runtime dependency is imported (nothing arrives only because another package
happens to pull it in today)."""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parent.parent
# Imported only where a format needs them, by design, and declared in the `test` extra or documented
# as optional: none today. A name here must say why.
OPTIONAL: dict[str, str] = {}


def _name(requirement: str) -> str:
    """The normalised distribution name of a PEP 508 requirement (`cyclonedx-python-lib[json-validation]>=11`)."""
    match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def declared(pyproject: Path) -> set[str]:
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    return {_name(r) for r in data["project"]["dependencies"]}


def top_level_imports(tree: Path) -> dict[str, set[str]]:
    """Absolute top-level module names imported anywhere under `tree` (function-level imports
    included), each with the files importing it."""
    found: dict[str, set[str]] = {}
    for path in sorted(tree.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: Iterable[str] = ()
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(tree.parent)))
    return found


def undeclared(tree: Path, pyproject: Path, own: str, distributions: dict[str, list[str]]) -> list[str]:
    """Third-party imports under `tree` whose distribution pyproject does not declare."""
    wanted = declared(pyproject)
    problems = []
    for module, files in sorted(top_level_imports(tree).items()):
        if module == own or module in sys.stdlib_module_names or module == "__future__" or module in OPTIONAL:
            continue
        dists = {re.sub(r"[-_.]+", "-", d).lower() for d in distributions.get(module, [module])}
        if not dists & wanted:
            problems.append(f"{module} (from {', '.join(sorted(dists))}) imported by {', '.join(sorted(files))}")
    return problems


def unused(tree: Path, pyproject: Path, distributions: dict[str, list[str]]) -> list[str]:
    imported = set()
    for module in top_level_imports(tree):
        imported.update(re.sub(r"[-_.]+", "-", d).lower() for d in distributions.get(module, [module]))
    return sorted(declared(pyproject) - imported)


def test_every_third_party_import_is_declared() -> None:
    problems = undeclared(ROOT / "modellock", ROOT / "pyproject.toml", "modellock", metadata.packages_distributions())
    assert not problems, "imported but not in pyproject's dependencies:\n" + "\n".join(problems)


def test_every_declared_dependency_is_imported() -> None:
    # tomli is imported only on Python 3.10, under its marker: the AST walk still sees the import.
    stale = unused(ROOT / "modellock", ROOT / "pyproject.toml", metadata.packages_distributions())
    assert not stale, f"declared but never imported: {stale}"


_PYPROJECT = '[project]\nname = "x"\ndependencies = [{deps}]\n'


@pytest.mark.parametrize(
    ("source", "deps", "missing"),
    [
        ("import rich\n", '"typer>=0.26"', ["rich"]),
        ("from rich.progress import Progress\n", '"rich>=13"', []),
        ("def f():\n    import httpcore2\n", '"httpx2>=2"', ["httpcore2"]),  # lazy imports count too
        ("import os, json\nfrom pkg import x\n", "", []),  # the standard library and our own package
        ("from . import sibling\n", "", []),  # relative imports are ours
        ("import sigstore_models\n", '"sigstore-models>=0.0.6"', []),  # names normalised
        ("import yaml\n", '"PyYAML>=6"', []),  # a module named unlike its distribution
        ("import yaml\n", '"pyyaml-include"', ["yaml"]),
    ],
)
def test_undeclared_decision(tmp_path: Path, source: str, deps: str, missing: list[str]) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text(source, encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(_PYPROJECT.format(deps=deps), encoding="utf-8")
    distributions = {"yaml": ["PyYAML"], "rich": ["rich"], "httpcore2": ["httpcore2"]}
    distributions["sigstore_models"] = ["sigstore-models"]
    found = undeclared(tmp_path / "pkg", tmp_path / "pyproject.toml", "pkg", distributions)
    assert [f.split(" ")[0] for f in found] == missing
