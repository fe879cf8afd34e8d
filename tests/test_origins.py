"""Decision tables for where a model comes from: origins as typed, as the manifest and the lock hold them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from modellock.errors import ConfigError, UsageError
from modellock.ops.origin import is_origin, local_repo, parse_origin
from modellock.project.lockfile import LockedFile, LockedModel, Lockfile, dumps
from modellock.project.lockread import loads, loads_checked
from modellock.project.manifest import load_manifest
from modellock.project.origins import pin_problem, registry_path, repo_problem, s3_problem, source_url

B3, SHA = "b" * 64, "c" * 64


@pytest.mark.parametrize(
    ("source", "repo", "ok"),
    [
        ("huggingface", "org/name", True),
        ("huggingface", "weights/../x", False),
        ("local", "weights/tiny", True),
        ("local", "/srv/models/tiny", True),
        ("local", "", False),
        ("local", "a\nb", False),
        ("local", "a\\b", False),
        ("local", "x" * 5000, False),
        ("s3", "bucket", True),
        ("s3", "my.bucket-1/ft/v1/", True),
        ("s3", "bucket/ft/v1", False),  # a prefix is a folder
        ("s3", "Bucket/ft/", False),
        ("s3", "b/ft/", False),  # too short a bucket
        ("s3", "bucket/../etc/", False),
        ("s3", "bucket//", False),
        ("s3", "bucket/a/./b/", False),
        ("s3", "bucket/a\x00b/", False),
        ("s3", "..bucket/x/", False),
        ("gcs", "bucket", False),
    ],
)
def test_repo_rules_per_source(source: str, repo: str, ok: bool) -> None:
    assert (repo_problem(source, repo) is None) is ok


@pytest.mark.parametrize(
    ("version_id", "etag", "ok"),
    [
        ("", "", True),
        ("3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo", "d41d8cd98f00b204e9800998ecf8427e", True),
        ("5a2d07e6-9a1a-4f97-84cd-da6445c33c60", "29295250839ab06ca9927124acce346c-12", True),
        ("", "a b", False),
        ("v\n1", "", False),
        ('"quoted"', "", False),
        ("x" * 1025, "", False),
        ("", "e" * 257, False),
    ],
)
def test_pin_rules(version_id: str, etag: str, ok: bool) -> None:
    assert (pin_problem(version_id, etag) is None) is ok


@pytest.mark.parametrize(
    ("typed", "origin"),
    [
        ("org/name", False),
        ("hf://org/name", False),
        ("./weights", True),
        ("../weights", True),
        ("/srv/weights", True),
        ("~/weights", True),
        (".", True),
        ("file:///srv/weights", True),
        ("s3://bucket/prefix/", True),
    ],
)
def test_what_add_takes_for_a_directory_or_a_bucket(typed: str, origin: bool) -> None:
    assert is_origin(typed) is origin


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("s3://bucket/ft/v1", ("s3", "bucket/ft/v1/")),
        ("s3://bucket/ft/v1/", ("s3", "bucket/ft/v1/")),
        ("s3://bucket", ("s3", "bucket")),
        ("s3://bucket/", ("s3", "bucket")),
    ],
)
def test_s3_urls(typed: str, expected: tuple[str, str]) -> None:
    assert parse_origin(typed) == expected


@pytest.mark.parametrize("typed", ["s3://UPPER/x", "s3://bucket/../x", "file://otherhost/srv", "./no-such-dir"])
def test_refused_origins_are_usage_errors(typed: str) -> None:
    with pytest.raises(UsageError):
        parse_origin(typed)


def test_local_paths_are_relative_inside_the_project_and_absolute_outside(tmp_path: Path) -> None:
    assert local_repo((tmp_path / "p" / "w").as_posix(), tmp_path / "p") == "w"
    assert local_repo((tmp_path / "p").as_posix(), tmp_path / "p") == "."
    assert local_repo((tmp_path / "q").as_posix(), tmp_path / "p") == (tmp_path / "q").as_posix()


@pytest.mark.parametrize(
    ("source", "repo", "expected"),
    [
        ("huggingface", "org/name", ("org/name", "model")),
        ("local", "/srv/x", ("local/tiny", "model")),
        ("s3", "bucket/ft/v1/", ("s3/bucket/ft/v1", "model")),
        ("s3", "bucket", ("s3/bucket", "model")),
    ],
)
def test_registry_names(source: str, repo: str, expected: tuple[str, str]) -> None:
    assert registry_path(source, repo, "model", "tiny") == expected
    assert s3_problem("bucket/ft/v1/") is None


def test_source_urls_never_publish_a_local_path() -> None:
    assert source_url("local", "/home/me/secret", "model", "https://huggingface.co") is None
    assert source_url("s3", "bucket/ft/", "model", "https://huggingface.co") == "s3://bucket/ft/"


def _model(**changes: object) -> LockedModel:
    base = LockedModel(
        name="ft", source="s3", repo="bucket/ft/", repo_type="model", install_path="models/ft",
        requested="latest", commit="a" * 40, fingerprint="blake3:" + "d" * 64,
        files=(LockedFile("config.json", 2, B3, SHA, version_id="v1", etag="e1"),),
    )  # fmt: skip
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_a_sealed_s3_entry_round_trips() -> None:
    text = dumps(Lockfile(models=(_model(),)))
    assert 'version-id = "v1", etag = "e1" }' in text
    read = loads_checked(text)
    assert read.canonical and not read.unsealed
    assert read.lock.models[0].files[0].version_id == "v1"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"repo": "bucket/../x/"}, "`repo`"),
        ({"repo": "Bad_Bucket/x/"}, "`repo`"),
        ({"source": "ftp"}, "unknown source"),
        ({"source": "local", "repo": "w\x01", "files": (LockedFile("a.json", 2, B3, SHA),)}, "`repo`"),
        ({"files": (LockedFile("a.json", 2, B3, SHA, version_id="v 1"),)}, "not an S3 version id"),
        ({"files": (LockedFile("a.json", 2, B3, SHA, etag='"x"'),)}, "not an ETag"),
        ({"source": "local", "repo": "w"}, "only S3 files carry"),
        ({"layout": "hf-cache"}, "layout `dir`"),
        ({"files": (LockedFile("../a.json", 2, B3, SHA),)}, "unsafe file path"),
    ],
)
def test_hostile_lock_fields_are_refused_even_when_sealed(changes: dict[str, object], message: str) -> None:
    text = dumps(Lockfile(models=(_model(**changes),)))  # the writer seals whatever it is given
    with pytest.raises(ConfigError) as caught:
        loads(text)
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('source = "s3"\nrepo = "bucket/ft"', "must end with `/`"),
        ('source = "gcs"\nrepo = "bucket/ft/"', "`source` must be one of"),
        ('source = "s3"\nrepo = "bucket/ft/"\nlayout = "hf-cache"', "applies to Hugging Face models only"),
        ('source = "local"\nrepo = "w"\nrepo-type = "dataset"', "applies to Hugging Face models only"),
        ('repo = "./w"', "not a Hugging Face repository id"),
    ],
)
def test_manifest_origin_rules(tmp_path: Path, entry: str, message: str) -> None:
    path = tmp_path / "modellock.toml"
    path.write_text(f"[models.m]\n{entry}\n")
    with pytest.raises(ConfigError) as caught:
        load_manifest(path)
    assert message in caught.value.message


@pytest.mark.parametrize("endpoint", ["http://user:pw@minio:9000", "ftp://minio", "http://minio:9000/bucket"])
def test_s3_endpoint_setting_is_a_bare_url(tmp_path: Path, endpoint: str) -> None:
    path = tmp_path / "modellock.toml"
    path.write_text(f'[settings]\ns3-endpoint = "{endpoint}"\n')
    with pytest.raises(ConfigError):
        load_manifest(path)
