"""Validators for formats that hold no code but whose parsers have been attacked."""

from __future__ import annotations

import contextlib
import json
import re
import struct
from collections.abc import Callable, Iterator
from typing import Any, Literal

from modellock.gate.buffer import Window
from modellock.gate.verdict import Finding

# safetensors dtypes and their sizes in bits (safetensors 0.8.0).
SAFETENSORS_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "F64": 64, "I64": 64,
    "U64": 64, "C64": 64, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}  # fmt: skip
SAFETENSORS_MAX_HEADER = 100_000_000
"""The reference parser's limit: a larger length prefix is not safetensors at all."""
MAX_SAFETENSORS_HEADER = 16 * 1024 * 1024
"""modellock's lower cap on the header it parses (real headers are well under 1 MiB)."""


def safetensors_header_length(data: Window) -> int | None:
    """The header length when the file is plausibly safetensors (length fits, JSON object follows)."""
    head = data.read(0, 9)
    if len(head) < 9:
        return None
    n = int(struct.unpack_from("<Q", head, 0)[0])
    if n < 2 or n > SAFETENSORS_MAX_HEADER or 8 + n > len(data):
        return None
    return n if head[8:9] in (b"{", b" ") else None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        duplicate = next(k for k in keys if keys.count(k) > 1)
        raise ValueError(f"duplicate key {duplicate!r} (parsers disagree on which value counts)")
    return dict(pairs)


def check_safetensors(data: Window) -> list[Finding]:
    """The safetensors rules, at least as strict as the reference parser."""
    n = safetensors_header_length(data)
    if n is None:
        return [Finding("invalid", "not a safetensors file: bad header length or no JSON header")]
    if n > MAX_SAFETENSORS_HEADER:
        return [Finding("invalid", f"safetensors header of {n} bytes (cap MAX_SAFETENSORS_HEADER, 16 MiB)")]
    raw = data.read(8, n)
    try:
        text = raw.decode("utf-8")
        header = json.loads(text, object_pairs_hook=_no_duplicates)
    except RecursionError:
        # The C decoder stops at Python's recursion limit with a clean RecursionError, long before
        # the C stack is at risk; a valid header nests three levels, so this is never a real file.
        return [
            Finding("invalid", "safetensors header nested too deeply to parse (cap: the JSON decoder's depth limit)")
        ]
    except (UnicodeDecodeError, ValueError) as exc:
        return [Finding("invalid", f"safetensors header is not valid JSON: {exc}")]
    if not isinstance(header, dict):
        return [Finding("invalid", "safetensors header is not a JSON object")]
    spans = []
    for name, entry in header.items():
        if name == "__metadata__":
            if entry is not None and not (isinstance(entry, dict) and all(isinstance(v, str) for v in entry.values())):
                return [Finding("invalid", "`__metadata__` must map strings to strings")]
            continue
        problem = _tensor_problem(name, entry)
        if problem:
            return [Finding("invalid", problem)]
        spans.append((entry["data_offsets"][0], entry["data_offsets"][1], name))
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            return [
                Finding("invalid", f"tensor {name!r} leaves a gap or overlaps (offset {begin}, expected {position})")
            ]
        position = end
    if position != len(data) - 8 - n:
        return [Finding("invalid", f"tensor data ends at {position} but the buffer has {len(data) - 8 - n} bytes")]
    return []


def _tensor_problem(name: str, entry: Any) -> str | None:
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= set(entry):
        return f"tensor {name!r} needs dtype, shape and data_offsets"
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in SAFETENSORS_BITS:
        return f"tensor {name!r} has unknown dtype {dtype!r}"
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        return f"tensor {name!r} has an invalid shape"
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)
        or offsets[1] < offsets[0]
    ):
        return f"tensor {name!r} has invalid data_offsets"
    elements = 1
    for d in shape:
        elements *= d
    bits = elements * SAFETENSORS_BITS[dtype]
    if bits % 8:
        return f"tensor {name!r} does not end on a byte boundary"
    if bits // 8 != offsets[1] - offsets[0]:
        return f"tensor {name!r}: shape x dtype is {bits // 8} bytes but its range holds {offsets[1] - offsets[0]}"
    return None


