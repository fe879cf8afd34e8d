"""Where the Hub source says a file's bytes are: always at its own endpoint, whatever huggingface_hub
decided at import time."""

from __future__ import annotations

import huggingface_hub.constants
import pytest

from modellock.sources import RepoRef, open_source
from modellock.sources.interface import RemoteFile

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("repo_type", "path", "expected"),
    [
        ("model", "model.safetensors", f"/acme/tiny/resolve/{COMMIT}/model.safetensors"),
        ("dataset", "data/train.parquet", f"/datasets/acme/tiny/resolve/{COMMIT}/data/train.parquet"),
        ("model", "dir with space/a#b.json", f"/acme/tiny/resolve/{COMMIT}/dir%20with%20space/a%23b.json"),
    ],
)
def test_a_file_is_located_at_the_sources_endpoint(
    repo_type: str, path: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # huggingface_hub's own endpoint moved after import (as a library caller or HF_ENDPOINT set late does):
    # hf_hub_url then formatted huggingface.co and never swapped in the source's endpoint.
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")
    source = open_source("huggingface", endpoint="http://mirror.test.invalid:8080")
    ref = RepoRef("acme/tiny", repo_type=repo_type)
    location = source.locate(ref, COMMIT, RemoteFile(path, 1, "0" * 40))  # type: ignore[attr-defined]
    assert location.url == "http://mirror.test.invalid:8080" + expected
