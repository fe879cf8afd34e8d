"""Lineage edges in the lock are hostile input: sealed, validated on read, checked against their parents."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from modellock.errors import ConfigError
from modellock.ops.project import write_lock
from modellock.project.edges import LockedEdge
from modellock.project.lockfast import parse_canonical
from modellock.project.lockfile import HEADER, LockedFile, LockedModel, Lockfile, dumps
from modellock.project.lockread import loads, loads_checked
from tests.helpers import cli, snapshot
from tests.hub import FakeHub
from tests.test_lineage import publish_chain

H = "ab" * 32


def _model(name: str, bases: tuple[LockedEdge, ...] = ()) -> LockedModel:
    return LockedModel(
        name, "huggingface", f"acme/{name}", "model", f"models/{name}", "main", "c" * 40, "blake3:" + "0" * 64,
        (LockedFile("config.json", 2, H, H),), bases=bases,
    )  # fmt: skip


def _pair() -> str:
    base = _model("base")
    edge = LockedEdge("base", "acme/base", "adapter", base.commit, base.digest, ("adapter_config", "card"))
    return dumps(Lockfile((base, _model("lora", (edge,)))))


def test_edges_round_trip_through_the_fast_reader() -> None:
    text = _pair()
    assert parse_canonical(text, HEADER) is not None  # the fast path reads the `bases` line
    read = loads_checked(text)
    assert read.canonical and not read.unsealed
    assert read.lock.get("lora").bases[0].evidence == ("adapter_config", "card")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('relation = "adapter"', 'relation = "sibling"', "unknown relation 'sibling'"),
        ('model = "base"', 'model = "lora"', "names a parent twice, or the model itself"),
        ('model = "base"', 'model = "../x"', "invalid model '../x'"),
        ('evidence = ["adapter_config", "card"]', 'evidence = ["card", "adapter_config"]', "sorted and without"),
        ('evidence = ["adapter_config", "card"]', 'evidence = ["rumour"]', "non-empty list of"),
        ('evidence = ["adapter_config", "card"]', 'evidence = ["card"], extra = "x"', "an edge needs model"),
        ('commit = "' + "c" * 40 + '", files', 'commit = "main", files', "edge `commit` must be 40 hex"),
        ("bases = [{", "bases = 3\nx = [{", "`bases` must be a non-empty list"),
    ],
)
def test_malformed_edges_are_refused_on_read(old: str, new: str, message: str) -> None:
    text = _pair()
    assert old in text
    with pytest.raises(ConfigError, match=re.escape(message)):
        loads(text.replace(old, new, 1))


def test_an_edge_edit_breaks_the_seal_and_a_resealed_one_is_stale(project: Path, hub: FakeHub) -> None:
    publish_chain(hub)
    assert cli("add", "acme/lora", "--with-bases").exit_code == 0
    lock_path = project / "modellock.lock"
    text = lock_path.read_text()
    edge_commit = re.search(
        r'bases = \[\{ model = "chat", repo = "acme/chat", relation = "adapter", commit = "(\w+)"', text
    )
    assert edge_commit is not None
    forged = text.replace(
        f'relation = "adapter", commit = "{edge_commit[1]}"', f'relation = "adapter", commit = "{"0" * 40}"'
    )
    lock_path.write_text(forged)
    run = cli("lock", "--check")
    assert run.exit_code == 1 and "lora: its fields do not match its seal" in run.stderr
    # An attacker who reseals gets past the seal, not past the edge check.
    lock = loads(forged)
    write_lock(lock_path, Lockfile(tuple(m for m in lock.models)))
    run = cli("lock", "--check")
    assert run.exit_code == 1 and "stale edge: `lora` was validated against `chat`@0000000" in run.stderr
    before = snapshot(project)
    assert cli("sync", "--frozen").exit_code == 1
    assert snapshot(project) == before


def test_removing_a_base_leaves_a_dangling_edge_that_lock_refuses(project: Path, hub: FakeHub) -> None:
    publish_chain(hub)
    assert cli("add", "acme/lora", "--with-bases").exit_code == 0
    assert cli("remove", "chat").exit_code == 0
    run = cli("lock", "--check")
    assert run.exit_code == 1 and "`lora` has base `chat` (acme/chat), which is no longer in the lock" in run.stderr
    lock_before = (project / "modellock.lock").read_bytes()
    run = cli("lock")
    assert run.exit_code == 1 and "unlocked base: `lora` declares adapter base acme/chat" in run.stderr
    assert (project / "modellock.lock").read_bytes() == lock_before


def test_a_cycle_is_refused() -> None:
    a, b = _model("a"), _model("b")
    a2 = replace(a, bases=(LockedEdge("b", "acme/b", "finetune", b.commit, b.digest, ("card",)),))
    b2 = replace(b, bases=(LockedEdge("a", "acme/a", "finetune", a.commit, a.digest, ("card",)),))
    from modellock.ops.edgecheck import edge_problems, parents_first

    assert ("a", "lineage cycle: a -> b -> a") in edge_problems([a2, b2])
    assert sorted(m.name for m in parents_first([a2, b2])) == ["a", "b"]  # terminates


def test_a_card_cycle_on_the_hub_is_refused_at_lock(project: Path, hub: FakeHub) -> None:
    hub.repo("acme/a").commit({"config.json": b"{}"}, card={"base_model": "acme/b"})
    hub.repo("acme/b").commit({"config.json": b"{}"}, card={"base_model": "acme/a"})
    (project / "modellock.toml").write_text('[models.a]\nrepo = "acme/a"\n')
    before = snapshot(project)
    run = cli("lock", "--with-bases")
    assert run.exit_code == 1 and "lineage cycle: a -> b -> a" in run.stderr
    assert snapshot(project) == before
