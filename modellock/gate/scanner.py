"""Recognise a file by its content and scan it without ever loading or executing it.

The content decides the format; the name only decides whether the content contradicts it
(a pickle named `.safetensors` is refused as disguised, its real format named). Every scan runs
under one `Budget`, so nested archives and streams are charged once and the cap that refused a
file is named in its finding.
"""

from __future__ import annotations

import itertools
import mmap
import os
import struct
import tarfile
from collections.abc import Iterator
from pathlib import Path

from modellock.gate.arrays import elements, has_objects, itemsize, joblib_build, npy_header
from modellock.gate.budget import ACTIVE, MAX_DEPTH, Budget, CapExceeded
from modellock.gate.buffer import Window
from modellock.gate.compressed import containers, merge, scan_container
from modellock.gate.formats import (
    MAX_KERAS_CONFIG,
    check_gguf,
    check_keras_config,
    check_onnx,
    check_safetensors,
    keras_configs_in,
    safetensors_header_length,
)
from modellock.gate.pickle_walk import LEGACY_TORCH_MAGIC, Import, PickleInvalid, is_opcode, walk
from modellock.gate.pickles import failure_finding, import_findings, walk_graded
from modellock.gate.pt2 import is_legacy_export, is_pt2, scan_legacy_export, scan_pt2
from modellock.gate.torchfile import scan_legacy, scan_torch_tar, scan_torch_zip
from modellock.gate.verdict import Finding, Kind, ScanResult, worst
from modellock.gate.zipread import ZipInvalid, check_crc, member_window, read_members
from modellock.gate.zipstream import scan_deflated

