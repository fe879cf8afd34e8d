"""`torch.export` archives (`.pt2`) read by their layout, the way `torch.export.load` reads them.

`torch.export.save` and `torch.export.pt2_archive` write a zip under one root folder, marked by
`archive_format` (`pt2`) and `archive_version` (`0`, the only version torch reads). Each record's
role follows from its name: the program (`models/<m>.json`), payload configs that declare every
weight and constant (`data/{weights,constants}/<m>_{weights,constants}_config.json`), raw tensor
bytes (`weight_<n>`, `tensor_<n>`), and the records torch unpickles: sample inputs and tensors saved
with `torch.save`, opaque objects (`pickle.loads`), TorchScript custom objects. Raw tensors are
never sniffed: each is checked against the dtype, sizes, strides and offset its config declares.
Every pickle is walked with the allowlist; the program is held to the grammar of `pt2_program`.
AOTInductor, ExecuTorch and MTIA artifacts are compiled code. The flat layout written before the
PT2 archive (torch 2.1 to 2.4), which `torch.export.load` still reads, is read here too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Literal

from modellock.gate.budget import Budget
from modellock.gate.buffer import Window
from modellock.gate.pickles import walk_graded
from modellock.gate.pt2_program import check_program
from modellock.gate.torchfile import SMALL_RECORDS
from modellock.gate.verdict import Finding, Kind, ScanResult, worst
from modellock.gate.zipread import Member, ZipInvalid, check_crc, member_window

MAX_PT2_JSON = 64 << 20
"""Bytes of one program or config JSON (a large language model's program is a few MiB)."""

Role = Literal[
    "format", "version", "small", "program", "payload-config", "param-config", "raw-or-pickled",
    "custom-object", "opaque-object", "torch-save", "extra", "compiled", "unknown",
]  # fmt: skip
_ROLES: list[tuple[re.Pattern[str], Role]] = [
    (re.compile(r"^archive_format\Z"), "format"),
    (re.compile(r"^archive_version\Z"), "version"),
    (re.compile(r"^(?:byteorder|\.data/version|\.data/serialization_id)\Z"), "small"),
    (re.compile(r"^models/[^/]+\.json\Z"), "program"),
    (re.compile(r"^data/weights/[^/]+_weights_config\.json\Z"), "payload-config"),
    (re.compile(r"^data/constants/[^/]+_constants_config\.json\Z"), "payload-config"),
    (re.compile(r"^data/weights/[^/]+_model_param_config\.json\Z"), "param-config"),
    (re.compile(r"^data/constants/[^/]+_model_constants_config\.json\Z"), "param-config"),
    (re.compile(r"^data/weights/weight_[0-9]+\Z"), "raw-or-pickled"),
    (re.compile(r"^data/constants/tensor_[0-9]+\Z"), "raw-or-pickled"),
    (re.compile(r"^data/constants/custom_obj_[0-9]+\Z"), "custom-object"),
    (re.compile(r"^data/constants/opaque_obj_[0-9]+\Z"), "opaque-object"),
    # Sample inputs, and the state dict and constants of archives written before payload configs.
    (re.compile(r"^data/sample_inputs/[^/]+\.pt\Z"), "torch-save"),
    (re.compile(r"^data/(?:weights|constants)/[^/]+\.pt\Z"), "torch-save"),
    (re.compile(r"^extra/.+\Z"), "extra"),
    (re.compile(r"^data/(?:aotinductor|executorch)/.+$|^data/mtia(?:/.*)?\Z"), "compiled"),
]
# Bytes per element of each serialized ScalarType (torch/_export/serde/schema.py).
_ELEMENT = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 2, 7: 4, 8: 8, 9: 4, 10: 8, 11: 16, 12: 1, 13: 2, 28: 2,
            29: 1, 30: 1, 31: 1, 32: 1, 33: 1, 34: 4, 35: 8}  # fmt: skip

ScanNested = Callable[[Window, str], ScanResult]


def record_role(name: str) -> Role:
    """What `torch.export.load` does with a record, from its name under the archive's root."""
    return next((role for pattern, role in _ROLES if pattern.match(name)), "unknown")


