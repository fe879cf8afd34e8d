"""Lineage end to end: adapters, fine-tunes and merges locked with their bases, against the local Hub."""

from __future__ import annotations

import json
from pathlib import Path

from modellock.project.lockfile import REVISION
from modellock.project.lockread import read_lock
from tests.helpers import cli, snapshot
from tests.hub import FakeHub
from tests.samples import weights

CONFIG = b'{"model_type": "llama"}\n'


def adapter_config(base: str, revision: str | None = None) -> bytes:
    return json.dumps(
        {"peft_type": "LORA", "base_model_name_or_path": base, "revision": revision, "r": 8, "target_modules": ["q"]}
    ).encode()


def publish_chain(hub: FakeHub) -> dict[str, str]:
    """acme/lora (a PEFT adapter) -> acme/chat (a fine-tune, by its card) -> acme/base; their commits."""
    base = hub.repo("acme/base").commit({"config.json": CONFIG, "model.safetensors": weights(b"b" * 256)})
    chat = hub.repo("acme/chat").commit(
        {"config.json": CONFIG, "model.safetensors": weights(b"c" * 256)},
        card={"base_model": "acme/base", "base_model_relation": "finetune"},
    )
    lora = hub.repo("acme/lora").commit(
        {"adapter_config.json": adapter_config("acme/chat"), "adapter_model.safetensors": weights(b"l" * 64)},
        card={"base_model": "acme/chat", "library_name": "peft"},
    )
    return {"base": base, "chat": chat, "lora": lora}


def manifest(project: Path, *entries: str) -> Path:
    path = project / "modellock.toml"
    path.write_text("".join(f'[models.{e.split("/")[-1]}]\nrepo = "{e}"\n\n' for e in entries))
    return path


def test_an_adapter_whose_base_is_not_locked_stops_lock(project: Path, hub: FakeHub) -> None:
    publish_chain(hub)
    path = manifest(project, "acme/lora")
    before = snapshot(project)
    run = cli("lock")
    assert run.exit_code == 1, run.stdout
    assert "unlocked base: `lora` declares adapter base acme/chat (adapter_config, card)" in run.stderr
    assert "--with-bases" in run.stderr
    assert snapshot(project) == before and not (project / "modellock.lock").exists()
    assert path.read_text() == before["modellock.toml"].decode()


def test_add_with_bases_locks_the_chain_with_edges(project: Path, hub: FakeHub) -> None:
    commits = publish_chain(hub)
    run = cli("add", "acme/lora", "--with-bases")
    assert run.exit_code == 0, run.stderr
    assert "Added base chat (acme/chat)" in run.stderr and "Added base base (acme/base)" in run.stderr
    assert f"Linked lora -> chat@{commits['chat'][:7]} (adapter)" in run.stdout
    assert f"Linked chat -> base@{commits['base'][:7]} (finetune)" in run.stdout
    lock = read_lock(project / "modellock.lock")
    assert lock is not None and lock.names() == ["base", "chat", "lora"]
    [to_chat] = lock.get("lora").bases  # type: ignore[union-attr]
    chat = lock.get("chat")
    assert chat is not None
    assert (to_chat.model, to_chat.relation, to_chat.commit) == ("chat", "adapter", commits["chat"])
    assert to_chat.files == chat.digest and to_chat.evidence == ("adapter_config", "card")
    [to_base] = chat.bases
    assert (to_base.model, to_base.relation, to_base.evidence) == ("base", "finetune", ("card",))
    assert lock.get("base").bases == ()  # type: ignore[union-attr]
    text = (project / "modellock.lock").read_text()
    assert f"revision = {REVISION}" in text
    assert 'bases = [{ model = "chat", repo = "acme/chat", relation = "adapter"' in text
    assert cli("lock", "--check").exit_code == 0
    hub.requests.clear()
    assert cli("lock").exit_code == 0 and hub.requests == []  # sticky: edges are not re-read
    tree = cli("tree")
    assert tree.exit_code == 0
    assert tree.stdout.splitlines() == [
        f"lora acme/lora@{commits['lora'][:7]}",
        f"└── chat acme/chat@{commits['chat'][:7]} (adapter)",
        f"    └── base acme/base@{commits['base'][:7]} (finetune)",
    ]
    inverted = cli("tree", "--invert", "--depth", "1")
    assert inverted.stdout.splitlines() == [
        f"base acme/base@{commits['base'][:7]}",
        f"└── chat acme/chat@{commits['chat'][:7]} (finetune)",
    ]
    data = json.loads(cli("tree", "--format", "json").stdout)
    assert data["roots"][0]["name"] == "lora" and data["roots"][0]["children"][0]["relation"] == "adapter"
    why = cli("why", "base")
    assert why.exit_code == 0 and why.stdout.splitlines()[1:] == [
        f"└── chat acme/chat@{commits['chat'][:7]} (finetune)",
        f"    └── lora acme/lora@{commits['lora'][:7]} (adapter)",
    ]
    assert cli("why", "lora").stdout.strip() == "lora is not a base of any locked model"
    why_json = json.loads(cli("why", "chat", "--format", "json").stdout)
    assert why_json["model"] == "chat" and why_json["roots"][0]["children"][0]["name"] == "lora"
    bad = cli("why", "nope")
    assert bad.exit_code == 2 and "not in the lock: nope" in bad.stderr