# -- GGUF ---------------------------------------------------------------------------------------------

_GGUF_SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
# Template injection reaches Python through dunder attributes; benign chat templates never need them.
_SSTI = re.compile(
    r"__(?:class|subclasses|globals|builtins|import|mro|base|bases|init|getattribute|code|dict)__"
    r"|\bpopen\b|\bos\.(?:system|popen|exec|spawn|remove|unlink)|\bsubprocess\b|\beval\s*\(|\bexec\s*\("
)


MAX_GGUF_STRINGS = 1_000_000
"""String-array items read one by one (the largest real vocabularies hold about 260,000)."""
MAX_GGUF_TENSORS = 100_000
MAX_GGUF_KEYS = 100_000
"""Read one by one at a few microseconds each; real files hold thousands of tensors, dozens of keys."""
MAX_ONNX_FIELDS = 1_000_000
"""Protobuf fields visited looking for external-data locations (big tensors are one field each)."""


def gguf_byte_order(data: Window) -> Literal["little", "big"]:
    """GGUF names no byte order: the version, a small number, tells it.

    The magic is the same bytes in both orders; a version read in the wrong order has its low 16 bits
    zero, the test gguf-py's reader makes (and llama.cpp's, which names the mismatch).
    """
    raw = data.read(4, 4)
    return "big" if len(raw) == 4 and int.from_bytes(raw, "little") & 0xFFFF == 0 else "little"


class _Reader:
    def __init__(self, data: Window, pos: int, order: Literal["little", "big"] = "little") -> None:
        self.data, self.pos, self.order = data, pos, order

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError("truncated")
        chunk = self.data.read(self.pos, n)
        self.pos += n
        return chunk

    def skip(self, n: int) -> None:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError("truncated")
        self.pos += n

    def u32(self) -> int:
        return int.from_bytes(self.take(4), self.order)

    def u64(self) -> int:
        return int.from_bytes(self.take(8), self.order)

    def string(self, keep: bool = True) -> str | None:
        n = self.u64()
        if n > len(self.data) - self.pos:
            raise ValueError(f"string length {n} exceeds the file")
        if not keep:
            self.skip(n)
            return None
        return self.take(n).decode("utf-8", "replace")


def _skip_strings(r: _Reader, count: int) -> None:
    buf, pos, end = r.data.buf, r.data.start + r.pos, r.data.end
    for _ in range(count):
        if pos + 8 > end:
            raise ValueError("truncated string array")
        pos += 8 + int.from_bytes(buf[pos : pos + 8], r.order)
        if pos > end:
            raise ValueError("a string in an array runs past the end of the file")
    r.pos = pos - r.data.start


def _gguf_value(r: _Reader, kind: int, keep: bool, depth: int = 0) -> Any:
    """A metadata value; strings are kept only when `keep` (templates), arrays of scalars are skipped whole."""
    if kind in _GGUF_SCALAR:
        raw = r.take(_GGUF_SCALAR[kind])
        return int.from_bytes(raw, r.order) if kind in (4, 10) else None
    if kind == 8:
        return r.string(keep)
    if kind == 9 and depth < 2:
        item_kind, count = r.u32(), r.u64()
        if item_kind in _GGUF_SCALAR:
            r.skip(count * _GGUF_SCALAR[item_kind])
            return None
        if count > (len(r.data) - r.pos) // 8:
            raise ValueError(f"array of {count} items exceeds the file")
        if count > MAX_GGUF_STRINGS:
            raise ValueError(f"array of {count} items (cap MAX_GGUF_STRINGS, {MAX_GGUF_STRINGS})")
        if item_kind == 8 and not keep:
            _skip_strings(r, count)  # vocabularies: hundreds of thousands of strings nobody reads
            return None
        values = [_gguf_value(r, item_kind, keep, depth + 1) for _ in range(count)]
        return values if keep else None
    raise ValueError(f"unknown GGUF value type {kind}")


