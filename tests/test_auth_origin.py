"""The token goes to the endpoint's origin only: never to a redirect target or a pagination `Link` elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import cli
from tests.hub import FakeHub
from tests.test_lock_e2e import make_tiny


def test_a_cross_origin_pagination_link_receives_no_token(
    project: Path, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tiny(hub)
    monkeypatch.setenv("HF_TOKEN", "hf_secret_token")
    hub.page_size = 1
    hub.faults.link_base = hub.cdn  # `Link: <http://other-origin/...>; rel="next"`
    run = cli("add", "acme/tiny")
    assert run.exit_code == 0, run.stderr
    pages = [(server, auth) for server, path, auth in hub.auth if "/tree/" in path]
    assert ("hub", "Bearer hf_secret_token") in pages  # the first page, from the endpoint, is authenticated
    followed = [auth for server, auth in pages if server == "cdn"]
    assert len(followed) == 4 and set(followed) == {None}  # the pages `Link` leads to, on the other origin, are not
    assert all(auth is None for server, _, auth in hub.auth if server == "cdn")  # nor LFS downloads
    assert "hf_secret_token" not in run.stdout + run.stderr
