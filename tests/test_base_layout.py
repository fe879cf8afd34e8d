"""An adapter locked into an hf-cache whose base its loader cannot reach (ops/baselayout.py): the
decision per layout pair, and real PEFT failing offline exactly when `lock` and `sync` warn."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from modellock.ops.baselayout import unreachable_base, unreachable_bases
from modellock.project.edges import LockedEdge
from modellock.project.lockfile import LockedFile, LockedModel
from tests.helpers import cli
from tests.hub import FakeHub

H = "ab" * 32


def _model(name: str, layout: str = "dir", path: str = "", bases: tuple[LockedEdge, ...] = ()) -> LockedModel:
    return LockedModel(
        name, "huggingface", f"acme/{name}", "model", path or f"models/{name}", "main", "c" * 40,
        "blake3:" + "0" * 64, (LockedFile("config.json", 2, H, H),), layout=layout, bases=bases,
    )  # fmt: skip


def _edge(relation: str = "adapter", evidence: tuple[str, ...] = ("adapter_config", "card")) -> LockedEdge:
    return LockedEdge("base", "acme/base", relation, "c" * 40, "blake3:" + "0" * 64, evidence)


@pytest.mark.parametrize(
    ("child", "parent", "reachable"),
    [
        (("hf-cache", "models/hf-cache"), ("dir", "models/base"), False),
        (("hf-cache", "models/hf-cache"), ("hf-cache", "models/hf-cache"), True),
        (("hf-cache", "models/hf-cache"), ("hf-cache", "./models//hf-cache/"), True),  # one directory, spelt twice
        (("hf-cache", "models/hf-cache"), ("hf-cache", "other-cache"), False),
        (("dir", "models/lora"), ("dir", "models/base"), True),  # loaded by directory: the caller names both
        (("dir", "models/lora"), ("hf-cache", "models/hf-cache"), True),
    ],
)
def test_reachability_by_layout(child: tuple[str, str], parent: tuple[str, str], reachable: bool) -> None:
    problem = unreachable_base(_model("lora", *child), _model("base", *parent))
    assert (problem is None) is reachable
    if not reachable:
        assert problem is not None and "`lora` is an adapter in the hf-cache" in problem
        assert f'[models.base] in modellock.toml `layout = "hf-cache"` and `path = "{child[1]}"`' in problem


@pytest.mark.parametrize(
    ("edge", "warned"),
    [
        (_edge(), True),
        (_edge(evidence=("adapter_config",)), True),
        (_edge(evidence=("card",)), False),  # a card's word alone: no adapter_config for PEFT to follow
        (_edge(relation="finetune", evidence=("card",)), False),  # a fine-tune does not load its parent
        (_edge(relation="quantized", evidence=("gguf",)), False),
        (_edge(relation="merge", evidence=("card",)), False),
    ],
)
def test_only_adapter_edges_are_asked(edge: LockedEdge, warned: bool) -> None:
    models = [_model("base"), _model("lora", "hf-cache", "models/hf-cache", (edge,))]
    assert bool(unreachable_bases(models)) is warned


def test_a_dangling_edge_is_left_to_the_edge_check() -> None:
    assert unreachable_bases([_model("lora", "hf-cache", "models/hf-cache", (_edge(),))]) == ()


def test_one_warning_per_edge_in_name_order() -> None:
    lora = _model("lora", "hf-cache", "models/hf-cache", (_edge(),))
    found = unreachable_bases([_model("base"), lora, replace(lora, name="another")])
    assert [w.split("`")[1] for w in found] == ["another", "lora"]


# --- end to end: the real Hub client, the real PEFT ---

needs_peft = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("peft", "transformers", "torch")),
    reason="peft, transformers and torch are in the `test` extra",
)

# A tiny BERT and a LoRA adapter for it, written by transformers and PEFT themselves; the adapter names
# its base by repository id (`base_model_name_or_path`), as adapters on the Hub do.
MAKE = """
import sys
from pathlib import Path
import torch
from peft import LoraConfig, get_peft_model
from transformers import BertConfig, BertModel
out = Path(sys.argv[1])
torch.manual_seed(0)
config = BertConfig(vocab_size=8, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=32, max_position_embeddings=32)
base = BertModel(config)
base.save_pretrained(out / "base")
lora = LoraConfig(r=2, target_modules=["query", "value"], task_type="FEATURE_EXTRACTION")
adapter = get_peft_model(base, lora)
adapter.peft_config["default"].base_model_name_or_path = "acme/base"
adapter.save_pretrained(out / "lora")
"""

# How an unmodified application loads an adapter by id; the adapter itself always resolves (it is in the
# cache), so a failure after that is the base.
LOAD = """
import sys
from peft import AutoPeftModelForFeatureExtraction, PeftConfig
config = PeftConfig.from_pretrained("acme/lora")
try:
    model = AutoPeftModelForFeatureExtraction.from_pretrained("acme/lora")
except Exception as exc:
    print(f"base unreachable: {config.base_model_name_or_path}: {type(exc).__name__}")
    sys.exit(3)
print(type(model).__name__)
"""


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bytes]]:
    out = tmp_path_factory.mktemp("peft")
    subprocess.run([sys.executable, "-c", MAKE, str(out)], check=True, capture_output=True, timeout=300)
    return {d: {p.name: p.read_bytes() for p in (out / d).iterdir() if p.is_file()} for d in ("base", "lora")}


def _load_offline(cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", LOAD], capture_output=True, text=True, timeout=300, env=env)


@needs_peft
@pytest.mark.timeout(600)
def test_peft_finds_the_base_offline_only_when_no_warning_is_given(
    project: Path, hub: FakeHub, made: dict[str, dict[str, bytes]]
) -> None:
    hub.repo("acme/base").commit(made["base"])
    hub.repo("acme/lora").commit(made["lora"], card={"base_model": "acme/base", "library_name": "peft"})
    manifest = project / "modellock.toml"
    lora = '[models.lora]\nrepo = "acme/lora"\nlayout = "hf-cache"\n'
    manifest.write_text(f'[models.base]\nrepo = "acme/base"\n\n{lora}')

    run = cli("lock")
    assert run.exit_code == 0, run.stderr
    warning = "`lora` is an adapter in the hf-cache `models/hf-cache`, but its base `base` (acme/base)"
    assert warning in run.stderr and "as a plain directory (`models/base`)" in run.stderr
    run = cli("sync")
    assert run.exit_code == 0, run.stderr
    assert warning in run.stderr
    assert (project / "models" / "base" / "model.safetensors").is_file()
    loaded = _load_offline(project / "models" / "hf-cache")
    assert loaded.returncode == 3, loaded.stderr[-3000:]  # what the warning foretold
    assert loaded.stdout.startswith("base unreachable: acme/base: ")

    # The fix the warning names: the base in the adapter's cache.
    manifest.write_text(f'[models.base]\nrepo = "acme/base"\nlayout = "hf-cache"\npath = "models/hf-cache"\n\n{lora}')
    run = cli("lock")
    assert run.exit_code == 0, run.stderr
    assert "is an adapter in the hf-cache" not in run.stderr
    run = cli("sync")
    assert run.exit_code == 0, run.stderr
    assert "is an adapter in the hf-cache" not in run.stderr
    loaded = _load_offline(project / "models" / "hf-cache")
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "PeftModelForFeatureExtraction"
