"""CycloneDX 1.6 / 1.7 JSON AI-BOM of a lock, validated against the schema before anyone sees it.

The document is built as plain JSON rather than through cyclonedx-python-lib's model: the library
cannot express `modelCard` yet (its issue #912) and its `Bom()` draws a random serial number and the
current time, where this BOM must be the same bytes for the same lock. The library's bundled strict
schemas (extra `json-validation`, no network) still judge every document we write.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from modellock import __version__
from modellock.ops.export import ExportSource
from modellock.project import hubscan
from modellock.project.edges import LockedEdge
from modellock.project.lockfile import LockedModel, Lockfile
from modellock.report import bom

VERSIONS = ("1.6", "1.7")


def _prop(name: str, value: object) -> dict[str, str]:
    return {"name": f"modellock:{name}", "value": str(value)}


def _hashes(sha256: str, blake3: str) -> list[dict[str, str]]:
    return [{"alg": "SHA-256", "content": sha256}, {"alg": "BLAKE3", "content": blake3}]


def _file(m: LockedModel, index: int) -> dict[str, Any]:
    f = m.files[index]
    props = [_prop("size", f.size)]
    if f.format:
        props.append(_prop("gate.format", f.format))
    if f.scan:
        props += [_prop("gate.scan", f.scan), _prop("gate.scanner", f.scanner)]
    scan = hubscan.parse(f.hub_scan) if f.hub_scan else None
    if scan is not None:  # the Hub's own scan at lock: evidence, not modellock's verdict
        props += [_prop(f"hub-scan.{what}", status) for what, status in scan.statuses().items()]
    return {
        "type": "file",
        "bom-ref": f"{bom.bom_ref(m)}/{f.path}",
        "name": f.path,
        "hashes": _hashes(f.sha256, f.blake3),
        **_refs({"type": "distribution", "url": bom.file_url(m, f.path)}),
        "properties": props,
    }


def _signature(m: LockedModel) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """The OMS signature as an `attestation` reference (its file, by digest) and the facts it was verified with."""
    s = m.signature
    if s is None:
        return [], []
    signer = f"{s.identity} ({s.issuer})" if s.issuer else s.identity
    ref = {
        "type": "attestation",
        "url": bom.file_url(m, s.path) or quote(s.path),  # a local model: the path inside it
        "comment": f"OpenSSF Model Signing bundle, verified by modellock at lock ({s.mode}); signer {signer}",
        "hashes": _hashes(s.sha256, s.blake3),
    }
    props = [_prop("signature.mode", s.mode), _prop("signature.identity", s.identity)]
    for key, value in (
        ("issuer", s.issuer),
        ("root-digest", s.root_digest),
        ("key", s.key),
        ("trust-root", s.trust_root),
        ("log-index", s.log_index),
        ("integrated-time", s.integrated_time),
    ):
        if value not in ("", None):
            props.append(_prop(f"signature.{key}", value))
    props.append(_prop("signature.covers", s.covers))
    return [ref], props


def _ancestor(edge: LockedEdge, base: LockedModel | None) -> dict[str, Any]:
    """A copy of the parent as the edge pinned it (CycloneDX's convention for `pedigree.ancestors`).

    The copy names the parent at the edge's commit and carries no `bom-ref` (refs are unique per BOM;
    the parent's own component has it, and `dependencies` points there).
    """
    namespace, _, name = edge.repo.rpartition("/")
    repo_type = base.repo_type if base is not None else "model"
    component: dict[str, Any] = {
        "type": "machine-learning-model" if repo_type == "model" else "data",
        **({"group": namespace} if namespace else {}),
        "name": name,
        "version": edge.commit,
    }
    purl = bom.purl_of(repo_type, edge.repo, edge.commit)
    if purl is not None:
        component["purl"] = purl
    tree = f"{bom.repo_url_of(repo_type, edge.repo)}/tree/{edge.commit}"
    component["externalReferences"] = [{"type": "distribution", "url": tree}]
    component["properties"] = [
        _prop("name", edge.model),
        _prop("relation", edge.relation),
        _prop("digest", edge.files),
        *(_prop("evidence", e) for e in edge.evidence),
        *([_prop("pin", edge.pin)] if edge.pin else []),
    ]
    return component


def _card(m: LockedModel) -> dict[str, Any]:
    """`licenses` and `modelCard` from what the card stated at lock (the author's claims, as recorded)."""
    card = m.card
    if card is None:
        return {}
    from cyclonedx.spdx import fixup_id

    out: dict[str, Any] = {}
    if card.license:
        spdx_id = fixup_id(card.license)
        out["licenses"] = [{"license": {"id": spdx_id} if spdx_id else {"name": card.license}}]
    parameters: dict[str, Any] = {}
    if card.task:
        parameters["task"] = card.task
    if card.datasets:
        parameters["datasets"] = [
            {"type": "dataset", "name": d, "contents": {"url": bom.repo_url_of("dataset", d)}} for d in card.datasets
        ]
    if parameters:
        out["modelCard"] = {"modelParameters": parameters}
    return out


def _refs(*refs: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """`externalReferences` with the ones whose URL the source has (a local model has none)."""
    kept = [r for r in refs if r["url"] is not None]
    return {"externalReferences": kept} if kept else {}


def _model(m: LockedModel, lock: Lockfile) -> dict[str, Any]:
    attestation, signature_props = _signature(m)
    props = [
        _prop("name", m.name),
        _prop("requested", m.requested),
        _prop("digest", m.digest),
        _prop("seal", m.seal),
        _prop("layout", m.layout),
        _prop("signed", "true" if m.signature is not None else "false"),
        _prop("policy.pickle", m.policy.pickle),
        _prop("policy.remote-code", m.policy.remote_code),
        *(_prop("policy.allow-file", p) for p in m.policy.allow_files),
        *signature_props,
    ]
    namespace, _, name = bom.display_name(m).rpartition("/")
    component: dict[str, Any] = {
        "type": "machine-learning-model" if m.repo_type == "model" else "data",
        "bom-ref": bom.bom_ref(m),
        **({"group": namespace} if namespace else {}),
        "name": name,
        "version": m.commit,
    }
    purl = bom.purl(m)
    if purl is not None:
        component["purl"] = purl
    component["externalReferences"] = [
        *_refs(
            {"type": "vcs", "url": bom.repo_url(m)},
            {"type": "model-card", "url": bom.card_url(m)},
            {"type": "distribution", "url": bom.tree_url(m), "comment": f"the repository at commit {m.commit}"},
        ).get("externalReferences", []),
        *attestation,
    ]
    component.update(_card(m))
    component["properties"] = props
    component["components"] = [_file(m, i) for i in range(len(m.files))]
    if m.bases:
        component["pedigree"] = {"ancestors": [_ancestor(e, lock.get(e.model)) for e in m.bases]}
    return component


def _dependencies(lock: Lockfile) -> list[dict[str, Any]]:
    """One entry per model; a model with lineage edges `dependsOn` its parents' components."""
    out = []
    for m in lock.models:
        entry: dict[str, Any] = {"ref": bom.bom_ref(m)}
        parents = sorted(bom.bom_ref(p) for e in m.bases if (p := lock.get(e.model)) is not None)
        if parents:
            entry["dependsOn"] = parents
        out.append(entry)
    return out


def document(source: ExportSource, version: str) -> dict[str, Any]:
    """The BOM as JSON data; `render` validates and serialises it."""
    metadata: dict[str, Any] = {}
    stamp = bom.timestamp(source)
    if stamp is not None:
        metadata["timestamp"] = stamp
    metadata["tools"] = {
        "components": [
            {"type": "application", "name": "modellock", "version": __version__, "description": "modellock export"}
        ]
    }
    metadata["properties"] = [_prop("lock-digest", source.lock_digest), _prop("lock-version", source.lock.version)]
    models = [_model(m, source.lock) for m in source.lock.models]
    return {
        "$schema": f"http://cyclonedx.org/schema/bom-{version}.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": version,
        "serialNumber": bom.serial_uuid(source).urn,
        "version": 1,
        "metadata": metadata,
        "components": models,
        "dependencies": _dependencies(source.lock),
    }


def validate(text: str, version: str) -> None:
    """Judge `text` by the strict JSON schema of `version` (bundled with cyclonedx-python-lib; offline)."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    schema = {"1.6": SchemaVersion.V1_6, "1.7": SchemaVersion.V1_7}[version]
    error = JsonStrictValidator(schema).validate_str(text)
    if error is not None:
        raise bom.ExportInvalid(f"CycloneDX {version}: {str(error)[:500]}")


def render(source: ExportSource, version: str) -> str:
    """Validated CycloneDX JSON text: sorted nowhere it matters, stable everywhere (no clock, no randomness)."""
    text = json.dumps(document(source, version), indent=2, ensure_ascii=False) + "\n"
    validate(text, version)
    return text
