"""`export --oci-layout` and `sync --from-oci-layout`: air-gapped installs, and skopeo as the judge of the format."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from modellock.oci.manifest import ARTIFACT_TYPE, CONFIG_TYPE, WEIGHT, WEIGHT_CONFIG, artifact
from modellock.project.lockread import read_lock
from tests.helpers import cli
from tests.registry import LocalRegistry
from tests.test_oci_registry import EXPECTED, fresh_machine, installed, locked  # noqa: F401 - fixture

SKOPEO = shutil.which("skopeo")


def export(project: Path, root: Path) -> None:
    run = cli("export", "--oci-layout", str(root))
    assert run.exit_code == 0, run.stderr
    assert "Wrote an OCI layout of 1 model" in run.stdout


def test_layout_is_a_modelpack_artifact(locked: Path, tmp_path: Path) -> None:  # noqa: F811
    root = tmp_path / "layout"
    export(locked, root)
    assert json.loads((root / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((root / "index.json").read_text())
    (entry,) = index["manifests"]
    lock = read_lock(locked / "modellock.lock")
    assert lock is not None
    model = lock.models[0]
    assert entry["digest"] == artifact(model).digest
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == f"acme/tiny:{model.commit}"
    manifest = json.loads((root / "blobs/sha256" / entry["digest"].split(":")[1]).read_bytes())
    assert manifest["artifactType"] == ARTIFACT_TYPE and manifest["config"]["mediaType"] == CONFIG_TYPE
    kinds = {layer["annotations"]["org.cncf.model.filepath"]: layer["mediaType"] for layer in manifest["layers"]}
    assert kinds == {"config.json": WEIGHT_CONFIG, "model.safetensors": WEIGHT, "sub/dir/extra.json": WEIGHT_CONFIG}
    config = json.loads((root / "blobs/sha256" / manifest["config"]["digest"].split(":")[1]).read_bytes())
    assert config["descriptor"]["revision"] == model.commit
    assert config["modelfs"]["diffIds"] == [layer["digest"] for layer in manifest["layers"]]
    for f in model.files:
        assert (root / "blobs/sha256" / f.sha256).read_bytes() == EXPECTED[f.path]
    export(locked, root)  # again, into the same layout: the same index
    assert json.loads((root / "index.json").read_text()) == index


def test_sync_from_a_layout_with_no_network(
    locked: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "layout"
    export(locked, root)
    fresh_machine(tmp_path, monkeypatch)
    run = cli("sync", "--frozen", "--from-oci-layout", str(root))
    assert run.exit_code == 0, run.stderr
    assert installed(locked / "models" / "tiny") == EXPECTED


def test_a_changed_layout_blob_is_refused_and_nothing_installed(
    locked: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "layout"
    export(locked, root)
    lock = read_lock(locked / "modellock.lock")
    assert lock is not None
    weights = next(f for f in lock.models[0].files if f.path == "model.safetensors")
    (root / "blobs/sha256" / weights.sha256).write_bytes(b"\0" * weights.size)
    fresh_machine(tmp_path, monkeypatch)
    run = cli("sync", "--frozen", "--from-oci-layout", str(root))
    assert run.exit_code == 1 and "mismatch" in run.stderr
    assert not (locked / "models").exists()


def test_a_layout_without_the_model_or_not_a_layout(
    locked: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fresh_machine(tmp_path, monkeypatch)
    empty = tmp_path / "empty"
    empty.mkdir()
    run = cli("sync", "--frozen", "--from-oci-layout", str(empty))
    assert run.exit_code == 1 and "not an OCI image layout" in run.stderr and "hint:" in run.stderr
    (empty / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    run = cli("sync", "--frozen", "--from-oci-layout", str(empty))
    assert run.exit_code == 1 and "does not hold tiny" in run.stderr
    assert not (locked / "models").exists()


def test_a_symlinked_layout_blob_is_refused(
    locked: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "layout"
    export(locked, root)
    lock = read_lock(locked / "modellock.lock")
    assert lock is not None
    config = next(f for f in lock.models[0].files if f.path == "config.json")
    blob = root / "blobs/sha256" / config.sha256
    outside = tmp_path / "outside"
    outside.write_bytes(blob.read_bytes())
    blob.unlink()
    blob.symlink_to(outside)
    fresh_machine(tmp_path, monkeypatch)
    run = cli("sync", "--frozen", "--from-oci-layout", str(root))
    assert run.exit_code == 1 and "Traceback" not in run.stderr
    assert not (locked / "models").exists()


def test_export_refuses_a_non_empty_directory_that_is_not_a_layout(locked: Path, tmp_path: Path) -> None:  # noqa: F811
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    run = cli("export", "--oci-layout", str(tmp_path / "busy"))
    assert run.exit_code == 2 and "not empty and not an OCI layout" in run.stderr


@pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed (apt-get install skopeo; .ci/run does)")
def test_skopeo_copies_the_layout_to_the_registry_and_sync_installs_from_it(
    locked: Path,  # noqa: F811
    registry: LocalRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "layout"
    export(locked, root)
    lock = read_lock(locked / "modellock.lock")
    assert lock is not None
    commit = lock.models[0].commit
    dest = f"docker://{registry.host}/fleet/acme/tiny:{commit}"
    subprocess.run(
        [SKOPEO or "skopeo", "copy", "--dest-tls-verify=false", f"oci:{root}:acme/tiny:{commit}", dest],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    # And back: skopeo's layout from the registry holds the same manifest, byte for byte.
    back = tmp_path / "back"
    subprocess.run(
        [SKOPEO or "skopeo", "copy", "--src-tls-verify=false", dest, f"oci:{back}:acme/tiny:{commit}"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    digest = artifact(lock.models[0]).digest
    assert json.loads((back / "index.json").read_text())["manifests"][0]["digest"] == digest
    fresh_machine(tmp_path, monkeypatch)
    run = cli("sync", "--frozen", "--registry", f"{registry.url}/fleet")
    assert run.exit_code == 0, run.stderr
    assert installed(locked / "models" / "tiny") == EXPECTED
    fresh_machine(tmp_path, monkeypatch, "store-from-skopeo-layout")
    (locked / "models").rename(locked / "was")
    run = cli("sync", "--frozen", "--from-oci-layout", str(back))
    assert run.exit_code == 0, run.stderr
    assert installed(locked / "models" / "tiny") == EXPECTED
