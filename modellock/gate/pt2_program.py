"""The serialized program of a `torch.export` archive (`models/<name>.json`), judged by what its loader runs.

The program is JSON, but four kinds of string in it reach Python when it is loaded and run:

- operator targets are resolved by walking attributes of `torch`, `operator` or `math`
  (`torch.os.system` resolves as well as `torch.ops.aten.add.Tensor`), and the graph calls them;
- symbolic expressions (`expr_str`) go through `sympy.sympify`, which evaluates them as Python
  during `torch.export.load`;
- guards (`guards_code`) are pasted into Python source that `ExportedProgram.module()` executes;
- input and output specs (`in_spec`, `out_spec`) import the module an enum or a defaultdict's
  factory names.

So each is held to the grammar torch writes: operator names under `torch.ops.<namespace>.<op>`, the
symbolic operators of `operator`, `math` and `torch.sym_*`; expressions built from sympy's
constructors, symbols and numbers; guards comparing sizes and strides of the inputs (`L['x'].size()[0]`).
Anything else that Python would evaluate is refused as malicious; a string outside the grammar that
evaluates nothing dangerous is refused as invalid.
"""

from __future__ import annotations

import ast
import builtins
import json
import re
from collections.abc import Iterator
from typing import Any

from modellock.gate import allowlist
from modellock.gate.verdict import Finding

MAX_PROGRAM_STRING = 100_000
"""Characters in one expression or guard (torch writes tens; the parser's cost grows with them)."""

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
# Callables the graph may name outside `torch.ops`: the symbolic-shape operators torch's serializer writes.
_OPERATOR = {
    "getitem", "eq", "ne", "le", "ge", "lt", "gt", "neg", "pos", "not_", "abs", "mul", "add", "sub",
    "floordiv", "truediv", "mod", "pow", "and_", "or_", "lshift", "rshift",
}  # fmt: skip
# The torch functions export's verifier lets a graph call (torch/_export/verifier.py), as the
# serializer names them (`module.name`).
_TORCH_FUNCTIONS = {
    "torch.autograd.grad_mode.set_grad_enabled", "torch.sym_int", "torch.sym_float", "torch.sym_ite",
    "torch.sym_max", "torch.sym_min", "torch.sym_not", "torch.sym_sqrt", "torch._sym_sqrt", "torch.sym_sum",
    "torch.export.custom_ops._call_custom_autograd_function_in_pre_dispatch", "torch._C._set_grad_enabled",
    "torch.amp.autocast_mode._enter_autocast", "torch.amp.autocast_mode._exit_autocast",
    "torch.fx.experimental.symbolic_shapes.cast_symbool_to_symint_guardless",
    *(f"torch._functorch.predispatch.{name}" for name in (
        "_add_batch_dim", "_remove_batch_dim", "_vmap_increment_nesting", "_vmap_decrement_nesting",
        "lazy_load_decompositions", "_make_dual", "_unpack_dual", "_jvp_increment_nesting",
        "_jvp_decrement_nesting", "_unwrap_for_grad", "_enter_dual_level", "_exit_dual_level",
    )),
}  # fmt: skip
# Functions of the guard printer's output (torch/utils/_sympy/printers.py) that are builtins: pure.
_GUARD_BUILTINS = {"abs", "max", "min", "round", "int", "float", "bool"}
_GUARD_TORCH = {"sym_float", "sym_int", "sym_max", "sym_min", "sym_not", "sym_ite", "sym_sqrt", "_sym_sqrt"}
# _Ops methods that load code when called: never a namespace, whatever follows them.
_OPS_METHODS = {"import_module", "load_library"}
# What sympy's printers write (srepr and str) and the functions the deserializer hands sympify.
_SYMPY = {
    "Symbol", "Dummy", "Integer", "Rational", "Float", "Add", "Mul", "Pow", "Mod", "Max", "Min", "Abs",
    "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "Equality", "Unequality", "StrictLessThan", "StrictGreaterThan",
    "LessThan", "GreaterThan", "And", "Or", "Not", "true", "false", "BooleanTrue", "BooleanFalse", "oo",
    "zoo", "nan", "Infinity", "NegativeInfinity", "Half", "One", "Zero", "NegativeOne", "floor", "ceiling",
    "sqrt", "Piecewise", "ExprCondPair", "int_oo", "IntInfinity", "NegativeIntInfinity",
    "FloorDiv", "ModularIndexing", "Where", "PythonMod", "CleanDiv", "CeilToInt", "FloorToInt", "CeilDiv",
    "LShift", "RShift", "PowByNatural", "FloatPow", "FloatTrueDiv", "IntTrueDiv",
    "IsNonOverlappingAndDenseIndicator", "TruncToFloat", "TruncToInt", "RoundToInt", "RoundDecimal",
    "ToFloat", "Identity", "BitwiseFn_bitwise_and", "BitwiseFn_bitwise_or", "BitwiseFn_bitwise_xor",
    "Trunc", "OpaqueUnaryFn_sqrt", "OpaqueUnaryFn_exp", "OpaqueUnaryFn_log", "exp", "log", "sin", "cos", "tan",
    "sinh", "cosh", "tanh", "asin", "acos", "atan", "pi", "E", "I",
}  # fmt: skip
# Tensor methods a guard reads sizes with.
_GUARD_METHODS = {"size", "stride", "storage_offset", "dim", "numel"}
_ARITHMETIC = (
    ast.Expression, ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.IfExp, ast.Tuple, ast.Constant, ast.Load,
    ast.operator, ast.unaryop, ast.cmpop, ast.boolop,
)  # fmt: skip
_BUILTINS = frozenset(dir(builtins)) - {"True", "False", "None"}


