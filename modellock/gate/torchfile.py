"""PyTorch checkpoints read by their layout, the way `torch.load` reads them.

Only the pickles are walked. Tensor storages are raw bytes torch never unpickles, so they are
never sniffed: each is checked to be exactly the size its pickle declares (numel x element size),
and a storage nobody references, or a reference with no storage, is a refusal.
"""

from __future__ import annotations

import re
import struct
import tarfile
from typing import TypeGuard

from modellock.gate.budget import Budget
from modellock.gate.buffer import Window
from modellock.gate.pickle_walk import Global, PickleWalk, Seq
from modellock.gate.pickles import walk_graded
from modellock.gate.verdict import Finding, ScanResult
from modellock.gate.zipread import Member, ZipInvalid, check_crc, member_window

# Bytes per element of each storage class a pickle may name (UntypedStorage counts bytes).
_ELEMENT = {
    "Double": 8, "Float": 4, "Half": 2, "Long": 8, "Int": 4, "Short": 2, "Char": 1, "Byte": 1, "Bool": 1,
    "BFloat16": 2, "ComplexDouble": 16, "ComplexFloat": 8, "QInt8": 1, "QInt32": 4, "QUInt8": 1,
    "QUInt4x2": 1, "QUInt2x4": 1,
}  # fmt: skip
SMALL_RECORDS = {
    "byteorder": re.compile(rb"^(little|big)$"),
    "version": re.compile(rb"^[0-9]{1,4}\n?$"),
    ".data/version": re.compile(rb"^[0-9]{1,4}\n?$"),
    ".format_version": re.compile(rb"^[0-9]{1,4}\n?$"),
    ".storage_alignment": re.compile(rb"^[0-9]{1,6}\n?$"),
    ".data/serialization_id": re.compile(rb"^[0-9]{1,64}$"),
}
_TORCHSCRIPT = re.compile(r"^(?:constants\.pkl|bytecode\.pkl|code/.+|extra/.+|\.data/.+\.pkl|\.data/ts_code/.+)\Z")


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def element_size(storage_type: object) -> int | None:
    if not isinstance(storage_type, Global):
        return None
    if (storage_type.module, storage_type.name) == ("torch.storage", "UntypedStorage"):
        return 1
    if storage_type.module in ("torch", "torch.cuda") and storage_type.name.endswith("Storage"):
        return _ELEMENT.get(storage_type.name[: -len("Storage")])
    return None


def storage_refs(walk: PickleWalk, *, legacy: bool) -> tuple[dict[str, tuple[int, int]], list[str]]:
    """Storage key -> (element count, byte size) from the persistent ids, and the problems with them."""
    sizes: dict[str, tuple[int, int]] = {}
    problems: list[str] = []
    for pid in walk.persistent_ids:
        items = pid.items if isinstance(pid, Seq) else []
        if legacy and len(items) == 4 and items[0] == "module":
            continue  # a whole-module save's class reference: graded as the import it is
        if not (len(items) == (6 if legacy else 5) and items[0] == "storage"):
            problems.append("a persistent id that is not a storage reference")
            continue
        size, key, numel = element_size(items[1]), items[2], items[4]
        if size is None or not isinstance(key, str) or not _is_int(numel) or numel < 0:
            problems.append("a storage reference with an unknown type, key or size")
            continue
        if sizes.setdefault(key, (numel, numel * size)) != (numel, numel * size):
            problems.append(f"storage {key!r} is declared with two sizes")
    return sizes, problems


def scan_torch_zip(data: Window, members: list[Member], budget: Budget) -> ScanResult:
    prefix = members[0].name.split("/", 1)[0]
    findings: list[Finding] = []
    by_name: dict[str, Member] = {}
    for member in members:
        if not member.name.startswith(prefix + "/"):
            return ScanResult("torch-zip", "pickle", (Finding("invalid", f"{member.name}: outside {prefix}/"),))
        by_name[member.name[len(prefix) + 1 :]] = member
    code = any(_TORCHSCRIPT.match(name) for name in by_name)
    fmt = "torchscript" if code else "torch-zip"
    try:
        pickle_window = member_window(data, by_name["data.pkl"], budget)
        assert pickle_window is not None
        check_crc(pickle_window, by_name["data.pkl"], unset_ok=True)
    except ZipInvalid as exc:
        return ScanResult(fmt, "pickle", (Finding("invalid", f"zip archive: {exc}"),))
    label = f"{prefix}/data.pkl"
    walk, found = walk_graded(pickle_window, 0, label)
    findings += found
    if walk is not None and walk.end != len(pickle_window):
        findings.append(Finding("invalid", f"{label}: data after the pickle"))
    refs, problems = storage_refs(walk, legacy=False) if walk is not None else ({}, [])
    sizes = {key: nbytes for key, (_, nbytes) in refs.items()}
    findings += [Finding("invalid", f"{label}: {p}") for p in problems]
    for name, member in by_name.items():
        try:
            findings += _check_record(data, name, member, sizes, budget, walk is not None, code)
        except ZipInvalid as exc:
            findings.append(Finding("invalid", f"zip archive: {exc}"))
    if walk is not None:
        missing = sorted(set(sizes) - {n[len("data/") :] for n in by_name if n.startswith("data/")})
        findings += [
            Finding("invalid", f"data.pkl references storage {k!r}, which is not in the archive") for k in missing
        ]
    return ScanResult(fmt, "code" if code else "pickle", tuple(findings))