_LEGACY_ARTIFACTS = ("serialized_state_dict", "serialized_constants", "serialized_example_inputs")
_TORCHBIND = re.compile(r"imports __torch__\.torch\.classes\.[A-Za-z0-9_.]+ \(.*: not on the allowlist$")


def is_legacy_export(members: list[Member]) -> bool:
    """`torch.export.save` before the PT2 archive (torch 2.1 to 2.4): flat, with `version` beside the program."""
    names = {m.name for m in members}
    return "serialized_exported_program.json" in names and "version" in names


def is_pt2(members: list[Member]) -> bool:
    """The archive's own marker: `<root>/archive_format` (torch's `is_pt2_package` asks the same)."""
    root = members[0].name.split("/", 1)[0] if members else ""
    return any(m.name == f"{root}/archive_format" for m in members)


class _Archive:
    def __init__(self, data: Window, members: dict[str, Member], budget: Budget, label: str) -> None:
        self.data, self.members, self.budget, self.label = data, members, budget, label

    def read(self, name: str, cap: int) -> bytes:
        member = self.members[name]
        if member.size > cap:
            what = "(cap MAX_PT2_JSON)" if cap == MAX_PT2_JSON else "for this record"
            raise ZipInvalid(f"{name}: {member.size} bytes, more than {cap} {what}")
        window = member_window(self.data, member, self.budget)
        assert window is not None
        check_crc(window, member, unset_ok=True)  # written by torch's own zip writer
        return window.read(0, len(window))

    def window(self, name: str) -> Window:
        window = member_window(self.data, self.members[name], self.budget)
        assert window is not None
        return window

    def json(self, name: str) -> Any:
        try:
            return json.loads(self.read(name, MAX_PT2_JSON))
        except (ValueError, RecursionError) as exc:
            raise ZipInvalid(f"{name}: not JSON ({exc})") from None


def scan_pt2(data: Window, members: list[Member], budget: Budget, scan_nested: ScanNested) -> ScanResult:
    root = members[0].name.split("/", 1)[0]
    by_name: dict[str, Member] = {}
    for member in members:
        if not member.name.startswith(root + "/"):
            return ScanResult("pt2", "pickle", (Finding("invalid", f"{member.name}: outside {root}/"),))
        if not member.name.endswith("/"):
            by_name[member.name[len(root) + 1 :]] = member
    archive = _Archive(data, by_name, budget, root)
    try:
        return _scan(archive, scan_nested)
    except ZipInvalid as exc:
        return ScanResult("pt2", "pickle", (Finding("invalid", f"pt2 archive: {exc}"),))


def scan_legacy_export(data: Window, members: list[Member], budget: Budget, scan_nested: ScanNested) -> ScanResult:
    """The flat layout `torch.export.load` still reads: the program, and artifacts it `torch.load`s.

    Each artifact goes to `torch.load(weights_only=True)` and, when that fails, `weights_only=False`,
    so each is scanned as the file `torch.load` would open, whatever its format.
    """
    archive = _Archive(data, {m.name: m for m in members if not m.name.endswith("/")}, budget, "")
    findings: list[Finding] = []
    kind: Kind = "pickle"
    for name in sorted(archive.members):
        try:
            found, record_kind = _legacy_record(archive, name, scan_nested)
        except ZipInvalid as exc:
            found, record_kind = [Finding("invalid", f"torch.export archive: {exc}")], "pickle"
        findings += found
        kind = worst(kind, record_kind)
    return ScanResult("pt2", kind, tuple(findings))


def _legacy_record(archive: _Archive, name: str, scan_nested: ScanNested) -> tuple[list[Finding], Kind]:
    if name == "version":
        if not re.fullmatch(rb"[0-9]{1,4}\.[0-9]{1,4}", archive.read(name, 64)):
            return [Finding("invalid", "version: not the schema version torch writes")], "data"
        return [], "data"
    if name == "serialized_exported_program.json":
        return [Finding(f.verdict, f"{name}: {f.message}") for f in check_program(archive.json(name))], "data"
    if name.rsplit(".", 1)[0] in _LEGACY_ARTIFACTS:
        if not archive.members[name].size:
            return [], "data"
        inner = scan_nested(archive.window(name), name)
        return [Finding(f.verdict, f"{name}: {f.message}") for f in inner.findings], worst("pickle", inner.kind)
    if name.startswith("extra_files/"):
        return [], "data"
    return [Finding("invalid", f"{name}: not part of a torch.export archive's layout")], "data"


