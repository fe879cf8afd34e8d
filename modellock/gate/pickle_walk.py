"""A strict, symbolic walk of a pickle opcode stream that never executes or imports anything.

It follows CPython's `_pickle.c` (protocols 0-5, FRAME, memo, marks) and tracks the stack and
memo symbolically, so every import (GLOBAL, STACK_GLOBAL, INST) is resolved to the exact
(module, name) pair `find_class` would receive, however the stream spells it. Literal tuples,
lists, dicts and call results are kept as values, so container parsers can read what a pickle
declares (storage sizes, array shapes) without unpickling it.

How a walk ends matters as much as what it saw, so every failure says which of four kinds it is:
`parse` (CPython fails at the same byte), `unresolvable` (CPython fails here unless the loader
registered extension codes or passed out-of-band buffers), `differential` (CPython, or the
pure-Python unpickler, could read on where we stop) and `limit` (we gave up; nobody knows). Only
the first two can ever mean "not a pickle"; the scanner refuses the others.
"""

from __future__ import annotations

import codecs
import gc
import re
import struct
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from modellock.gate.budget import ACTIVE, MAX_FILE_OPCODES, MAX_PICKLES
from modellock.gate.buffer import Raw, Window

MAX_OPCODES = 2_000_000
MAX_MEMO = 1_000_000
MAX_STACK = 2_000_000
"""Caps that keep a walk within about 2 s and 256 MiB; real checkpoints stay far below them."""
LEGACY_TORCH_MAGIC = 0x1950A86A20F9469CFC6C
Failure = Literal["parse", "unresolvable", "differential", "limit"]
_DECIMAL = re.compile(rb"^[+-]?(?:0|[1-9][0-9]*)$")
_STRTOL0 = re.compile(rb"^\s*[+-]?(?:0[xX][0-9a-fA-F]+|0[0-7]+|[0-9]+)")
_FLOAT = re.compile(rb"^[+-]?(?:[0-9]+\.?[0-9]*(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?|nan|inf)$", re.I)


class PickleInvalid(Exception):
    """The stream is not a pickle CPython would read the same way; `offset` is where it broke."""

    def __init__(self, message: str, offset: int, kind: Failure = "parse") -> None:
        super().__init__(f"{message} (at byte {offset})")
        self.message = message
        self.offset = offset
        self.kind: Failure = kind
        self.imports: list[Import] = []
        """Imports seen before the failure: CPython would already have performed them."""
        self.calls = 0
        """Calls (REDUCE, INST, OBJ, NEWOBJ, BUILD) before the failure: code that would already have run."""


@dataclass(frozen=True)
class Import:
    """A global the stream imports: the pair `find_class` resolves, by which opcode, where."""

    module: str
    name: str
    opcode: str
    offset: int
    raw: tuple[str, str] = ("", "")
    """The names as the stream spells them, before the Python 2 mapping."""

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass
class PickleWalk:
    """The outcome of walking one pickle."""

    end: int
    """Offset just after STOP, relative to the window."""
    protocol: int
    imports: list[Import] = field(default_factory=list)
    persistent_ids: list[object] = field(default_factory=list)
    """Each persistent id's symbolic value (a torch storage reference is a `Seq`)."""
    calls: int = 0
    value: object = None
    """The symbolic value the pickle returns."""


class _Mark:
    pass


class _Other:
    """A value the walk does not track."""


MARK, OTHER, _MISSING = _Mark(), _Other(), _Other()
_LONGEST_NAME = 4096
"""Strings longer than this are not kept as values (no module or class name is this long)."""


# Strings and integers the stream spells are kept as plain `str` and `int` (no wrapper: they are
# the commonest values, and a walk creates one per opcode); everything else untracked is OTHER.
class Global(NamedTuple):
    module: str
    name: str


class Seq:
    """A tuple or list built from the stream (lists grow in place, as CPython's do)."""

    __slots__ = ("items",)

    def __init__(self, items: list[object]) -> None:
        self.items = items


class Dict:
    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[object, object]]) -> None:
        self.pairs = pairs


