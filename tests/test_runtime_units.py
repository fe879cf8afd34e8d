"""The runtime's decisions, one table each: which locked entry a request resolves to, which signals are passed on."""

from __future__ import annotations

import ast
import signal
from pathlib import Path

import pytest

from modellock.errors import ConfigError
from modellock.project.manifest import load_manifest
from modellock.runtime.hooks import Entry, LockGuardError, Table, locked_file, resolve
from modellock.runtime.process import exit_status, should_forward

C1, C2 = "1" * 40, "2" * 40
TABLE = Table(
    "/p/modellock.lock",
    (
        Entry("a", "model", "org/a", C1, "main", "hf-cache", "/c"),
        Entry("b", "model", "org/b", C1, "v1", "dir", "/m/b"),
        Entry("b2", "model", "org/b", C2, "v2", "dir", "/m/b2"),
        Entry("d", "dataset", "org/d", C2, C2, "hf-cache", "/c"),
    ),
    ("free/*", "org/exact-free"),
)


class Resolved:
    def __init__(self, commit: str) -> None:
        self.resolved = commit


@pytest.mark.parametrize(
    ("repo", "kind", "revision", "expected"),
    [
        ("org/a", None, None, "a"),  # no revision: the locked commit
        ("org/a", "model", "main", "a"),
        ("org/a", None, C1, "a"),
        ("org/a", None, Resolved(C1), "a"),
        ("org/a", None, "v2", "error:revision 'v2'"),
        ("org/a", None, C1[:7], "error:revision '1111111'"),  # a short hash is not the commit
        ("org/a", None, Resolved(C2), "error:revision"),
        ("org/a", "dataset", None, "error:dataset repository 'org/a' is not in the lock"),
        ("org/b", None, "v1", "b"),
        ("org/b", None, C2, "b2"),
        ("org/b", None, None, "error:several revisions"),  # two entries, no revision: ambiguous
        ("org/d", "dataset", None, "d"),
        ("org/d", None, None, "error:model repository 'org/d'"),
        ("org/unknown", None, None, "error:is not in the lock /p/modellock.lock"),
        ("free/anything", None, "whatever", None),  # unlocked-repos: let through untouched
        ("org/exact-free", None, None, None),
        ("free/x/../y", None, None, None),  # a glob on the id only; the id goes to huggingface_hub unchanged
        ("freeish/x", None, None, "error:is not in the lock"),
    ],
)
def test_resolve(repo: str, kind: str | None, revision: object, expected: str | None) -> None:
    if expected is not None and expected.startswith("error:"):
        with pytest.raises(LockGuardError, match=expected.removeprefix("error:").replace("(", r"\(")):
            resolve(TABLE, repo, kind, revision)
        return
    found = resolve(TABLE, repo, kind, revision)
    assert (found.name if found else None) == expected


def test_table_round_trips_through_the_environment() -> None:
    assert Table.loads(TABLE.dumps()) == TABLE


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("config.json", True),
        ("sub/dir/extra.json", True),
        ("../escape", False),
        ("sub/../config.json", False),
        ("/etc/passwd", False),
        ("", False),
        ("sub//x", False),
        ("missing.json", False),
    ],
)
def test_locked_file(tmp_path: Path, name: str, ok: bool) -> None:
    (tmp_path / "sub" / "dir").mkdir(parents=True)
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "sub" / "dir" / "extra.json").write_text("{}")
    entry = Entry("x", "model", "org/x", C1, "main", "dir", str(tmp_path))
    assert (locked_file(entry, name) is not None) is ok


@pytest.mark.parametrize(
    ("si_code", "same_group", "forward"),
    [
        (0x80, True, False),  # Ctrl-C at the terminal: the command had it already
        (0x80, False, True),
        (0, True, True),  # SI_USER: `kill` aimed at modellock
        (-1, True, True),  # SI_QUEUE
    ],
)
def test_should_forward(si_code: int, same_group: bool, forward: bool) -> None:
    assert should_forward(si_code, same_group) is forward


