"""A strict, symbolic walk of a pickle opcode stream that never executes or imports anything.

It follows CPython's `_pickle.c` (protocols 0-5, FRAME, memo, marks) and tracks the stack and
memo symbolically, so every import (GLOBAL, STACK_GLOBAL, INST) is resolved to its full dotted
name however the stream spells it. Where CPython and other parsers could disagree (hex INT,
frame lengths, computed STACK_GLOBAL operands, extension codes, out-of-band buffers, leftovers
on the stack), the walk fails: a stream we cannot read exactly as CPython would is refused.
"""

from __future__ import annotations

import codecs
import re
import struct
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_OPCODES = 50_000_000
MAX_MEMO = 5_000_000
LEGACY_TORCH_MAGIC = 0x1950A86A20F9469CFC6C
_DECIMAL = re.compile(rb"^[+-]?[0-9]+$")
_BASE0 = re.compile(rb"^\s*[+-]?(?:0[xX][0-9a-fA-F_]+|0[oObB]?[0-7_]+|[0-9_]+)\s*$")
_FLOAT = re.compile(rb"^[+-]?(?:[0-9]+\.?[0-9]*(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?|nan|inf)$", re.I)


class PickleInvalid(Exception):
    """The stream is not a pickle CPython would read the same way; `offset` is where it broke."""

    def __init__(self, message: str, offset: int, *, differential: bool = False) -> None:
        super().__init__(f"{message} (at byte {offset})")
        self.message = message
        self.offset = offset
        self.differential = differential
        """True when CPython would read on where we stop (hex INT, frame lengths, extension codes)."""
        self.imports: list[Import] = []
        """Imports seen before the failure: CPython would already have performed them."""
        self.calls = 0
        """Calls (REDUCE, INST, OBJ, NEWOBJ, BUILD) before the failure: code that would already have run."""


@dataclass(frozen=True)
class Import:
    """A global the stream imports: what, by which opcode, where."""

    qualname: str
    opcode: str
    offset: int


@dataclass
class PickleWalk:
    """The outcome of walking one pickle."""

    end: int
    """Offset just after STOP."""
    protocol: int
    imports: list[Import] = field(default_factory=list)
    persistent_ids: int = 0
    calls: int = 0
    int_value: int | None = None
    """The value when the whole pickle is a single integer (the legacy torch magic number)."""


class _Mark:
    pass


class _Other:
    pass


MARK, OTHER = _Mark(), _Other()


@dataclass(frozen=True)
class _Str:
    value: str


@dataclass(frozen=True)
class _Int:
    value: int


@dataclass(frozen=True)
class _Global:
    qualname: str


_Sym = object


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _qualname(module: str, name: str, protocol: int) -> str:
    if not (_IDENTIFIER.match(module) and _IDENTIFIER.match(name)):
        # CPython's find_class fails on such a name before anything runs.
        raise ValueError(f"{module!r}.{name!r} is not an importable name")
    if protocol < 3:  # `fix_imports`: Python 2 names map to Python 3 ones
        module, name = NAME_MAPPING.get((module, name), (module, name))
        module = IMPORT_MAPPING.get(module, module)
    return f"{module}.{name}"