class _Refused(Exception):
    def __init__(self, verdict: str, why: str) -> None:
        super().__init__(why)
        self.verdict = verdict


def check_target(target: str) -> Finding | None:
    """An operator name the deserializer would resolve; None when it is one torch writes (or inert)."""
    # The deserializer's own test: a prefix picks the module, the rest is walked with getattr.
    root = next((r for r in ("_operator", "torch", "math") if target.startswith(r)), None)
    if root is None:
        # "#ns/op" goes to a deserializer the application registered; any other string stays a
        # string (the deserializer's catch-all), which the graph cannot call.
        return None
    path = target.split(".")[1:]
    if target in _TORCH_FUNCTIONS:
        return None
    if all(_NAME.match(p) and not p.startswith("__") for p in path):
        if root == "torch" and len(path) in (3, 4) and path[0] == "ops" and path[1] not in _OPS_METHODS:
            return None
        if (root, len(path)) == ("_operator", 1) and path[0] in _OPERATOR:
            return None
        if (root, len(path)) == ("math", 1) and not path[0].startswith("_"):
            return None  # the math module holds pure numeric functions and constants only
    grade, why = allowlist.classify({"_operator": "operator"}.get(root, root), ".".join(path) or root)
    if grade == "malicious" or any(p in _OPS_METHODS or p.startswith("__") for p in path):
        return Finding("malicious", f"operator target {target!r} reaches Python beyond torch's operators: {why}")
    return Finding("invalid", f"operator target {target!r} is not an operator torch.export writes")


def check_expression(text: str) -> Finding | None:
    """A symbolic expression, evaluated by `sympy.sympify` at load."""
    try:
        _walk(_parse(text), guard=False)
    except _Refused as exc:
        return Finding(exc.verdict, f"symbolic expression {text[:80]!r}: {exc} (sympy.sympify evaluates it)")  # type: ignore[arg-type]
    return None


def check_guard(text: str) -> Finding | None:
    """A guard, pasted into Python source that `ExportedProgram.module()` executes."""
    try:
        _walk(_parse(text), guard=True)
    except _Refused as exc:
        return Finding(exc.verdict, f"guard {text[:80]!r}: {exc} (module() executes it as Python)")  # type: ignore[arg-type]
    return None


def check_treespec(text: str) -> Finding | None:
    """An input or output spec, rebuilt by `torch.utils._pytree.treespec_loads` at load.

    A node's type must be one torch registered (no import), but two contexts import by name: an
    enum (`{"__enum__": …, "fqn": "module:Class"}`) and a defaultdict's factory. Each such import
    is graded like a pickle's.
    """
    try:
        _protocol, schema = json.loads(text)
        for module, name in _spec_imports(schema):
            grade, why = allowlist.classify(module, name)
            if grade != "allowed":
                verdict = "malicious" if grade == "malicious" else "suspicious"
                return Finding(verdict, f"input/output spec imports {module}.{name} when loaded: {why}")  # type: ignore[arg-type]
    except (ValueError, TypeError, AttributeError, RecursionError) as exc:
        return Finding("invalid", f"input/output spec is not one torch writes ({type(exc).__name__})")
    return None


def _spec_imports(schema: Any) -> Iterator[tuple[str, str]]:
    stack = [schema]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            raise TypeError("a spec node that is no object")
        context = node.get("context")
        if isinstance(context, str):
            value = json.loads(context)
            if node.get("type") == "collections.defaultdict" and isinstance(value, dict):
                yield str(value.get("default_factory_module")), str(value.get("default_factory_name"))
            yield from _enum_imports(value)
        stack.extend(node.get("children_spec") or [])


def _enum_imports(value: Any) -> Iterator[tuple[str, str]]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "__enum__" in item:
                module, _, name = str(item.get("fqn")).partition(":")
                yield module, name
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _parse(text: str) -> ast.Expression:
    if len(text) > MAX_PROGRAM_STRING:
        raise _Refused("invalid", f"longer than {MAX_PROGRAM_STRING} characters (cap MAX_PROGRAM_STRING)")
    try:
        return ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        # Not one expression: source that would break out of the line torch pastes it into.
        raise _Refused("malicious", "not a single expression") from None


