"""Differential fuzzing of the pickle walker against CPython's own unpicklers.

Seeded random and mutated pickles go to the walker and to `_pickle.Unpickler` and
`pickle._Unpickler` (the pure-Python one joblib uses), whose `find_class` records the pair and
returns an inert stub, so nothing is ever imported or run. The property: every global an
unpickler resolves is one the walker reported. When the walker says a stream is no pickle at all
(a plain parse failure before any import), no unpickler may have resolved anything.
"""

from __future__ import annotations

import contextlib
import io
import pickle
import random
from collections import OrderedDict
from dataclasses import dataclass, field

from modellock.gate.pickle_walk import _IDENTIFIER, PickleInvalid, walk

MODULES = ["os", "builtins", "collections", "torch._utils", "numpy", "posix", "__builtin__", "copy_reg", "a.b"]
NAMES = ["system", "eval", "OrderedDict", "_rebuild_tensor_v2", "dtype", "getattr", "x.y", "xrange", "reduce"]


class Stub:
    """Whatever an unpickler builds from a recorded global: accepts every call, does nothing."""

    def __new__(cls, *args: object, **kwargs: object) -> Stub:
        return object.__new__(cls)

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def __call__(self, *args: object, **kwargs: object) -> Stub:
        return Stub()

    def __setstate__(self, state: object) -> None:
        pass

    def __setitem__(self, key: object, value: object) -> None:
        pass

    def append(self, item: object) -> None:
        pass

    def extend(self, items: object) -> None:
        pass

    def add(self, item: object) -> None:
        pass


def _recorder(base: type) -> type:
    class Recorder(base):  # type: ignore[misc, valid-type]
        def __init__(self, data: bytes) -> None:
            super().__init__(io.BytesIO(data), encoding="utf-8")
            self.seen: list[tuple[str, str]] = []

        def find_class(self, module: str, name: str) -> type:
            self.seen.append((module, name))
            # What a real interpreter does with such names: no module is called so, or (after the
            # import, which has happened) no attribute is.
            if not _IDENTIFIER.match(module):
                raise ImportError(module)
            if not _IDENTIFIER.match(name):
                raise AttributeError(name)
            return Stub

        def persistent_load(self, pid: object) -> Stub:
            return Stub()

    return Recorder


ORACLES = {"_pickle": _recorder(pickle.Unpickler), "pickle.py": _recorder(pickle._Unpickler)}  # type: ignore[attr-defined]


def resolved(data: bytes, oracle: str) -> list[tuple[str, str]]:
    unpickler = ORACLES[oracle](data)
    # Any failure is fine (MemoryError too, for absurd memo indices): we want what it resolved first.
    with contextlib.suppress(Exception):
        unpickler.load()
    return list(unpickler.seen)


@dataclass
class Outcome:
    cases: int = 0
    walker_failed: int = 0
    oracle_resolved: int = 0
    refused_differential: int = 0
    problems: list[str] = field(default_factory=list)


def check(data: bytes, outcome: Outcome) -> None:
    outcome.cases += 1
    try:
        result = walk(data)
        reported = {(i.module, i.name) for i in result.imports} | {i.raw for i in result.imports}
        inert = False
    except PickleInvalid as exc:
        outcome.walker_failed += 1
        if exc.kind in ("differential", "limit"):
            outcome.refused_differential += 1
            return  # refused whatever an unpickler would do: that is what these kinds mean
        reported = {(i.module, i.name) for i in exc.imports} | {i.raw for i in exc.imports}
        inert = exc.kind in ("parse", "unresolvable") and not exc.imports and not exc.calls
    except Exception as exc:  # the walker itself must never crash
        outcome.problems.append(f"walker raised {type(exc).__name__}: {exc} on {data[:80]!r}")
        return
    for oracle in ORACLES:
        seen = resolved(data, oracle)
        outcome.oracle_resolved += bool(seen)
        missed = [pair for pair in seen if pair not in reported]
        if missed or (inert and seen):
            outcome.problems.append(f"{oracle} resolved {missed or seen} that the walker missed in {data[:120]!r}")


