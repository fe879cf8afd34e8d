"""A locked model as a ModelPack artifact: config and manifest bytes that are a pure function of the lock.

For a `.raw` layer the OCI digest is the file's SHA-256, which is the lock's `sha256`: the lock is
already the artifact's pull list, and every machine computes the same manifest digest from it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from modellock.project.lockfile import LockedFile, LockedModel
from modellock.project.origins import source_url

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
ARTIFACT_TYPE = "application/vnd.cncf.model.manifest.v1+json"
CONFIG_TYPE = "application/vnd.cncf.model.config.v1+json"
WEIGHT = "application/vnd.cncf.model.weight.v1.raw"
WEIGHT_CONFIG = "application/vnd.cncf.model.weight.config.v1.raw"
DOC = "application/vnd.cncf.model.doc.v1.raw"
CODE = "application/vnd.cncf.model.code.v1.raw"
FILEPATH = "org.cncf.model.filepath"
FILE_METADATA = "org.cncf.model.file.metadata+json"
TITLE = "org.opencontainers.image.title"
"""The file's path again, under the name ORAS clients (`oras pull`) use to place a layer."""
HUB = "https://huggingface.co"

_WEIGHT_SUFFIXES = (
    ".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".ggml", ".onnx", ".h5", ".msgpack", ".npz",
    ".tflite", ".mlmodel", ".pb", ".joblib", ".pkl", ".pickle", ".keras", ".nemo", ".engine", ".plan",
)  # fmt: skip
_CODE_SUFFIXES = (".py", ".ipynb", ".sh", ".js", ".ts", ".c", ".cc", ".cpp", ".cu", ".h", ".rs", ".go")
_DOC_SUFFIXES = (".md", ".rst", ".txt", ".pdf", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".sig", ".html")
_DOC_NAMES = ("readme", "license", "licence", "notice", "copying", "authors", "changelog", "citation")


@dataclass(frozen=True)
class Layer:
    """One file of the model as a manifest layer."""

    digest: str
    """`sha256:<lock sha256>`."""
    size: int
    media_type: str
    path: str
    blake3: str


@dataclass(frozen=True)
class Artifact:
    """A locked model's ModelPack artifact: the bytes to push (or compare) and their digests."""

    config: bytes
    config_digest: str
    manifest: bytes
    digest: str
    """`sha256:` of `manifest`: the artifact's identity, computed from the lock alone."""
    layers: tuple[Layer, ...]


def media_type(path: str) -> str:
    """The ModelPack layer type for a file, by its name only (so the manifest depends on the lock alone)."""
    name = path.rsplit("/", 1)[-1].lower()
    if name.endswith(_WEIGHT_SUFFIXES) or ".safetensors" in name or name.startswith("pytorch_model"):
        return WEIGHT
    if name.endswith(_CODE_SUFFIXES):
        return CODE
    if name.endswith(_DOC_SUFFIXES) or name.split(".")[0] in _DOC_NAMES or name.startswith("."):
        return DOC
    return WEIGHT_CONFIG  # config.json, tokenizer files, vocabularies, generation settings


def canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def files_of(model: LockedModel) -> list[LockedFile]:
    """Every file sync may need: the model's files and its signature, sorted by path."""
    extra = [LockedFile(s.path, s.size, s.blake3, s.sha256)] if (s := model.signature) is not None else []
    return sorted([*model.files, *extra], key=lambda f: f.path)


def _metadata(f: LockedFile) -> str:
    # Constant metadata (no owner, no mtime): the manifest must not depend on the machine that pushed it.
    name = f.path.rsplit("/", 1)[-1]
    return json.dumps(
        {"name": name, "mode": 0o644, "uid": 0, "gid": 0, "size": f.size, "mtime": "1970-01-01T00:00:00Z",
         "typeflag": 48},
        separators=(",", ":"),
    )  # fmt: skip


def artifact(model: LockedModel) -> Artifact:
    """The ModelPack artifact of `model`, byte for byte the same on every machine with this lock."""
    layers = tuple(Layer(f"sha256:{f.sha256}", f.size, media_type(f.path), f.path, f.blake3) for f in files_of(model))
    source = source_url(model.source, model.repo, model.repo_type, HUB)
    descriptor = {"name": model.repo if source else model.name, "revision": model.commit}
    if source:
        descriptor["sourceURL"] = source
    config = canonical(
        {
            "descriptor": descriptor,
            "modelfs": {"type": "layers", "diffIds": [layer.digest for layer in layers]},
            "config": {},
        }
    )
    manifest = canonical(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "artifactType": ARTIFACT_TYPE,
            "config": {"mediaType": CONFIG_TYPE, "digest": sha256_digest(config), "size": len(config)},
            "layers": [
                {
                    "mediaType": layer.media_type,
                    "digest": layer.digest,
                    "size": layer.size,
                    "annotations": {FILEPATH: layer.path, FILE_METADATA: _metadata(f), TITLE: layer.path},
                }
                for layer, f in zip(layers, files_of(model), strict=True)
            ],
        }
    )
    return Artifact(config, sha256_digest(config), manifest, sha256_digest(manifest), layers)
