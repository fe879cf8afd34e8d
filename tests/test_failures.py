"""Every failure a user can provoke is an `error:` with a cause and a `hint:`, never an internal error.

One test per class: full disk (a small tmpfs), read-only or unwritable store, malformed Hub answers,
redirect loops, over-long names, deep nesting, bad UTF-8, a forced link mode that cannot work.
Each asserts the exit code, the message, and that nothing was written where it should not be.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Run, cli, snapshot
from tests.hub import FakeHub
from tests.test_lock_e2e import make_tiny


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "256k", *, read_only: bool = False) -> Iterator[Path]:
    """A small filesystem of its own at `path` (root only; otherwise the test is skipped, saying why)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs for this filesystem test")
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(directory: Path) -> None:
    """Use up every free byte of the filesystem holding `directory`."""
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)


def _no_internal_error(run: Run) -> None:
    assert "internal error" not in run.stderr, run.stderr
    assert "hint:" in run.stderr, run.stderr


def _leftover_temps(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".modellock-tmp-")]


# -- full disks ---------------------------------------------------------------------------------


def test_a_store_too_small_for_the_listed_sizes_is_refused_before_downloading(
    project: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tiny(hub)
    with tmpfs(tmp_path / "small") as small:
        monkeypatch.setenv("MODELLOCK_CACHE_DIR", str(small / "store"))
        run = cli("add", "acme/tiny")
        assert run.exit_code == 2
        assert "not enough space for 3 downloads into the store: 1.0 MB needed" in run.stderr
        assert f"free on tmpfs at {small}" in run.stderr
        _no_internal_error(run)
        assert not [p for _, p in hub.requests if "/resolve/" in p]  # checked before any download
        assert not (small / "store" / "blobs").exists()
    assert not (project / "modellock.toml").exists() and not (project / "modellock.lock").exists()


def test_a_full_disk_while_writing_the_lock(project: Path, hub: FakeHub, tmp_path: Path) -> None:
    make_tiny(hub)
    with tmpfs(tmp_path / "full") as full:
        os.chdir(full)
        (full / "modellock.toml").write_text('[models.tiny]\nrepo = "acme/tiny"\n')
        fill(full)
        run = cli("lock")
        assert run.exit_code == 2
        assert f"no space left on tmpfs at {full} while writing {Path('.') / 'modellock.lock'}" in run.stderr
        _no_internal_error(run)
        assert not (full / "modellock.lock").exists()
        assert _leftover_temps(full) == []  # the failed write removed its temporary file at once


def test_a_full_disk_while_installing_copies(project: Path, hub: FakeHub, tmp_path: Path) -> None:
    make_tiny(hub)
    with tmpfs(tmp_path / "target", size="512k") as target:
        (project / "modellock.toml").write_text(f'[models.tiny]\nrepo = "acme/tiny"\npath = "{target}/tiny"\n')
        run = cli("sync", "--link-mode", "copy")
        assert run.exit_code == 2
        assert f"no space left on tmpfs at {target} while writing {target}/" in run.stderr
        assert "more needed" in run.stderr
        _no_internal_error(run)
        assert list(target.iterdir()) == []  # the staging tree is gone, no half-installed model


# -- stores that cannot be written ----------------------------------------------------------------


def test_a_store_that_cannot_be_written(
    project: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tiny(hub)
    if os.geteuid() == 0:  # root ignores permissions: use a read-only filesystem (EROFS)
        context: Any = tmpfs(tmp_path / "ro", read_only=True)
        expected = "the filesystem is read-only on tmpfs at"
    else:  # EACCES
        (tmp_path / "ro").mkdir()
        (tmp_path / "ro").chmod(0o500)
        context = contextlib.nullcontext(tmp_path / "ro")
        expected = "permission denied: cannot write"
    with context as store:
        monkeypatch.setenv("MODELLOCK_CACHE_DIR", str(store / "store"))
        run = cli("add", "acme/tiny")
        assert run.exit_code == 2
        assert expected in run.stderr
        _no_internal_error(run)
    assert not (project / "modellock.toml").exists()


# -- hostile or broken Hub answers ------------------------------------------------------------------


def _set(key: str, value: object) -> Callable[[list[dict[str, Any]]], Any]:
    return lambda page: [{**e, key: value} if e.get("type") == "file" else e for e in page]


def _drop(key: str) -> Callable[[list[dict[str, Any]]], Any]:
    return lambda page: [{k: v for k, v in e.items() if k != key} for e in page]


@pytest.mark.parametrize(
    ("transform", "detail"),
    [
        (_set("size", "12"), "size '12' is not a byte count"),
        (_set("size", -1), "size -1 is not a byte count"),
        (_drop("oid"), "KeyError: 'oid'"),
        (_set("oid", "not-hex"), "oid 'not-hex' is not a git object id"),
        (lambda page: {"files": page}, "malformed ("),
        (lambda page: ["config.json"], "malformed ("),
        (_set("lfs", {"oid": "x", "size": 1, "pointerSize": 1}), "LFS oid 'x' is not a SHA-256"),
    ],
)
def test_malformed_file_listings(
    project: Path, hub: FakeHub, transform: Callable[[list[dict[str, Any]]], Any], detail: str
) -> None:
    make_tiny(hub)
    hub.faults.tree_json = transform
    run = cli("add", "acme/tiny")
    assert run.exit_code == 2, run.stderr
    assert "the Hub's file listing for acme/tiny@" in run.stderr and detail in run.stderr
    _no_internal_error(run)
    assert snapshot(project) == {}


def test_a_redirect_loop_on_a_download(project: Path, hub: FakeHub) -> None:
    make_tiny(hub)
    hub.faults.redirect_loop.add("config.json")
    run = cli("add", "acme/tiny")
    assert run.exit_code == 2
    assert "could not download config.json from acme/tiny@" in run.stderr and "redirects in a loop" in run.stderr
    _no_internal_error(run)
    assert snapshot(project) == {}


@pytest.mark.parametrize(
    ("path", "limit"),
    [("a" * 256 + ".json", "filesystems allow 255"), ("/".join(["d" * 200] * 20) + "/x", "the limit is 3840")],
)
def test_over_long_repository_paths_are_refused_at_lock(project: Path, hub: FakeHub, path: str, limit: str) -> None:
    hub.repo("acme/long").commit({"config.json": b"{}", path: b"{}"})
    run = cli("add", "acme/long")
    assert run.exit_code == 1
    assert "repository path" in run.stderr and limit in run.stderr
    _no_internal_error(run)
    assert snapshot(project) == {}


# -- files that are not what they claim -----------------------------------------------------------


def test_deep_nesting_in_a_manifest_and_a_lock(project: Path, hub: FakeHub) -> None:
    deep = "x = " + "[" * 1000 + "]" * 1000 + "\n"
    (project / "modellock.toml").write_text("# models\n" + deep)
    run = cli("lock")
    assert run.exit_code == 2
    assert "modellock.toml:2: invalid TOML: arrays or tables nested more than 64 deep" in run.stderr
    _no_internal_error(run)
    make_tiny(hub)
    (project / "modellock.toml").write_text("")
    assert cli("add", "acme/tiny").exit_code == 0
    lock = project / "modellock.lock"
    lock.write_text(lock.read_text() + deep)
    for args in (("lock", "--check"), ("sync",), ("status",)):
        run = cli(*args)
        assert run.exit_code == 2, args
        assert "nested more than 64 deep" in run.stderr and "modellock.lock:" in run.stderr, args
        _no_internal_error(run)


def test_a_lock_with_a_bad_utf8_byte(project: Path, hub: FakeHub) -> None:
    make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    lock = project / "modellock.lock"
    lines = lock.read_bytes().split(b"\n")
    lines[8] += b"\xff"
    lock.write_bytes(b"\n".join(lines))
    before = snapshot(project)
    for args in (("lock", "--check"), ("lock",), ("sync",), ("verify",)):
        run = cli(*args)
        assert run.exit_code == 2, args
        assert "modellock.lock:9: the lock is not valid UTF-8 (byte 0xff" in run.stderr, (args, run.stderr)
        _no_internal_error(run)
    assert snapshot(project) == before


def test_a_forced_link_mode_that_this_filesystem_cannot_do(project: Path, hub: FakeHub, tmp_path: Path) -> None:
    import fcntl

    src, dst = tmp_path / "a", tmp_path / "b"
    src.write_bytes(b"x")
    with open(src, "rb") as s, open(dst, "wb") as d:
        try:
            fcntl.ioctl(d.fileno(), 0x40049409, s.fileno())
            pytest.skip("this filesystem supports reflinks")
        except OSError as exc:
            assert exc.errno in (errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL)
    make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    run = cli("sync", "--link-mode", "reflink")
    assert run.exit_code == 2
    assert "--link-mode reflink does not work between the store" in run.stderr
    assert "hint: use --link-mode hardlink or copy" in run.stderr
    _no_internal_error(run)
    assert not (project / "models").exists() or list((project / "models").iterdir()) == []


def test_a_disk_that_fills_up_during_a_download(project: Path, hub: FakeHub, tmp_path: Path) -> None:
    from tests.test_sync import EXPECTED, tree
    from tests.test_sync_processes import spawn, wait_for

    make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    with tmpfs(tmp_path / "small", size="2m") as small:
        store = small / "store"
        hub.faults.throttle["model.safetensors"] = 0.1
        proc = spawn(project, hub, store, "sync", "--locked")  # the space check passes: 1 MB of 2 MB
        tmp = store / "tmp"
        wait_for(lambda: tmp.is_dir() and any(p.stat().st_size > 100_000 for p in tmp.iterdir()))
        fill(small)  # another program takes the rest of the disk
        _, err = proc.communicate(timeout=60)
        message = err.decode()
        assert proc.returncode == 2, message
        assert f"no space left on tmpfs at {small} while writing {tmp}/partial-" in message
        assert "more needed)" in message and "internal error" not in message
        assert not (project / "models" / "tiny").exists()
        (small / "filler").unlink()
        hub.faults.throttle.clear()
        hub.ranges.clear()
        rerun = spawn(project, hub, store, "sync", "--locked")
        _, err = rerun.communicate(timeout=60)
        assert rerun.returncode == 0, err.decode()
        assert len(hub.ranges) == 1  # what arrived before the disk filled was kept and resumed
        assert tree(project / "models" / "tiny") == EXPECTED


def test_a_truncated_lock_names_its_last_line(project: Path, hub: FakeHub) -> None:
    make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    lock = project / "modellock.lock"
    text = lock.read_text()
    lock.write_text(text[: text.index("model.safetensors") + 5])
    run = cli("lock", "--check")
    assert run.exit_code == 2
    assert f"modellock.lock:{len(lock.read_text().splitlines())}: invalid TOML: unterminated string" in run.stderr


# -- what killed runs leave behind ----------------------------------------------------------------


def test_temporary_files_of_a_killed_run_are_removed_by_the_next(
    project: Path, hub: FakeHub, tmp_path: Path
) -> None:
    make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    store = tmp_path / "store"
    dead = ".modellock-tmp-999999999-1-"  # pid far above pid_max: that writer is gone
    leftovers = [project / f"{dead}modellock.lock", store / "locks" / f"{dead}x", store / "installs" / f"{dead}y"]
    live = project / f".modellock-tmp-{os.getpid()}-1-modellock.lock"  # a writer that still runs
    for path in [*leftovers, live]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("half")
    run = cli("sync")
    assert run.exit_code == 0, run.stderr
    assert [p for p in leftovers if p.exists()] == []
    assert live.exists()


def test_a_kill_while_removing_a_dropped_model_is_finished_by_the_next_sync(project: Path, hub: FakeHub) -> None:
    from modellock.store.installed import MARKER

    make_tiny(hub, "acme/one")
    make_tiny(hub, "acme/two")
    assert cli("add", "acme/one").exit_code == 0
    assert cli("add", "acme/two").exit_code == 0
    assert cli("sync").exit_code == 0
    assert cli("remove", "two").exit_code == 0
    models = project / "models"
    # Killed inside remove_installed: parked, marker dropped, part of the tree already deleted.
    parked = models / ".modellock-retired-two"
    (models / "two").rename(parked)
    (parked / MARKER).unlink()
    (parked / "config.json").unlink()
    run = cli("sync")
    assert run.exit_code == 0, run.stderr
    assert sorted(p.name for p in models.iterdir()) == ["one"]


def test_a_full_disk_while_installing_hardlinks(
    project: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_sync import EXPECTED, tree

    make_tiny(hub)
    with tmpfs(tmp_path / "disk", size="2m") as disk:
        monkeypatch.setenv("MODELLOCK_CACHE_DIR", str(disk / "store"))
        (project / "modellock.toml").write_text(f'[models.tiny]\nrepo = "acme/tiny"\npath = "{disk}/tiny"\n')
        assert cli("lock").exit_code == 0  # the blobs are in the store, on the same filesystem
        fill(disk)
        run = cli("sync", "--link-mode", "hardlink")
        assert run.exit_code == 2
        assert f"no space left on tmpfs at {disk} while writing" in run.stderr
        _no_internal_error(run)
        assert not (disk / "tiny").exists()
        assert [p.name for p in disk.iterdir() if p.name.startswith(".modellock")] == []
        (disk / "filler").unlink()
        assert cli("sync", "--link-mode", "hardlink").exit_code == 0
        assert tree(disk / "tiny") == EXPECTED


@pytest.mark.parametrize(
    ("transform", "detail"),
    [
        (lambda info: {k: v for k, v in info.items() if k != "id"}, "answer about acme/tiny@main is malformed"),
        (lambda info: {**info, "sha": 12345}, "the Hub returned no valid commit for acme/tiny@main"),
        (lambda info: {**info, "sha": "main"}, "the Hub returned no valid commit for acme/tiny@main"),
        (lambda info: [info], "the Hub's answer about acme/tiny@main is malformed"),
    ],
    ids=["no-id", "sha-int", "sha-not-hex", "a-list"],
)
def test_malformed_repository_info(
    project: Path, hub: FakeHub, transform: Callable[[dict[str, Any]], Any], detail: str
) -> None:
    make_tiny(hub)
    hub.faults.info_json = transform
    run = cli("add", "acme/tiny")
    assert run.exit_code == 2, run.stderr
    assert detail in run.stderr
    _no_internal_error(run)
    assert snapshot(project) == {}


def test_deep_nesting_inside_an_inline_table_of_a_canonical_lock(project: Path, hub: FakeHub) -> None:
    make_tiny(hub)
    assert cli("add", "acme/tiny", "--pickle", "scan").exit_code == 0
    lock = project / "modellock.lock"
    text = lock.read_text()
    assert "\npolicy = {" in text  # the line the fast reader hands to tomllib
    lock.write_text(text.replace('policy = { pickle = "scan"', 'policy = { pickle = ' + "[" * 1200 + "]" * 1200, 1))
    run = cli("lock", "--check")
    assert run.exit_code == 2
    assert "nested more than 64 deep" in run.stderr
    _no_internal_error(run)