def _scan(archive: _Archive, scan_nested: ScanNested) -> ScanResult:
    findings: list[Finding] = []
    kind: Kind = "data"
    roles = {name: record_role(name) for name in archive.members}
    if "archive_version" not in archive.members:
        findings.append(Finding("invalid", "no archive_version (torch.export.load refuses it)"))
    declared = _declared_payloads(archive, roles, findings)
    for name, role in sorted(roles.items()):
        try:
            found, record_kind = _record(archive, name, role, declared, scan_nested)
        except ZipInvalid as exc:  # one broken record never hides what the others hold
            found, record_kind = [Finding("invalid", f"pt2 archive: {exc}")], "pickle"
        findings += found
        kind = worst(kind, record_kind)
    return ScanResult("pt2", kind, tuple(findings))


def _declared_payloads(archive: _Archive, roles: dict[str, Role], findings: list[Finding]) -> dict[str, list[Any]]:
    """Record name -> the payload metas that declare it, from every payload config; their problems."""
    declared: dict[str, list[Any]] = {}
    for name, role in roles.items():
        if role != "payload-config":
            continue
        try:
            config = archive.json(name)
        except ZipInvalid as exc:
            findings.append(Finding("invalid", f"pt2 archive: {exc}"))
            continue
        entries = config.get("config") if isinstance(config, dict) else None
        if not isinstance(entries, dict):
            findings.append(Finding("invalid", f"{name}: not a payload config"))
            continue
        folder = name.rsplit("/", 1)[0]
        for fqn, meta in entries.items():
            path = meta.get("path_name") if isinstance(meta, dict) else None
            if not isinstance(path, str) or "/" in path or f"{folder}/{path}" not in archive.members:
                findings.append(Finding("invalid", f"{name}: {fqn!r} names a record that is not in the archive"))
                continue
            declared.setdefault(f"{folder}/{path}", []).append(meta)
    return declared


def _record(
    archive: _Archive, name: str, role: Role, declared: dict[str, list[Any]], scan_nested: ScanNested
) -> tuple[list[Finding], Kind]:
    if role == "format" and archive.read(name, 64) != b"pt2":
        return [Finding("invalid", "archive_format is not 'pt2' (torch.export.load refuses it)")], "data"
    if role == "version" and (version := archive.read(name, 64)) != b"0":
        return [Finding("invalid", f"archive_version {version[:8]!r} is not 0, the version torch reads")], "data"
    if role in ("format", "version"):
        return [], "data"
    if role == "small":
        content = archive.read(name, 64)
        if not SMALL_RECORDS[name].match(content):
            return [Finding("invalid", f"{name}: unexpected content for this record")], "data"
        return [], "data"
    if role == "program":
        return [Finding(f.verdict, f"{name}: {f.message}") for f in check_program(archive.json(name))], "data"
    if role in ("payload-config", "param-config"):
        archive.json(name)  # declared payloads were read already; a param config is read as JSON only
        return [], "data"
    if role == "extra":
        return [], "data"  # handed to the caller as text (`extra_files`), never evaluated
    if role == "compiled":
        return [], "code"  # AOTInductor shared libraries are loaded by torch.export.load itself
    if role == "raw-or-pickled":
        return _payload(archive, name, declared.get(name), scan_nested)
    if role == "opaque-object":
        window = archive.window(name)
        walk, found = walk_graded(window, 0, name)  # pickle.loads
        if walk is not None and walk.end != len(window):
            found.append(Finding("invalid", f"{name}: data after the pickle"))
        return found, "pickle"
    if role in ("custom-object", "torch-save"):
        if archive.members[name].size == 0:
            return [], "data"  # an empty artifact is read as "nothing", not unpickled
        # TorchScript's pickler and torch.save both write a torch zip: read by its own layout.
        inner = scan_nested(archive.window(name), f"{archive.label}/{name}")
        if not inner.format.startswith(("torch-zip", "torchscript")):
            return [Finding("invalid", f"{name}: a {inner.format} where torch expects a torch.save archive")], "pickle"
        found = list(inner.findings)
        if role == "custom-object":
            # TorchScript's unpickler resolves `__torch__.torch.classes.<ns>.<Class>` only to a C++
            # class a library registered (torchbind), never to Python; everything else is judged as usual.
            found = [f for f in found if not (f.verdict == "suspicious" and _TORCHBIND.search(f.message))]
        return [Finding(f.verdict, f"{name}: {f.message}") for f in found], worst("pickle", inner.kind)
    return [Finding("invalid", f"{name}: not part of a PT2 archive's layout")], "data"