def test_add_of_an_adapter_without_its_base_changes_nothing(project: Path, hub: FakeHub) -> None:
    publish_chain(hub)
    run = cli("add", "acme/lora")
    assert run.exit_code == 1 and "unlocked base: `lora` declares adapter base acme/chat" in run.stderr
    assert not (project / "modellock.toml").exists() and not (project / "modellock.lock").exists()
    # The add was undone, so `lock --with-bases` would do nothing: the hint is the add that works.
    assert "hint: nothing was added; add it with the bases it declares: `modellock add acme/lora --with-bases`" in (
        run.stderr
    )
    assert cli("add", "acme/lora", "--with-bases").exit_code == 0


def test_with_bases_failure_puts_the_manifest_back(project: Path, hub: FakeHub) -> None:
    hub.repo("acme/lora").commit({"adapter_config.json": adapter_config("acme/gone")})
    manifest(project, "acme/lora")
    before = snapshot(project)
    run = cli("lock", "--with-bases")
    assert run.exit_code == 2 and "acme/gone" in run.stderr  # the base repository does not exist
    assert snapshot(project) == before


def test_a_base_upgraded_alone_makes_the_edge_stale(project: Path, hub: FakeHub) -> None:
    commits = publish_chain(hub)
    assert cli("add", "acme/lora", "--with-bases").exit_code == 0
    moved = hub.repos[("model", "acme/chat")].commit({"model.safetensors": weights(b"C" * 256)}, keep=True)
    run = cli("lock", "--upgrade-model", "chat")
    assert run.exit_code == 0, run.stderr
    assert "stale edge: `lora` was validated against `chat`@" + commits["chat"][:7] in run.stderr  # a warning
    lock_text = (project / "modellock.lock").read_text()
    check = cli("lock", "--check")
    assert check.exit_code == 1
    assert f"stale edge: `lora` was validated against `chat`@{commits['chat'][:7]}" in check.stderr
    assert f"now locked at {moved[:7]}" in check.stderr and "modellock lock --with-dependents" in check.stderr
    assert "hint: run `modellock lock --with-dependents` to re-validate" in check.stderr
    assert "[stale edge]" in cli("tree").stdout
    before = snapshot(project)
    refused = cli("sync")
    assert refused.exit_code == 1 and "refusing the lock: stale edge: `lora`" in refused.stderr
    assert snapshot(project) == before and not (project / "models").exists()
    assert cli("sync", "--frozen").exit_code == 1
    fixed = cli("lock", "--with-dependents")
    assert fixed.exit_code == 0, fixed.stderr
    assert (project / "modellock.lock").read_text() != lock_text
    assert read_lock(project / "modellock.lock").get("lora").bases[0].commit == moved  # type: ignore[union-attr]
    assert cli("lock", "--check").exit_code == 0
    assert cli("sync").exit_code == 0


def test_an_adapter_pinning_another_base_commit_is_refused(project: Path, hub: FakeHub) -> None:
    repo = hub.repo("acme/base")
    old = repo.commit({"config.json": CONFIG})
    repo.commit({"config.json": b'{"v": 2}\n'})
    hub.repo("acme/lora").commit({"adapter_config.json": adapter_config("acme/base", old)})
    manifest(project, "acme/base", "acme/lora")
    before = snapshot(project)
    run = cli("lock")
    assert run.exit_code == 1
    assert f"`lora` pins its base acme/base at {old}" in run.stderr and "but the lock holds `base` at" in run.stderr
    assert f'revision = "{old}"' in run.stderr  # the hint says how to lock the base it was trained on
    assert snapshot(project) == before
    (project / "modellock.toml").write_text(
        f'[models.base]\nrepo = "acme/base"\nrevision = "{old}"\n\n[models.lora]\nrepo = "acme/lora"\n'
    )
    assert cli("lock").exit_code == 0
    edge = read_lock(project / "modellock.lock").get("lora").bases[0]  # type: ignore[union-attr]
    assert edge.pin == old and edge.commit == old