CODE_SUFFIXES = (".py", ".pyc", ".pyo", ".pyx", ".pyd", ".so", ".dll", ".dylib", ".sh", ".bash", ".bat", ".ps1", ".exe")
_NATIVE_MAGIC = (b"\x7fELF", b"MZ", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe")
_HDF5 = b"\x89HDF\r\n\x1a\n"
_OPAQUE = {b"7z\xbc\xaf\x27\x1c": "7z", b"Rar!": "rar"}
# What a name promises. A file named so must be that format; code-bearing content is "disguised".
_CLAIMS = {
    ".safetensors": "safetensors", ".gguf": "gguf", ".npy": "numpy", ".npz": "npz", ".onnx": "onnx",
    ".keras": "keras", ".h5": "hdf5",
}  # fmt: skip
_NON_CODE_SUFFIXES = (".json", ".txt", ".md", ".model", ".msgpack", ".onnx_data", ".tflite", ".jinja", ".yaml")
_PICKLE_NAMES = (".pkl", ".pickle", ".bin", ".pt", ".pth", ".ckpt", ".joblib", ".dat", ".sav", ".p", ".pk")


def scan_file(path: str | os.PathLike[str], name: str | None = None) -> ScanResult:
    """Scan a file on disk; `name` is its repository path (for the name check and messages)."""
    label = name or os.fspath(path)
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return ScanResult("empty", "data")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            return scan_window(Window(mapped), label)


def scan_bytes(data: bytes, name: str) -> ScanResult:
    """Scan bytes whose repository name is `name`."""
    return scan_window(Window(data), name)


def scan_window(data: Window, name: str, budget: Budget | None = None, depth: int = 0) -> ScanResult:
    budget = budget or Budget()
    token = ACTIVE.set(budget)
    try:
        result = _scan(data, name, budget, depth)
    except CapExceeded as exc:
        return ScanResult("over-cap", "data", (Finding("invalid", f"refused by a scanning cap: {exc}"),))
    except (ValueError, IndexError, KeyError, TypeError, struct.error, OSError, RecursionError, MemoryError) as exc:
        # A parser met a structure it did not expect: that is a refusal with a reason, never an
        # internal error (which would not name the file) and never "data".
        message = f"the scanner could not parse it ({type(exc).__name__}: {str(exc)[:200]})"
        return ScanResult("unparsed", "data", (Finding("invalid", message),))
    finally:
        ACTIVE.reset(token)
    return _check_name(result, name) if depth == 0 else result


def _check_name(result: ScanResult, name: str) -> ScanResult:
    lower = name.lower()
    suffix = Path(lower).suffix
    claimed = _CLAIMS.get(suffix)
    base = result.format.split("+")[-1]
    risky = result.kind != "data" or base in ("zip", "tar", "torch-zip", "torch-tar")
    if claimed is not None and base.startswith(claimed):
        return result
    if risky and (claimed is not None or suffix in _NON_CODE_SUFFIXES):
        message = f"disguised: named {suffix} but the content is {result.format}"
    elif claimed is not None and result.format != "empty":
        message = f"named {suffix} but the content is {result.format}, not {claimed}"
    else:
        return result
    return ScanResult(result.format, result.kind, (Finding("invalid", message), *result.findings))


def _scan(data: Window, name: str, budget: Budget, depth: int) -> ScanResult:
    if depth > MAX_DEPTH:
        raise CapExceeded(f"archives nested more than {MAX_DEPTH} deep (cap MAX_DEPTH)")
    head = data.head(512)
    lower = name.lower()
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _scan_zip(data, name, budget, depth)
    if head.startswith(b"\x93NUMPY"):
        return _scan_npy(data)
    if head.startswith(b"GGUF"):
        return _with_raw_pickle(ScanResult("gguf", "data", tuple(check_gguf(data))), data, lower)
    if head.startswith(_HDF5):
        hdf5 = ScanResult("hdf5", "data", tuple(f for c in keras_configs_in(data) for f in check_keras_config(c)))
        return _with_raw_pickle(hdf5, data, lower)
    for box in containers(head):
        result = scan_container(data, name, budget, depth, box, _streams_as_pickle, _inner)
        if result is not None:
            # The raw bytes are read too: a loader that does not decompress may unpickle them.
            raw = _scan_pickle(data, lower) if head and is_opcode(head[0]) else None
            return result if raw is None else merge(result, raw)
    for magic, label in _OPAQUE.items():
        if head.startswith(magic):
            return ScanResult(label, "data", (Finding("invalid", f"a {label} archive modellock cannot inspect"),))
    if is_tar_header(head):
        return _with_raw_pickle(_scan_tar(data, name, budget, depth), data, lower, tar=True)
    if safetensors_header_length(data) is not None:
        return _with_raw_pickle(ScanResult("safetensors", "data", tuple(check_safetensors(data))), data, lower)
    if head and is_opcode(head[0]):
        result = _scan_pickle(data, lower)
        if result is not None:
            return result
    if lower.endswith(CODE_SUFFIXES) or head.startswith(b"#!") or head.startswith(_NATIVE_MAGIC):
        return ScanResult("code", "code", ())
    if lower.rsplit("/", 1)[-1] in ("saved_model.pb", "saved_model.pbtxt"):
        # TensorFlow graphs run ops such as ReadFile/WriteFile; treated as code rather than parsed.
        return ScanResult("tf-savedmodel", "code", ())
    if _has_zip_directory(data):
        return ScanResult("zip", "pickle", (Finding("invalid", "a zip archive with data prepended to it"),))
    if lower.endswith(".onnx"):
        return ScanResult("onnx", "data", tuple(check_onnx(data)))
    return ScanResult("data", "data", ())


def _with_raw_pickle(result: ScanResult, data: Window, lower: str, tar: bool = False) -> ScanResult:
    """Formats no loader picks by their first bytes (tar, safetensors, GGUF, HDF5) are read as other
    things too. pandas opens a `.zip` by the directory at its end, whatever comes first. `pickle.load`,
    `joblib.load`, `np.load(allow_pickle=True)` and torch's legacy reader unpickle them raw: when their
    first bytes also begin a pickle an unpickler acts on (a tar member's name, a header length whose
    low byte is an opcode swallowing the JSON), that reading counts."""
    if _has_zip_directory(data, tar):
        found = Finding("invalid", "a zip archive with data prepended to it")
        result = ScanResult(result.format, worst(result.kind, "pickle"), (*result.findings, found))
    head = data.head(1)
    if not head or not is_opcode(head[0]):
        return result
    # Only a reading that imports or calls something matters: these formats' own bytes (a header
    # length whose low byte is STOP, or `c` reading the JSON as a module name) often begin a pickle
    # that CPython abandons at once, having run nothing.
    try:
        first = walk(data, 0, joblib_build)
    except PickleInvalid as exc:
        if exc.kind != "limit" and not _acts(exc.imports, exc.calls):
            return result  # a cap is no proof that nothing follows
        return merge(result, ScanResult("pickle", "pickle", (*import_findings(exc.imports), failure_finding(exc))))
    if not _acts(first.imports, first.calls):
        return result
    raw = _scan_pickle(data, lower)
    return result if raw is None else merge(result, raw)


def _acts(imports: list[Import], calls: int) -> bool:
    """Whether an unpickler runs anything: a call, or a first import `find_class` can resolve (one
    whose module or name is no dotted identifier fails there, and unpickling stops with it)."""
    if calls:
        return True
    first = min(imports, key=lambda i: i.offset, default=None)
    return first is not None and all(_dotted(part) for part in (first.module, first.name))


def _dotted(text: str) -> bool:
    return bool(text) and all(part.isidentifier() and part.isascii() for part in text.split("."))


def _tar_member_is(data: Window, start: int, end_record: int) -> bool:
    """Whether a tar member's bytes start at `start` and hold the zip ending at `end_record`."""
    if start < 512 or start % 512:
        return False
    try:
        info = tarfile.TarInfo.frombuf(data.read(start - 512, 512), "utf-8", "surrogateescape")
    except (tarfile.HeaderError, ValueError):
        return False
    length = 22 + int.from_bytes(data.read(end_record + 20, 2), "little")
    return info.isfile() and info.size == end_record + length - start


def is_tar_header(head: bytes) -> bool:
    """A first block `tarfile.open` reads as a header: its checksum decides, not the `ustar` magic,
    which V7 archives lack and which torch's legacy reader and pandas do not ask for."""
    if len(head) >= 262 and head[257:262] == b"ustar":
        return True
    if len(head) < 512:
        return False
    try:
        tarfile.TarInfo.frombuf(bytes(head[:512]), "utf-8", "surrogateescape")
    except (tarfile.HeaderError, ValueError):
        return False
    return True


def _has_zip_directory(data: Window, tar: bool = False) -> bool:
    """A zip that does not start at byte 0, found as Python's `zipfile` finds one (pandas opens a
    `.zip` with it): the last end record in the last 64 KiB + 22 bytes, whatever follows it, whose
    central directory starts where the record says it ends (zipfile allows data before it). In a tar,
    a zip that is exactly the last member (a `model.pt` or `.npz` archived last) was scanned as that
    member, and is what zipfile would read: it does not count."""
    tail = data.tail(65557)
    base = len(data) - len(tail)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        return False
    if tar and _tar_member_is(data, _zip_start(data, base + at), base + at):
        return False
    if at + 22 + int.from_bytes(tail[at + 20 : at + 22], "little") == len(tail):
        return True
    size = int.from_bytes(tail[at + 12 : at + 16], "little")
    start = base + at - size
    if size and start >= 0 and data.read(start, 4) == b"PK\x01\x02":
        return True
    return base + at >= 20 and data.read(base + at - 20, 4) == b"PK\x06\x07"  # zip64, through its locator


def _zip_start(data: Window, end_record: int) -> int:
    """Where `zipfile` takes the archive ending at `end_record` to begin (directory end - its offset)."""
    record = data.read(end_record, 22)
    size, offset, end = int.from_bytes(record[12:16], "little"), int.from_bytes(record[16:20], "little"), end_record
    if end_record >= 76 and data.read(end_record - 20, 4) == b"PK\x06\x07":
        zip64 = data.read(end_record - 76, 56)
        if zip64[:4] == b"PK\x06\x06":
            size, offset, end = int.from_bytes(zip64[40:48], "little"), int.from_bytes(zip64[48:56], "little"), end - 76
    return end - size - offset


def _scan_pickle(data: Window, lower: str) -> ScanResult | None:
    """A raw pickle, joblib file or legacy torch stream; None when it is no pickle at all.

    "No pickle" needs certainty: the walk broke where CPython breaks too, before importing or calling
    anything (or, for a name no pickle loader reads, having imported only harmless names).
    """
    try:
        first = walk(data, 0, joblib_build)
    except PickleInvalid as exc:
        inert = exc.kind == "parse" or (exc.kind == "unresolvable" and not data.head(1).startswith(b"\x80"))
        if inert and not exc.calls and not exc.imports:
            _refund_sniff()
            return None
        graded = import_findings(exc.imports)
        if (
            inert
            and not exc.calls
            and not lower.endswith(_PICKLE_NAMES)
            and all(f.verdict != "malicious" for f in graded)
        ):
            _refund_sniff()
            return None  # text that happens to spell GLOBAL names; no loader reads it as a pickle
        return ScanResult("pickle", "pickle", (*graded, failure_finding(exc)))
    if type(first.value) is int and first.value == LEGACY_TORCH_MAGIC:
        result = scan_legacy(data, first)
        return ScanResult(result.format, result.kind, (*import_findings(first.imports), *result.findings))
    joblib = any(i.module == "joblib.numpy_pickle" for i in first.imports)
    findings = import_findings(first.imports)
    if first.end != len(data):
        findings.append(Finding("invalid", f"{len(data) - first.end} bytes of other data follow the pickle"))
        findings += _trailing_pickles(data, first.end)
    return ScanResult("joblib" if joblib else "pickle", "pickle", tuple(findings))


def _refund_sniff() -> None:
    """A walk that proved the bytes are no pickle is not one of the file's pickles (MAX_PICKLES):
    a tar of many small text files would otherwise reach it. Its opcodes stay charged."""
    budget = ACTIVE.get()
    if budget is not None:
        budget.pickles -= 1


def _trailing_pickles(data: Window, pos: int) -> list[Finding]:
    """Imports of pickles after the first (a loader that reads on would see them); graded, not trusted."""
    findings: list[Finding] = []
    for _ in range(16):
        if pos >= len(data) or not is_opcode(data.read(pos, 1)[0]):
            break
        part, found = walk_graded(data, pos, f"pickle at byte {pos}")
        findings += [f for f in found if f.verdict != "invalid"]
        if part is None:
            break
        pos = part.end
    return findings


def _scan_zip(data: Window, name: str, budget: Budget, depth: int) -> ScanResult:
    try:
        members = read_members(data)
    except ZipInvalid as exc:
        return ScanResult("zip", "pickle", (Finding("invalid", f"zip archive: {exc}"),))
    names = [m.name for m in members]
    if is_pt2(members):
        return scan_pt2(data, members, budget, lambda inner, label: _scan(inner, label, budget, depth + 1))
    if is_legacy_export(members):
        return scan_legacy_export(data, members, budget, lambda inner, label: _scan(inner, label, budget, depth + 1))
    if members and any(n.count("/") == 1 and n.endswith("/data.pkl") for n in names):
        return scan_torch_zip(data, members, budget)
    if members and all(n.endswith(".npy") for n in names):
        fmt = "npz"
    elif "config.json" in names and name.lower().endswith(".keras"):
        fmt = "keras"
    else:
        fmt = "zip"
    kind: Kind = "data"
    findings: list[Finding] = []
    for member in members:
        if member.name.endswith("/") and member.size == 0:
            continue
        scanned: ScanResult | Window
        try:
            if member.method == 8:
                scanned = scan_deflated(data, member, budget, _member_streams_as_pickle)
            else:
                stored = member_window(data, member, budget)
                assert stored is not None
                check_crc(stored, member)
                scanned = stored
        except ZipInvalid as exc:
            findings.append(Finding("invalid", f"zip archive: {exc}"))
            continue
        if isinstance(scanned, ScanResult):
            inner = scanned  # scanned as it inflated
        else:
            content = scanned
            if fmt == "keras" and member.name == "config.json":
                findings += _keras_json(content)
                continue
            inner = _scan(content, f"{name}/{member.name}", budget, depth + 1)
        if fmt == "npz" and not inner.format.startswith("numpy"):
            findings.append(Finding("invalid", f"{member.name}: an .npz member that is {inner.format}, not numpy"))
        kind = worst(kind, inner.kind)
        findings += [Finding(f.verdict, f"{member.name}: {f.message}") for f in inner.findings]
    return ScanResult(fmt, kind, tuple(findings))


def _keras_json(content: Window) -> list[Finding]:
    import json

    if len(content) > MAX_KERAS_CONFIG:
        return [Finding("invalid", f"Keras config.json of {len(content)} bytes (cap MAX_KERAS_CONFIG, 4 MiB)")]
    try:
        return check_keras_config(json.loads(content.read(0, len(content))))
    except (ValueError, RecursionError) as exc:
        return [Finding("invalid", f"Keras config.json is not JSON: {exc}")]


def _scan_npy(data: Window) -> ScanResult:
    try:
        header, start = npy_header(data)
    except (ValueError, SyntaxError, IndexError, MemoryError, RecursionError) as exc:
        return ScanResult("numpy", "data", (Finding("invalid", f".npy header: {exc}"),))
    descr = header["descr"]
    if not has_objects(descr):
        size = itemsize(descr)
        if size is None:
            return ScanResult("numpy", "data", (Finding("invalid", f".npy dtype {descr!r} is not one numpy writes"),))
        expected = elements(header["shape"]) * size
        if expected != len(data) - start:
            message = f".npy body is {len(data) - start} bytes, its header declares {expected}"
            return ScanResult("numpy", "data", (Finding("invalid", message),))
        return ScanResult("numpy", "data", ())
    # An object array's body is a pickle, loaded by np.load(allow_pickle=True).
    body = data.sub(start, len(data) - start)
    part, findings = walk_graded(body, 0, "object array")
    if part is not None and part.end != len(body):
        findings.append(Finding("invalid", "data after the object array's pickle"))
    return ScanResult("numpy-object", "pickle", tuple(findings))


def _inner(content: Window, name: str, depth: int) -> ScanResult:
    budget = ACTIVE.get()
    assert budget is not None
    return _scan(content, name, budget, depth)


def _member_streams_as_pickle(head: bytes, name: str) -> bool:
    """A zip member is walked as it inflates only under a pickle's name: other names keep the
    leniency `_scan_pickle` gives text that happens to spell GLOBAL names."""
    return name.lower().endswith(_PICKLE_NAMES) and _streams_as_pickle(head, name)


def _streams_as_pickle(head: bytes, name: str = "") -> bool:
    """Decoded bytes `_scan` would read as a pickle: they can be walked as they decompress."""
    if not head or not is_opcode(head[0]) or containers(head):
        return False
    lower = name.lower()
    if lower.endswith((*CODE_SUFFIXES, *_NON_CODE_SUFFIXES, ".onnx", "saved_model.pb", "saved_model.pbtxt")):
        return False  # judged by name when no pickle: read whole
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY", b"GGUF", _HDF5, *_OPAQUE)):
        return False
    return not is_tar_header(head) and head[8:9] not in (b"{", b" ")


MAX_TAR_MEMBERS = 1_000_000
"""Members of one tar (read one header at a time, so memory does not grow with them): datasets and
pandas archives hold hundreds of thousands; each costs tens of microseconds."""
_TORCH_TAR_PROBE = 16


def _scan_tar(data: Window, name: str, budget: Budget, depth: int) -> ScanResult:
    findings: list[Finding] = []
    kind: Kind = "data"
    try:
        with tarfile.open(fileobj=data.reader(), mode="r:") as archive:  # type: ignore[call-overload]
            first = [m for m in itertools.islice(_members(archive), _TORCH_TAR_PROBE)]
            if any(m.name == "pickle" for m in first):
                return scan_torch_tar(data)  # torch's own tar layout (before 0.1.10): four members
            for count, member in enumerate(itertools.chain(first, _members(archive)), 1):
                if count > MAX_TAR_MEMBERS:
                    message = f"more than {MAX_TAR_MEMBERS} members (cap MAX_TAR_MEMBERS)"
                    return ScanResult("tar", "data", (Finding("invalid", message),))
                if member.issym() or member.islnk():
                    findings.append(Finding("invalid", f"{member.name}: links inside an archive"))
                if not member.isfile():
                    continue
                inner = _scan(data.sub(member.offset_data, member.size), f"{name}/{member.name}", budget, depth + 1)
                kind = worst(kind, inner.kind)
                findings += [Finding(f.verdict, f"{member.name}: {f.message}") for f in inner.findings]
    except (tarfile.TarError, EOFError, OSError) as exc:
        return ScanResult("tar", "data", (*findings, Finding("invalid", f"tar archive: {exc}")))
    return ScanResult("tar", kind, tuple(findings))


def _members(archive: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """Headers one at a time; TarFile keeps every one it reads, which is dropped here."""
    while True:
        member = archive.next()
        archive.members.clear()  # type: ignore[attr-defined]
        if member is None:
            return
        yield member


def scan_tree(root: Path) -> list[tuple[str, ScanResult]]:
    """Scan every file under a directory, with `/`-separated relative names."""
    results = []
    for dirpath, _dirs, files in os.walk(root):
        for file in sorted(files):
            path = Path(dirpath) / file
            name = path.relative_to(root).as_posix()
            results.append((name, scan_file(path, name)))
    return sorted(results)
