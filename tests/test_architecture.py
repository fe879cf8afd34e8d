"""The layers of docs/architecture.md hold: every package imports only the packages below it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "modellock"
LEAVES = {"errors", "text", "jsonread", "compat", "__version__"}
# What each package may import besides itself and the leaves (docs/architecture.md, "Layers").
ALLOWED = {
    "cli": {"api", "report", "ops", "project", "store", "sources", "gate", "signing", "oci", "runtime"},
    "api": {"ops", "report", "project", "store"},
    "runtime": {"api", "ops", "project", "store"},  # `run` and the guard; `hooks` imports nothing of modellock
    "report": {"ops", "project", "gate"},  # ops' result types and the gate verdicts they carry
    "ops": {"project", "store", "sources", "download", "gate", "signing", "oci"},
    "sources": {"store", "project", "download", "oci"},
    "download": set(),
    "oci": {"project"},
    "gate": {"project"},
    "signing": {"project"},
    "store": {"project"},
    "project": set(),
    "errors": set(),
    "text": set(),
    "jsonread": set(),
    "compat": set(),
    "__main__": {"cli"},
    "__init__": {"api", "runtime"},  # `guard` and `LockGuardError`, by name, imported on first use
}


def _imports(path: Path) -> set[str]:
    """Top-level modellock packages a module imports, function-level imports included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "modellock":
            names = [node.module] if node.module != "modellock" else [f"modellock.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.split(".")[0] == "modellock"]
        found.update(name.split(".")[1] for name in names if "." in name)
    return found


def test_packages_import_only_downward() -> None:
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        package = parts[0] if len(parts) > 1 else path.stem
        assert package in ALLOWED, f"{path}: package {package!r} is not in docs/architecture.md"
        for target in _imports(path) - {package} - LEAVES:
            if target not in ALLOWED[package]:
                wrong.append(f"{path.relative_to(ROOT.parent)} imports modellock.{target}")
    assert not wrong, "\n".join(wrong)


def test_no_module_at_the_root_but_the_leaves() -> None:
    roots = ("__init__", "__main__", "errors", "text", "jsonread", "compat")
    loose = sorted(p.stem for p in ROOT.glob("*.py") if p.stem not in roots)
    assert not loose, f"modules belong in a package by concern: {loose}"