class Obj:
    """The result of calling an imported global; `state` is what BUILD gave it."""

    __slots__ = ("args", "cls", "state")

    def __init__(self, cls: Global, args: object, state: object = None) -> None:
        self.cls, self.args, self.state = cls, args, state


BuildHook = Callable[["Walker", Obj, int], None]
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")


def resolve(module: str, name: str, protocol: int) -> tuple[str, str]:
    """The pair CPython's `find_class` looks up: Python 2 names mapped when protocol < 3."""
    if protocol < 3:
        if (module, name) in NAME_MAPPING:
            return NAME_MAPPING[(module, name)]
        return IMPORT_MAPPING.get(module, module), name
    return module, name


class Walker:
    def __init__(self, window: Window, start: int = 0, on_build: BuildHook | None = None) -> None:
        self.buf: Raw = window.buf
        self.base = window.start
        self.pos = window.start + start
        self.end = window.end
        self.frame_end: int | None = None
        self.stack: list[object] = []
        self.marks: list[int] = []
        self.memo: dict[int, object] = {}
        self.protocol = 0
        self.on_build = on_build
        self.result = PickleWalk(end=start, protocol=0)

    # -- reading -------------------------------------------------------------------------------

    def fail(self, message: str, kind: Failure = "parse") -> PickleInvalid:
        return PickleInvalid(message, self.pos - self.base, kind)

    def take(self, n: int) -> bytes:
        pos = self.pos
        stop = pos + n
        if n < 0 or stop > self.end:
            raise self.fail("truncated stream")
        if self.frame_end is not None and stop > self.frame_end:
            raise self.fail("an opcode crosses the end of its FRAME", "differential")
        self.pos = stop
        chunk = self.buf[pos:stop]
        if len(chunk) != n:  # a decompressing stream's end is known only when it is reached
            self.pos = pos
            raise self.fail("truncated stream")
        return chunk

    def skip(self, n: int) -> None:
        """Advance over `n` bytes that are not opcodes (joblib array data), outside any frame."""
        if n < 0 or self.pos + n > self.end:
            raise self.fail("truncated stream")
        if self.frame_end is not None and self.pos != self.frame_end:
            raise self.fail("raw data inside a FRAME", "differential")
        self.frame_end = None
        self.pos += n

    def line(self) -> bytes:
        stop = self.buf.find(b"\n", self.pos, self.end)
        if stop < 0:
            raise self.fail("unterminated text argument")
        if self.frame_end is not None and stop >= self.frame_end:
            raise self.fail("a text argument crosses the end of its FRAME", "differential")
        text = self.buf[self.pos : stop]
        self.pos = stop + 1
        return text

    def names(self, opcode: str, at: int, encoding: str) -> Global:
        """GLOBAL's and INST's two name lines, imported.

        pickle.py takes a line cut off by the end of the data as if it ended one byte earlier, and
        so imports a module whose name is cut short where C fails: record that import, then stop.
        """
        parts, complete = [], True
        for _ in range(2):
            stop = self.buf.find(b"\n", self.pos, self.end)
            if self.frame_end is not None and stop >= self.frame_end:
                raise self.fail("a text argument crosses the end of its FRAME", "differential")
            if stop < 0:
                parts.append(self.buf[self.pos : self.end][:-1])
                self.pos, complete = self.end, False
            else:
                parts.append(self.buf[self.pos : stop])
                self.pos = stop + 1
        try:
            module, name = parts[0].decode(encoding), parts[1].decode(encoding)
        except UnicodeDecodeError:
            raise self.fail(f"{opcode} names are not {encoding}") from None
        target = self.import_(module, name, opcode, at)
        if not complete:
            raise self.fail("unterminated text argument")
        return target

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "little")

    def sint4(self) -> int:
        return int(struct.unpack("<i", self.take(4))[0])

    # -- stack -----------------------------------------------------------------------------------

    def push(self, value: object) -> None:
        self.stack.append(value)

    def fence(self) -> int:
        return self.marks[-1] if self.marks else 0

    def pop(self) -> object:
        if len(self.stack) <= self.fence():
            raise self.fail("stack underflow")
        return self.stack.pop()

    def top(self) -> object:
        if len(self.stack) <= self.fence():
            raise self.fail("stack underflow")
        return self.stack[-1]

    def pop_mark(self) -> list[object]:
        if not self.marks:
            raise self.fail("no MARK to pop to")
        base = self.marks.pop()
        items = self.stack[base:]
        del self.stack[base:]
        return items

    def import_(self, module: str, name: str, opcode: str, offset: int) -> Global:
        # Recorded before any validation: CPython calls find_class with whatever the stream says.
        raw = (module, name)
        module, name = resolve(module, name, self.protocol)
        self.result.imports.append(Import(module, name, opcode, offset - self.base, raw))
        if not (_IDENTIFIER.match(module) and _IDENTIFIER.match(name)):
            # find_class fails here: no module has such a name, or (after importing the module) no
            # attribute does. The import stays recorded and graded.
            raise PickleInvalid(f"{module!r}.{name!r} is not an importable name", offset - self.base)
        return Global(module, name)

    def call(self, target: object, args: object, opcode: str) -> None:
        self.result.calls += 1
        if not isinstance(target, Global):
            raise self.fail(f"{opcode} calls a computed object, not an imported global", "differential")
        self.push(Obj(target, args))

    # -- the loop ----------------------------------------------------------------------------------

    def run(self) -> PickleWalk:
        """Walk to STOP. Inside a scan, every opcode is charged to the file's budget, also on failure."""
        budget, limit = ACTIVE.get(), MAX_OPCODES
        if budget is not None:
            budget.pickles += 1
            if budget.pickles > MAX_PICKLES:
                raise self.fail(f"more than {MAX_PICKLES} pickles in one file (cap MAX_PICKLES)", "limit")
            limit = max(1, min(limit, MAX_FILE_OPCODES - budget.opcodes))
        buf, handlers, stack, memo, end = self.buf, _HANDLERS, self.stack, self.memo, self.end
        count = 0
        try:
            for count in range(limit):
                offset = self.pos
                if self.frame_end is not None and offset >= self.frame_end:
                    self.frame_end = None
                if offset >= end:
                    raise self.fail("truncated stream (no STOP)")
                handler = handlers.get(buf[offset])
                if handler is None:
                    raise self.fail(f"unknown opcode {buf[offset : offset + 1]!r}")
                self.pos = offset + 1
                if handler(self, offset):
                    if len(stack) != 1 or self.marks:
                        raise PickleInvalid(
                            "STOP leaves extra items or open MARKs on the stack", offset - self.base, "differential"
                        )
                    if self.frame_end is not None and self.pos != self.frame_end:
                        raise PickleInvalid("STOP before the end of its FRAME", offset - self.base, "differential")
                    self.result.value = stack[0]
                    self.result.end = self.pos - self.base
                    self.result.protocol = self.protocol
                    return self.result
                if count & 1023:
                    continue  # the size caps are checked every 1024 opcodes: they grow by at most one each
                if len(memo) > MAX_MEMO:
                    raise self.fail(f"more than {MAX_MEMO} memo entries (cap MAX_MEMO)", "limit")
                if len(stack) > MAX_STACK:
                    raise self.fail(f"more than {MAX_STACK} items on the stack (cap MAX_STACK)", "limit")
            if limit < MAX_OPCODES:
                raise self.fail(
                    f"more than {MAX_FILE_OPCODES} opcodes in the file's pickles (cap MAX_FILE_OPCODES)", "limit"
                )
            raise self.fail(f"more than {MAX_OPCODES} opcodes (cap MAX_OPCODES)", "limit")
        finally:
            if budget is not None:
                budget.opcodes += count + 1


