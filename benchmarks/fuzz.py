"""Mutate manifests and locks and count internal errors: every failure must be a ModellockError.

    python -m benchmarks.fuzz --manifests 2000 --locks 2000 [--seed N]

Each mutant is read the way the commands read it (`load_manifest`, `read_lock`, `lock --check`,
`status`) and classified as accepted, refused with a ModellockError (what a user sees as
`error:`/`hint:`), or an internal error (any other exception: a bug). Exit 1 if any was internal.
The test suite runs a few hundred of each (tests/test_fuzz.py).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from modellock.errors import ModellockError
from modellock.ops.check import check_lock
from modellock.ops.verify import status_installed
from modellock.project.card import LockedCard
from modellock.project.lockfile import LockedFile, LockedModel, LockedSignature, Lockfile, dumps
from modellock.project.lockread import read_lock
from modellock.project.manifest import load_manifest
from modellock.project.policy import Policy

EXAMPLE = Path(__file__).parent.parent / "modellock.toml.example"

_TOKENS = [
    '"', "'", "[", "]", "{", "}", "=", ",", "\n", "#", "\\", "\\u0000", "\\ud800", "1e999", "-1", "0x10", "nan",
    "99999999999999999999999", "true", "inf", "[[model]]\n", "[models.x]\n", '"""', "'''", "..", "/", "\x00",
    "\x7f", "1979-05-27T07:32:00Z", "[" * 200, "[" * 1200, "{a=" * 200, "{a=" * 1200, "a.b.c = 1\n", "models = 1\n",
    "\u202e", "\r\n",
    ".modellock-install.json", "../../etc/passwd", "~root/x", "a" * 300,
]  # fmt: skip
_VALUES = [
    "1", "-7", "1.5", "true", "[]", "{}", '["a", 1]', "{ a = 1 }", '"/abs"', '"../up"', '""', '"a/../b"',
    "1979-05-27", '"' + "x" * 5000 + '"', '"\\u0000"', "[[1]]", '"blake3:' + "0" * 64 + '"', '"' + "0" * 40 + '"',
]  # fmt: skip


def seed_lock() -> str:
    """A canonical lock using every field: two models, a policy, a signature, labelled files."""
    files = [
        LockedFile("config.json", 23, "a" * 64, "b" * 64, "json"),
        LockedFile(
            "model.safetensors", 1 << 20, "c" * 64, "d" * 64, "safetensors", hub_scan="unsafe av=safe jfrog=unsafe"
        ),
        LockedFile("sub/pytorch_model.bin", 99, "e" * 64, "f" * 64, "pytorch-zip", "clean", "modellock-scan/1"),
    ]
    signed = LockedModel(
        name="bert",
        source="huggingface",
        repo="google-bert/bert-base-uncased",
        repo_type="model",
        install_path="models/bert",
        requested="main",
        commit="1" * 40,
        fingerprint="blake3:" + "2" * 64,
        files=tuple(files),
        policy=Policy("scan", "deny", ("sub/*.bin",)),
        signature=LockedSignature(
            "model.sig",
            10,
            "3" * 64,
            "4" * 64,
            "key",
            "key-owner",
            key="sha256:" + "5" * 64,
            root_digest="sha256:" + "6" * 64,
        ),
        card=LockedCard("apache-2.0", "fill-mask", ("acme/books", "acme/wiki")),
    )
    cached = LockedModel(
        name="tiny",
        source="huggingface",
        repo="acme/tiny",
        repo_type="dataset",
        install_path="models/hf-cache",
        layout="hf-cache",
        requested="v1.0",
        commit="6" * 40,
        fingerprint="blake3:" + "7" * 64,
        files=(files[0],),
    )
    return dumps(Lockfile((signed, cached)))


def _lines(text: str) -> list[str]:
    return text.split("\n")


