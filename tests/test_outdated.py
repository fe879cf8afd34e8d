"""`outdated`: newer commits on locked branches and newer tags, from the Hub's refs only."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import cli
from tests.hub import FakeHub
from tests.test_lock_e2e import make_tiny


def test_up_to_date_then_behind_with_tags(project: Path, hub: FakeHub) -> None:
    locked = make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    run = cli("outdated", "--exit-code")
    assert run.exit_code == 0, run.stderr
    assert run.stdout.strip() == "All 1 model up to date with upstream"
    repo = hub.repos[("model", "acme/tiny")]
    first = repo.commit({"a.json": b"1"}, keep=True)
    repo.tags["v1"] = first
    second = repo.commit({"b.json": b"2"}, keep=True)
    repo.tags["v2"] = second
    repo.tags["old"] = locked  # the locked commit itself is not newer
    hub.requests.clear()
    run = cli("outdated")
    assert run.exit_code == 0, run.stderr
    assert run.stdout.splitlines() == [
        f"tiny acme/tiny main {locked[:7]} -> {second[:7]} (2 newer commits)",
        f"  newer tags: v2 ({second[:7]}), v1 ({first[:7]})",
    ]
    assert not [p for _, p in hub.requests if "/resolve/" in p or "/tree/" in p]  # no listings, no bytes
    assert cli("outdated", "--exit-code").exit_code == 1
    data = json.loads(cli("outdated", "--format", "json").stdout)
    assert data["outdated"] == 1
    (entry,) = data["models"]
    assert entry["kind"] == "branch" and entry["head"] == second and entry["behind"] == 2
    assert [t["name"] for t in entry["newer_tags"]] == ["v2", "v1"] and entry["outdated"] is True
    # The lock was not touched: outdated only reports.
    assert cli("lock", "--check").exit_code == 0


def test_tag_pins_and_rewritten_history(project: Path, hub: FakeHub) -> None:
    make_tiny(hub)
    repo = hub.repos[("model", "acme/tiny")]
    repo.tags["v1"] = repo.branches["main"]
    assert cli("add", "acme/tiny", "--revision", "v1").exit_code == 0
    assert cli("outdated", "--exit-code").exit_code == 0
    rewritten = repo.commit({"c.json": b"{}"}, branch=None)  # a new root: the locked commit is not in its history
    repo.tags["v1"] = rewritten
    run = cli("outdated", "--exit-code")
    assert run.exit_code == 1
    assert "(history rewritten)" in run.stdout
    del repo.tags["v1"]
    run = cli("outdated")
    assert "`v1` no longer exists upstream" in run.stdout


def test_unknown_model_and_no_lock(project: Path, hub: FakeHub) -> None:
    run = cli("outdated")
    assert run.exit_code == 2 and "no lock found" in run.stderr
    make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    run = cli("outdated", "--model", "nope")
    assert run.exit_code == 2 and "no model `nope` in the lock" in run.stderr


def test_pull_request_ref(project: Path, hub: FakeHub) -> None:
    locked = make_tiny(hub)
    repo = hub.repos[("model", "acme/tiny")]
    repo.prs[1] = locked
    assert cli("add", "acme/tiny", "--revision", "refs/pr/1").exit_code == 0
    assert cli("outdated", "--exit-code").exit_code == 0
    newer = repo.commit({"pr.json": b"{}"}, branch=None, parent=locked, keep=True)
    repo.prs[1] = newer
    run = cli("outdated", "--format", "json")
    (entry,) = json.loads(run.stdout)["models"]
    assert entry["kind"] == "pull-request" and entry["head"] == newer and entry["behind"] == 1