def test_a_tag_pin_is_resolved_once_and_must_match(project: Path, hub: FakeHub) -> None:
    repo = hub.repo("acme/base")
    repo.tags["v1"] = repo.commit({"config.json": CONFIG})
    repo.commit({"config.json": b'{"v": 2}\n'})
    hub.repo("acme/lora").commit({"adapter_config.json": adapter_config("acme/base", "v1")})
    manifest(project, "acme/base", "acme/lora")
    run = cli("lock")
    assert run.exit_code == 1 and "pins its base acme/base at v1" in run.stderr
    (project / "modellock.toml").write_text(
        '[models.base]\nrepo = "acme/base"\nrevision = "v1"\n\n[models.lora]\nrepo = "acme/lora"\n'
    )
    assert cli("lock").exit_code == 0
    assert read_lock(project / "modellock.lock").get("lora").bases[0].pin == "v1"  # type: ignore[union-attr]


def test_a_merge_has_two_edges_and_warn_policy_only_warns(project: Path, hub: FakeHub) -> None:
    hub.repo("acme/a").commit({"config.json": CONFIG})
    hub.repo("acme/b").commit({"config.json": CONFIG})
    hub.repo("acme/merged").commit({"config.json": CONFIG}, card={"base_model": ["acme/a", "acme/b"]})
    manifest(project, "acme/merged", "acme/a")
    run = cli("lock")  # a merge is not an adapter: the default policy warns
    assert run.exit_code == 0, run.stderr
    assert "merged: its merge base acme/b is not locked" in run.stderr
    assert [e.model for e in read_lock(project / "modellock.lock").get("merged").bases] == ["a"]  # type: ignore[union-attr]
    path = project / "modellock.toml"
    path.write_text('[policy]\nbases = "require"\n\n' + path.read_text())
    assert cli("lock").exit_code == 1
    assert cli("lock", "--with-bases").exit_code == 0
    merged = read_lock(project / "modellock.lock").get("merged")  # type: ignore[union-attr]
    assert [(e.model, e.relation) for e in merged.bases] == [("a", "merge"), ("b", "merge")]  # type: ignore[union-attr]
    tree = cli("tree").stdout.splitlines()
    assert tree[0].startswith("merged ") and tree[1].startswith("├── a ") and tree[2].startswith("└── b ")


def test_a_local_base_path_is_reported_not_followed(project: Path, hub: FakeHub) -> None:
    hub.repo("acme/lora").commit({"adapter_config.json": adapter_config("/home/me/llama")})
    manifest(project, "acme/lora")
    run = cli("lock")
    assert run.exit_code == 0, run.stderr
    assert "names base '/home/me/llama', which is not a Hub id (a local path?)" in run.stderr
    assert read_lock(project / "modellock.lock").get("lora").bases == ()  # type: ignore[union-attr]


def test_ignore_reads_no_parents(project: Path, hub: FakeHub) -> None:
    publish_chain(hub)
    path = manifest(project, "acme/lora")
    path.write_text(path.read_text() + 'bases = "ignore"\n')
    assert cli("lock").exit_code == 0
    assert not any("expand=cardData" in p for _, p in hub.requests)
    bad = path.read_text().replace('"ignore"', '"sometimes"')
    path.write_text(bad)
    run = cli("lock")
    assert run.exit_code == 2 and "`bases` must be one of require, warn, ignore" in run.stderr


def test_offline_loaders_get_exactly_the_locked_base_from_the_hf_cache(project: Path, hub: FakeHub) -> None:
    import pytest
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    repo = hub.repo("acme/base")
    locked = repo.commit({"config.json": CONFIG, "model.safetensors": weights(b"b" * 256)})
    newer = repo.commit({"config.json": b'{"model_type": "newer"}\n'}, keep=True)  # main moved on upstream
    hub.repo("acme/lora").commit({"adapter_config.json": adapter_config("acme/base"), "adapter_model.safetensors": b""})
    (project / "modellock.toml").write_text(
        f'[models.base]\nrepo = "acme/base"\nrevision = "{locked}"\nlayout = "hf-cache"\n\n'
        '[models.lora]\nrepo = "acme/lora"\nlayout = "hf-cache"\n'
    )
    run = cli("sync")
    assert run.exit_code == 0, run.stderr
    assert run.stdout.index("+ base@") < run.stdout.index("+ lora@")  # parents install first
    cache = project / "models" / "hf-cache"
    # Locked by commit, yet a base: refs/main points at the locked commit, so `revision=None` finds it.
    assert (cache / "models--acme--base" / "refs" / "main").read_text() == locked
    hub.requests.clear()
    found = hf_hub_download("acme/base", "config.json", revision=None, local_files_only=True, cache_dir=cache)
    assert Path(found) == cache / "models--acme--base" / "snapshots" / locked / "config.json"
    assert Path(found).read_bytes() == CONFIG
    config = hf_hub_download("acme/lora", "adapter_config.json", local_files_only=True, cache_dir=cache)
    assert json.loads(Path(config).read_text())["revision"] is None  # what PEFT passes on: revision=None
    assert hub.requests == []
    with pytest.raises(LocalEntryNotFoundError):  # a ref the lock does not hold fails closed
        hf_hub_download("acme/base", "config.json", revision="v2", local_files_only=True, cache_dir=cache)
    with pytest.raises(LocalEntryNotFoundError):  # and so does the newer commit
        hf_hub_download("acme/base", "config.json", revision=newer, local_files_only=True, cache_dir=cache)
    # An online client moving refs/main is drift, and sync puts it back.
    (cache / "models--acme--base" / "refs" / "main").write_text(newer)
    assert cli("sync", "--check").exit_code == 1
    for command in ("status", "verify"):
        seen = cli(command)
        assert seen.exit_code == 1 and f"refs/main points at {newer[:7]}, locked {locked[:7]}" in seen.stdout
    assert cli("sync").exit_code == 0
    assert (cache / "models--acme--base" / "refs" / "main").read_text() == locked