# -- opcode handlers: each returns True only for STOP -------------------------------------------------


def _lenient(parse: Callable[[str], object], text: bytes) -> bool:
    """Whether a more forgiving parser (whitespace, `_`, `infinity`, base prefixes) reads it.

    C parses numeric text as a NUL-terminated string, so `1\x00junk` is 1 to it: a NUL anywhere
    means some unpickler reads a number where we see garbage.
    """
    if b"\x00" in text:
        return True
    try:
        parse(text.decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return False
    return True


def _base0(text: str) -> int:
    return int(text, 0)


def _op_int(w: Walker, at: int) -> bool:
    text = w.line()
    if text in (b"00", b"01"):
        w.push(OTHER)  # bool
        return False
    if not _DECIMAL.match(text):
        # CPython reads INT with strtol(..., 0) then int(..., 0): `0x1`, `010`, ` 1` are numbers to it.
        readable = bool(_STRTOL0.match(text)) or _lenient(_base0, text)
        raise w.fail(f"non-decimal INT {text[:40]!r} (parsers disagree)", "differential" if readable else "parse")
    w.push(int(text) if len(text) < 40 else OTHER)
    return False


def _op_long(w: Walker, at: int) -> bool:
    text = w.line()
    if text.endswith(b"L"):
        text = text[:-1]
    if not _DECIMAL.match(text):
        readable = _lenient(_base0, text) or _lenient(int, text)  # C reads LONG with base 0 too
        raise w.fail(f"non-decimal LONG {text[:40]!r}", "differential" if readable else "parse")
    w.push(int(text) if len(text) < 40 else OTHER)
    return False


def _op_float(w: Walker, at: int) -> bool:
    text = w.line()
    if not _FLOAT.match(text):
        raise w.fail(f"non-canonical FLOAT {text[:40]!r}", "differential" if _lenient(float, text) else "parse")
    w.push(OTHER)
    return False


def _fixed(size: int, signed: bool = False) -> Callable[[Walker, int], bool]:
    def handler(w: Walker, at: int) -> bool:
        pos = w.pos
        if pos + size > (w.frame_end if w.frame_end is not None else w.end):
            w.take(size)  # raises the right error
        w.pos = pos + size
        w.stack.append(int.from_bytes(w.buf[pos : pos + size], "little", signed=signed))
        return False

    return handler


def _op_binfloat(w: Walker, at: int) -> bool:
    w.take(8)
    w.push(OTHER)
    return False


def _long_n(size: int) -> Callable[[Walker, int], bool]:
    def handler(w: Walker, at: int) -> bool:
        n = w.uint(1) if size == 1 else w.sint4()
        if n < 0:
            raise w.fail("negative LONG4 length")
        raw = w.take(n)
        w.push(int.from_bytes(raw, "little", signed=True) if n <= 16 else OTHER)
        return False

    return handler


def _op_string(w: Walker, at: int) -> bool:
    text = w.line()
    if len(text) < 2 or text[0] != text[-1] or text[:1] not in (b"'", b'"'):
        raise w.fail("STRING argument is not quoted")
    try:
        raw = codecs.escape_decode(text[1:-1])[0]  # type: ignore[attr-defined]
    except ValueError:
        raise w.fail("invalid escape in STRING") from None
    # torch.load unpickles with encoding="utf-8": take that wider reading of Python 2 strings.
    w.push(_text(raw))
    return False


def _text(raw: bytes) -> object:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return OTHER


def _counted(width: int, kind: str, signed: bool = False) -> Callable[[Walker, int], bool]:
    def handler(w: Walker, at: int) -> bool:
        pos, limit = w.pos, (w.frame_end if w.frame_end is not None else w.end)
        if width == 1 and pos + 1 <= limit:
            n = w.buf[pos]  # SHORT_BINUNICODE / SHORT_BINBYTES, the commonest: no take() call
            w.pos = pos + 1
        else:
            n = w.sint4() if signed else int.from_bytes(w.take(width), "little")
        if n < 0:
            raise w.fail("negative length")
        if kind == "bytes" or n > _LONGEST_NAME:
            # Never copied: only short strings can be names. Skipping a long string's UTF-8 check
            # can only make the walk read on where CPython stops, never the reverse.
            if w.pos + n > (w.frame_end if w.frame_end is not None else w.end):
                w.take(n)  # raises the right error
            w.pos += n
            w.stack.append(OTHER)
            return False
        raw = w.take(n)
        if kind == "bytes":
            w.stack.append(OTHER)
        elif kind == "str8":
            w.stack.append(_text(raw))
        else:
            try:
                w.stack.append(raw.decode("utf-8", "surrogatepass"))
            except UnicodeDecodeError:
                raise w.fail("invalid UTF-8 in a unicode string") from None
        return False

    return handler


def _op_unicode(w: Walker, at: int) -> bool:
    try:
        w.push(w.line().decode("raw-unicode-escape"))
    except UnicodeDecodeError:
        raise w.fail("invalid UNICODE argument") from None
    return False


def _push(value: object) -> Callable[[Walker, int], bool]:
    def handler(w: Walker, at: int) -> bool:
        w.stack.append(value)
        return False

    return handler


def _op_empty_list(w: Walker, at: int) -> bool:
    w.push(Seq([]))
    return False


def _op_empty_tuple(w: Walker, at: int) -> bool:
    w.push(Seq([]))
    return False


def _op_empty_dict(w: Walker, at: int) -> bool:
    w.push(Dict([]))
    return False


def _op_mark(w: Walker, at: int) -> bool:
    w.marks.append(len(w.stack))
    return False


def _op_stop(w: Walker, at: int) -> bool:
    return True


def _op_pop(w: Walker, at: int) -> bool:
    stack = w.stack
    if w.marks and w.marks[-1] == len(stack):
        w.marks.pop()  # CPython pops a bare MARK here
    elif len(stack) > (w.marks[-1] if w.marks else 0):
        stack.pop()
    else:
        raise w.fail("stack underflow")
    return False


def _op_pop_mark(w: Walker, at: int) -> bool:
    w.pop_mark()
    return False


def _op_dup(w: Walker, at: int) -> bool:
    w.push(w.top())
    return False


def _op_persid(w: Walker, at: int) -> bool:
    text = w.line()
    try:
        w.result.persistent_ids.append(text.decode("ascii"))
    except UnicodeDecodeError:
        raise w.fail("PERSID argument is not ASCII") from None
    w.push(OTHER)
    return False


def _op_binpersid(w: Walker, at: int) -> bool:
    pid = w.pop()
    w.result.persistent_ids.append(pid)
    # torch's legacy format saves a module class as ('module', cls, file, source), and its
    # persistent_load returns cls: keep it callable so the NEWOBJ that follows stays resolvable.
    module = pid.items if isinstance(pid, Seq) and len(pid.items) == 4 else []
    w.push(module[1] if module and module[0] == "module" and isinstance(module[1], Global) else OTHER)
    return False


def _op_reduce(w: Walker, at: int) -> bool:
    args = w.pop()
    w.call(w.pop(), args, "REDUCE")
    return False


def _op_build(w: Walker, at: int) -> bool:
    state = w.pop()
    target = w.top()
    w.result.calls += 1  # BUILD may call __setstate__
    if isinstance(target, Obj):
        target.state = state
        if w.on_build is not None:
            w.on_build(w, target, at)
    return False


def _op_global(w: Walker, at: int) -> bool:
    w.push(w.names("GLOBAL", at, "utf-8"))
    return False


def _op_stack_global(w: Walker, at: int) -> bool:
    name, module = w.pop(), w.pop()
    if not isinstance(name, str) or not isinstance(module, str):
        raise w.fail("STACK_GLOBAL operands are not literal strings", "differential")
    w.push(w.import_(module, name, "STACK_GLOBAL", at))
    return False


def _op_inst(w: Walker, at: int) -> bool:
    # C looks for the MARK first; pickle.py resolves the class first. Import first, then check.
    target = w.names("INST", at, "ascii")
    w.call(target, Seq(w.pop_mark()), "INST")
    return False


def _op_obj(w: Walker, at: int) -> bool:
    items = w.pop_mark()
    if not items:
        raise w.fail("stack underflow (OBJ without a class)")
    w.call(items[0], Seq(items[1:]), "OBJ")
    return False


def _op_newobj(w: Walker, at: int) -> bool:
    args = w.pop()
    w.call(w.pop(), args, "NEWOBJ")
    return False


def _op_newobj_ex(w: Walker, at: int) -> bool:
    w.pop()
    args = w.pop()
    w.call(w.pop(), args, "NEWOBJ_EX")
    return False


def _op_append(w: Walker, at: int) -> bool:
    item = w.pop()
    target = w.top()
    if isinstance(target, Seq):
        target.items.append(item)
    return False


def _op_appends(w: Walker, at: int) -> bool:
    items = w.pop_mark()
    target = w.top()
    if isinstance(target, Seq):
        target.items.extend(items)
    return False


def _op_additems(w: Walker, at: int) -> bool:
    w.pop_mark()
    w.top()
    return False


def _op_setitem(w: Walker, at: int) -> bool:
    value, key = w.pop(), w.pop()
    target = w.top()
    if isinstance(target, Dict):
        target.pairs.append((key, value))
    return False


def _op_setitems(w: Walker, at: int) -> bool:
    items = w.pop_mark()
    target = w.top()
    if len(items) % 2:
        raise w.fail("odd number of items for SETITEMS")
    if isinstance(target, Dict):
        target.pairs.extend(zip(items[::2], items[1::2], strict=True))
    return False


def _op_tuple(w: Walker, at: int) -> bool:
    w.push(Seq(w.pop_mark()))
    return False


def _op_dict(w: Walker, at: int) -> bool:
    items = w.pop_mark()
    if len(items) % 2:
        raise w.fail("odd number of items for DICT")
    w.push(Dict(list(zip(items[::2], items[1::2], strict=True))))
    return False


def _op_collect(w: Walker, at: int) -> bool:
    w.pop_mark()
    w.push(OTHER)
    return False


def _tuple_n(n: int) -> Callable[[Walker, int], bool]:
    def handler(w: Walker, at: int) -> bool:
        items = [w.pop() for _ in range(n)]
        items.reverse()
        w.push(Seq(items))
        return False

    return handler


def _memo_index(w: Walker, width: int | None) -> int:
    """The memo key: a decimal text line (GET/PUT) or a little-endian integer of `width` bytes."""
    if width == 1 and w.pos < (w.frame_end if w.frame_end is not None else w.end):
        w.pos += 1
        return w.buf[w.pos - 1]  # BINGET/BINPUT, the commonest opcodes of all: the fast path
    if width is not None:
        return w.uint(width)
    text = w.line()
    if not _DECIMAL.match(text):
        raise w.fail(f"non-canonical memo index {text[:40]!r}", "differential" if _lenient(int, text) else "parse")
    return int(text)


def _get(width: int | None) -> Callable[[Walker, int], bool]:
    def handler(w: Walker, at: int) -> bool:
        index = _memo_index(w, width)
        value = w.memo.get(index, _MISSING)
        if value is _MISSING:
            raise w.fail(f"memo key {index} is not defined")
        w.stack.append(value)
        return False

    return handler


def _put(width: int | None) -> Callable[[Walker, int], bool]:
    def handler(w: Walker, at: int) -> bool:
        index = _memo_index(w, width)
        if index < 0:
            raise w.fail("negative memo index")
        if len(w.stack) <= (w.marks[-1] if w.marks else 0):
            raise w.fail("stack underflow")
        w.memo[index] = w.stack[-1]
        return False

    return handler


def _op_memoize(w: Walker, at: int) -> bool:
    stack, memo = w.stack, w.memo
    if len(stack) <= (w.marks[-1] if w.marks else 0):
        raise w.fail("stack underflow")
    memo[len(memo)] = stack[-1]
    return False


def _op_proto(w: Walker, at: int) -> bool:
    version = w.uint(1)
    if version > 5:
        raise w.fail(f"unsupported pickle protocol {version}")
    w.protocol = version
    return False


def _op_frame(w: Walker, at: int) -> bool:
    if w.frame_end is not None and w.pos - 1 != w.frame_end:
        raise w.fail("a FRAME starts before the previous one ended", "differential")
    length = w.uint(8)
    # C fails on a FRAME longer than the data; pickle.py reads what there is and goes on. Walk on
    # too, so the imports either one could resolve are all seen.
    w.frame_end = min(w.pos + length, w.end) if length else None
    return False


def _op_readonly_buffer(w: Walker, at: int) -> bool:
    w.top()  # CPython wraps the top item in a read-only memoryview
    return False


def _unresolvable(name: str, why: str) -> Callable[[Walker, int], bool]:
    def handler(w: Walker, at: int) -> bool:
        raise PickleInvalid(f"{name}: {why}", at - w.base, "unresolvable")

    return handler


_EXT = "extension registry codes cannot be resolved statically"
_HANDLERS: dict[int, Callable[[Walker, int], bool]] = {
    ord(k): v
    for k, v in {
        "(": _op_mark,
        ".": _op_stop,
        "0": _op_pop,
        "1": _op_pop_mark,
        "2": _op_dup,
        "F": _op_float,
        "I": _op_int,
        "J": _fixed(4, signed=True),
        "K": _fixed(1),
        "L": _op_long,
        "M": _fixed(2),
        "N": _push(OTHER),
        "P": _op_persid,
        "Q": _op_binpersid,
        "R": _op_reduce,
        "S": _op_string,
        "T": _counted(4, "str8", signed=True),
        "U": _counted(1, "str8"),
        "V": _op_unicode,
        "X": _counted(4, "unicode"),
        "a": _op_append,
        "b": _op_build,
        "c": _op_global,
        "d": _op_dict,
        "}": _op_empty_dict,
        "e": _op_appends,
        "g": _get(None),
        "h": _get(1),
        "i": _op_inst,
        "j": _get(4),
        "l": _op_tuple,  # LIST: a list of the marked items
        "]": _op_empty_list,
        "o": _op_obj,
        "p": _put(None),
        "q": _put(1),
        "r": _put(4),
        "s": _op_setitem,
        "t": _op_tuple,
        ")": _op_empty_tuple,
        "u": _op_setitems,
        "G": _op_binfloat,
        "\x80": _op_proto,
        "\x81": _op_newobj,
        "\x82": _unresolvable("EXT1", _EXT),
        "\x83": _unresolvable("EXT2", _EXT),
        "\x84": _unresolvable("EXT4", _EXT),
        "\x85": _tuple_n(1),
        "\x86": _tuple_n(2),
        "\x87": _tuple_n(3),
        "\x88": _push(OTHER),
        "\x89": _push(OTHER),
        "\x8a": _long_n(1),
        "\x8b": _long_n(4),
        "B": _counted(4, "bytes"),
        "C": _counted(1, "bytes"),
        "\x8c": _counted(1, "unicode"),
        "\x8d": _counted(8, "unicode"),
        "\x8e": _counted(8, "bytes"),
        "\x8f": _push(OTHER),
        "\x90": _op_additems,
        "\x91": _op_collect,
        "\x92": _op_newobj_ex,
        "\x93": _op_stack_global,
        "\x94": _op_memoize,
        "\x95": _op_frame,
        "\x96": _counted(8, "bytes"),
        "\x97": _unresolvable("NEXT_BUFFER", "out-of-band buffers are not part of a model file"),
        "\x98": _op_readonly_buffer,
    }.items()
}


def is_opcode(byte: int) -> bool:
    return byte in _HANDLERS


def walk(data: bytes | Window, start: int = 0, on_build: BuildHook | None = None) -> PickleWalk:
    """Walk one pickle from `start`; raises PickleInvalid if CPython could not read it identically."""
    window = data if isinstance(data, Window) else Window(data)
    walker = Walker(window, start, on_build)
    # A walk allocates up to millions of small containers and frees none until it ends: the cyclic
    # collector would rescan them all, again and again (quadratic). It is off for the walk only.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return walker.run()
    except PickleInvalid as exc:
        exc.imports = walker.result.imports
        exc.calls = walker.result.calls
        raise
    finally:
        if collecting:
            gc.enable()
