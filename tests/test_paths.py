"""Repository paths: what may be written, and what the manifest's globs select."""

from __future__ import annotations

import pytest

from modellock.errors import UnsafePath
from modellock.ops.project import parse_repo_spec
from modellock.project.paths import check_repo_paths, glob_match, select


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("*.safetensors", "model.safetensors", True),
        ("*.safetensors", "a/b/model.safetensors", True),  # no `/`: any depth
        ("onnx/*.onnx", "onnx/m.onnx", True),
        ("onnx/*.onnx", "x/onnx/m.onnx", False),  # with `/`: anchored at the root
        ("onnx/*.onnx", "onnx/a/m.onnx", False),  # `*` stays in one directory
        ("onnx/**/*.onnx", "onnx/m.onnx", True),  # `**/` matches zero directories
        ("onnx/**/*.onnx", "onnx/a/b/m.onnx", True),
        ("onnx/", "onnx/a/m.onnx", True),  # trailing `/`: everything below
        ("onnx/", "onnx.json", False),
        ("model-0000[1-2]-*.bin", "model-00001-of-2.bin", True),
        ("model-0000[!1]-*.bin", "model-00001-of-2.bin", False),
        ("config.json", "sub/config.json", True),
    ],
)
def test_glob(pattern: str, path: str, expected: bool) -> None:
    assert glob_match(pattern, path) is expected


def test_select_include_then_exclude() -> None:
    paths = ["a.json", "b.bin", "c/d.json"]
    assert select(paths, [], []) == paths
    assert select(paths, ["*.json"], ["c/"]) == ["a.json"]


@pytest.mark.parametrize(
    "bad",
    ["../x", "a/../../x", "/etc/passwd", "a\\b", "a\0b", "a//b", "./a", "C:/x", ".modellock/x", "a\nb", ""],
)
def test_unsafe_paths(bad: str) -> None:
    with pytest.raises(UnsafePath):
        check_repo_paths("acme/x", [bad])


def test_collisions() -> None:
    with pytest.raises(UnsafePath, match="collide"):
        check_repo_paths("acme/x", ["A.bin", "a.bin"])
    with pytest.raises(UnsafePath, match="collide"):
        check_repo_paths("acme/x", ["caf\u00e9", "cafe\u0301"])
    with pytest.raises(UnsafePath, match="both a file and a directory"):
        check_repo_paths("acme/x", ["a", "a/b"])
    check_repo_paths("acme/x", ["a/b", "a/c", "d"])


@pytest.mark.parametrize(
    ("text", "repo", "revision", "repo_type"),
    [
        ("acme/tiny", "acme/tiny", None, "model"),
        ("acme/tiny@v1", "acme/tiny", "v1", "model"),
        ("gpt2", "gpt2", None, "model"),
        ("hf://acme/tiny@refs/pr/1", "acme/tiny", "refs/pr/1", "model"),
        ("hf://datasets/acme/data", "acme/data", None, "dataset"),
        ("https://huggingface.co/acme/tiny", "acme/tiny", None, "model"),
        ("https://huggingface.co/acme/tiny/tree/feature%2Fx", "acme/tiny", "feature/x", "model"),
        ("https://huggingface.co/datasets/acme/data/tree/main", "acme/data", "main", "dataset"),
    ],
)
def test_repo_specs(text: str, repo: str, revision: str | None, repo_type: str) -> None:
    spec = parse_repo_spec(text)
    assert (spec.repo, spec.revision, spec.repo_type) == (repo, revision, repo_type)