class _Walker:
    def __init__(self, data: bytes | memoryview, start: int) -> None:
        self.data = memoryview(data)
        self.pos = start
        self.end = len(self.data)
        self.frame_end: int | None = None
        self.stack: list[object] = []
        self.marks: list[int] = []
        self.memo: dict[int, object] = {}
        self.protocol = 0
        self.result = PickleWalk(end=start, protocol=0)

    # -- reading -------------------------------------------------------------------------------

    def fail(self, message: str, *, differential: bool = False) -> PickleInvalid:
        return PickleInvalid(message, self.pos, differential=differential)

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > self.end:
            raise self.fail("truncated stream")
        if self.frame_end is not None and self.pos + n > self.frame_end:
            raise self.fail("an opcode crosses the end of its FRAME", differential=True)
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def line(self) -> bytes:
        limit = self.frame_end if self.frame_end is not None else self.end
        stop = bytes(self.data[self.pos : min(limit, self.pos + 1_000_000)]).find(b"\n")
        if stop < 0:
            raise self.fail("unterminated text argument")
        text = bytes(self.take(stop + 1))[:-1]
        return text

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "little")

    def sint4(self) -> int:
        return int(struct.unpack("<i", self.take(4))[0])

    # -- stack -----------------------------------------------------------------------------------

    def push(self, value: object) -> None:
        self.stack.append(value)

    def pop(self) -> object:
        base = self.marks[-1] if self.marks else 0
        if len(self.stack) <= base:
            raise self.fail("stack underflow")
        return self.stack.pop()

    def top(self) -> object:
        base = self.marks[-1] if self.marks else 0
        if len(self.stack) <= base:
            raise self.fail("stack underflow")
        return self.stack[-1]

    def pop_mark(self) -> list[object]:
        if not self.marks:
            raise self.fail("no MARK to pop to")
        base = self.marks.pop()
        items = self.stack[base:]
        del self.stack[base:]
        return items

    def import_(self, module: str, name: str, opcode: str, offset: int) -> _Global:
        try:
            qualname = _qualname(module, name, self.protocol)
        except ValueError as exc:
            raise PickleInvalid(str(exc), offset) from None
        self.result.imports.append(Import(qualname, opcode, offset))
        return _Global(qualname)

    def call(self, target: object, opcode: str) -> None:
        self.result.calls += 1
        if not isinstance(target, _Global):
            raise self.fail(f"{opcode} calls a computed object, not an imported global")
        self.push(OTHER)

    # -- the loop ----------------------------------------------------------------------------------

    def run(self) -> PickleWalk:
        for _ in range(MAX_OPCODES):
            if self.frame_end is not None and self.pos == self.frame_end:
                self.frame_end = None
            offset = self.pos
            op = bytes(self.take(1))
            handler = _HANDLERS.get(op)
            if handler is None:
                raise PickleInvalid(f"unknown opcode {op!r}", offset)
            if handler(self, offset):
                if len(self.stack) != 1 or self.marks:
                    raise PickleInvalid("STOP leaves extra items or open MARKs on the stack", offset)
                if self.frame_end is not None and self.pos != self.frame_end:
                    raise PickleInvalid("STOP before the end of its FRAME", offset, differential=True)
                value = self.stack[0]
                self.result.int_value = value.value if isinstance(value, _Int) else None
                self.result.end = self.pos
                self.result.protocol = self.protocol
                return self.result
            if len(self.memo) > MAX_MEMO:
                raise self.fail("memo too large")
        raise self.fail("too many opcodes")


def _text_int(text: bytes, walker: _Walker, *, long: bool = False) -> object:
    if long and text.endswith(b"L"):
        text = text[:-1]
    if not long and text in (b"00", b"01"):
        return OTHER  # bool
    if not _DECIMAL.match(text):
        # CPython reads INT/LONG with base 0 (strtol), so `0x1` or `010` is a number to it.
        readable = bool(_BASE0.match(text))
        raise walker.fail(f"non-decimal integer {text[:40]!r} (parsers disagree)", differential=readable)
    return _Int(int(text)) if len(text) < 40 else OTHER


def _op_mark(w: _Walker, at: int) -> bool:
    w.marks.append(len(w.stack))
    return False


def _op_stop(w: _Walker, at: int) -> bool:
    return True


def _op_pop(w: _Walker, at: int) -> bool:
    base = w.marks[-1] if w.marks else 0
    if len(w.stack) > base:
        w.stack.pop()
    elif w.marks:
        w.marks.pop()  # CPython pops a bare MARK here
    else:
        raise w.fail("stack underflow")
    return False


def _op_pop_mark(w: _Walker, at: int) -> bool:
    w.pop_mark()
    return False