def mutate(text: str, rng: random.Random) -> bytes:
    """One to three random edits: bytes, lines, tokens or values."""
    data = text
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(9)
        lines = _lines(data)
        i = rng.randrange(len(lines))
        if op == 0 and data:
            pos = rng.randrange(len(data))
            data = data[:pos] + chr(ord(data[pos]) ^ (1 << rng.randrange(7))) + data[pos + 1 :]
        elif op == 1 and data:
            pos = rng.randrange(len(data))
            data = data[:pos] + data[pos + rng.randint(1, 40) :]
        elif op == 2:
            lines.insert(i, lines[i])
            data = "\n".join(lines)
        elif op == 3:
            del lines[i]
            data = "\n".join(lines)
        elif op == 4:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
            data = "\n".join(lines)
        elif op == 5:
            pos = rng.randrange(len(data) + 1)
            data = data[:pos] + rng.choice(_TOKENS) + data[pos:]
        elif op == 6 and " = " in lines[i]:
            key = lines[i].split(" = ", 1)[0]
            lines[i] = f"{key} = {rng.choice(_VALUES)}"
            data = "\n".join(lines)
        elif op == 7:
            data = data[: rng.randrange(len(data) + 1)]
        elif op == 8:
            # A value inside an inline table or array replaced, where the fast lock reader looks.
            pos = data.find(" = ", rng.randrange(len(data) + 1))
            if pos != -1:
                end = min((p for p in (data.find(",", pos), data.find(" }", pos)) if p != -1), default=len(data))
                data = data[: pos + 3] + rng.choice(_VALUES) + data[end:]
    raw = data.encode("utf-8", "surrogatepass")
    if rng.random() < 0.05 and raw:
        pos = rng.randrange(len(raw))
        raw = raw[:pos] + bytes([rng.choice([0xFF, 0xC0, 0x80, 0xED])]) + raw[pos:]
    return raw


@dataclass
class Tally:
    accepted: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    internal: list[tuple[bytes, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.accepted + sum(self.refused.values()) + len(self.internal)


def _classify(tally: Tally, mutant: bytes, *actions: Callable[[], object]) -> None:
    """Run each reader on its own (one command may read a file another never reaches); worst outcome counts."""
    outcome = "accepted"
    for action in actions:
        try:
            action()
        except ModellockError as exc:
            outcome = outcome if outcome == "internal" else type(exc).__name__
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:
            if outcome != "internal":
                tally.internal.append((mutant, traceback.format_exc()))
            outcome = "internal"
    if outcome == "accepted":
        tally.accepted += 1
    elif outcome != "internal":
        tally.refused[outcome] += 1


def fuzz_manifests(count: int, seed: int, workdir: Path) -> Tally:
    rng = random.Random(seed)
    base = EXAMPLE.read_text(encoding="utf-8")
    project = workdir / "manifests"
    project.mkdir()
    (project / "modellock.lock").write_text(seed_lock(), encoding="utf-8")
    path = project / "modellock.toml"
    tally = Tally()

    def read() -> None:
        manifest = load_manifest(path)
        for spec in manifest.models.values():
            spec.fingerprint()
        check_lock(manifest)

    for _ in range(count):
        mutant = mutate(base, rng)
        path.write_bytes(mutant)
        _classify(tally, mutant, read)
    return tally


def fuzz_locks(count: int, seed: int, workdir: Path) -> Tally:
    rng = random.Random(seed + 1)
    base = seed_lock()
    project = workdir / "locks"
    project.mkdir()
    (project / "modellock.toml").write_text(
        '[models.bert]\nrepo = "google-bert/bert-base-uncased"\n\n'
        '[models.tiny]\nrepo = "acme/tiny"\nrepo-type = "dataset"\nrevision = "v1.0"\nlayout = "hf-cache"\n',
        encoding="utf-8",
    )
    manifest = load_manifest(project / "modellock.toml")
    path = project / "modellock.lock"
    tally = Tally()

    def status() -> None:  # `status`, `verify`, `sync --frozen`: the lock alone
        lock = read_lock(path)
        if lock is not None:
            status_installed(lock, project)

    for _ in range(count):
        mutant = mutate(base, rng)
        path.write_bytes(mutant)
        _classify(tally, mutant, lambda: check_lock(manifest), status)  # `lock --check` reads it its own way
    return tally


def _report(kind: str, tally: Tally) -> None:
    refused = ", ".join(f"{name} {n}" for name, n in tally.refused.most_common())
    print(f"{kind}: {tally.total} mutants: {tally.accepted} accepted, {sum(tally.refused.values())} refused "
          f"({refused}), {len(tally.internal)} internal errors")  # fmt: skip
    for mutant, trace in tally.internal[:3]:
        print(f"--- internal error on {mutant[:200]!r}\n{trace}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifests", type=int, default=2000)
    parser.add_argument("--locks", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="modellock-fuzz-") as tmp:
        manifests = fuzz_manifests(args.manifests, args.seed, Path(tmp))
        locks = fuzz_locks(args.locks, args.seed, Path(tmp))
    _report("manifests", manifests)
    _report("locks", locks)
    return 1 if manifests.internal or locks.internal else 0


if __name__ == "__main__":
    sys.exit(main())
