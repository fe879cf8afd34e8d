"""The public library (`modellock`): lazy names, project discovery, `path()`, typed errors with facts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import modellock
from modellock import (
    CheckFailed,
    ConfigError,
    IntegrityError,
    ModellockError,
    PolicyRefusal,
    Project,
    SignatureError,
    StaleLock,
    UnsupportedDependency,
    UsageError,
    scan,
)
from tests.helpers import cli
from tests.hub import FakeHub
from tests.registry import LocalRegistry
from tests.test_hf_cache import add_hf_cache_model
from tests.test_lock_e2e import make_tiny
from tests.test_oci_registry import closed_endpoint
from tests.test_scan import BENIGN, HOSTILE


def test_import_modellock_loads_no_machinery() -> None:
    code = (
        "import sys, modellock; modellock.__version__; "
        "print(sorted(m for m in sys.modules if m.startswith('modellock')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "['modellock']"


def test_every_public_name_resolves_and_nothing_else_does() -> None:
    for name in modellock.__all__:
        assert getattr(modellock, name) is not None, name
    with pytest.raises(AttributeError):
        _ = modellock.internals  # type: ignore[attr-defined]
    assert Path(modellock.__file__).with_name("py.typed").is_file()


@pytest.mark.parametrize(
    ("error", "exit_code", "facts"),
    [
        (UsageError("x"), 2, {}),
        (ConfigError("bad", file="m.toml", line=3), 2, {"file": "m.toml", "line": 3}),
        (
            IntegrityError("x", model="m", path="w.bin", expected="sha256:aa", actual="sha256:bb"),
            1,
            {"model": "m", "path": "w.bin", "expected": "sha256:aa", "actual": "sha256:bb"},
        ),
        (SignatureError("x", model="m"), 1, {"model": "m"}),
        (PolicyRefusal("x", model="m", files=["a.bin"]), 1, {"model": "m", "files": ["a.bin"]}),
        (StaleLock("x", problems=[("m", "changed")]), 1, {"problems": [{"model": "m", "message": "changed"}]}),
        (
            UnsupportedDependency("typer", "0.30.0", ">=0.26,<0.29"),
            2,
            {"package": "typer", "installed": "0.30.0", "supported": ">=0.26,<0.29"},
        ),
    ],
)
def test_errors_carry_exit_code_and_facts(error: ModellockError, exit_code: int, facts: dict[str, object]) -> None:
    assert error.exit_code == exit_code
    assert error.facts() == facts
    assert isinstance(error, ModellockError)
    assert isinstance(error, CheckFailed) == (exit_code == 1)


def test_open_discovers_the_project_upwards(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "modellock.toml").write_text("")
    (project / "sub" / "deeper").mkdir(parents=True)
    monkeypatch.chdir(project / "sub" / "deeper")
    assert Project.open().manifest_path.resolve() == project / "modellock.toml"
    assert Project.open(project / "modellock.toml").root == project
    assert Project.open(str(project)).lock_path == project / "modellock.lock"


def test_path_is_what_a_loader_is_given(project: Path, hub: FakeHub) -> None:
    commit = add_hf_cache_model(project, hub)
    lib = Project.open(project)
    snapshot = lib.path("tiny")
    assert snapshot == project / "hf" / "models--acme--tiny" / "snapshots" / commit
    result = lib.sync()
    assert [(m.name, m.action) for m in result.models] == [("tiny", "unchanged")] and result.relocked is None
    assert (snapshot / "config.json").is_file()
    assert lib.verify().ok and lib.status().ok
    assert lib.sync(check=True).in_sync
    with pytest.raises(UsageError, match="no model named 'nope'"):
        lib.path("nope")


def test_lock_check_sync_return_typed_results(project: Path, hub: FakeHub) -> None:
    make_tiny(hub)
    (project / "modellock.toml").write_text('[models.tiny]\nrepo = "acme/tiny"\n')
    lib = Project.open(project)
    assert not lib.check().ok
    with pytest.raises(StaleLock) as stale:
        lib.sync()  # locked by default: a library call never re-resolves behind the caller's back
    assert stale.value.problems == ((None, "modellock.lock does not exist; run `modellock lock`"),)
    locked = lib.lock()
    assert [(c.name, c.kind) for c in locked.changes] == [("tiny", "added")] and locked.written
    check = lib.check()
    assert check.ok and check.models == 1 and check.files == 3
    synced = lib.sync()
    assert synced.installed[0].target == project / "models" / "tiny"
    assert lib.path("tiny") == project / "models" / "tiny"
    bom = lib.export("spdx3")
    assert bom.models == 1 and '"spdxVersion"' not in bom.text and "acme/tiny" in bom.text
    with pytest.raises(UsageError):
        lib.export("csv")  # type: ignore[arg-type]


def test_scan_returns_ok_and_each_file(tmp_path: Path) -> None:
    (tmp_path / "ok.safetensors").write_bytes(BENIGN["model.safetensors"])
    assert scan(tmp_path).ok
    (tmp_path / "evil.bin").write_bytes(HOSTILE["torch_zip.pt"])
    result = scan(tmp_path)
    assert not result.ok and [f.path.rsplit("/", 1)[1] for f in result.refused] == ["evil.bin"]
    assert result.refused[0].verdict == "malicious"
    with pytest.raises(UsageError):
        scan(tmp_path, pickle="sometimes")  # type: ignore[arg-type]


def test_cli_and_library_agree(project: Path, hub: FakeHub) -> None:
    make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    assert Project.open(project).check().ok


def test_a_project_reached_by_another_path_keeps_its_snapshot(project: Path, hub: FakeHub) -> None:
    """`sync` from the project directory, then with `-p /abs/path`: the recorded install is the same one."""
    commit = add_hf_cache_model(project, hub)  # synced as `.`
    run = cli("-p", str(project.resolve()), "sync")
    assert run.exit_code == 0 and "remove" not in run.stdout.lower(), run.stdout
    assert (project / "hf" / "models--acme--tiny" / "snapshots" / commit / "config.json").is_file()


def test_push_then_sync_from_the_registry_alone(
    project: Path, hub: FakeHub, registry: LocalRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tiny(hub)
    (project / "modellock.toml").write_text('[models.tiny]\nrepo = "acme/tiny"\n')
    lib = Project.open(project)
    lib.lock()
    pushed = lib.push(f"{registry.url}/fleet")
    assert [m.name for m in pushed.models] == ["tiny"] and pushed.models[0].digest.startswith("sha256:")
    monkeypatch.setenv("MODELLOCK_CACHE_DIR", str(tmp_path / "fresh-store"))
    monkeypatch.setenv("HF_ENDPOINT", closed_endpoint())
    synced = lib.sync(registry=f"{registry.url}/fleet")
    assert [m.name for m in synced.installed] == ["tiny"] and synced.downloaded_files == 3
    assert lib.verify().ok
