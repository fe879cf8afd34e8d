"""Which refs reach a commit named by hash (`ops.reach`), asked of the local Hub emulator through the real client."""

from __future__ import annotations

import pytest

from modellock.ops.reach import Reach, pull_request_hint, reach, unpublished_reason
from modellock.sources import RepoRef, open_source
from tests.hub import FakeHub


@pytest.fixture
def graph(hub: FakeHub) -> dict[str, str]:
    """main: a <- b <- c; dev: off b; tag v1 on a commit no branch has; PR 1 off c, PR 2 on PR 1's head."""
    repo = hub.repo("acme/g")
    a = repo.commit({"a": b"1"})
    b = repo.commit({"b": b"2"})
    c = repo.commit({"c": b"3"})
    dev = repo.commit({"d": b"4"}, branch="dev", parent=b)
    tagged = repo.commit({"t": b"5"}, branch=None, parent=a)
    repo.tags["v1"] = tagged
    pr1 = repo.commit({"p": b"6"}, branch=None, parent=c)
    pr2 = repo.commit({"q": b"7"}, branch=None, parent=pr1)
    repo.prs[1], repo.prs[2] = pr1, pr2
    dangling = repo.commit({"x": b"8"}, branch=None, parent=a)
    hub.page_size = 2  # histories span pages, as on the real Hub
    return {"a": a, "b": b, "c": c, "dev": dev, "tagged": tagged, "pr1": pr1, "pr2": pr2, "dangling": dangling}


@pytest.mark.parametrize(
    ("commit", "expected"),
    [
        ("c", Reach("branch main")),  # a head
        ("a", Reach("branch main")),  # deep in history
        ("dev", Reach("branch dev")),
        ("tagged", Reach("tag v1")),
        ("pr1", Reach(None, ("refs/pr/1", "refs/pr/2"))),  # PR 2 is built on PR 1
        ("pr2", Reach(None, ("refs/pr/2",))),
        ("dangling", Reach(None, ())),
    ],
)
def test_reach(graph: dict[str, str], hub: FakeHub, commit: str, expected: Reach) -> None:
    source = open_source("huggingface", endpoint=hub.endpoint)
    ref = RepoRef("acme/g")
    assert reach(source, ref, graph[commit], source.refs(ref)) == expected


@pytest.mark.parametrize(
    ("found", "reason", "hint"),
    [
        (Reach("branch main"), None, None),
        (Reach("tag v1"), None, None),
        (Reach(None, ("refs/pr/3",)), "only in refs/pr/3 (anyone can open a pull request", 'revision = "refs/pr/3"'),
        (Reach(None, ()), "on no branch, tag or pull request of acme/g", "check the commit id"),
    ],
)
def test_unpublished_reason_and_hint(found: Reach, reason: str | None, hint: str | None) -> None:
    why = unpublished_reason("acme/g", "f" * 40, found)
    if reason is None:
        assert why is None
    else:
        assert why is not None and reason in why and why.startswith("fffffff ")
        assert hint is not None and hint in pull_request_hint(found)
