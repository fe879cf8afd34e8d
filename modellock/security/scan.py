"""Recognise a file by its content and scan it without ever loading or executing it."""

from __future__ import annotations

import mmap
import os
import zlib
from pathlib import Path

from modellock.security import allowlist
from modellock.security.formats import (
    check_gguf,
    check_keras_config,
    check_onnx,
    check_safetensors,
    keras_configs_in,
    npy_has_objects,
    npy_header,
    safetensors_header_length,
)
from modellock.security.pickle_walk import LEGACY_TORCH_MAGIC, Import, PickleInvalid, looks_like_pickle, walk
from modellock.security.verdict import Finding, Kind, ScanResult, Verdict, worst
from modellock.security.zipread import ZipInvalid, member_bytes, read_members

MAX_DEPTH = 3
MAX_INNER = 512 * 1024 * 1024
"""Largest archive member or decompressed stream the scanner reads into memory."""
CODE_SUFFIXES = (".py", ".pyc", ".pyo", ".pyx", ".pyd", ".so", ".dll", ".dylib", ".sh", ".bash", ".bat", ".ps1", ".exe")
_NATIVE_MAGIC = (b"\x7fELF", b"MZ", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe")
_HDF5 = b"\x89HDF\r\n\x1a\n"
_CLAIMED = {".safetensors": "safetensors", ".gguf": "gguf", ".npy": "numpy"}


def scan_file(path: str | os.PathLike[str], name: str | None = None) -> ScanResult:
    """Scan a file on disk; `name` is its repository path (for extension hints and messages)."""
    label = name or os.fspath(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return ScanResult("empty", "data")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                return scan_bytes(view, label)
            finally:
                view.release()


def scan_bytes(data: memoryview | bytes, name: str, depth: int = 0) -> ScanResult:
    """Scan bytes whose repository name is `name`."""
    view = memoryview(data)
    if depth > MAX_DEPTH:
        return ScanResult("archive", "data", (Finding("invalid", "archives nested too deeply"),))
    head = bytes(view[:512])
    lower = name.lower()
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _scan_zip(view, name, depth)
    if head.startswith(b"\x93NUMPY"):
        return _scan_npy(view)
    if head.startswith(b"GGUF"):
        return ScanResult("gguf", "data", tuple(check_gguf(view)))
    if head.startswith(_HDF5):
        return _scan_hdf5(view)
    compressed = _decompressor(head)
    if compressed is not None:
        result = _scan_compressed(view, name, depth, compressed)
        if result is not None:
            return result
    if head.startswith((b"7z\xbc\xaf\x27\x1c", b"\x28\xb5\x2f\xfd", b"\x04\x22\x4d\x18", b"Rar!")):
        return ScanResult("archive", "data", (Finding("invalid", "a compressed archive modellock cannot inspect"),))
    if len(head) >= 262 and head[257:262] == b"ustar":
        return _scan_tar(view, name, depth)
    if safetensors_header_length(view) is not None:
        return ScanResult("safetensors", "data", tuple(check_safetensors(view)))
    if looks_like_pickle(head):
        result = _scan_pickle_stream(view)
        if result is not None:
            return result
    if lower.endswith(CODE_SUFFIXES) or head.startswith(b"#!") or head.startswith(_NATIVE_MAGIC):
        return ScanResult("code", "code", ())
    if lower.rsplit("/", 1)[-1] in ("saved_model.pb", "saved_model.pbtxt"):
        # TensorFlow graphs run ops such as ReadFile/WriteFile; treated as code rather than parsed.
        return ScanResult("tf-savedmodel", "code", ())
    for suffix, claimed in _CLAIMED.items():
        if lower.endswith(suffix):
            return ScanResult(
                claimed, "data", (Finding("invalid", f"named {suffix} but the content is not {claimed}"),)
            )
    if _has_zip_directory(view):
        return ScanResult("zip", "pickle", (Finding("invalid", "a zip archive with data prepended to it"),))
    if lower.endswith(".onnx"):
        return ScanResult("onnx", "data", tuple(check_onnx(view)))
    return ScanResult("data", "data", ())


def _has_zip_directory(view: memoryview) -> bool:
    """An end-of-central-directory record at the end: a zip that does not start at byte 0."""
    tail = bytes(view[-65557:])
    at = tail.rfind(b"PK\x05\x06")
    return at >= 0 and at + 22 <= len(tail) and at + 22 + int.from_bytes(tail[at + 20 : at + 22], "little") == len(tail)


def _import_findings(imports: list[Import]) -> list[Finding]:
    findings = []
    for item in imports:
        if not allowlist.allowed(item.qualname):
            grade: Verdict = "malicious" if allowlist.severity(item.qualname) == "malicious" else "suspicious"
            findings.append(Finding(grade, f"imports {item.qualname} ({item.opcode} at byte {item.offset})"))
    return findings


def _scan_pickle_stream(view: memoryview) -> ScanResult | None:
    """Every pickle in the stream; None when the bytes fail before importing anything (not a pickle)."""
    try:
        first = walk(view, 0)
    except PickleInvalid as exc:
        harmful = exc.calls or any(allowlist.severity(i.qualname) == "malicious" for i in exc.imports)
        if not exc.differential and (not exc.imports or not harmful):
            return None  # CPython would stop here having run nothing: not a pickle
        return ScanResult("pickle", "pickle", (*_import_findings(exc.imports), Finding("invalid", exc.message)))
    findings = _import_findings(first.imports)
    if first.int_value == LEGACY_TORCH_MAGIC:
        # torch's legacy format: magic, protocol, sys_info, the object, storage keys, then raw storages.
        _walk_more(view, first.end, findings, "legacy torch stream", limit=4)
        return ScanResult("torch-legacy", "pickle", tuple(findings))
    _walk_more(view, first.end, findings, "data after the pickle", limit=None)
    return ScanResult("pickle", "pickle", tuple(findings))


def _walk_more(view: memoryview, pos: int, findings: list[Finding], label: str, *, limit: int | None) -> None:
    """Walk the pickles that follow: `limit` of them, or (None) every one up to the end of the file."""
    count = 0
    while (pos < len(view)) if limit is None else (count < limit):
        if limit is None and not looks_like_pickle(bytes(view[pos : pos + 2])):
            findings.append(Finding("invalid", f"{len(view) - pos} bytes of other data follow the pickle"))
            return
        try:
            part = walk(view, pos)
        except PickleInvalid as exc:
            findings += [*_import_findings(exc.imports), Finding("invalid", f"{label}: {exc.message}")]
            return
        findings += _import_findings(part.imports)
        pos, count = part.end, count + 1


def _scan_zip(view: memoryview, name: str, depth: int) -> ScanResult:
    try:
        members = read_members(view)
    except ZipInvalid as exc:
        return ScanResult("zip", "pickle", (Finding("invalid", f"zip archive: {exc}"),))
    names = [m.name for m in members]
    if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
        fmt: str = "torchscript" if any("/code/" in n or n.endswith("constants.pkl") for n in names) else "torch-zip"
    elif "config.json" in names and name.lower().endswith(".keras"):
        fmt = "keras"
    elif names and all(n.endswith(".npy") for n in names):
        fmt = "npz"
    else:
        fmt = "zip"
    kind: Kind = "code" if fmt == "torchscript" else "pickle" if fmt == "torch-zip" else "data"
    findings: list[Finding] = []
    for member in members:
        if member.name.endswith("/") or member.size == 0:
            continue
        if member.compressed_size and member.method == 0:
            head = bytes(view[member.data_offset : member.data_offset + 512])
        else:
            head = b""
        worth_reading = (
            member.name.endswith((".pkl", ".npy", ".json", ".pt", ".pth", ".bin", ".zip", ".npz"))
            or member.method == 8
            or looks_like_pickle(head[:2])
            or head.startswith((b"PK", b"\x93NUMPY"))
        )
        if not worth_reading:
            continue
        try:
            content = member_bytes(view, member, MAX_INNER)
        except ZipInvalid as exc:
            findings.append(Finding("invalid", f"zip archive: {exc}"))
            continue
        if fmt == "keras" and member.name == "config.json":
            findings += _keras_json(content)
            continue
        inner = scan_bytes(content, f"{name}/{member.name}", depth + 1)
        if inner.kind != "data" or inner.findings:
            kind = worst(kind, inner.kind)
            findings += [Finding(f.verdict, f"{member.name}: {f.message}") for f in inner.findings]
    return ScanResult(fmt, kind, tuple(findings))


def _keras_json(content: bytes) -> list[Finding]:
    import json

    try:
        return check_keras_config(json.loads(content))
    except ValueError as exc:
        return [Finding("invalid", f"Keras config.json is not JSON: {exc}")]


def _scan_npy(view: memoryview) -> ScanResult:
    try:
        header, start = npy_header(view)
    except (ValueError, SyntaxError, IndexError) as exc:
        return ScanResult("numpy", "data", (Finding("invalid", f".npy header: {exc}"),))
    if not npy_has_objects(header["descr"]):
        return ScanResult("numpy", "data", ())
    # An object array's body is a pickle, loaded by np.load(allow_pickle=True).
    body = view[start:]
    try:
        part = walk(body, 0)
    except PickleInvalid as exc:
        return ScanResult("numpy-object", "pickle", (*_import_findings(exc.imports), Finding("invalid", exc.message)))
    findings = _import_findings(part.imports)
    if part.end != len(body):
        findings.append(Finding("invalid", "data after the object array's pickle"))
    return ScanResult("numpy-object", "pickle", tuple(findings))


def _scan_hdf5(view: memoryview) -> ScanResult:
    findings: list[Finding] = []
    for config in keras_configs_in(view):
        findings += check_keras_config(config)
    return ScanResult("hdf5", "data", tuple(findings))


def _decompressor(head: bytes) -> str | None:
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0:
        return "zlib"  # joblib's `.z` files, among others
    if head.startswith(b"BZh") and head[3:4].isdigit():
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    return None


def _scan_compressed(view: memoryview, name: str, depth: int, method: str) -> ScanResult | None:
    import bz2
    import lzma

    try:
        if method in ("gzip", "zlib"):
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if method == "gzip" else zlib.MAX_WBITS)
            content = inflater.decompress(bytes(view), MAX_INNER + 1)
        elif method == "bzip2":
            content = bz2.BZ2Decompressor().decompress(bytes(view), MAX_INNER + 1)
        else:
            content = lzma.LZMADecompressor().decompress(bytes(view), MAX_INNER + 1)
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as exc:
        if method == "zlib":
            return None  # two bytes that merely look like a zlib header
        return ScanResult(method, "data", (Finding("invalid", f"{method} stream: {exc}"),))
    if len(content) > MAX_INNER:
        return ScanResult(method, "data", (Finding("invalid", f"{method} content is larger than the scanner reads"),))
    inner = scan_bytes(content, name.rsplit(".", 1)[0], depth + 1)
    return ScanResult(f"{method}+{inner.format}", inner.kind, inner.findings)


def _scan_tar(view: memoryview, name: str, depth: int) -> ScanResult:
    import io
    import tarfile

    findings: list[Finding] = []
    kind: Kind = "data"
    try:
        with tarfile.open(fileobj=io.BytesIO(bytes(view)), mode="r:") as archive:
            members = archive.getmembers()
            names = {m.name for m in members}
            fmt = "torch-tar" if {"storages", "tensors", "pickle"} & names else "tar"
            if fmt == "torch-tar":
                kind = "pickle"
            for member in members:
                if not member.isfile():
                    if member.issym() or member.islnk():
                        findings.append(Finding("invalid", f"{member.name}: links inside an archive"))
                    continue
                handle = archive.extractfile(member)
                if handle is None or member.size > MAX_INNER:
                    findings.append(Finding("invalid", f"{member.name}: cannot be read"))
                    continue
                inner = scan_bytes(handle.read(), f"{name}/{member.name}", depth + 1)
                kind = worst(kind, inner.kind)
                findings += [Finding(f.verdict, f"{member.name}: {f.message}") for f in inner.findings]
    except (tarfile.TarError, EOFError) as exc:
        return ScanResult("tar", "data", (Finding("invalid", f"tar archive: {exc}"),))
    return ScanResult(fmt, kind, tuple(findings))


def scan_tree(root: Path) -> list[tuple[str, ScanResult]]:
    """Scan every file under a directory, with `/`-separated relative names."""
    results = []
    for dirpath, _dirs, files in os.walk(root):
        for file in sorted(files):
            path = Path(dirpath) / file
            results.append((path.relative_to(root).as_posix(), scan_file(path)))
    return sorted(results)