def _op_dup(w: _Walker, at: int) -> bool:
    w.push(w.top())
    return False


def _lenient(parse: Callable[[str], object], text: bytes) -> bool:
    """Whether a more forgiving parser (whitespace, `_`, `infinity`) reads what our strict one refuses."""
    try:
        parse(text.decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return False
    return True


def _op_float(w: _Walker, at: int) -> bool:
    text = w.line()
    if not _FLOAT.match(text):
        raise w.fail(f"non-canonical FLOAT {text[:40]!r}", differential=_lenient(float, text))
    w.push(OTHER)
    return False


def _op_int(w: _Walker, at: int) -> bool:
    w.push(_text_int(w.line(), w))
    return False


def _op_long(w: _Walker, at: int) -> bool:
    w.push(_text_int(w.line(), w, long=True))
    return False


def _fixed(size: int, signed: bool = False) -> Callable[[_Walker, int], bool]:
    def handler(w: _Walker, at: int) -> bool:
        raw = w.take(size)
        w.push(_Int(int.from_bytes(raw, "little", signed=signed)))
        return False

    return handler


def _op_binfloat(w: _Walker, at: int) -> bool:
    w.take(8)
    w.push(OTHER)
    return False


def _long_n(size: int) -> Callable[[_Walker, int], bool]:
    def handler(w: _Walker, at: int) -> bool:
        n = w.uint(1) if size == 1 else w.sint4()
        if n < 0:
            raise w.fail("negative LONG4 length")
        raw = w.take(n)
        w.push(_Int(int.from_bytes(raw, "little", signed=True)) if n <= 16 else OTHER)
        return False

    return handler


def _op_string(w: _Walker, at: int) -> bool:
    text = w.line()
    if len(text) < 2 or text[0] != text[-1] or text[:1] not in (b"'", b'"'):
        raise w.fail("STRING argument is not quoted")
    try:
        # ASCII by default, but torch.load unpickles with encoding="utf-8": take the wider reading.
        value = codecs.escape_decode(text[1:-1])[0].decode("utf-8")  # type: ignore[attr-defined]
    except (ValueError, UnicodeDecodeError):
        w.push(OTHER)  # bytes in Python 3 unless ASCII; never a usable STACK_GLOBAL operand
        return False
    w.push(_Str(value))
    return False


def _counted(width: int, kind: str) -> Callable[[_Walker, int], bool]:
    def handler(w: _Walker, at: int) -> bool:
        if width == 4 and kind != "unicode":
            n = w.sint4()
            if n < 0:
                raise w.fail("negative length")
        else:
            n = w.uint(width)
        raw = w.take(n)
        if kind == "bytes":
            w.push(OTHER)
            return False
        try:
            text = bytes(raw).decode("utf-8", "surrogatepass") if kind == "unicode" else bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            if kind == "unicode":
                raise w.fail("invalid UTF-8 in a unicode string") from None
            w.push(OTHER)
            return False
        w.push(_Str(text))
        return False

    return handler


def _op_unicode(w: _Walker, at: int) -> bool:
    try:
        w.push(_Str(w.line().decode("raw-unicode-escape")))
    except UnicodeDecodeError:
        raise w.fail("invalid UNICODE argument") from None
    return False


def _op_none(w: _Walker, at: int) -> bool:
    w.push(OTHER)
    return False


_op_newtrue = _op_newfalse = _op_empty_list = _op_empty_dict = _op_empty_tuple = _op_empty_set = _op_none


def _op_persid(w: _Walker, at: int) -> bool:
    w.line()
    w.result.persistent_ids += 1
    w.push(OTHER)
    return False


def _op_binpersid(w: _Walker, at: int) -> bool:
    w.pop()
    w.result.persistent_ids += 1
    w.push(OTHER)
    return False


def _op_reduce(w: _Walker, at: int) -> bool:
    w.pop()
    w.call(w.pop(), "REDUCE")
    return False


def _op_build(w: _Walker, at: int) -> bool:
    w.pop()
    w.top()
    w.result.calls += 1  # BUILD may call __setstate__
    return False


def _op_global(w: _Walker, at: int) -> bool:
    try:
        module, name = w.line().decode("utf-8"), w.line().decode("utf-8")
    except UnicodeDecodeError:
        raise w.fail("GLOBAL names are not UTF-8") from None
    w.push(w.import_(module, name, "GLOBAL", at))
    return False


def _op_stack_global(w: _Walker, at: int) -> bool:
    name, module = w.pop(), w.pop()
    if not isinstance(name, _Str) or not isinstance(module, _Str):
        raise w.fail("STACK_GLOBAL operands are not literal strings")
    w.push(w.import_(module.value, name.value, "STACK_GLOBAL", at))
    return False


def _op_inst(w: _Walker, at: int) -> bool:
    try:
        module, name = w.line().decode("ascii"), w.line().decode("ascii")
    except UnicodeDecodeError:
        raise w.fail("INST names are not ASCII") from None
    w.import_(module, name, "INST", at)
    w.result.calls += 1
    w.pop_mark()
    w.push(OTHER)
    return False


def _op_obj(w: _Walker, at: int) -> bool:
    items = w.pop_mark()
    if not items:
        raise w.fail("OBJ without a class")
    w.call(items[0], "OBJ")
    return False


def _op_newobj(w: _Walker, at: int) -> bool:
    w.pop()
    w.call(w.pop(), "NEWOBJ")
    return False


def _op_newobj_ex(w: _Walker, at: int) -> bool:
    w.pop()
    w.pop()
    w.call(w.pop(), "NEWOBJ_EX")
    return False


def _op_append(w: _Walker, at: int) -> bool:
    w.pop()
    w.top()
    return False


def _op_appends(w: _Walker, at: int) -> bool:
    w.pop_mark()
    w.top()
    return False


_op_additems = _op_setitems = _op_appends


def _op_setitem(w: _Walker, at: int) -> bool:
    w.pop()
    w.pop()
    w.top()
    return False


def _op_collect(w: _Walker, at: int) -> bool:
    w.pop_mark()
    w.push(OTHER)
    return False


def _tuple_n(n: int) -> Callable[[_Walker, int], bool]:
    def handler(w: _Walker, at: int) -> bool:
        for _ in range(n):
            w.pop()
        w.push(OTHER)
        return False

    return handler


def _memo_index(w: _Walker, width: int | None) -> int:
    """The memo key: a decimal text line (GET/PUT) or a little-endian integer of `width` bytes."""
    if width is not None:
        return w.uint(width)
    text = w.line()
    if not _DECIMAL.match(text):
        raise w.fail(f"non-canonical memo index {text[:40]!r}", differential=_lenient(int, text))
    return int(text)


def _get(width: int | None) -> Callable[[_Walker, int], bool]:
    def handler(w: _Walker, at: int) -> bool:
        index = _memo_index(w, width)
        if index not in w.memo:
            raise w.fail(f"memo key {index} is not defined")
        w.push(w.memo[index])
        return False

    return handler


def _put(width: int | None) -> Callable[[_Walker, int], bool]:
    def handler(w: _Walker, at: int) -> bool:
        index = _memo_index(w, width)
        if index < 0:
            raise w.fail("negative memo index")
        w.memo[index] = w.top()
        return False

    return handler


def _op_memoize(w: _Walker, at: int) -> bool:
    w.memo[len(w.memo)] = w.top()
    return False


def _op_proto(w: _Walker, at: int) -> bool:
    version = w.uint(1)
    if version > 5:
        raise w.fail(f"unsupported pickle protocol {version}")
    w.protocol = version
    return False


def _op_frame(w: _Walker, at: int) -> bool:
    if w.frame_end is not None:
        raise w.fail("a FRAME starts before the previous one ended", differential=True)
    length = w.uint(8)
    if w.pos + length > w.end:
        raise w.fail("FRAME longer than the data", differential=True)
    w.frame_end = w.pos + length if length else None
    return False


def _refuse(name: str, why: str) -> Callable[[_Walker, int], bool]:
    def handler(w: _Walker, at: int) -> bool:
        raise PickleInvalid(f"{name}: {why}", at, differential=True)

    return handler


_HANDLERS: dict[bytes, Callable[[_Walker, int], bool]] = {
    b"(": _op_mark,
    b".": _op_stop,
    b"0": _op_pop,
    b"1": _op_pop_mark,
    b"2": _op_dup,
    b"F": _op_float,
    b"I": _op_int,
    b"J": _fixed(4, signed=True),
    b"K": _fixed(1),
    b"L": _op_long,
    b"M": _fixed(2),
    b"N": _op_none,
    b"P": _op_persid,
    b"Q": _op_binpersid,
    b"R": _op_reduce,
    b"S": _op_string,
    b"T": _counted(4, "str8"),
    b"U": _counted(1, "str8"),
    b"V": _op_unicode,
    b"X": _counted(4, "unicode"),
    b"a": _op_append,
    b"b": _op_build,
    b"c": _op_global,
    b"d": _op_collect,
    b"}": _op_empty_dict,
    b"e": _op_appends,
    b"g": _get(None),
    b"h": _get(1),
    b"i": _op_inst,
    b"j": _get(4),
    b"l": _op_collect,
    b"]": _op_empty_list,
    b"o": _op_obj,
    b"p": _put(None),
    b"q": _put(1),
    b"r": _put(4),
    b"s": _op_setitem,
    b"t": _op_collect,
    b")": _op_empty_tuple,
    b"u": _op_setitems,
    b"G": _op_binfloat,
    b"\x80": _op_proto,
    b"\x81": _op_newobj,
    b"\x82": _refuse("EXT1", "extension registry codes cannot be resolved statically"),
    b"\x83": _refuse("EXT2", "extension registry codes cannot be resolved statically"),
    b"\x84": _refuse("EXT4", "extension registry codes cannot be resolved statically"),
    b"\x85": _tuple_n(1),
    b"\x86": _tuple_n(2),
    b"\x87": _tuple_n(3),
    b"\x88": _op_newtrue,
    b"\x89": _op_newfalse,
    b"\x8a": _long_n(1),
    b"\x8b": _long_n(4),
    b"B": _counted(4, "bytes"),
    b"C": _counted(1, "bytes"),
    b"\x8c": _counted(1, "unicode"),
    b"\x8d": _counted(8, "unicode"),
    b"\x8e": _counted(8, "bytes"),
    b"\x8f": _op_empty_set,
    b"\x90": _op_additems,
    b"\x91": _op_collect,
    b"\x92": _op_newobj_ex,
    b"\x93": _op_stack_global,
    b"\x94": _op_memoize,
    b"\x95": _op_frame,
    b"\x96": _counted(8, "bytes"),
    b"\x97": _refuse("NEXT_BUFFER", "out-of-band buffers are not part of a model file"),
    b"\x98": _refuse("READONLY_BUFFER", "out-of-band buffers are not part of a model file"),
}


def looks_like_pickle(head: bytes) -> bool:
    """A cheap first-bytes test: worth a full walk. CPython needs no PROTO header, so any opcode
    can open a stream; the walk then decides (failing before any import means it is not a pickle)."""
    if not head:
        return False
    if head[0] == 0x80:
        return len(head) > 1 and head[1] <= 5
    return head[:1] in _HANDLERS


def walk(data: bytes | memoryview, start: int = 0) -> PickleWalk:
    """Walk one pickle from `start`; raises PickleInvalid if CPython could not read it identically."""
    walker = _Walker(data, start)
    try:
        return walker.run()
    except PickleInvalid as exc:
        exc.imports = walker.result.imports
        exc.calls = walker.result.calls
        raise
