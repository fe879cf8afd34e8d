"""S3 models against a real S3-protocol server on loopback (moto's standalone server, a Python emulator)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from modellock.project.lockread import read_lock
from tests.helpers import cli, snapshot
from tests.registry import LocalRegistry
from tests.s3_server import ACCESS_KEY, SECRET_KEY, S3Server

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "tiny-model"
FILES = {name: (EXAMPLE / name).read_bytes() for name in ("config.json", "model.safetensors", "tokenizer.json")}


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    server = S3Server()
    yield server
    server.close()


@pytest.fixture
def s3(s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    root = tmp_path / "project"
    root.mkdir()
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("MODELLOCK_CACHE_DIR", str(tmp_path / "store"))
    monkeypatch.chdir(root)
    return s3_server


def seeded(s3: S3Server, *, versioned: bool, extra: dict[str, bytes] | None = None) -> str:
    bucket = s3.bucket(versioned=versioned)
    s3.put(bucket, {f"ft/v1/{k}": v for k, v in {**FILES, **(extra or {})}.items()})
    return bucket


def installed(root: Path) -> dict[str, bytes]:
    return {k: v for k, v in snapshot(root).items() if not k.startswith(".modellock")}


def fresh_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("MODELLOCK_CACHE_DIR", str(tmp_path / name))


def no_secrets(*texts: str) -> None:
    for text in texts:
        assert SECRET_KEY not in text and ACCESS_KEY not in text and "X-Amz-Signature" not in text


@pytest.mark.parametrize("versioned", [True, False])
def test_lock_sync_verify_and_prove_a_model_from_a_bucket(
    s3: S3Server, versioned: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = seeded(s3, versioned=versioned)
    cli("init")
    added = cli("add", f"s3://{bucket}/ft/v1/", "--name", "ft", "--exclude", "tokenizer.json")
    assert added.exit_code == 0, added.stderr
    lock_text = Path("modellock.lock").read_text()
    lock = read_lock(Path("modellock.lock"))
    assert lock is not None
    model = lock.models[0]
    assert (model.source, model.repo, model.requested) == ("s3", f"{bucket}/ft/v1/", "latest")
    assert [f.path for f in model.files] == ["config.json", "model.safetensors"]
    assert all(f.etag for f in model.files)
    assert all(bool(f.version_id) == versioned for f in model.files)
    assert 'source = "s3"' in Path("modellock.toml").read_text()
    synced = cli("-v", "sync")
    assert synced.exit_code == 0, synced.stderr
    assert installed(Path("models/ft")) == {k: FILES[k] for k in ("config.json", "model.safetensors")}
    assert cli("verify").exit_code == 0
    proof = cli("lock", "--check", "--remote")
    assert proof.exit_code == 0, proof.stderr
    assert "matches its sources" in proof.stdout
    no_secrets(lock_text, Path("modellock.toml").read_text(), added.stdout, added.stderr, synced.stdout, synced.stderr)


def test_a_replaced_object_in_a_versioned_bucket_still_installs_the_pinned_version(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = seeded(s3, versioned=True)
    cli("init")
    assert cli("add", f"s3://{bucket}/ft/v1/", "--name", "ft").exit_code == 0
    s3.put(bucket, {"ft/v1/config.json": b'{"replaced": true}'})
    proof = cli("lock", "--check", "--remote")
    assert proof.exit_code == 0, proof.stderr  # the locked version is still there, unchanged
    fresh_store(tmp_path, monkeypatch, "store-2")
    synced = cli("sync")
    assert synced.exit_code == 0, synced.stderr
    assert installed(Path("models/ft")) == FILES
    # `lock` is sticky: the new upstream object changes nothing until asked.
    assert cli("lock").exit_code == 0
    upgraded = cli("lock", "--upgrade")
    assert upgraded.exit_code == 0, upgraded.stderr
    assert "Downloaded 1 file" in upgraded.stdout  # the unchanged versions are the store's already
    assert cli("sync").exit_code == 0
    assert Path("models/ft/config.json").read_bytes() == b'{"replaced": true}'


def test_a_replaced_object_in_an_unversioned_bucket_is_refused_and_reported(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = seeded(s3, versioned=False)
    cli("init")
    assert cli("add", f"s3://{bucket}/ft/v1/", "--name", "ft").exit_code == 0
    s3.put(bucket, {"ft/v1/config.json": b'{"replaced": true}'})
    proof = cli("lock", "--check", "--remote")
    assert proof.exit_code == 1
    assert "config.json" in proof.stderr and "replaced" in proof.stderr
    fresh_store(tmp_path, monkeypatch, "store-2")
    synced = cli("sync")
    assert synced.exit_code == 1
    assert "was replaced since it was locked" in synced.stderr
    assert not Path("models/ft").exists()  # a refused install leaves the target untouched
    no_secrets(proof.stderr, synced.stderr, synced.stdout)


def test_a_deleted_object_and_a_new_one_are_reported_by_the_proof(s3: S3Server) -> None:
    bucket = seeded(s3, versioned=False)
    cli("init")
    assert cli("add", f"s3://{bucket}/ft/v1/", "--name", "ft").exit_code == 0
    client = s3.client()
    client.delete_object(Bucket=bucket, Key="ft/v1/tokenizer.json")
    s3.put(bucket, {"ft/v1/extra.json": b"{}"})
    proof = cli("lock", "--check", "--remote")
    assert proof.exit_code == 1
    assert "tokenizer.json no longer exists" in proof.stderr
    assert "selects extra.json" in proof.stderr


@pytest.mark.parametrize("key", ["ft/v1/../escape.json", "ft/v1//x.json", "ft/v1/a/./b.json"])
def test_a_key_that_would_become_an_unsafe_path_is_refused(s3: S3Server, key: str) -> None:
    bucket = seeded(s3, versioned=False)
    s3.put(bucket, {key: b"{}"})
    cli("init")
    before = snapshot(Path("."))
    added = cli("add", f"s3://{bucket}/ft/v1/", "--name", "ft")
    assert added.exit_code == 1, added.stdout + added.stderr
    assert "unsafe" in added.stderr
    assert snapshot(Path(".")) == before  # neither manifest nor lock changed


def test_the_endpoint_from_settings_when_aws_names_none(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = seeded(s3, versioned=True)
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    Path("modellock.toml").write_text(
        f'[settings]\ns3-endpoint = "{s3.endpoint}"\n\n[models.ft]\nsource = "s3"\nrepo = "{bucket}/ft/v1/"\n'
    )
    locked = cli("lock")
    assert locked.exit_code == 0, locked.stderr
    fresh_store(tmp_path, monkeypatch, "store-2")  # sync downloads too, from the same setting
    synced = cli("sync")
    assert synced.exit_code == 0, synced.stderr
    assert installed(Path("models/ft")) == FILES


def test_commands_that_need_no_bucket_never_import_botocore(s3: S3Server) -> None:
    bucket = seeded(s3, versioned=False)
    cli("init")
    assert cli("add", f"s3://{bucket}/ft/v1/", "--name", "ft").exit_code == 0
    assert cli("sync").exit_code == 0
    for command in (["lock", "--check"], ["status"], ["verify"], ["sync"]):
        code = f"import sys; from modellock.cli.app import main; sys.argv = ['modellock', *{command!r}]\n"
        code += "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        code += "assert 'botocore' not in sys.modules, 'botocore imported'"
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, (command, run.stderr)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([("other/x.json", 1, None, '"e"')], "outside the prefix"),
        ([("ft/x.json", -1, None, '"e"')], "without a size"),
        ([("ft/x.json", "1", None, '"e"')], "without a size"),
        ([("ft/x.json", 1, "v 1", '"e"')], "not an S3 version id"),
        ([("ft/x.json", 1, None, '"e\nx"')], "not an ETag"),
        ([("ft/", 0, None, '"e"')], "holds no objects"),
    ],
)
def test_a_hostile_listing_is_refused(raw: list[tuple[object, ...]], message: str) -> None:
    from modellock.errors import CheckFailed
    from modellock.sources.interface import RepoRef
    from modellock.sources.s3 import S3Source

    with pytest.raises(CheckFailed) as caught:
        S3Source()._objects(RepoRef("bucket/ft/"), "ft/", raw)  # type: ignore[arg-type]
    assert message in caught.value.message


def test_a_listing_keeps_versions_and_drops_folder_markers() -> None:
    from modellock.sources.interface import RepoRef
    from modellock.sources.s3 import S3Object, S3Source

    raw = [("ft/a.json", 2, "null", '"e1"'), ("ft/", 0, None, '"d"'), ("ft/b/c.json", 3, "v2", '"e2-4"')]
    assert S3Source()._objects(RepoRef("bucket/ft/"), "ft/", raw) == [
        S3Object("a.json", 2, "", "e1"),
        S3Object("b/c.json", 3, "v2", "e2-4"),
    ]


def test_an_unreachable_endpoint_is_a_clean_error(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    cli("init")
    added = cli("add", "s3://nowhere/ft/")
    assert added.exit_code == 2
    assert "cannot reach the S3 endpoint" in added.stderr
    no_secrets(added.stderr)


def test_a_missing_aws_profile_is_a_clean_error(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    cli("init")
    before = snapshot(Path.cwd())
    added = cli("add", "s3://nowhere/ft/")
    assert added.exit_code == 2
    assert "cannot read the AWS configuration: ProfileNotFound" in added.stderr
    assert "hint: check AWS_PROFILE" in added.stderr
    assert snapshot(Path.cwd()) == before


def test_an_s3_model_pushed_to_a_registry_syncs_from_it_byte_exact(
    s3: S3Server, registry: LocalRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = seeded(s3, versioned=True)
    cli("init")
    assert cli("add", f"s3://{bucket}/ft/v1/", "--name", "ft").exit_code == 0
    pushed = cli("push", f"{registry.url}/fleet")
    assert pushed.exit_code == 0, pushed.stderr
    assert f"/fleet/s3/{bucket}/ft/v1@sha256:" in pushed.stdout
    fresh_store(tmp_path, monkeypatch, "store-2")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # the bucket unreachable: only the registry
    synced = cli("sync", "--locked", "--registry", f"{registry.url}/fleet")
    assert synced.exit_code == 0, synced.stderr
    assert installed(Path("models/ft")) == FILES
    assert cli("verify").exit_code == 0
