"""Store and transfer checks no other test guarded: each fails when its check is deleted (mutation-tested).

What a download must measure up to (`ops.fetch.check_bytes`), which store bytes `lock` may reuse
for a listed file (`ops.lock._vouched`, `_known_digest`), what counts as a blob, and the manifest
digests of an OCI layout at `sync` and of a registry after `push`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import blake3
import pytest

from modellock.ops.fetch import FetchJob, check_bytes
from modellock.ops.lock import _known_digest, _vouched
from modellock.project.lockfile import LockedFile, LockedModel
from modellock.project.lockread import read_lock
from modellock.sources.interface import RemoteFile, RepoRef
from modellock.store.blobs import Store
from modellock.store.hashing import FileDigest
from modellock.store.seal import seal
from tests.helpers import cli, snapshot
from tests.hostile_proxy import HostileProxy
from tests.registry import LocalRegistry
from tests.test_oci_registry import fresh_machine, locked  # noqa: F401 (fixture)

DATA = b"weights " * 1000
OTHER = b"Weights " * 1000  # same size, other bytes
B3, SHA = blake3.blake3(DATA).hexdigest(), hashlib.sha256(DATA).hexdigest()
B3_OTHER, SHA_OTHER = blake3.blake3(OTHER).hexdigest(), hashlib.sha256(OTHER).hexdigest()
GIT = hashlib.sha1(b"blob %d\0" % len(DATA) + DATA).hexdigest()
GOT = FileDigest(len(DATA), B3, SHA)
REF = RepoRef("acme/m")
COMMIT = "c" * 40


def lfs(sha256: str = SHA, size: int = len(DATA)) -> RemoteFile:
    return RemoteFile("model.safetensors", size, "0" * 40, sha256)


def regular(oid: str = GIT, size: int = len(DATA)) -> RemoteFile:
    return RemoteFile("config.json", size, oid)


# -- a download is judged by its size as well as its digests ------------------------------------------------


@pytest.mark.parametrize(
    ("file", "entry", "got", "git_sha1", "problem"),
    [
        (lfs(), None, FileDigest(len(DATA), B3, SHA), None, None),
        # The right SHA-256 and a listing that says another size: the listing is not the file.
        (lfs(size=len(DATA) + 1), None, FileDigest(len(DATA), B3, SHA), None, "size mismatch: expected 8001 bytes"),
        (lfs(size=len(DATA) - 1), None, FileDigest(len(DATA), B3, SHA), None, "size mismatch"),
        (lfs(), None, FileDigest(len(DATA), B3_OTHER, SHA_OTHER), None, "SHA-256 mismatch"),
        (regular(), None, FileDigest(len(DATA), B3, SHA), GIT, None),
        (regular(size=1), None, FileDigest(len(DATA), B3, SHA), GIT, "size mismatch"),
        (regular(), None, FileDigest(len(DATA), B3, SHA), "f" * 40, "git blob SHA-1 mismatch"),
        # Installing: the lock's BLAKE3 and SHA-256 both, and its size.
        (lfs(), LockedFile("model.safetensors", len(DATA), B3, SHA), GOT, None, None),
        (lfs(size=7), LockedFile("model.safetensors", 7, B3, SHA), GOT, None, "size mismatch"),
        (lfs(), LockedFile("model.safetensors", len(DATA), B3_OTHER, SHA), GOT, None, "BLAKE3 mismatch"),
        (lfs(), LockedFile("model.safetensors", len(DATA), B3, SHA_OTHER), GOT, None, "SHA-256 mismatch: the lock"),
    ],
)
def test_check_bytes(
    file: RemoteFile, entry: LockedFile | None, got: FileDigest, git_sha1: str | None, problem: str | None
) -> None:
    found = check_bytes(FetchJob(REF, COMMIT, file, entry), got, git_sha1)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found.message and found.exit_code == 1


# -- bytes already in the store are reused at `lock` only for the file the Hub lists --------------------------


def _blob(store: Store, data: bytes) -> str:
    digest = blake3.blake3(data).hexdigest()
    path = store.blob_path(digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    seal(path, digest)
    return digest


@pytest.mark.parametrize(
    ("file", "blake3_name", "sha256", "vouched"),
    [
        (lfs(), B3, SHA, True),
        # The store's bytes are these, but the Hub now lists another LFS SHA-256 for the file.
        (lfs(SHA_OTHER), B3, SHA, False),
        # A claim (old lock entry, index) pairing the blob with another SHA-256 than its bytes have.
        (lfs(SHA_OTHER), B3, SHA_OTHER, False),
        (lfs(), B3_OTHER, SHA, False),  # no such blob
        (regular(), B3, SHA, True),
        (regular("e" * 40), B3, SHA, False),
    ],
)
def test_vouched(tmp_path: Path, file: RemoteFile, blake3_name: str, sha256: str, vouched: bool) -> None:
    store = Store(tmp_path / "store")
    _blob(store, DATA)
    assert _vouched(store, file, blake3_name, sha256) is vouched


def _model(files: tuple[LockedFile, ...]) -> LockedModel:
    return LockedModel(
        name="m", source="huggingface", repo="acme/m", repo_type="model", install_path="models/m",
        requested="main", commit=COMMIT, fingerprint="blake3:" + "0" * 64, files=files,
    )  # fmt: skip


@pytest.mark.parametrize("where", ["old entry", "index"])
@pytest.mark.parametrize(("listed_sha", "reused"), [(SHA, True), (SHA_OTHER, False)])
def test_store_bytes_are_reused_only_under_the_hubs_lfs_sha256(
    tmp_path: Path, where: str, listed_sha: str, reused: bool
) -> None:
    store = Store(tmp_path / "store")
    _blob(store, DATA)
    entry = LockedFile("model.safetensors", len(DATA), B3, SHA)
    old = _model((entry,)) if where == "old entry" else None
    if where == "index":
        # An index entry under the listed SHA-256 that leads to bytes with another one (a poisoned or
        # stale index): the lookup finds it, and the check must still say no.
        store.remember("sha256", listed_sha, FileDigest(len(DATA), B3, listed_sha))
    found = _known_digest(lfs(listed_sha), old, COMMIT, store)
    if reused:
        assert found is not None and (found.blake3, found.sha256) == (B3, SHA)
    else:
        assert found is None


# -- a blob is a regular file: a planted symlink is none --------------------------------------------------------


SMALL = b"x" * 200
B3_SMALL, SHA_SMALL = blake3.blake3(SMALL).hexdigest(), hashlib.sha256(SMALL).hexdigest()


@pytest.mark.parametrize("kind", ["file", "symlink", "absent", "fifo"])
def test_only_a_regular_file_is_a_blob(tmp_path: Path, kind: str) -> None:
    store = Store(tmp_path / "store")
    path = store.blob_path(B3_SMALL)
    path.parent.mkdir(parents=True)
    # A relative target exactly as long as the blob: the link's own lstat size is the blob's size too.
    target = "../../../" + "d" * (len(SMALL) - 9)
    decoy = path.parent / target
    decoy.write_bytes(SMALL)
    seal(decoy, B3_SMALL)
    if kind == "file":
        _blob(store, SMALL)
    elif kind == "symlink":
        path.symlink_to(target)  # the right bytes, size and sealed mtime behind it: still not a blob
        assert os.lstat(path).st_size == len(SMALL) and path.read_bytes() == SMALL
    elif kind == "fifo":
        os.mkfifo(path)
    is_blob = kind == "file"
    assert store.has(B3_SMALL, len(SMALL)) is is_blob
    assert store.intact(B3_SMALL, len(SMALL)) is is_blob
    assert store.verify_blob(B3_SMALL) is is_blob
    assert (store.sha256_of(B3_SMALL, len(SMALL)) == SHA_SMALL) is is_blob


# -- OCI: the manifest a layout holds, and the one a registry stored ----------------------------------------


def test_sync_from_a_layout_refuses_a_manifest_that_is_not_the_locks(
    locked: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from modellock.oci.manifest import artifact

    root = tmp_path / "layout"
    assert cli("export", "--oci-layout", str(root)).exit_code == 0
    lock = read_lock(locked / "modellock.lock")
    assert lock is not None
    digest = artifact(lock.models[0]).digest
    manifest = root / "blobs/sha256" / digest.split(":")[1]
    # Other bytes under the lock's manifest name: the layers are still the lock's, but the layout no
    # longer holds the artifact the lock names.
    manifest.write_bytes(manifest.read_bytes().replace(b'"layers"', b'"layers" ', 1))
    fresh_machine(tmp_path, monkeypatch)
    before = snapshot(locked)
    run = cli("sync", "--frozen", "--from-oci-layout", str(root))
    assert run.exit_code == 1, run.stderr
    assert f"the manifest of tiny does not hash to {digest[:19]}" in run.stderr and "hint: " in run.stderr
    assert snapshot(locked) == before and not (locked / "models").exists()


def test_push_refuses_a_registry_that_stored_another_manifest(
    locked: Path,  # noqa: F811
    registry: LocalRegistry,
) -> None:
    evil: HostileProxy

    def digest_lies(request: Any, body: bytes) -> tuple[int, dict[str, str], bytes] | None:
        if request.command != "PUT" or "/manifests/" not in request.path:
            return None
        status, headers, data = evil._proxy(request, body)
        headers = {k: v for k, v in headers.items() if k.lower() != "docker-content-digest"}
        headers["Docker-Content-Digest"] = "sha256:" + "0" * 64
        return status, headers, data

    evil = HostileProxy(digest_lies, upstream=registry.url)
    before = snapshot(locked)
    run = cli("push", f"{evil.url}/fleet")
    assert run.exit_code == 2, run.stderr
    assert "stored manifest fleet/acme/tiny" in run.stderr and "as sha256:0000000000" in run.stderr
    assert "hint: " in run.stderr and snapshot(locked) == before
    evil.close()
