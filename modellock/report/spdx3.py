"""SPDX 3.0.1 JSON-LD AI-BOM of a lock (AI profile), built with spdx-python-model and validated before use.

One `ai_AIPackage` per locked model (`software_Package` with purpose `data` for a dataset), one
`software_File` per file with its SHA-256 and BLAKE3, `contains` relationships, and `descendantOf`
for lineage edges. IDs derive from the lock's digest, so one lock gives one document, byte for byte.
The card's licence, where the lock recorded one, is a declared `LicenseExpression`. Fields the
lock does not hold (release time, supplier, originator) are left out, not invented.

SPDX 3 requires a creation time. Without `SOURCE_DATE_EPOCH` it is the Unix epoch, and the
`CreationInfo` comment says it is not a real time: a clock reading would make the bytes differ.
"""

from __future__ import annotations

import datetime
import json
from importlib import resources
from typing import Any
from urllib.parse import quote

from modellock import __version__
from modellock.ops.export import ExportSource
from modellock.project import hubscan
from modellock.project.lockfile import LockedFile, LockedModel
from modellock.report import bom

SCHEMA = "spdx-3.0.1.schema.json"
"""The SPDX 3.0.1 JSON schema, shipped with modellock (`report/schemas/`, provenance beside it)."""
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def _file_comment(f: LockedFile) -> str | None:
    facts = []
    if f.format:
        facts.append(f"modellock gate: format {f.format}" + (f", scan {f.scan} ({f.scanner})" if f.scan else ""))
    scan = hubscan.parse(f.hub_scan) if f.hub_scan else None
    if scan is not None:
        facts.append(f"Hub scan at lock (evidence only): {scan.render()}")
    return "; ".join(facts) or None


def _model_comment(m: LockedModel) -> str:
    facts = [
        f"modellock name {m.name}",
        f"requested {m.requested}",
        f"content digest {m.digest}",
        *([f"seal {m.seal}"] if m.seal else []),
        f"policy pickle={m.policy.pickle} remote-code={m.policy.remote_code}",
    ]
    facts += [f"allowed file {p}" for p in m.policy.allow_files]
    s = m.signature
    if s is not None:
        facts.append(f"signed ({s.mode}) by {s.identity}" + (f" ({s.issuer})" if s.issuer else ""))
        if s.root_digest:
            facts.append(f"OMS root digest {s.root_digest}")
        if s.trust_root:
            facts.append(f"verified against trust root {s.trust_root}")
    return "; ".join(facts)


def license_expression(license_: str) -> str:
    """The card's licence as an SPDX expression: its SPDX id when it is one, else a `LicenseRef-`."""
    from cyclonedx.spdx import fixup_id

    return fixup_id(license_) or "LicenseRef-" + "".join(c if c.isalnum() or c in ".-" else "-" for c in license_)