def _check_record(
    data: Window, name: str, member: Member, sizes: dict[str, int], budget: Budget, walked: bool, code: bool
) -> list[Finding]:
    if name == "data.pkl" or (code and _TORCHSCRIPT.match(name)):
        return []  # TorchScript is code whatever its pickles say; the kind already refuses it
    if name.startswith("data/"):
        key = name[len("data/") :]
        if not walked:
            return []
        if key not in sizes:
            return [Finding("invalid", f"{name}: a storage data.pkl never references (read by other tools only)")]
        member_window(data, member, budget, keep=False)
        if member.size != sizes[key]:
            return [Finding("invalid", f"{name}: {member.size} bytes, but data.pkl declares {sizes[key]}")]
        return []
    rule = SMALL_RECORDS.get(name)
    if rule is None:
        return [Finding("invalid", f"{name}: not part of a torch checkpoint's layout")]
    window = member_window(data, member, budget)
    content = window.read(0, 80) if window is not None else b""
    if member.size > 64 or not rule.match(content):
        return [Finding("invalid", f"{name}: unexpected content for this record")]
    return []


def scan_legacy(data: Window, first: PickleWalk) -> ScanResult:
    """Magic, protocol, sys_info, the object, its storage keys; then per key u64 numel + raw bytes."""
    findings: list[Finding] = []
    pos, walks = first.end, []
    for label in ("protocol version", "sys_info", "the saved object", "storage keys"):
        walk, found = walk_graded(data, pos, f"legacy torch ({label})")
        findings += found
        if walk is None:
            return ScanResult("torch-legacy", "pickle", tuple(findings))
        walks.append(walk)
        pos = walk.end
    refs, problems = storage_refs(walks[2], legacy=True)
    findings += [Finding("invalid", f"legacy torch: {p}") for p in problems]
    keys = walks[3].value
    if not isinstance(keys, Seq) or not all(isinstance(k, str) for k in keys.items):
        findings.append(Finding("invalid", "legacy torch: the storage keys are not a list of strings"))
        return ScanResult("torch-legacy", "pickle", tuple(findings))
    names = [k for k in keys.items if isinstance(k, str)]
    if sorted(set(names)) != sorted(refs) or len(names) != len(set(names)):
        findings.append(Finding("invalid", "legacy torch: storage keys differ from the storages the object uses"))
        return ScanResult("torch-legacy", "pickle", tuple(findings))
    for key in names:
        header = data.read(pos, 8)
        numel = int.from_bytes(header, "little") if len(header) == 8 else -1
        expected, nbytes = refs[key]
        if numel != expected or pos + 8 + nbytes > len(data):
            findings.append(Finding("invalid", f"legacy torch: storage {key!r} is not the size the object declares"))
            return ScanResult("torch-legacy", "pickle", tuple(findings))
        pos += 8 + nbytes
    if pos != len(data):
        findings.append(Finding("invalid", f"legacy torch: {len(data) - pos} bytes after the last storage"))
    return ScanResult("torch-legacy", "pickle", tuple(findings))


def scan_torch_tar(data: Window) -> ScanResult:
    """The pre-1.0 tar format: `sys_info`, `pickle`, `storages` and `tensors`, each pickles + raw records."""
    findings: list[Finding] = []
    try:
        with tarfile.open(fileobj=data.reader(), mode="r:") as archive:  # type: ignore[call-overload]
            for count, member in enumerate(archive):
                if count >= 8:
                    findings.append(Finding("invalid", "more members than a torch tar checkpoint has"))
                    break
                if member.name not in ("sys_info", "pickle", "storages", "tensors") or not member.isfile():
                    findings.append(Finding("invalid", f"{member.name}: not part of a torch tar checkpoint"))
                    continue
                body = data.sub(member.offset_data, member.size)
                findings += _tar_member(member.name, body)
    except (tarfile.TarError, EOFError, OSError) as exc:
        return ScanResult("torch-tar", "pickle", (Finding("invalid", f"tar archive: {exc}"),))
    return ScanResult("torch-tar", "pickle", tuple(findings))


def _tar_member(name: str, body: Window) -> list[Finding]:
    walk, findings = walk_graded(body, 0, name)
    if walk is None:
        return findings
    if name in ("sys_info", "pickle"):
        if walk.end != len(body):
            findings.append(Finding("invalid", f"{name}: data after the pickle"))
        return findings
    count = walk.value if _is_int(walk.value) else -1
    if not 0 <= count <= len(body):
        return [*findings, Finding("invalid", f"{name}: the record count is not a number")]
    pos = walk.end
    for _ in range(count):
        record, found = walk_graded(body, pos, name)
        findings += found
        if record is None:
            return findings
        pos = record.end
        items = record.value.items if isinstance(record.value, Seq) else []
        if name == "storages":
            size = element_size(items[2]) if len(items) == 3 else None
            numel = int.from_bytes(body.read(pos, 8), "little")
            if size is None:
                return [*findings, Finding("invalid", "storages: a record with an unknown storage type")]
            pos += 8 + numel * size
        else:
            ndim_raw = body.read(pos, 4)
            ndim = struct.unpack("<i", ndim_raw)[0] if len(ndim_raw) == 4 else -1
            if not 0 <= ndim <= 64:
                return [*findings, Finding("invalid", "tensors: a record with an impossible rank")]
            pos += 8 + 16 * ndim + 8
        if pos > len(body):
            return [*findings, Finding("invalid", f"{name}: records run past the member's end")]
    if name == "storages":
        views, found = walk_graded(body, pos, name)
        findings += found
        pos = views.end if views is not None else len(body)
    if pos != len(body):
        findings.append(Finding("invalid", f"{name}: {len(body) - pos} bytes after the last record"))
    return findings