def test_unmodified_peft_loads_the_locked_base_offline(project: Path, hub: FakeHub, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import pytest

    pytest.importorskip("peft")
    pytest.importorskip("transformers")
    from peft import PeftConfig

    repo = hub.repo("acme/base")
    locked = repo.commit({"config.json": CONFIG})
    hub.repo("acme/lora").commit({"adapter_config.json": adapter_config("acme/base")})
    (project / "modellock.toml").write_text(
        f'[models.base]\nrepo = "acme/base"\nrevision = "{locked}"\nlayout = "hf-cache"\n\n'
        '[models.lora]\nrepo = "acme/lora"\nlayout = "hf-cache"\n'
    )
    assert cli("sync").exit_code == 0
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = PeftConfig.from_pretrained("acme/lora", cache_dir=str(project / "models" / "hf-cache"))
    assert config.base_model_name_or_path == "acme/base" and config.revision is None


def test_an_upgraded_base_leaves_no_old_snapshot_behind(project: Path, hub: FakeHub) -> None:
    from huggingface_hub import hf_hub_download

    repo = hub.repo("acme/base")
    old = repo.commit({"config.json": CONFIG})
    (project / "modellock.toml").write_text('[models.base]\nrepo = "acme/base"\nlayout = "hf-cache"\n')
    assert cli("sync").exit_code == 0
    new = repo.commit({"config.json": b"{}"})
    assert cli("lock", "--upgrade").exit_code == 0
    run = cli("sync")
    assert run.exit_code == 0, run.stderr
    assert "Removed 1 older snapshot of locked models" in run.stdout
    snapshots = project / "models" / "hf-cache" / "models--acme--base" / "snapshots"
    assert [p.name for p in snapshots.iterdir()] == [new]
    assert not (snapshots.parent / ".modellock" / f"{old}.json").exists()
    cache = project / "models" / "hf-cache"
    assert (
        Path(hf_hub_download("acme/base", "config.json", local_files_only=True, cache_dir=cache)).read_bytes() == b"{}"
    )
    assert cli("sync", "--check").exit_code == 0 and cli("verify").exit_code == 0


def test_sync_of_one_adapter_brings_its_bases(project: Path, hub: FakeHub) -> None:
    publish_chain(hub)
    assert cli("add", "acme/lora", "--with-bases").exit_code == 0
    run = cli("sync", "--model", "lora")
    assert run.exit_code == 0, run.stderr
    assert [line.split("@")[0] for line in run.stdout.splitlines() if line.startswith(" + ")] == [
        " + base",
        " + chat",
        " + lora",
    ]


def test_a_gguf_quant_declares_its_base_in_its_header(project: Path, hub: FakeHub) -> None:
    from tests.corpus import gguf

    hub.repo("acme/base").commit({"config.json": CONFIG})
    header = gguf([("general.type", "model"), ("general.base_model.0.repo_url", "https://huggingface.co/acme/base")])
    hub.repo("acme/base-gguf").commit({"base.Q4_K_M.gguf": header})
    manifest(project, "acme/base-gguf")
    run = cli("lock")  # a quantization: the default policy warns
    assert run.exit_code == 0, run.stderr
    assert "base-gguf: its quantized base acme/base is not locked" in run.stderr
    assert cli("lock", "--with-bases").exit_code == 0
    [edge] = read_lock(project / "modellock.lock").get("base-gguf").bases  # type: ignore[union-attr]
    assert (edge.model, edge.relation, edge.evidence) == ("base", "quantized", ("gguf",))