def document(source: ExportSource) -> dict[str, Any]:
    """The document as JSON-LD data (raises ValueError/TypeError if the library refuses a value)."""
    from spdx_python_model import v3_0_1 as spdx

    base = bom.serial_uuid(source).urn
    info = spdx.CreationInfo(specVersion="3.0.1", created=source.created or _EPOCH)
    if source.created is None:
        info.comment = "created is not a real time (the Unix epoch): set SOURCE_DATE_EPOCH to state one"
    agent = spdx.SoftwareAgent(spdxId=f"{base}#modellock", name="modellock", creationInfo=info)
    tool = spdx.Tool(spdxId=f"{base}#tool", name=f"modellock {__version__}", creationInfo=info)
    info.createdBy = [agent]
    info.createdUsing = [tool]
    elements: list[Any] = [agent, tool]
    packages: dict[str, Any] = {}

    def element_id(m: LockedModel) -> str:
        return f"{base}#model-{m.name}"

    for m in source.lock.models:
        kind = spdx.ai_AIPackage if m.repo_type == "model" else spdx.software_Package
        package = kind(
            spdxId=element_id(m),
            name=bom.display_name(m),
            creationInfo=info,
            software_packageVersion=m.commit,
            software_primaryPurpose=spdx.software_SoftwarePurpose.model
            if m.repo_type == "model"
            else spdx.software_SoftwarePurpose.data,
            comment=_model_comment(m),
            externalRef=[
                spdx.ExternalRef(externalRefType=spdx.ExternalRefType.vcs, locator=[url])
                for url in (bom.repo_url(m),)
                if url is not None
            ],
        )
        download, home = bom.tree_url(m), bom.repo_url(m)
        if download is not None:  # a local model has no address anyone else could use
            package.software_downloadLocation = download
        if home is not None:
            package.software_homePage = home
        purl = bom.purl(m)
        if purl is not None:
            package.software_packageUrl = purl
        if m.signature is not None:
            package.externalRef.append(
                spdx.ExternalRef(
                    externalRefType=spdx.ExternalRefType.securityOther,
                    locator=[bom.file_url(m, m.signature.path) or m.signature.path],
                    comment=f"OpenSSF Model Signing bundle, sha256 {m.signature.sha256}, verified by modellock at lock"
                    + (f"; root digest {m.signature.root_digest}" if m.signature.root_digest else ""),
                )
            )
        packages[m.name] = package
        files = []
        for f in m.files:
            file = spdx.software_File(
                spdxId=f"{element_id(m)}/file/{quote(f.path)}",
                name=f.path,
                creationInfo=info,
                verifiedUsing=[
                    spdx.Hash(algorithm=spdx.HashAlgorithm.sha256, hashValue=f.sha256),
                    spdx.Hash(algorithm=spdx.HashAlgorithm.blake3, hashValue=f.blake3),
                ],
            )
            comment = _file_comment(f)
            if comment is not None:
                file.comment = comment
            files.append(file)
        elements += [package, *files]
        if files:
            elements.append(
                spdx.Relationship(
                    spdxId=f"{element_id(m)}/contains",
                    creationInfo=info,
                    from_=package,
                    to=files,
                    relationshipType=spdx.RelationshipType.contains,
                    completeness=spdx.RelationshipCompleteness.complete,
                )
            )
    for m in source.lock.models:
        if m.card is not None and m.card.license:
            expression = spdx.simplelicensing_LicenseExpression(
                spdxId=f"{element_id(m)}/license",
                creationInfo=info,
                simplelicensing_licenseExpression=license_expression(m.card.license),
                comment=f"as the model card states it at the locked commit: {m.card.license}",
            )
            declared = spdx.Relationship(
                spdxId=f"{element_id(m)}/declared-license",
                creationInfo=info,
                from_=packages[m.name],
                to=[expression],
                relationshipType=spdx.RelationshipType.hasDeclaredLicense,
            )
            elements += [expression, declared]
        for edge in m.bases:
            if edge.model not in packages:
                continue
            elements.append(
                spdx.Relationship(
                    spdxId=f"{element_id(m)}/descendant-of/{edge.model}",
                    creationInfo=info,
                    from_=packages[m.name],
                    to=[packages[edge.model]],
                    relationshipType=spdx.RelationshipType.descendantOf,
                    comment=f"{edge.relation} of {edge.repo}@{edge.commit} (files {edge.files}; "
                    f"declared by {', '.join(edge.evidence)})",
                )
            )
    doc = spdx.SpdxDocument(
        spdxId=f"{base}#document",
        name="AI-BOM of modellock.lock",
        creationInfo=info,
        profileConformance=[
            spdx.ProfileIdentifierType.core,
            spdx.ProfileIdentifierType.software,
            spdx.ProfileIdentifierType.ai,
            spdx.ProfileIdentifierType.simpleLicensing,
        ],
        rootElement=list(packages.values()),
        element=elements,
        comment=f"lock digest {source.lock_digest}, lock version {source.lock.version}",
    )
    objects = spdx.SHACLObjectSet()
    for element in (doc, *elements):
        objects.add(element)
    data: dict[str, Any] = spdx.JSONLDSerializer().serialize_data(objects)
    return data


def validate(text: str) -> None:
    """Judge `text` by the SPDX 3.0.1 JSON schema shipped with modellock (offline).

    jsonschema-rs, not the pure-Python jsonschema: the schema tries every SPDX class for every
    element (`anyOf` with `unevaluatedProperties`), some 30 ms an element in Python, 0.3 ms here.
    """
    import jsonschema_rs

    schema_file = resources.files("modellock.report").joinpath("schemas").joinpath(SCHEMA)
    validator = jsonschema_rs.validator_for(json.loads(schema_file.read_text(encoding="utf-8")))
    for error in validator.iter_errors(json.loads(text)):
        where = "/".join(str(p) for p in error.instance_path) or "the document"
        raise bom.ExportInvalid(f"SPDX 3.0.1 schema, at {where}: {error.message[:300]}")


def render(source: ExportSource) -> str:
    """Validated SPDX 3.0.1 JSON-LD text, the same bytes for the same lock."""
    try:
        data = document(source)
    except (TypeError, ValueError) as exc:  # the library's own checks of types and cardinalities
        raise bom.ExportInvalid(f"SPDX 3.0.1: {str(exc)[:500]}") from None
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    validate(text)
    return text
