"""The manifest: every mistake names the file, the line and the key, exits 2, and writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from modellock.errors import ConfigError
from modellock.project.manifest import load_manifest
from tests.helpers import cli, snapshot

CASES = [
    ('[models.tiny]\nrepo = "acme/tiny"\nrevison = "main"\n', 3, "unknown key `revison`", "did you mean `revision`?"),
    ('[models.tiny]\nrepo = "acme/tiny"\ninclude = "*.json"\n', 3, "must be a list of glob patterns", "include = ["),
    ('[models.tiny]\nrepo = "not a repo"\n', 2, "is not a Hugging Face repository id", None),
    ('[models.tiny]\nrevision = "main"\n', 1, "needs `repo`", None),
    ('[models.tiny]\nrepo = "acme/tiny"\nrepo-type = "space"\n', 3, "`repo-type` must be one of", None),
    ("[settings]\nstore = 3\n", 2, "`store` must be a non-empty string, got an integer", None),
    ("[setings]\n", 1, "unknown key `setings`", "did you mean `settings`?"),
    (
        '[models.tiny]\nrepo = "acme/tiny"\n\n[models.tiny2]\nrepo = "x/y"\npath = "models/tiny"\n',
        6,
        "shares its path 'models/tiny' with model `tiny`",
        None,
    ),
    ('[models.tiny]\nrepo = "acme/tiny"\nrepo = "x"\n', 3, "invalid TOML", None),
    ('[models]\ntiny = { repo = "acme/tiny", revison = "x" }\n', 2, "unknown key `revison`", None),
    ('[models.tiny]\nrepo = "acme/tiny"\nexclude = ["../x"]\n', 3, "relative", None),
    ('[models.tiny]\nrepo = "acme/tiny"\nlayout = "flat"\n', 3, "`layout` must be one of dir, hf-cache", None),
    (
        '[models.a]\nrepo = "a/b"\nlayout = "hf-cache"\npath = "m"\n[models.b]\nrepo = "c/d"\npath = "m"\n',
        7,
        "shares its path",
        None,
    ),
    (
        '[models.a]\nrepo = "a/b"\n[models.b]\nrepo = "c/d"\npath = "models/a/inner"\n',
        5,
        "its path 'models/a/inner' is inside the path of model `a`",
        None,
    ),
    ('[models.a]\nrepo = "a/b"\npath = "."\n', 3, "is the project directory or one of its parents", None),
    ('[models.a]\nrepo = "a/b"\npath = ".."\n', 3, "is the project directory or one of its parents", None),
    ('[models.a]\nrepo = "a/b"\npath = "~"\n', 3, "is the home directory", None),
    ('[models.a]\nrepo = "a/b"\npath = "/"\n', 3, "is /", None),
    ('[models.a]\nrepo = "a/b"\nrevision = "../../x"\n', 3, "is not a branch, tag or commit", None),
    ('[models.a]\nrepo = "a/b"\nrevision = "main.lock"\n', 3, "is not a branch, tag or commit", None),
    ('[settings]\nlink-mode = "symlink"\n', 2, "`link-mode` must be one of", None),
]


@pytest.mark.parametrize(("text", "line", "message", "hint"), CASES)
def test_manifest_errors(tmp_path: Path, text: str, line: int, message: str, hint: str | None) -> None:
    path = tmp_path / "modellock.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_manifest(path)
    assert info.value.line == line
    assert message in info.value.message
    assert info.value.message.startswith(f"{path}:{line}: ")
    if hint:
        assert hint in (info.value.hint or "")


def test_cli_malformed_manifest_exit_2_and_nothing_written(project: Path) -> None:
    (project / "modellock.toml").write_text('[models.tiny]\nrepo = "acme/tiny"\nrevison = "v1"\n')
    before = snapshot(project)
    for args in (("lock",), ("lock", "--check"), ("add", "acme/other")):
        run = cli(*args)
        assert run.exit_code == 2
        assert "modellock.toml:3: unknown key `revison` in [models.tiny]" in run.stderr
        assert "hint: did you mean `revision`?" in run.stderr
    assert snapshot(project) == before


def test_defaults_and_fingerprint_inputs(tmp_path: Path) -> None:
    path = tmp_path / "modellock.toml"
    path.write_text('[models.tiny]\nrepo = "acme/tiny"\ninclude = ["b", "a"]\n')
    spec = load_manifest(path).models["tiny"]
    assert (spec.revision, spec.repo_type, spec.install_path) == ("main", "model", "models/tiny")
    path.write_text('# comment\n[models.tiny]\nrepo = "acme/tiny"\ninclude = ["a", "b"]\nrevision = "main"\n')
    assert load_manifest(path).models["tiny"].fingerprint() == spec.fingerprint()
    path.write_text('[models.tiny]\nrepo = "acme/tiny"\ninclude = ["a"]\n')
    assert load_manifest(path).models["tiny"].fingerprint() != spec.fingerprint()


def test_missing_manifest(project: Path) -> None:
    run = cli("lock")
    assert run.exit_code == 2 and "no manifest found" in run.stderr and "modellock init" in run.stderr


def test_init_refuses_to_overwrite(project: Path) -> None:
    assert cli("init").exit_code == 0
    (project / "modellock.toml").write_text("# mine\n")
    run = cli("init")
    assert run.exit_code == 2 and "already exists" in run.stderr
    assert (project / "modellock.toml").read_text() == "# mine\n"


def test_add_keeps_comments(project: Path, hub: object) -> None:
    from tests.hub import FakeHub

    assert isinstance(hub, FakeHub)
    hub.repo("acme/tiny").commit({"config.json": b"{}"})
    (project / "modellock.toml").write_text("# my models\n[settings]\n# keep me\n\n[models]\n")
    run = cli("add", "acme/tiny", "--include", "*.json")
    assert run.exit_code == 0, run.stderr
    text = (project / "modellock.toml").read_text()
    assert "# my models" in text and "# keep me" in text
    assert load_manifest(project / "modellock.toml").models["tiny"].include == ("*.json",)


def test_add_rejects_bad_specs(project: Path) -> None:
    for spec in ("not/a/repo/x", "acme/tiny@", "https://huggingface.co/"):
        run = cli("add", spec)
        assert run.exit_code == 2, spec
    assert not (project / "modellock.toml").exists()
