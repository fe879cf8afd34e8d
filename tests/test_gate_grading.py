"""The grade of each refused import (gate/allowlist.classify, gate/dangerous.danger), rule by rule.

Every row is caught by one rule only, so deleting that rule fails its row: a malicious import that
drops to "suspicious" is accepted by `pickle = "allow"`, which is what these tables guard.
"""

from __future__ import annotations

import pytest

from modellock.gate import dangerous
from modellock.gate.allowlist import classify

# (module, name, the words the reason must contain): each caught by exactly the rule named.
MALICIOUS = [
    # a module, and its sub-modules, whose every name is a primitive (dangerous.MODULES)
    ("os", "fspath", "os is a code-execution"),
    ("os.path", "join", "os is a code-execution"),
    ("posix", "getcwd", "posix is a code-execution"),
    ("subprocess", "list2cmdline", "subprocess is a code-execution"),
    ("builtins", "type", "builtins is a code-execution"),
    ("__builtin__", "type", "__builtin__ is a code-execution"),
    ("importlib.util", "LazyLoader", "importlib is a code-execution"),
    ("runpy", "_get_main_module_details", "runpy is a code-execution"),
    ("pkgutil", "iter_modules", "pkgutil is a code-execution"),
    ("mailcap", "getcaps", "mailcap is a code-execution"),
    ("_xxsubinterpreters", "create", "_xxsubinterpreters is a code-execution"),
    ("_interpreters", "create", "_interpreters is a code-execution"),
    ("ensurepip", "bootstrap", "ensurepip is a code-execution"),
    ("marshal", "dumps", "marshal is a code-execution"),
    ("types", "FunctionType", "types is a code-execution"),
    ("operator", "attrgetter", "operator is a code-execution"),
    ("functools", "partial", "functools is a code-execution"),
    ("code", "InteractiveInterpreter", "code is a code-execution"),
    ("idlelib.calltip", "get_entity", "idlelib is a code-execution"),
    ("webbrowser", "get", "webbrowser is a code-execution"),
    ("asyncio", "run", "asyncio is a code-execution"),
    ("pickle", "Pickler", "pickle is a code-execution"),
    ("antigravity", "geohash", "importing antigravity runs a program"),
    ("somelib.__main__", "main", "importing somelib.__main__ runs a program"),
    ("copyreg", "add_extension", "copyreg is a code-execution"),
    # exact pairs in libraries that also hold harmless names (dangerous.PAIRS)
    ("uuid", "_get_command_stdout", "nested-load primitive"),
    ("pandas", "read_pickle", "nested-load primitive"),
    ("torch", "storage._load_from_bytes", "nested-load primitive"),  # the pair reached by a dotted name
    # library sub-modules (dangerous.PREFIXES)
    ("torch.hub", "help", "nested-load primitive"),
    ("torch.utils.collect_env", "get_pretty_env_info", "nested-load primitive"),
    ("numpy.f2py.crackfortran", "crackfortran", "nested-load primitive"),
    ("torch", "hub.help", "nested-load primitive"),  # the prefix reached by a dotted name
    # attribute names that are primitives in any module (dangerous.ATTRS)
    ("somelib.utils", "system", "'system' names"),
    ("somelib", "popen", "'popen' names"),
    ("somelib", "__import__", "'__import__' names"),
    ("somelib", "exec", "'exec' names"),
    ("somelib", "eval", "'eval' names"),
    ("somelib", "__builtins__", "'__builtins__' names"),
    ("somelib", "import_module", "'import_module' names"),
    ("somelib", "resolve_name", "'resolve_name' names"),
    ("somelib", "run_string", "'run_string' names"),
    ("somelib", "findmatch", "'findmatch' names"),
    ("somelib", "_run_pip", "'_run_pip' names"),
    ("somelib", "loads", "'loads' names"),
    ("pathlib", "os.system", "'os' names"),  # a module reached through an allowed one
    ("pathlib", "PurePath.__globals__", "'__globals__' names"),
    # a dotted name whose step is not a class (dangerous._reaches_beyond_a_class)
    ("argparse", "_os.getcwd", "reaches a module or function by attribute access"),
    ("collections", "abc.Mapping", "reaches a module or function by attribute access"),
]

SUSPICIOUS = [
    ("somelib.models", "MyModel", "not on the allowlist"),
    ("somelib", "Outer.Inner", "a dotted name reaches other objects"),  # a nested class's qualname
    ("builtins", "len", "a builtin function, not a data constructor"),
    ("torch.nn.modules.linear", "Linear", "whole-object save"),
    ("transformers.training_args", "TrainingArguments", "training state"),
    ("somelib", "not a name", "not an importable name"),
    ("1bad", "system", "not an importable name"),
    ("__main__", "Net", "not on the allowlist"),
]


@pytest.mark.parametrize(("module", "name", "words"), MALICIOUS)
def test_known_primitives_are_malicious(module: str, name: str, words: str) -> None:
    grade, why = classify(module, name)
    assert grade == "malicious", (module, name, why)
    assert words in why


@pytest.mark.parametrize(("module", "name", "words"), SUSPICIOUS)
def test_unknown_imports_are_only_suspicious(module: str, name: str, words: str) -> None:
    assert classify(module, name) == ("suspicious", classify(module, name)[1])
    assert words in classify(module, name)[1]


def test_a_dangerous_dotted_name_says_it_is_dotted() -> None:
    grade, why = classify("pathlib", "os.system")
    assert grade == "malicious"
    assert why.startswith("a dotted name reaches other objects by attribute access; 'os' names")


def test_a_bad_name_from_a_dangerous_module_still_counts_its_import() -> None:
    # find_class imports `antigravity` (which opens a browser) before it fails on the name.
    assert classify("antigravity", "no such name") == (
        "malicious",
        "find_class imports antigravity before the name fails",
    )
    assert classify("idlelib.idle", "a b")[0] == "malicious"  # starts IDLE
    assert classify("somelib.__main__", "a b")[0] == "malicious"  # runs the package's program
    # Importing these runs nothing: text that spells them on its first lines stays text.
    assert classify("os", "cosine of an angle")[0] == "suspicious"
    assert classify("somelib", "a b")[0] == "suspicious"
    assert classify("__main__", "a b")[0] == "suspicious"


def test_allowlisted_pairs_win_over_every_grading_rule() -> None:
    # `_codecs.encode` (how protocol 2 writes bytes), numpy's reconstructors and torch's rebuilders
    # sit in modules or under names the grading tables would otherwise catch.
    for module, name in [
        ("builtins", "set"),
        ("_codecs", "encode"),
        ("copyreg", "_reconstructor"),
        ("torch.serialization", "_get_layout"),
        ("torch._utils", "_rebuild_tensor_v2"),
        ("collections", "OrderedDict"),
    ]:
        assert classify(module, name) == ("allowed", ""), (module, name)


def test_every_listed_module_and_attribute_is_graded_malicious() -> None:
    for module in dangerous.MODULES:
        assert classify(module, "Anything")[0] == "malicious", module
    for attr in dangerous.ATTRS:
        assert classify("somelib", attr)[0] == "malicious", attr
    for module, name in dangerous.PAIRS:
        assert classify(module, name)[0] == "malicious", (module, name)
    for module in dangerous.IMPORT_RUNS:
        assert classify(module, "Anything")[0] == "malicious", module
    for prefix in dangerous.PREFIXES:
        assert classify(prefix, "Anything")[0] == "malicious", prefix
