"""Unmodified loaders under `modellock run`: transformers, PEFT, sentence-transformers and diffusers load
exactly the locked commits from an hf-cache that `sync` filled from the local Hub, offline.

The models are made at test time by the real libraries (tests/loaders_make.py), uploaded to the Hub
emulator, locked by tag `v1` (so no `refs/main` exists for them: a loader asking for no revision finds
the locked commit only through the guard), synced, and loaded by a script that names only repo ids.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import cli
from tests.hub import FakeHub

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None,
    reason="torch and transformers are not installed (the `test` extra has them)",
)
PY = sys.executable


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("loaders")
    done = subprocess.run(
        [PY, "-m", "tests.loaders_make", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.returncode == 0, done.stderr
    yield out


def upload(hub: FakeHub, repo_id: str, folder: Path) -> str:
    """Every file of `folder` as one commit, tagged v1; then `main` moves on to something else."""
    repo = hub.repo(repo_id)
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    commit = repo.commit(files)
    repo.tags["v1"] = commit
    repo.commit({"README.md": b"moved on"}, keep=True)
    return commit


def lock_models(project: Path, repos: dict[str, str]) -> None:
    assert cli("init").exit_code == 0
    manifest = project / "modellock.toml"
    text = manifest.read_text()
    for name, repo in repos.items():
        text += f'\n[models.{name}]\nrepo = "{repo}"\nrevision = "v1"\nlayout = "hf-cache"\npath = "hf"\n'
    manifest.write_text(text)
    run = cli("sync")
    assert run.exit_code == 0, run.stderr


def run_app(project: Path, hub: FakeHub, code: str) -> dict[str, object]:
    script = project / "app.py"
    script.write_text("import json\nfrom modellock.runtime import LockGuardError\nout = {}\n" + code)
    hub.requests.clear()
    done = subprocess.run(
        [PY, "-m", "modellock", "run", "--", PY, str(script)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert hub.requests == []  # offline: nothing reached the Hub
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


REFUSALS = """
def refused(load, *args, **kwargs):
    try:
        load(*args, **kwargs)
    except LockGuardError as exc:
        return str(exc)
    return "loaded"