def _payload(
    archive: _Archive, name: str, metas: list[Any] | None, scan_nested: ScanNested
) -> tuple[list[Finding], Kind]:
    """A weight or tensor constant: raw bytes of the declared tensors, or a torch.save archive."""
    if not metas:
        if any(record_role(n) == "compiled" for n in archive.members):
            # AOTInductor keeps its weights as torch.save archives its own config names.
            inner = scan_nested(archive.window(name), f"{archive.label}/{name}")
            return [Finding(f.verdict, f"{name}: {f.message}") for f in inner.findings], worst("pickle", inner.kind)
        return [Finding("invalid", f"{name}: a record no payload config declares")], "data"
    flags = [meta.get("use_pickle", False) for meta in metas]
    odd = [flag for flag in flags if not isinstance(flag, bool)]
    if odd:
        # torch tests the flag's truth (`if payload_meta.use_pickle:`), so `1` or `"false"` means
        # torch.load(weights_only=False); its writer only ever writes a boolean.
        return [Finding("invalid", f"{name}: use_pickle {odd[0]!r} is not a boolean (torch unpickles it)")], "pickle"
    pickled = set(flags)
    if len(pickled) != 1:
        return [Finding("invalid", f"{name}: declared both pickled and raw")], "data"
    if pickled == {True}:
        # torch.load(weights_only=False): a full pickle, read as the torch zip it must be.
        inner = scan_nested(archive.window(name), f"{archive.label}/{name}")
        if not inner.format.startswith("torch-zip"):
            return [Finding("invalid", f"{name}: a {inner.format} where torch expects a torch.save archive")], "pickle"
        return [Finding(f.verdict, f"{name}: {f.message}") for f in inner.findings], worst("pickle", inner.kind)
    size = archive.members[name].size
    member_window(archive.data, archive.members[name], archive.budget, keep=False)  # its bytes are there
    for meta in metas:
        problem = _raw_fits(meta.get("tensor_meta"), size)
        if problem:
            return [Finding("invalid", f"{name}: {problem}")], "data"
    return [], "data"


def _raw_fits(meta: Any, size: int) -> str | None:
    """torch reads size // element-size elements and views them with the declared strides."""
    if not isinstance(meta, dict):
        return "no tensor metadata for raw bytes"
    dtype = meta.get("dtype")
    element = _ELEMENT.get(dtype) if isinstance(dtype, int) else None
    if element is None:
        return f"dtype {meta.get('dtype')!r} is not one torch serializes"
    if size % element:
        return f"{size} bytes is not a whole number of {element}-byte elements"
    sizes, strides, offset = (_ints(meta.get(k)) for k in ("sizes", "strides", "storage_offset"))
    if sizes is None or strides is None or offset is None or len(sizes) != len(strides) or len(offset) != 1:
        return None  # symbolic shapes: torch checks the view when it builds it
    if any(n < 0 for n in sizes) or any(s < 0 for s in strides) or offset[0] < 0:
        return "negative sizes, strides or offset"
    if size == 0 or 0 in sizes:
        return None  # torch makes zeros of the declared size when the record is empty
    extent = offset[0] + sum((n - 1) * s for n, s in zip(sizes, strides, strict=True)) + 1
    if extent > size // element:
        return f"{size // element} elements, but the declared view reaches element {extent}"
    return None


def _ints(value: Any) -> list[int] | None:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        number = item.get("as_int") if isinstance(item, dict) else None
        if not isinstance(number, int) or isinstance(number, bool):
            return None
        out.append(number)
    return out
