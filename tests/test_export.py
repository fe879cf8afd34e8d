"""`modellock export`: a CycloneDX AI-BOM from a verified lock, schema-valid and the same bytes everywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from modellock.project.lockread import read_lock
from tests.helpers import cli, snapshot
from tests.hub import FakeHub
from tests.sigstore_fake import FakeSigstore
from tests.test_gate_e2e import REAL_BIN
from tests.test_signatures import FILES, ID, ISS, commit_signed

MANIFEST = """[settings]
trusted-root = "trusted_root.json"

[models.m]
repo = "acme/signed"

[models.old]
repo = "acme/old"
pickle = "scan"
"""


@pytest.fixture
def locked(project: Path, hub: FakeHub, sigstore: FakeSigstore) -> Path:
    """A signed model and a scanned pickle model, locked."""
    (project / "trusted_root.json").write_text(json.dumps(sigstore.trusted_root()))
    commit_signed(hub, sigstore, FILES)
    hub.repo("acme/old").commit({"pytorch_model.bin": REAL_BIN})
    (project / "modellock.toml").write_text(MANIFEST)
    run = cli("lock")
    assert run.exit_code == 0, run.stderr
    return project


def _validate(text: str, version: str) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    schema = {"1.6": SchemaVersion.V1_6, "1.7": SchemaVersion.V1_7}[version]
    assert JsonStrictValidator(schema).validate_str(text) is None


@pytest.mark.parametrize("version", ["1.6", "1.7"])
def test_bom_states_the_lock(locked: Path, version: str) -> None:
    run = cli("export", "--format", f"cyclonedx{version}")
    assert run.exit_code == 0, run.stderr
    _validate(run.stdout, version)
    bom = json.loads(run.stdout)
    lock = read_lock(locked / "modellock.lock")
    assert lock is not None
    signed, old = lock.get("m"), lock.get("old")
    assert signed is not None and old is not None
    assert bom["specVersion"] == version and "timestamp" not in bom["metadata"]
    by_name = {c["name"]: c for c in bom["components"]}
    model = by_name["signed"]
    assert model["type"] == "machine-learning-model"
    assert model["group"] == "acme" and model["version"] == signed.commit
    assert model["purl"] == f"pkg:huggingface/acme/signed@{signed.commit}"
    props = {p["name"]: p["value"] for p in model["properties"]}
    assert props["modellock:requested"] == "main"
    assert props["modellock:signature.identity"] == ID and props["modellock:signature.issuer"] == ISS
    assert props["modellock:signature.trust-root"].startswith("sha256:")
    refs = {r["type"]: r for r in model["externalReferences"]}
    assert refs["vcs"]["url"] == "https://huggingface.co/acme/signed"
    assert refs["model-card"]["url"] == f"https://huggingface.co/acme/signed/blob/{signed.commit}/README.md"
    sig = signed.signature
    assert sig is not None
    assert refs["attestation"]["url"] == f"https://huggingface.co/acme/signed/resolve/{signed.commit}/model.sig"
    assert {"alg": "SHA-256", "content": sig.sha256} in refs["attestation"]["hashes"]
    assert ID in refs["attestation"]["comment"]
    files = {c["name"]: c for c in model["components"]}
    assert set(files) == {f.path for f in signed.files}
    for f in signed.files:
        entry = files[f.path]
        assert entry["type"] == "file"
        assert entry["hashes"] == [{"alg": "SHA-256", "content": f.sha256}, {"alg": "BLAKE3", "content": f.blake3}]
        fprops = {p["name"]: p["value"] for p in entry["properties"]}
        assert fprops["modellock:size"] == str(f.size)
        assert fprops["modellock:gate.format"] == f.format
        resolve = f"https://huggingface.co/acme/signed/resolve/{signed.commit}/{f.path}"
        assert entry["externalReferences"] == [{"type": "distribution", "url": resolve}]
    # The gate's verdict on a pickle, and the policy that let it in.
    pickle = by_name["old"]
    pprops = {p["name"]: p["value"] for p in pickle["properties"]}
    assert pprops["modellock:policy.pickle"] == "scan" and pprops["modellock:signed"] == "false"
    (bin_file,) = pickle["components"]
    bprops = {p["name"]: p["value"] for p in bin_file["properties"]}
    assert bprops["modellock:gate.scan"] == "clean" and bprops["modellock:gate.format"] == "torch-zip"
    assert bprops["modellock:gate.scanner"].startswith("modellock-scan ")
    # Nothing about this machine: no endpoint, no store, no project directory.
    assert "127.0.0.1" not in run.stdout and str(locked) not in run.stdout


def test_same_bytes_across_runs_and_environments(locked: Path, tmp_path: Path) -> None:
    """Two machines' worth of differences: time zone, locale, working directory, hash seed."""
    outputs = []
    for tz, lang, cwd, seed in (("UTC", "C.UTF-8", locked, "1"), ("Asia/Kolkata", "de_DE.UTF-8", tmp_path, "2")):
        env = {**os.environ, "TZ": tz, "LANG": lang, "LC_ALL": lang, "PYTHONHASHSEED": seed}
        out = tmp_path / f"bom-{seed}.json"
        done = subprocess.run(
            [sys.executable, "-m", "modellock", "--project", str(locked), "export", "-o", str(out)],
            cwd=cwd, env=env, capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    assert cli("export").stdout.encode() == outputs[0]


def test_serial_number_follows_the_lock(locked: Path, hub: FakeHub) -> None:
    first = json.loads(cli("export").stdout)["serialNumber"]
    assert first.startswith("urn:uuid:") and json.loads(cli("export").stdout)["serialNumber"] == first
    hub.repos[("model", "acme/old")].commit({"pytorch_model.bin": REAL_BIN, "extra.json": b"{}"}, keep=True)
    assert cli("lock", "--upgrade").exit_code == 0
    assert json.loads(cli("export").stdout)["serialNumber"] != first


def test_source_date_epoch_sets_the_timestamp(locked: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    run = cli("export", "--format", "cyclonedx1.7")
    assert run.exit_code == 0, run.stderr
    assert json.loads(run.stdout)["metadata"]["timestamp"] == "2023-11-14T22:13:20Z"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    run = cli("export")
    assert run.exit_code == 2 and "SOURCE_DATE_EPOCH must be a whole number" in run.stderr


def test_output_file(locked: Path) -> None:
    run = cli("export", "-o", "out/aibom.cdx.json")
    assert run.exit_code == 0, run.stderr
    assert "Wrote out/aibom.cdx.json (2 models, cyclonedx1.6)" in run.stdout
    _validate((locked / "out" / "aibom.cdx.json").read_text(), "1.6")


def test_refuses_an_edited_lock_or_none(locked: Path) -> None:
    lock = locked / "modellock.lock"
    lock.write_text(lock.read_text().replace('requested = "main"', 'requested = "v9"', 1))
    run = cli("export", "-o", "bom.json")
    assert run.exit_code == 1 and "changed outside modellock" in run.stderr
    assert not (locked / "bom.json").exists()
    lock.unlink()
    run = cli("export")
    assert run.exit_code == 2 and "no lock found" in run.stderr


def test_an_invalid_bom_is_never_written(locked: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from modellock.report import cyclonedx

    real = cyclonedx.document

    def broken(*args: object) -> dict[str, object]:
        doc = real(*args)  # type: ignore[arg-type]
        doc["components"][0]["hashes"] = [{"alg": "BLAKE4", "content": "00"}]  # type: ignore[index]
        return doc

    monkeypatch.setattr(cyclonedx, "document", broken)
    before = snapshot(locked)
    run = cli("export", "-o", "bom.json")
    assert run.exit_code == 2
    assert "the export is not valid, nothing was written" in run.stderr
    assert snapshot(locked) == before


def test_dataset_and_empty_lock(project: Path, hub: FakeHub) -> None:
    hub.repo("acme/data", "dataset").commit({"train.json": b"[]"})
    assert cli("add", "acme/data", "--repo-type", "dataset").exit_code == 0
    run = cli("export", "--format", "cyclonedx1.7")
    assert run.exit_code == 0, run.stderr
    _validate(run.stdout, "1.7")
    (component,) = json.loads(run.stdout)["components"]
    assert component["type"] == "data" and "purl" not in component
    assert component["externalReferences"][0]["url"] == "https://huggingface.co/datasets/acme/data"
    assert cli("remove", "data").exit_code == 0
    run = cli("export")
    assert run.exit_code == 0, run.stderr
    assert json.loads(run.stdout)["components"] == []


ADAPTER_MANIFEST = """[settings]
trusted-root = "trusted_root.json"

[models.m]
repo = "acme/signed"

[models.base]
repo = "acme/base"
pickle = "scan"
"""


@pytest.fixture
def adapter_on_base(project: Path, hub: FakeHub, sigstore: FakeSigstore) -> Path:
    """A signed PEFT adapter (acme/signed) on a scanned pickle base (acme/base), locked with its edge."""
    from tests.test_lineage import adapter_config

    (project / "trusted_root.json").write_text(json.dumps(sigstore.trusted_root()))
    hub.repo("acme/base").commit({"pytorch_model.bin": REAL_BIN})
    adapter = {"adapter_config.json": adapter_config("acme/base"), **FILES}
    commit_signed(hub, sigstore, adapter)
    (project / "modellock.toml").write_text(ADAPTER_MANIFEST)
    run = cli("lock")
    assert run.exit_code == 0, run.stderr
    return project


@pytest.mark.parametrize("version", ["1.6", "1.7"])
def test_bom_of_a_signed_scanned_adapter_on_base(adapter_on_base: Path, version: str) -> None:
    """Issue #14's "done when": commit purls, both hashes per file, the ancestor, the attestation, the verdicts."""
    run = cli("export", "--format", f"cyclonedx{version}")
    assert run.exit_code == 0, run.stderr
    _validate(run.stdout, version)
    doc = json.loads(run.stdout)
    lock = read_lock(adapter_on_base / "modellock.lock")
    assert lock is not None
    adapter, base = lock.get("m"), lock.get("base")
    assert adapter is not None and base is not None and adapter.signature is not None
    [edge] = adapter.bases
    assert (edge.model, edge.relation, edge.commit) == ("base", "adapter", base.commit)
    by_name = {c["name"]: c for c in doc["components"]}
    for model, component in ((adapter, by_name["signed"]), (base, by_name["base"])):
        assert component["purl"] == f"pkg:huggingface/{model.repo}@{model.commit}"
        files = {c["name"]: c for c in component["components"]}
        assert set(files) == {f.path for f in model.files}
        for f in model.files:
            assert files[f.path]["hashes"] == [
                {"alg": "SHA-256", "content": f.sha256},
                {"alg": "BLAKE3", "content": f.blake3},
            ]
    # The ancestor: a copy of the base at the edge's commit, and the dependency graph by bom-ref.
    [ancestor] = by_name["signed"]["pedigree"]["ancestors"]
    assert ancestor["purl"] == f"pkg:huggingface/acme/base@{base.commit}" and ancestor["version"] == base.commit
    assert "bom-ref" not in ancestor
    aprops = {p["name"]: p["value"] for p in ancestor["properties"]}
    assert aprops["modellock:relation"] == "adapter" and aprops["modellock:digest"] == base.digest
    assert "pedigree" not in by_name["base"]
    deps = {d["ref"]: d.get("dependsOn") for d in doc["dependencies"]}
    assert deps == {by_name["signed"]["bom-ref"]: [by_name["base"]["bom-ref"]], by_name["base"]["bom-ref"]: None}
    # The attestation, with the bundle's digest and the verified signer.
    [attestation] = [r for r in by_name["signed"]["externalReferences"] if r["type"] == "attestation"]
    assert {"alg": "SHA-256", "content": adapter.signature.sha256} in attestation["hashes"]
    assert ID in attestation["comment"]
    # The gate's verdicts: the base's pickle was scanned clean under `pickle = "scan"`.
    (bin_file,) = by_name["base"]["components"]
    bprops = {p["name"]: p["value"] for p in bin_file["properties"]}
    assert bprops["modellock:gate.scan"] == "clean" and bprops["modellock:gate.format"] == "torch-zip"
    base_props = {p["name"]: p["value"] for p in by_name["base"]["properties"]}
    assert base_props["modellock:policy.pickle"] == "scan"
    sfiles = {c["name"]: c for c in by_name["signed"]["components"]}
    sprops = {p["name"]: p["value"] for p in sfiles["model.safetensors"]["properties"]}
    assert sprops["modellock:gate.format"] == "safetensors"
    # The Hub's own scans at lock, as evidence beside modellock's verdicts.
    assert sprops["modellock:hub-scan.status"] == "safe" and sprops["modellock:hub-scan.jfrog"] == "unscanned"
    assert bprops["modellock:hub-scan.pickle-import"] == "safe"


SPDX_SCHEMA = Path(__file__).parents[1] / "modellock" / "report" / "schemas" / "spdx-3.0.1.schema.json"


def _spdx_valid(text: str, *, pure_python: bool = False) -> dict[str, Any]:
    """Valid by the SPDX 3.0.1 JSON schema shipped with modellock, and loadable by spdx-python-model.

    `pure_python` judges by jsonschema as well (a second implementation; slow, so for one document).
    """
    import jsonschema_rs
    import spdx_python_model

    schema = json.loads(SPDX_SCHEMA.read_text())
    data = json.loads(text)
    assert [e.message for e in jsonschema_rs.validator_for(schema).iter_errors(data)] == []
    if pure_python:
        import jsonschema

        assert list(jsonschema.Draft202012Validator(schema).iter_errors(data)) == []
    model, objects = spdx_python_model.load_data(data)
    assert model.__name__.endswith("v3_0_1") and len(list(objects.foreach())) > 0
    return data  # type: ignore[no-any-return]


def test_spdx3_of_a_signed_scanned_adapter_on_base(adapter_on_base: Path) -> None:
    run = cli("export", "--format", "spdx3")
    assert run.exit_code == 0, run.stderr
    data = _spdx_valid(run.stdout, pure_python=True)
    assert data["@context"] == "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"
    lock = read_lock(adapter_on_base / "modellock.lock")
    assert lock is not None
    adapter, base = lock.get("m"), lock.get("base")
    assert adapter is not None and base is not None
    graph = data["@graph"]
    by_id = {e.get("spdxId", e.get("@id")): e for e in graph}
    packages = {e["name"]: e for e in graph if e["type"] == "ai_AIPackage"}
    assert set(packages) == {"acme/signed", "acme/base"}
    for model in (adapter, base):
        package = packages[model.repo]
        assert package["software_packageVersion"] == model.commit
        assert package["software_packageUrl"] == f"pkg:huggingface/{model.repo}@{model.commit}"
        assert package["software_primaryPurpose"] == "model"
        [contains] = [e for e in graph if e["type"] == "Relationship" and e["from"] == package["spdxId"]
                      and e["relationshipType"] == "contains"]  # fmt: skip
        files = {by_id[i]["name"]: by_id[i] for i in contains["to"]}
        assert set(files) == {f.path for f in model.files}
        for f in model.files:
            assert files[f.path]["type"] == "software_File"
            assert files[f.path]["verifiedUsing"] == [
                {"type": "Hash", "algorithm": "sha256", "hashValue": f.sha256},
                {"type": "Hash", "algorithm": "blake3", "hashValue": f.blake3},
            ]
    [lineage] = [e for e in graph if e["type"] == "Relationship" and e["relationshipType"] == "descendantOf"]
    assert lineage["from"] == packages["acme/signed"]["spdxId"] and lineage["to"] == [packages["acme/base"]["spdxId"]]
    assert f"adapter of acme/base@{base.commit}" in lineage["comment"]
    assert ID in packages["acme/signed"]["comment"]
    [info] = [e for e in graph if e["type"] == "CreationInfo"]
    assert info["created"] == "1970-01-01T00:00:00Z" and "not a real time" in info["comment"]
    # Nothing the lock does not know: no release time, supplier, originator or licence.
    for absent in ("releaseTime", "suppliedBy", "originatedBy", "software_copyrightText", "builtTime"):
        assert absent not in run.stdout
    assert "127.0.0.1" not in run.stdout and str(adapter_on_base) not in run.stdout


def test_spdx3_same_bytes_across_environments_and_a_real_time_when_asked(
    locked: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs = []
    for tz, lang, cwd, seed in (("UTC", "C.UTF-8", locked, "1"), ("Asia/Kolkata", "de_DE.UTF-8", tmp_path, "2")):
        env = {**os.environ, "TZ": tz, "LANG": lang, "LC_ALL": lang, "PYTHONHASHSEED": seed}
        out = tmp_path / f"bom-{seed}.spdx.json"
        done = subprocess.run(
            [sys.executable, "-m", "modellock", "-p", str(locked), "export", "--format", "spdx3", "-o", str(out)],
            cwd=cwd, env=env, capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    _spdx_valid(outputs[0].decode())
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    run = cli("export", "--format", "spdx3")
    [info] = [e for e in _spdx_valid(run.stdout)["@graph"] if e["type"] == "CreationInfo"]
    assert info["created"] == "2023-11-14T22:13:20Z" and "comment" not in info


def test_spdx3_dataset_and_empty_lock(project: Path, hub: FakeHub) -> None:
    hub.repo("acme/data", "dataset").commit({"train.json": b"[]"})
    assert cli("add", "acme/data", "--repo-type", "dataset").exit_code == 0
    run = cli("export", "--format", "spdx3")
    assert run.exit_code == 0, run.stderr
    [package] = [e for e in _spdx_valid(run.stdout)["@graph"] if e["type"] == "software_Package"]
    assert package["software_primaryPurpose"] == "data" and "software_packageUrl" not in package
    assert package["software_downloadLocation"].startswith("https://huggingface.co/datasets/acme/data/tree/")
    assert cli("remove", "data").exit_code == 0
    run = cli("export", "--format", "spdx3")
    assert run.exit_code == 0, run.stderr
    assert not [e for e in _spdx_valid(run.stdout)["@graph"] if e["type"] == "software_Package"]


def test_an_invalid_spdx3_document_is_never_written(locked: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from modellock.report import spdx3

    real = spdx3.document

    def broken(source: object) -> dict[str, Any]:
        doc = real(source)  # type: ignore[arg-type]
        doc["@graph"][0]["specVersion"] = 3
        return doc

    monkeypatch.setattr(spdx3, "document", broken)
    before = snapshot(locked)
    run = cli("export", "--format", "spdx3", "-o", "bom.json")
    assert run.exit_code == 2 and "the export is not valid, nothing was written: SPDX 3.0.1 schema" in run.stderr
    assert snapshot(locked) == before