def gguf_metadata(data: Window, wanted: Callable[[str], bool]) -> dict[str, Any]:
    """Metadata values of a GGUF header whose key `wanted` accepts (e.g. `general.base_model.0.repo_url`).

    Only the key/value section is read (a few pages of a multi-gigabyte file); a header that cannot be
    read gives {} (the gate's own check reports it).
    """
    found: dict[str, Any] = {}
    r = _Reader(data, 4, gguf_byte_order(data))
    try:
        if data.head(4) != b"GGUF" or r.u32() not in (2, 3):
            return {}
        r.u64()  # tensor count
        kvs = r.u64()
        if kvs > len(data) // 12:
            return {}
        for _ in range(kvs):
            key, kind = r.string() or "", r.u32()
            keep = wanted(key)
            value = _gguf_value(r, kind, keep=keep)
            if keep:
                found[key] = value
    except ValueError:
        return {}
    return found


def check_gguf(data: Window) -> list[Finding]:
    """Header sanity: counts and lengths bounded by the file, tensors aligned and inside it, templates."""
    findings: list[Finding] = []
    r = _Reader(data, 4, gguf_byte_order(data))
    try:
        version = r.u32()
        if version not in (2, 3):
            return [Finding("invalid", f"GGUF version {version} is not supported")]
        tensors, kvs = r.u64(), r.u64()
        if tensors > len(data) // 24 or kvs > len(data) // 12:
            return [Finding("invalid", f"GGUF claims {tensors} tensors and {kvs} keys, more than the file can hold")]
        if tensors > MAX_GGUF_TENSORS or kvs > MAX_GGUF_KEYS:
            message = f"GGUF with {tensors} tensors and {kvs} keys (caps MAX_GGUF_TENSORS, MAX_GGUF_KEYS)"
            return [Finding("invalid", message)]
        alignment = 32
        for _ in range(kvs):
            key, kind = r.string() or "", r.u32()
            value = _gguf_value(r, kind, keep="chat_template" in key)
            if key == "general.alignment" and isinstance(value, int):
                alignment = value
            if "chat_template" in key:
                templates = value if isinstance(value, list) else [value]
                for template in templates:
                    if isinstance(template, str) and _SSTI.search(template):
                        findings.append(Finding("malicious", f"{key} reaches Python internals (template injection)"))
        if alignment <= 0 or alignment & (alignment - 1):
            return [Finding("invalid", f"GGUF alignment {alignment} is not a power of two")]
        offsets = []
        for _ in range(tensors):
            name, dims = r.string(), r.u32()
            if dims > 8:
                return [Finding("invalid", f"GGUF tensor {name!r} has {dims} dimensions")]
            elements = 1
            for _ in range(dims):
                elements *= r.u64()
            r.u32()
            offsets.append((r.u64(), name, elements))
        start = (r.pos + alignment - 1) // alignment * alignment
        for offset, name, elements in offsets:
            # No ggml type packs a weight into less than one bit: a bound that needs no type table.
            if offset % alignment or start + offset + elements // 8 > len(data):
                return [Finding("invalid", f"GGUF tensor {name!r} is misaligned or does not fit in the file")]
    except ValueError as exc:
        return [Finding("invalid", f"GGUF header: {exc}")]
    return findings


# -- Keras and ONNX -------------------------------------------------------------------------------------

_KERAS_MODULES = ("keras", "tf_keras", "tensorflow.keras", "tensorflow.python.keras")