# -- inputs ----------------------------------------------------------------------------------------------


def seeds() -> list[bytes]:
    values: list[object] = [
        {"a": [1, 2.5, "x", b"y", (1, 2), {3}, frozenset({4}), None, True, 10**30, -7, 2**40]},
        OrderedDict(w=[1, 2]),
        [[1], [1], "s" * 300, b"b" * 300, bytearray(b"ba")],
        ("t",) * 3,
    ]
    out = [pickle.dumps(v, protocol=p) for v in values for p in range(6)]
    out += [
        b"cos\nsystem\n(S'echo'\ntR.",
        b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x93\x94h\x00h\x01\x93.",
        b"(S'x'\nios\nsystem\n.",
        b"\x80\x02c__builtin__\nxrange\nK\x01\x85R.",
        b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x8c\x06system\x93.",
        b"I0x1\n0cos\nsystem\n.",
        b"\x80\x02ccopy_reg\n_reconstructor\nccollections\nOrderedDict\nc__builtin__\nobject\nN\x87R}b.",
    ]
    return out


def _opcode_soup(rng: random.Random) -> bytes:
    """A random stream built from opcodes with well-formed arguments (reaches deep into the walker)."""
    parts = [b"\x80" + bytes([rng.randrange(6)])] if rng.random() < 0.7 else []
    for _ in range(rng.randrange(1, 24)):
        choice = rng.randrange(22)
        text = rng.choice(MODULES + NAMES).encode()
        parts.append(
            [
                b"(", b")", b"]", b"}", b"N", b"0", b"1", b"2", b"t", b"l", b"d", b"R", b"b", b"\x81", b"\x85",
                b"\x86", b"\x93", b"\x94", b"s", b"a", b"e",
            ][choice]
            if choice < 21
            else rng.choice(
                [
                    b"\x8c" + bytes([len(text)]) + text,
                    b"c" + text + b"\n" + rng.choice(NAMES).encode() + b"\n",
                    b"i" + text + b"\n" + rng.choice(NAMES).encode() + b"\n",
                    b"q" + bytes([rng.randrange(4)]),
                    b"h" + bytes([rng.randrange(4)]),
                    b"K" + bytes([rng.randrange(256)]),
                    b"S'" + text + b"'\n",
                    b"I" + rng.choice([b"1", b"0x1", b"01", b"00", b" 2", b"1_0"]) + b"\n",
                    b"g" + rng.choice([b"0", b"1", b"0_0", b" 1"]) + b"\n",
                    b"\x95" + rng.randrange(40).to_bytes(8, "little"),
                    b"\x82\x01",
                    b"\x98",
                    b"Q",
                ]
            )
        )  # fmt: skip
    parts.append(b".")
    return b"".join(parts)


def _mutate(rng: random.Random, data: bytes) -> bytes:
    raw = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        op = rng.randrange(5)
        at = rng.randrange(len(raw) + 1)
        if op == 0 and raw:
            raw[min(at, len(raw) - 1)] = rng.randrange(256)
        elif op == 1:
            raw[at:at] = rng.choice(seeds())[: rng.randrange(1, 40)]
        elif op == 2:
            del raw[at : at + rng.randrange(1, 8)]
        elif op == 3:
            raw[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 6)))
        else:
            raw = raw[:at]
    return bytes(raw)


def cases(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    base = seeds()
    out = list(base)
    while len(out) < count:
        kind = rng.randrange(3)
        if kind == 0:
            out.append(_opcode_soup(rng))
        elif kind == 1:
            out.append(_mutate(rng, rng.choice(base)))
        else:
            out.append(_mutate(rng, _opcode_soup(rng)))
    return out[:count]


def run(seed: int, count: int) -> Outcome:
    outcome = Outcome()
    for data in cases(seed, count):
        check(data, outcome)
    return outcome
