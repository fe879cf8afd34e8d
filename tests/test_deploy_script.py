"""Issue 22's done-when: a deploy script importing only `modellock` (docs/examples/deploy.py) checks,
syncs from the local Hub and from a real registry, verifies, and loads the model offline with
transformers through `Project.path()`. `mypy --strict` on the script runs in .ci/run (it reads torch's
stubs: a minute, too slow for the suite)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import cli
from tests.hub import FakeHub
from tests.registry import LocalRegistry
from tests.test_oci_registry import closed_endpoint

DEPLOY = Path(__file__).resolve().parent.parent / "docs" / "examples" / "deploy.py"
# A real (tiny) BERT written by transformers itself: 2 layers, its tokenizer built from a vocabulary.
MAKE_BERT = """
import sys
from pathlib import Path
import torch
from transformers import BertConfig, BertModel, BertTokenizerFast
out = Path(sys.argv[1])
torch.manual_seed(0)
words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "locked", "world"]
(out / "vocab.txt").write_text("\\n".join(words) + "\\n")
BertTokenizerFast(vocab_file=str(out / "vocab.txt")).save_pretrained(out)
config = BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=32, max_position_embeddings=32)
BertModel(config).save_pretrained(out)
"""

needs_transformers = pytest.mark.skipif(
    importlib.util.find_spec("transformers") is None or importlib.util.find_spec("torch") is None,
    reason="transformers and torch are in the `test` extra",
)


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("bert")
    subprocess.run([sys.executable, "-c", MAKE_BERT, str(out)], check=True, capture_output=True, timeout=300)
    return {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}


def deploy(project: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, object], str]:
    run = subprocess.run(
        [sys.executable, str(DEPLOY), "--project", str(project), *args, "bert"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env or dict(os.environ),
    )
    return run.returncode, json.loads(run.stdout.splitlines()[-1]), run.stderr


@needs_transformers
@pytest.mark.timeout(600)
def test_deploy_script_from_the_hub_then_from_a_registry(
    project: Path, hub: FakeHub, registry: LocalRegistry, tmp_path: Path, bert: dict[str, bytes]
) -> None:
    hub.repo("acme/bert").commit(bert)
    (project / "modellock.toml").write_text('[models.bert]\nrepo = "acme/bert"\n')
    assert cli("lock").exit_code == 0
    code, data, err = deploy(project)
    assert code == 0, err
    assert data == {"ok": True, "path": str(project / "models" / "bert"), "output_shape": [1, 5, 16]}
    assert (project / "models" / "bert" / "model.safetensors").read_bytes() == bert["model.safetensors"]

    # Another machine: an empty store, no Hub; every byte comes from the registry.
    assert cli("push", f"{registry.url}/fleet").exit_code == 0
    shutil.rmtree(project / "models")
    env = {**os.environ, "MODELLOCK_CACHE_DIR": str(tmp_path / "fresh-store"), "HF_ENDPOINT": closed_endpoint()}
    code, data, err = deploy(project, "--registry", f"{registry.url}/fleet", env=env)
    assert code == 0, err
    assert data["output_shape"] == [1, 5, 16]


def test_deploy_script_refuses_a_stale_lock_with_its_facts(project: Path, hub: FakeHub) -> None:
    hub.repo("acme/bert").commit({"config.json": b"{}"})
    (project / "modellock.toml").write_text('[models.bert]\nrepo = "acme/bert"\n')
    assert cli("lock").exit_code == 0
    (project / "modellock.toml").write_text('[models.bert]\nrepo = "acme/bert"\nrevision = "v2"\n')
    code, data, _ = deploy(project)
    assert code == 1
    assert data["error"] == "StaleLock" and data["exit_code"] == 1
    problem = {"model": "bert", "message": "changed in the manifest since it was locked"}
    assert data["details"] == {"problems": [problem]}
    assert not (project / "models").exists()