def _walk_json(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk_json(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk_json(value)


def check_keras_config(config: Any) -> list[Finding]:
    """Walk the whole config: Lambda bytecode, functions from foreign modules, external SavedModels."""
    findings = []
    for node in _walk_json(config):
        class_name = node.get("class_name")
        module = node.get("module")
        if class_name == "__lambda__":
            findings.append(Finding("malicious", "a Lambda layer carries marshalled Python bytecode"))
        elif class_name == "Lambda" and isinstance(node.get("config"), dict):
            function = node["config"].get("function")
            if isinstance(function, (list, str)) or node["config"].get("function_type") == "lambda":
                findings.append(Finding("malicious", "a Lambda layer carries marshalled Python bytecode (Keras 2)"))
        elif class_name == "TFSMLayer":
            findings.append(Finding("malicious", "a TFSMLayer loads an external SavedModel"))
        if isinstance(module, str) and not module.startswith(_KERAS_MODULES) and module != "builtins":
            findings.append(Finding("malicious", f"the config references module {module!r} outside Keras"))
        elif isinstance(module, str) and class_name == "function":
            name = str(node.get("config", ""))
            if "unsafe" in name or "load_model" in name or "enable" in name:
                findings.append(Finding("malicious", f"the config calls {module}.{name}"))
    return findings


MAX_KERAS_CONFIG = 4 * 1024 * 1024


def keras_configs_in(data: Window) -> list[Any]:
    """JSON model configs embedded in an HDF5 file's attributes (HDF5 stores them as plain strings)."""
    configs: list[Any] = []
    decoder = json.JSONDecoder()
    at = data.buf.find(b'{"class_name":', data.start, data.end)
    while at >= 0 and len(configs) < 16:
        text = data.read(at - data.start, MAX_KERAS_CONFIG).decode("latin-1")
        with contextlib.suppress(ValueError, RecursionError):  # the C decoder raises RecursionError cleanly
            configs.append(decoder.raw_decode(text)[0])
        at = data.buf.find(b'{"class_name":', at + 1, data.end)
    return configs


def _fields(data: bytes | memoryview) -> Iterator[tuple[int, int, Any]]:
    """Protobuf wire fields: (number, wire type, value or bytes)."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes | memoryview
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            value, pos = data[pos : pos + width], pos + width
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ValueError("truncated protobuf field")
            value, pos = data[pos : pos + length], pos + length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("bad varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _onnx_locations(
    message: bytes | memoryview, kind: str, depth: int = 0, seen: list[int] | None = None
) -> Iterator[str]:
    if depth > 32:
        raise ValueError("ONNX graphs nested too deeply")
    children = {
        "model": {7: "graph"},
        "graph": {1: "node", 5: "tensor", 15: "sparse"},
        "node": {5: "attribute"},
        "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph"},
        "sparse": {1: "tensor", 2: "tensor"},
    }.get(kind, {})
    seen = [0] if seen is None else seen
    for number, wire, value in _fields(message):
        seen[0] += 1
        if seen[0] > MAX_ONNX_FIELDS:
            raise ValueError(f"more than {MAX_ONNX_FIELDS} protobuf fields (cap MAX_ONNX_FIELDS)")
        if kind == "tensor" and number == 13 and wire == 2:
            entry = {n: v for n, _, v in _fields(value)}
            if entry.get(1) == b"location":
                yield bytes(entry.get(2, b"")).decode("utf-8", "replace")
        elif number in children and wire == 2:
            yield from _onnx_locations(value, children[number], depth + 1, seen)


def check_onnx(data: Window) -> list[Finding]:
    """External-data locations must stay inside the model's directory."""
    # zero-copy: tensors are sliced, never copied (a decompressing stream only ever reaches the pickle walker)
    view = memoryview(data.buf)[data.start : data.end]  # type: ignore[arg-type]
    try:
        locations = list(_onnx_locations(view, "model"))
    except ValueError as exc:
        return [Finding("invalid", f"not a readable ONNX model: {exc}")]
    finally:
        view.release()
    findings = []
    for location in locations:
        parts = location.replace("\\", "/").split("/")
        if not location or location.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", location) or ".." in parts:
            findings.append(Finding("malicious", f"external data location {location!r} escapes the model directory"))
    return findings
