"""Seeded mutations of a real lock, and the judgement `lock --check` must pass on each.

A mutant that `lock --check` accepts must mean the same lock as the original; every other mutant
must be refused with a ModellockError (never an internal error). Shared by the suite (a few
hundred cases) and `python -m benchmarks.lock_fuzz` (thousands).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from modellock.errors import ModellockError
from modellock.ops.check import check_lock
from modellock.project.lockread import loads
from modellock.project.manifest import load_manifest
from tests.hub import FakeHub
from tests.samples import weights
from tests.sigstore_fake import FakeSigstore, statement

TORCH_ZIP = (Path(__file__).parent / "data" / "torch" / "benign_zip.bin").read_bytes()
SIGNED = {"config.json": b'{"model_type": "bert"}\n', "model.safetensors": weights(b"\x07" * 4096)}
ID = "https://github.com/acme/models/.github/workflows/release.yml@refs/tags/v1"
ISS = "https://token.actions.githubusercontent.com"


def publish(hub: FakeHub, sigstore: FakeSigstore) -> None:
    """Repositories covering every lock feature: layouts, tags, pickles with scan verdicts, a signature,
    and a lineage edge (an adapter of `plain`)."""
    plain = hub.repo("acme/plain")
    plain.commit({"config.json": b"{}\n", "model.safetensors": weights(b"w" * 512), "sub/dir/é x.json": b"[]"})
    tagged = hub.repo("acme/tagged")
    tagged.tags["v1.0"] = tagged.commit({"tokenizer.json": b'{"v": 1}', "model.safetensors": weights(b"t" * 64)})
    hub.repo("acme/old").commit({"pytorch_model.bin": TORCH_ZIP, "config.json": b"{}"})
    bundle = sigstore.sign_dsse(statement(SIGNED), ID, ISS)
    hub.repo("acme/signed").commit({**SIGNED, "model.sig": json.dumps(bundle).encode()})
    adapter = json.dumps({"base_model_name_or_path": "acme/plain", "revision": None}).encode()
    hub.repo("acme/lora").commit(
        {"adapter_config.json": adapter, "adapter_model.safetensors": weights(b"a" * 64)},
        card={"base_model": "acme/plain"},
    )


MANIFEST = f"""[settings]
trusted-root = "trusted_root.json"

[models.plain]
repo = "acme/plain"
include = ["*.json", "*.safetensors"]

[models.tagged]
repo = "acme/tagged"
revision = "v1.0"
layout = "hf-cache"

[models.old]
repo = "acme/old"
pickle = "scan"
allow-files = ["config.json"]

[models.signed]
repo = "acme/signed"
signature = {{ identity = "{ID}", issuer = "{ISS}" }}

[models.lora]
repo = "acme/lora"

[models.mine]
source = "local"
repo = "weights/mine"
"""


def write_project(root: Path, sigstore: FakeSigstore) -> Path:
    (root / "trusted_root.json").write_text(json.dumps(sigstore.trusted_root()))
    mine = root / "weights" / "mine"  # a local model: its `source` and `repo` are mutated too
    mine.mkdir(parents=True, exist_ok=True)
    (mine / "config.json").write_bytes(b'{"model_type": "tiny"}\n')
    (mine / "model.safetensors").write_bytes(weights(b"m" * 128))
    (root / "modellock.toml").write_text(MANIFEST)
    return root / "modellock.toml"


_VALUE = re.compile(r'"(?:[^"\\]|\\.)*"|\d+')


def mutants(text: str, seed: int, count: int) -> Iterator[str]:
    """`count` edits of `text`, each one of the edits a reviewer might miss or a merge might make."""
    rng = random.Random(seed)
    lines = text.split("\n")
    values = [m for m in _VALUE.finditer(text)]
    for _ in range(count):
        kind = rng.randrange(9)
        if kind == 0:  # one character of a value replaced by a look-alike
            m = rng.choice(values)
            i = rng.randrange(m.start(), m.end())
            pool = "0123456789abcdef" if text[i] in "0123456789abcdef" else "abcxyz./-_ "
            yield text[:i] + rng.choice(pool) + text[i + 1 :]
        elif kind == 1:  # a value swapped for another value from elsewhere in the lock
            a, b = rng.sample(values, 2)
            yield text[: a.start()] + b.group() + text[a.end() :]
        elif kind == 2:  # a line removed
            i = rng.randrange(len(lines))
            yield "\n".join(lines[:i] + lines[i + 1 :])
        elif kind == 3:  # a line duplicated
            i = rng.randrange(len(lines))
            yield "\n".join(lines[: i + 1] + lines[i:])
        elif kind == 4:  # two lines swapped
            i, j = rng.sample(range(len(lines)), 2)
            swapped = list(lines)
            swapped[i], swapped[j] = swapped[j], swapped[i]
            yield "\n".join(swapped)
        elif kind == 5:  # a line moved to another model
            i = rng.randrange(len(lines))
            j = rng.randrange(len(lines))
            moved = lines[:i] + lines[i + 1 :]
            yield "\n".join([*moved[:j], lines[i], *moved[j:]])
        elif kind == 6:  # an integer nudged
            ints = [m for m in values if m.group().isdigit()]
            m = rng.choice(ints)
            yield text[: m.start()] + str(max(0, int(m.group()) + rng.choice((-1, 1, 4096)))) + text[m.end() :]
        elif kind == 7:  # a key line added, as a hand edit would
            i = rng.randrange(len(lines))
            extra = rng.choice(
                (
                    'policy = { pickle = "allow", remote-code = "allow", allow-files = [] }',
                    'requested = "main"',
                    'layout = "dir"',
                    "revision = 1",
                    "# a comment",
                )
            )
            yield "\n".join([*lines[:i], extra, *lines[i:]])
        else:  # any byte
            i = rng.randrange(len(text))
            yield text[:i] + chr(rng.randrange(32, 127)) + text[i + 1 :]


@dataclass
class Tally:
    refused: int = 0
    same: int = 0
    different: int = 0
    """Accepted although it means another lock: must stay 0."""
    internal: int = 0
    """Crashed with something other than a ModellockError: must stay 0."""
    examples: list[str] | None = None

    def add(self, verdict: str, mutant: str) -> None:
        setattr(self, verdict, getattr(self, verdict) + 1)
        if verdict in ("different", "internal"):
            self.examples = [*(self.examples or []), mutant][:5]


def judge(manifest_path: Path, original: str, mutant: str) -> str:
    """refused | same | different | internal, for one mutant written in place of the lock."""
    lock_path = manifest_path.with_name("modellock.lock")
    lock_path.write_text(mutant, encoding="utf-8")
    try:
        result = check_lock(load_manifest(manifest_path))
    except ModellockError:
        return "refused"
    except Exception:  # the judgement itself: anything else is what the fuzzer hunts for
        return "internal"
    if not result.ok:
        return "refused"
    before, after = loads(original), loads(mutant)
    return "same" if (before.models, before.version) == (after.models, after.version) else "different"


def run(manifest_path: Path, seed: int, count: int) -> Tally:
    lock_path = manifest_path.with_name("modellock.lock")
    original = lock_path.read_text(encoding="utf-8")
    tally = Tally()
    try:
        for mutant in mutants(original, seed, count):
            tally.add(judge(manifest_path, original, mutant), mutant)
    finally:
        lock_path.write_text(original, encoding="utf-8")
    return tally
