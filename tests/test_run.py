"""`modellock run`: checks before the command starts, the environment it gets, signals and exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from huggingface_hub import hf_hub_download, snapshot_download, try_to_load_from_cache

from tests.helpers import cli
from tests.hub import FakeHub
from tests.test_hf_cache import add_hf_cache_model
from tests.test_lock_e2e import CONFIG, make_tiny

PY = sys.executable


def modellock(*args: str, cwd: Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, "-m", "modellock", *args], cwd=cwd, capture_output=True, text=True, timeout=120, **kwargs
    )


def two_models(project: Path, hub: FakeHub) -> str:
    """`tiny` in an hf-cache under hf/, `plain` (another repo) as a directory under models/plain."""
    commit = add_hf_cache_model(project, hub)
    make_tiny(hub, "acme/plain")
    manifest = project / "modellock.toml"
    manifest.write_text(manifest.read_text() + '\n[models.plain]\nrepo = "acme/plain"\npath = "models/plain"\n')
    run = cli("sync")
    assert run.exit_code == 0, run.stderr
    return commit


SHOW_ENV = (
    "import json, os, sys; "
    "keys = ['HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE', 'HF_HUB_DISABLE_TELEMETRY', 'HF_HUB_CACHE', "
    "'MODELLOCK_PROJECT']; "
    "print(json.dumps({k: os.environ.get(k) for k in keys})); sys.exit(3)"
)


def test_run_gives_the_command_the_lock_and_its_exit_code(project: Path, hub: FakeHub) -> None:
    two_models(project, hub)
    done = modellock("run", "--", PY, "-c", SHOW_ENV, cwd=project)
    assert done.returncode == 3, done.stderr
    env = json.loads(done.stdout)
    assert env["HF_HUB_OFFLINE"] == "1" and env["TRANSFORMERS_OFFLINE"] == "1"
    assert env["HF_HUB_DISABLE_TELEMETRY"] == "1"
    assert Path(env["HF_HUB_CACHE"]) == (project / "hf").absolute()
    assert Path(env["MODELLOCK_PROJECT"]) == project.absolute()
    # Options after the command are the command's, not ours.
    done = modellock("run", "--", PY, "-c", "import sys; print(sys.argv[1:])", "--verify", "x", cwd=project)
    assert done.returncode == 0 and done.stdout.strip() == "['--verify', 'x']", done.stderr


def test_run_refuses_a_modified_file_before_the_command_starts(project: Path, hub: FakeHub) -> None:
    two_models(project, hub)
    started = project / "started"
    target = project / "models" / "plain" / "config.json"
    target.write_bytes(b'{"model_type": "evil"}\n')
    done = modellock("run", "--", PY, "-c", f"open({str(started)!r}, 'w')", cwd=project)
    assert done.returncode == 1
    assert "plain: modified config.json" in done.stderr and "was not started" in done.stderr
    assert "hint: run `modellock sync`" in done.stderr
    assert not started.exists()


def test_run_refuses_a_model_that_is_not_installed(project: Path, hub: FakeHub) -> None:
    import shutil

    two_models(project, hub)
    shutil.rmtree(project / "models" / "plain")
    done = modellock("run", "--", "true", cwd=project)
    assert done.returncode == 1 and "plain: not installed at" in done.stderr


def test_run_verify_full_finds_what_status_cannot(project: Path, hub: FakeHub) -> None:
    """Same size, same mtime, same inode: only re-hashing sees it."""
    two_models(project, hub)
    target = project / "models" / "plain" / "config.json"
    st = target.stat()
    with target.open("r+b") as f:
        f.write(b"X")
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert modellock("run", "--", "true", cwd=project).returncode == 0
    done = modellock("run", "--verify", "full", "--", "true", cwd=project)
    assert done.returncode == 1 and "plain: modified config.json" in done.stderr
    bad = modellock("run", "--verify", "fast", "--", "true", cwd=project)
    assert bad.returncode == 2 and "--verify must be one of status, full" in bad.stderr


def test_run_refuses_a_stale_lock_and_a_moved_ref(project: Path, hub: FakeHub) -> None:
    two_models(project, hub)
    refs = project / "hf" / "models--acme--tiny" / "refs" / "main"
    good = refs.read_text()
    refs.write_text("0" * 40)
    done = modellock("run", "--", "true", cwd=project)
    assert done.returncode == 1 and "tiny: ref refs/main points at 0000000" in done.stderr
    refs.write_text(good)
    manifest = project / "modellock.toml"
    manifest.write_text(manifest.read_text().replace('path = "models/plain"', 'path = "models/plain2"'))
    done = modellock("run", "--", "true", cwd=project)
    assert done.returncode == 1 and "plain: changed in the manifest since it was locked" in done.stderr


def test_run_without_a_project_or_command(tmp_path: Path) -> None:
    done = modellock("run", "--", "true", cwd=tmp_path)
    assert done.returncode == 2 and "no lock found" in done.stderr


def test_run_exit_codes_of_a_missing_command_and_a_signal(project: Path, hub: FakeHub) -> None:
    two_models(project, hub)
    done = modellock("run", "--", "no-such-command-xyz", cwd=project)
    assert done.returncode == 127 and "error: command not found: no-such-command-xyz" in done.stderr
    done = modellock("run", "--", PY, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)", cwd=project)
    assert done.returncode == 128 + signal.SIGKILL


def test_run_passes_a_sigterm_on_once(project: Path, hub: FakeHub) -> None:
    two_models(project, hub)
    log = project / "signals.txt"
    child = (
        "import signal, sys, time\n"
        f"log = open({str(log)!r}, 'a', buffering=1)\n"
        "def on(n, f):\n    log.write(f'{n}\\n')\n    sys.exit(42)\n"
        "signal.signal(signal.SIGTERM, on)\nlog.write('ready\\n')\ntime.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [PY, "-m", "modellock", "run", "--", PY, "-c", child], cwd=project, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while "ready" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 42
    assert log.read_text().split() == ["ready", str(int(signal.SIGTERM))]


def test_run_guards_direct_huggingface_hub_calls(project: Path, hub: FakeHub) -> None:
    commit = two_models(project, hub)
    script = project / "app.py"
    script.write_text(
        "import json\n"
        "from huggingface_hub import hf_hub_download, snapshot_download\n"
        "from modellock.runtime import LockGuardError\n"
        "out = {}\n"
        "out['cache'] = hf_hub_download('acme/tiny', 'config.json')\n"
        "out['dir'] = hf_hub_download('acme/plain', 'sub/dir/extra.json')\n"
        "out['snap'] = snapshot_download('acme/tiny')\n"
        "for repo, rev in [('acme/unknown', None), ('acme/tiny', 'v2')]:\n"
        "    try:\n"
        "        snapshot_download(repo, revision=rev)\n"
        "    except LockGuardError as exc:\n"
        "        out[repo] = str(exc)\n"
        "print(json.dumps(out))\n"
    )
    hub.repo("acme/tiny").commit({"config.json": b"{}"})  # main moves on the Hub: no matter
    hub.requests.clear()
    done = modellock("run", "--", PY, str(script), cwd=project)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    snap = (project / "hf" / "models--acme--tiny" / "snapshots" / commit).absolute()
    assert Path(out["cache"]) == snap / "config.json" and Path(out["cache"]).read_bytes() == CONFIG
    assert Path(out["dir"]) == (project / "models" / "plain" / "sub" / "dir" / "extra.json").absolute()
    assert Path(out["snap"]) == snap
    assert "'acme/unknown' is not in the lock" in out["acme/unknown"]
    assert "modellock add acme/unknown" in out["acme/unknown"]
    assert "revision 'v2' of 'acme/tiny' is not the locked one" in out["acme/tiny"]
    assert hub.requests == []


@pytest.mark.parametrize("python_flag", ["-I"])
def test_run_isolated_python_is_not_guarded(project: Path, hub: FakeHub, python_flag: str) -> None:
    """`python -I` ignores PYTHONPATH: documented, and shown here so the docs stay true."""
    two_models(project, hub)
    code = "import sys; print('sitecustomize' in sys.modules and hasattr(sys.modules['sitecustomize'], '_hooks'))"
    assert modellock("run", "--", PY, "-c", code, cwd=project).stdout.strip() == "True"
    assert modellock("run", "--", PY, python_flag, "-c", code, cwd=project).stdout.strip() == "False"


def test_a_python_without_modellock_is_guarded(project: Path, hub: FakeHub, tmp_path: Path) -> None:
    """A venv of its own (the application's), with huggingface_hub made importable but not modellock."""
    two_models(project, hub)
    venv = tmp_path / "venv"
    subprocess.run([PY, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    import huggingface_hub

    hub_pkg = Path(huggingface_hub.__file__).parent.parent  # site-packages: huggingface_hub and its deps
    code = (
        "import sys\n"
        f"sys.path.append({str(hub_pkg)!r})\n"
        "from huggingface_hub import hf_hub_download\n"
        "print(hf_hub_download('acme/plain', 'config.json'))\n"
        "try:\n    hf_hub_download('acme/nope', 'config.json')\nexcept Exception as e:\n"
        "    print(type(e).__name__, type(e).__module__)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = modellock("run", "--", str(venv / "bin" / "python"), "-c", code, cwd=project, env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert Path(lines[0]) == (project / "models" / "plain" / "config.json").absolute()
    assert lines[1] == "LockGuardError _modellock_guard_hooks"


def test_a_bad_guard_table_stops_python_instead_of_running_unguarded(tmp_path: Path) -> None:
    from modellock.runtime.environment import SITE_DIR

    env = {**os.environ, "PYTHONPATH": SITE_DIR, "MODELLOCK_GUARD": "{not json"}
    done = subprocess.run([PY, "-c", "print('ran')"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "ran" not in done.stdout
    assert "error: modellock guard: cannot arm the guard" in done.stderr


def test_an_existing_sitecustomize_still_runs(project: Path, hub: FakeHub, tmp_path: Path) -> None:
    two_models(project, hub)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "sitecustomize.py").write_text("import builtins\nbuiltins.THEIRS = True\n")
    code = "import builtins, sys; print(getattr(builtins, 'THEIRS', False), 'sitecustomize' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(theirs)}
    done = modellock("run", "--", PY, "-c", code, cwd=project, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]


def test_guard_in_process_after_the_loaders_were_imported(project: Path, hub: FakeHub) -> None:
    """`guard()` without `run`: module-level references taken before it (this module's imports) are guarded too."""
    from huggingface_hub.file_download import _CACHED_NO_EXIST

    from modellock.runtime import LockGuardError, guard
    from modellock.runtime.hooks import uninstall

    commit = two_models(project, hub)
    hub.requests.clear()
    guard(project)
    try:
        import huggingface_hub

        snap = (project / "hf" / "models--acme--tiny" / "snapshots" / commit).absolute()
        assert Path(huggingface_hub.hf_hub_download("acme/tiny", "config.json")) == snap / "config.json"
        assert Path(snapshot_download("acme/tiny", revision=commit)) == snap
        assert try_to_load_from_cache("acme/plain", "nope.json") is _CACHED_NO_EXIST
        with pytest.raises(LockGuardError, match="not in the lock"):
            hf_hub_download("acme/elsewhere", "config.json")
        from huggingface_hub.errors import LocalEntryNotFoundError

        with pytest.raises(LocalEntryNotFoundError, match="not a file of 'acme/tiny'"):
            hf_hub_download("acme/tiny", "../../../../etc/passwd")
        # local_dir: the locked bytes copied out, over whatever the directory held (never trusted as it is).
        out = project.parent / "out"
        (out / "sub" / "dir").mkdir(parents=True)
        (out / "config.json").write_bytes(b"planted")
        assert Path(hf_hub_download("acme/tiny", "config.json", local_dir=out)).read_bytes() == CONFIG
        assert snapshot_download("acme/plain", local_dir=out, allow_patterns=["sub/*"]) == str(out)
        assert (out / "sub" / "dir" / "extra.json").read_bytes() == b"{}"
        assert not (out / ".modellock-install.json").exists()
        with pytest.raises(LockGuardError, match="already enabled"):
            guard(project)
        assert hub.requests == []  # nothing downloaded, even online
    finally:
        uninstall()
    from huggingface_hub.errors import LocalEntryNotFoundError

    with pytest.raises(LocalEntryNotFoundError):  # huggingface_hub's own answer again: not the guard's
        hf_hub_download("acme/elsewhere", "config.json", local_files_only=True)


def test_run_isolate_hides_tokens_and_the_network(project: Path, hub: FakeHub) -> None:
    from modellock.runtime.isolate import network_isolation

    if network_isolation() is None:
        pytest.skip("this machine does not allow a new network namespace")
    two_models(project, hub)
    host, port = hub.endpoint.removeprefix("http://").split(":")
    code = (
        "import json, os, socket\n"
        "names = ('HF_TOKEN', 'AWS_SECRET_ACCESS_KEY', 'KEEP_ME_TOKEN', 'HF_TOKEN_PATH')\n"
        "out = {k: os.environ.get(k) for k in names}\n"
        "try:\n"
        f"    socket.create_connection(({host!r}, {int(port)}), timeout=5).close()\n"
        "    out['net'] = 'connected'\n"
        "except OSError as exc:\n"
        "    out['net'] = type(exc).__name__\n"
        "print(json.dumps(out))\n"
    )
    env = {**os.environ, "HF_TOKEN": "hf_secret", "AWS_SECRET_ACCESS_KEY": "aws", "KEEP_ME_TOKEN": "kept"}
    seen = modellock("run", "--", PY, "-c", code, cwd=project, env=env)
    assert json.loads(seen.stdout)["net"] == "connected"  # the control: without --isolate it reaches the Hub
    done = modellock("run", "--isolate", "--allow-env", "KEEP_ME_TOKEN", "--", PY, "-c", code, cwd=project, env=env)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["HF_TOKEN"] is None and out["AWS_SECRET_ACCESS_KEY"] is None
    assert out["KEEP_ME_TOKEN"] == "kept" and out["HF_TOKEN_PATH"] == "/dev/null"
    assert out["net"] != "connected"
    bad = modellock("run", "--allow-env", "X", "--", "true", cwd=project)
    assert bad.returncode == 2 and "--allow-env goes with --isolate" in bad.stderr


def test_the_guard_is_public() -> None:
    import modellock
    import modellock.runtime

    assert modellock.guard is modellock.runtime.guard
    assert modellock.LockGuardError is modellock.runtime.LockGuardError
    assert "guard" in modellock.__all__
