"""The lock format: canonical bytes, strict reading, versioning."""

from __future__ import annotations

from pathlib import Path

import pytest

from modellock.errors import ConfigError
from modellock.project.lockfile import REVISION, LockedFile, LockedModel, Lockfile, content_digest, dumps
from modellock.project.lockread import loads

H = "ab" * 32


def model(name: str, *paths: str) -> LockedModel:
    return LockedModel(
        name=name,
        source="huggingface",
        repo=f"acme/{name}",
        repo_type="model",
        install_path=f"models/{name}",
        requested="main",
        commit="c" * 40,
        fingerprint="blake3:" + "f" * 64,
        files=tuple(LockedFile(p, 3, H, H) for p in paths),
    )


def test_round_trip_sorted_and_canonical() -> None:
    lock = Lockfile((model("b", "z.json", "a.json"), model("a", "m\u00e9.json")))
    text = dumps(lock)
    assert text.index('name = "a"') < text.index('name = "b"')
    assert text.index('"a.json"') < text.index('"z.json"')
    assert "m\u00e9.json" in text and text.endswith("]\n") and "\r" not in text
    assert loads(text) == lock
    assert dumps(loads(text)) == text


def test_content_digest_is_order_free_and_sensitive() -> None:
    files = [LockedFile("a", 1, H, H), LockedFile("b", 2, H, H)]
    assert content_digest(files) == content_digest(reversed(files))
    assert content_digest(files) != content_digest([LockedFile("a", 1, H, H), LockedFile("b", 3, H, H)])
    assert content_digest(files) != content_digest([LockedFile("b", 1, H, H), LockedFile("a", 2, H, H)])


def test_newer_version_rejected_newer_revision_accepted() -> None:
    text = dumps(Lockfile((model("a", "x"),)))
    with pytest.raises(ConfigError, match="version 3"):
        loads(text.replace("version = 2", "version = 3"))
    newer = loads(text.replace(f"revision = {REVISION}", "revision = 7"))
    assert newer.revision == 7 and newer.models == loads(text).models


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (('commit = "' + "c" * 40, 'commit = "abc'), "40-hex"),
        (("size = 3", "size = -3"), "invalid size"),
        (('"x.json"', '"../x.json"'), "unsafe file path"),
        (('blake3 = "' + H, 'blake3 = "zz'), "64-hex"),
        (('name = "a"', 'nom = "a"'), "`name` is missing"),
    ],
)
def test_bad_entries_name_the_line(edit: tuple[str, str], message: str) -> None:
    text = dumps(Lockfile((model("a", "x.json"),)))
    broken = text.replace(*edit)
    with pytest.raises(ConfigError, match=message) as info:
        loads(broken, "modellock.lock")
    assert info.value.line is not None
    assert edit[1].split(" =")[0].strip('"') in broken.splitlines()[info.value.line - 1] or info.value.line > 3


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        loads("version = 1\nrevision = \n", "modellock.lock")
    assert info.value.line == 2 and "invalid TOML" in info.value.message