def _walk(tree: ast.Expression, guard: bool) -> None:
    nodes = list(ast.walk(tree))
    called = {id(n.func) for n in nodes if isinstance(n, ast.Call)}  # attributes judged with their call
    # In reading order, innermost first, so a refusal names what a reader would see first (`__import__`).
    nodes.sort(key=lambda n: (getattr(n, "lineno", 0), getattr(n, "col_offset", 0), getattr(n, "end_col_offset", 0)))
    for node in nodes:
        if isinstance(node, _ARITHMETIC):
            if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, str, type(None))):
                raise _Refused("invalid", f"a constant of type {type(node.value).__name__}")
            continue
        if isinstance(node, ast.Name):
            _name(node.id, guard)
        elif isinstance(node, ast.Call):
            _call(node, guard)
        elif isinstance(node, ast.keyword):
            if node.arg is None or not _NAME.match(node.arg) or node.arg.startswith("_"):
                raise _Refused("malicious", "a keyword argument that is no plain name")
        elif guard and isinstance(node, ast.Subscript):
            _guard_subscript(node)
        elif isinstance(node, ast.Attribute) and id(node) in called:
            continue
        elif guard and isinstance(node, ast.Attribute) and _is_math(node.value) and not node.attr.startswith("_"):
            continue  # math.inf, math.nan
        elif guard and isinstance(node, ast.Attribute) and _NAME.match(node.attr) and not node.attr.startswith("_"):
            raise _Refused("invalid", f"reads .{node.attr}, which torch's guard printer never writes")
        else:
            where = "guard" if guard else "expression"
            raise _Refused("malicious", f"Python syntax no {where} has ({type(node).__name__})")


def _name(name: str, guard: bool) -> None:
    if guard and name in _GUARD_BUILTINS:
        return
    if name.startswith("_") or name in _BUILTINS:
        raise _Refused("malicious", f"names {name!r}")
    if guard and name not in ("L", "inf", "math", "torch") and name not in _SYMPY:
        raise _Refused("invalid", f"names {name!r}, which is no input or sympy function")


def _call(node: ast.Call, guard: bool) -> None:
    func = node.func
    if isinstance(func, ast.Name):
        if guard and func.id in _GUARD_BUILTINS:
            return
        if func.id in _BUILTINS or func.id.startswith("_"):
            raise _Refused("malicious", f"calls {func.id!r}")
        # sympy's expression classes are capitalised (Add, Symbol, FloorDiv); its lowercase names
        # that are not in the list include functions such as lambdify and preview, which run code.
        if func.id not in _SYMPY and not func.id[0].isupper():
            raise _Refused("invalid", f"calls {func.id!r}, which is no sympy constructor")
        return
    if guard and isinstance(func, ast.Attribute):
        base = func.value
        if isinstance(base, ast.Name) and base.id == "math" and not func.attr.startswith("_"):
            return
        if isinstance(base, ast.Name) and base.id == "torch" and func.attr in _GUARD_TORCH:
            return
        if func.attr in _GUARD_METHODS and _is_input(base) and not node.keywords:
            return
        raise _Refused("malicious", f"calls .{func.attr}, which no guard needs")
    raise _Refused("malicious", "calls something other than a named function")


def _is_math(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "math"


def _guard_subscript(node: ast.Subscript) -> None:
    index = node.slice
    if not (isinstance(index, ast.Constant) and isinstance(index.value, (int, str))):
        raise _Refused("malicious", "indexes with something other than a constant")
    if isinstance(index.value, str) and index.value.startswith("__"):
        raise _Refused("malicious", f"indexes {index.value!r}")


def _is_input(node: ast.expr) -> bool:
    """`L['x']`, `L['args'][0]`: an input as torch's guard printer names it."""
    while isinstance(node, ast.Subscript):
        node = node.value
    return isinstance(node, ast.Name) and node.id == "L"


def program_strings(program: Any) -> Iterator[tuple[str, str]]:
    """(kind, text) for every operator target, symbolic expression and guard in a program's JSON."""
    stack = [program]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "target" and isinstance(value, str):
                    yield "target", value
                elif key in ("in_spec", "out_spec") and isinstance(value, str):
                    yield "treespec", value
                elif key == "expr_str" and isinstance(value, str):
                    yield "expression", value
                elif key == "guards_code" and isinstance(value, list):
                    yield from (("guard", g) for g in value if isinstance(g, str))
                    stack.extend(g for g in value if not isinstance(g, str))
                else:
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)


def check_program(program: Any) -> list[Finding]:
    """Every string of the program its loader evaluates, judged once each."""
    if not isinstance(program, dict) or not isinstance(program.get("graph_module"), dict):
        return [Finding("invalid", "not a serialized ExportedProgram (no graph_module)")]
    checks = {"target": check_target, "expression": check_expression, "guard": check_guard, "treespec": check_treespec}
    findings: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for kind, text in program_strings(program):
        if (kind, text) in seen:
            continue
        seen.add((kind, text))
        found = checks[kind](text)
        if found is not None:
            findings.append(found)
    return findings