@pytest.mark.parametrize(("returncode", "status"), [(0, 0), (3, 3), (-signal.SIGTERM, 143), (-signal.SIGKILL, 137)])
def test_exit_status(returncode: int, status: int) -> None:
    assert exit_status(returncode) == status


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ('["org/*", "acme/x"]', None),
        ('["org/x-1.2_b"]', None),
        ('"org/*"', "must be a list"),
        ('["*"]', "repository ids like"),
        ('["org"]', "repository ids like"),
        ('["org/x/y"]', "repository ids like"),
        ('["org/x y"]', "repository ids like"),
        ('[""]', "non-empty strings"),
        ("[1]", "non-empty strings"),
    ],
)
def test_unlocked_repos_setting(tmp_path: Path, value: str, error: str | None) -> None:
    path = tmp_path / "modellock.toml"
    path.write_text(f"[settings]\nunlocked-repos = {value}\n")
    if error is None:
        assert load_manifest(path).settings.unlocked_repos
        return
    with pytest.raises(ConfigError, match=error):
        load_manifest(path)


def test_hooks_import_nothing_of_modellock() -> None:
    """`run` may start a Python without modellock: sitecustomize then loads hooks.py by its path."""
    source = Path(__file__).resolve().parent.parent / "modellock" / "runtime" / "hooks.py"
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0 and not (node.module or "").startswith("modellock"), node.module
        elif isinstance(node, ast.Import):
            assert not any(a.name.startswith("modellock") for a in node.names)


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("HF_TOKEN", True),
        ("HUGGING_FACE_HUB_TOKEN", True),
        ("GITHUB_TOKEN", True),
        ("OPENAI_API_KEY", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("AWS_PROFILE", True),
        ("AZURE_CLIENT_ID", True),
        ("GOOGLE_APPLICATION_CREDENTIALS", True),
        ("DOCKER_CONFIG", True),
        ("MODELLOCK_REGISTRY_PASSWORD", True),
        ("KUBECONFIG", True),
        ("SSH_AUTH_SOCK", True),
        ("db_password", True),
        ("PATH", False),
        ("HOME", False),
        ("HF_HUB_OFFLINE", False),
        ("MODELLOCK_GUARD", False),
        ("PYTHONPATH", False),
        ("LANG", False),
    ],
)
def test_isolate_removes_credentials(name: str, secret: bool) -> None:
    from modellock.runtime.isolate import is_secret, isolated_environment

    assert is_secret(name) is secret
    env, removed = isolated_environment({name: "x"})
    assert (name in removed) is secret
    kept, _ = isolated_environment({name: "x"}, allow={name})
    assert kept[name] == "x"
    assert env["HF_TOKEN_PATH"] == "/dev/null" and env["NETRC"] == "/dev/null"


def test_run_with_handlers_passes_a_sigterm_on(tmp_path: Path) -> None:
    """The path for systems without sigtimedwait (macOS), exercised here."""
    import os
    import sys
    import threading
    import time

    from modellock.runtime.process import run_with_handlers

    ready = tmp_path / "ready"
    child = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda n, f: sys.exit(7))\n"
        f"open({str(ready)!r}, 'w').close()\n"
        "time.sleep(60)\n"
    )

    def kill_us_when_ready() -> None:
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=kill_us_when_ready, daemon=True).start()
    assert run_with_handlers([sys.executable, "-c", child], dict(os.environ)) == 7


@pytest.mark.parametrize(
    ("allow", "ignore", "expected"),
    [
        (None, None, ["a.json", "sub/b.bin", "sub/c.json"]),
        ("*.json", None, ["a.json", "sub/c.json"]),
        (["sub/"], None, ["sub/b.bin", "sub/c.json"]),
        (None, ["*.bin"], ["a.json", "sub/c.json"]),
        (["sub/*"], "*.json", ["sub/b.bin"]),
    ],
)
def test_snapshot_local_dir_patterns(allow: object, ignore: object, expected: list[str]) -> None:
    from modellock.runtime.hooks import _matches, _patterns

    files = ["a.json", "sub/b.bin", "sub/c.json"]
    a, i = _patterns(allow), _patterns(ignore)
    assert [f for f in files if not ((a and not _matches(f, a)) or _matches(f, i))] == expected


def test_a_large_table_is_packed_below_the_environment_limit() -> None:
    entries = tuple(
        Entry(f"m{i}", "model", f"org/model-{i}", f"{i:040x}", "main", "hf-cache", "/srv/app/models/hf-cache")
        for i in range(2000)
    )
    table = Table("/srv/app/modellock.lock", entries)
    text = table.dumps()
    assert text.startswith("zlib:") and len(text) < 128 * 1024
    assert Table.loads(text) == table
    assert not TABLE.dumps().startswith("zlib:")  # a small one stays readable