"""


def test_transformers_model_and_tokenizer(project: Path, hub: FakeHub, made: Path) -> None:
    commit = upload(hub, "acme/bert-tiny", made / "bert")
    upload(hub, "acme/bert-dir", made / "bert")
    lock_models(project, {"bert": "acme/bert-tiny"})
    manifest = project / "modellock.toml"  # the same model once more, installed as a plain directory
    manifest.write_text(manifest.read_text() + '\n[models.bert-dir]\nrepo = "acme/bert-dir"\npath = "models/bert"\n')
    assert cli("sync").exit_code == 0
    out = run_app(
        project,
        hub,
        REFUSALS + "from transformers import AutoModel, AutoTokenizer\n"
        "from transformers.utils import cached_file\n"
        "m = AutoModel.from_pretrained('acme/bert-tiny')\n"
        "t = AutoTokenizer.from_pretrained('acme/bert-tiny')\n"
        "out['config'] = cached_file('acme/bert-tiny', 'config.json')\n"
        "out['ids'] = t('hello world')['input_ids']\n"
        "from transformers import AutoImageProcessor\n"
        "p = AutoImageProcessor.from_pretrained('acme/bert-tiny', use_fast=False)\n"
        "out['processor'] = [type(p).__name__, p.size['height']]\n"
        "d = AutoModel.from_pretrained('acme/bert-dir')\n"
        "AutoTokenizer.from_pretrained('acme/bert-dir')\n"
        "out['dir'] = cached_file('acme/bert-dir', 'model.safetensors')\n"
        "out['same'] = bool((d.embeddings.word_embeddings.weight == m.embeddings.word_embeddings.weight).all())\n"
        "out['unlocked'] = refused(AutoModel.from_pretrained, 'acme/not-locked')\n"
        "out['revision'] = refused(AutoModel.from_pretrained, 'acme/bert-tiny', revision='main-next')\n"
        "print(json.dumps(out))\n",
    )
    assert str(out["config"]).endswith(f"models--acme--bert-tiny/snapshots/{commit}/config.json")
    assert out["ids"] == [2, 1, 1, 3]  # [CLS] [UNK] [UNK] [SEP]: the made tokenizer's own answer, from its files
    assert str(out["processor"][0]).startswith("ViTImageProcessor") and out["processor"][1] == 8  # type: ignore[index]
    assert Path(str(out["dir"])) == (project / "models" / "bert" / "model.safetensors").absolute()
    assert out["same"] is True
    assert "'acme/not-locked' is not in the lock" in str(out["unlocked"])
    assert "revision 'main-next' of 'acme/bert-tiny' is not the locked one" in str(out["revision"])


@pytest.mark.skipif(importlib.util.find_spec("peft") is None, reason="peft is not installed")
def test_peft_adapter_and_the_base_its_config_names(project: Path, hub: FakeHub, made: Path) -> None:
    base = upload(hub, "acme/bert-tiny", made / "bert")
    adapter = upload(hub, "acme/lora", made / "adapter")
    lock_models(project, {"bert": "acme/bert-tiny", "lora": "acme/lora"})
    out = run_app(
        project,
        hub,
        "from peft import PeftConfig, PeftModel\n"
        "from transformers import AutoModel\n"
        "config = PeftConfig.from_pretrained('acme/lora')\n"
        "base = AutoModel.from_pretrained(config.base_model_name_or_path, revision=config.revision)\n"
        "model = PeftModel.from_pretrained(base, 'acme/lora')\n"
        "out['base'] = config.base_model_name_or_path\n"
        "from transformers.utils import cached_file\n"
        "out['base_config'] = cached_file(config.base_model_name_or_path, 'config.json')\n"
        "out['lora'] = sum(1 for n, _ in model.named_parameters() if 'lora_B' in n)\n"
        "print(json.dumps(out))\n",
    )
    assert out["base"] == "acme/bert-tiny"
    assert str(out["base_config"]).endswith(f"snapshots/{base}/config.json")
    assert out["lora"] == 1
    assert adapter


@pytest.mark.skipif(importlib.util.find_spec("sentence_transformers") is None, reason="not installed")
def test_sentence_transformers(project: Path, hub: FakeHub, made: Path) -> None:
    commit = upload(hub, "acme/st-tiny", made / "st")
    lock_models(project, {"st": "acme/st-tiny"})
    out = run_app(
        project,
        hub,
        REFUSALS + "from sentence_transformers import SentenceTransformer\n"
        "m = SentenceTransformer('acme/st-tiny')\n"
        "out['dim'] = len(m.encode('hello world'))\n"
        "out['unlocked'] = refused(SentenceTransformer, 'acme/other-st')\n"
        "import huggingface_hub\n"
        "out['path'] = huggingface_hub.snapshot_download('acme/st-tiny')\n"
        "print(json.dumps(out))\n",
    )
    assert out["dim"] == 8
    assert str(out["path"]).endswith(f"snapshots/{commit}")
    assert "'acme/other-st' is not in the lock" in str(out["unlocked"])


@pytest.mark.skipif(importlib.util.find_spec("diffusers") is None, reason="diffusers is not installed")
def test_diffusers_pipeline_with_subfolders(project: Path, hub: FakeHub, made: Path) -> None:
    commit = upload(hub, "acme/pipe", made / "pipe")
    lock_models(project, {"pipe": "acme/pipe"})
    out = run_app(
        project,
        hub,
        REFUSALS + "from diffusers import DiffusionPipeline, UNet2DModel\n"
        "pipe = DiffusionPipeline.from_pretrained('acme/pipe')\n"
        "unet = UNet2DModel.from_pretrained('acme/pipe', subfolder='unet')\n"
        "out['kind'] = type(pipe).__name__\n"
        "out['unet'] = unet.config.block_out_channels[0]\n"
        "out['unlocked'] = refused(DiffusionPipeline.from_pretrained, 'acme/other-pipe')\n"
        "print(json.dumps(out))\n",
    )
    assert out["kind"] == "DDPMPipeline" and out["unet"] == 8
    assert "'acme/other-pipe' is not in the lock" in str(out["unlocked"])
    assert commit
