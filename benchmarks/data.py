"""Benchmark data, generated on the spot: big files, small-file trees, projects with locks."""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import blake3

from modellock.ops.project import write_lock
from modellock.project.lockfile import LockedFile, LockedModel, Lockfile
from modellock.project.manifest import load_manifest
from modellock.store.hashing import FileDigest
from modellock.store.installed import FileStat, InstallState, write_state

BLOCK = 64 * 1024 * 1024


def big_file(path: Path, size: int, seed: int = 1) -> None:
    """`size` bytes of pseudo-random data (64 MiB random blocks, varied so no two blocks repeat)."""
    if path.exists() and path.stat().st_size == size:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    block = bytearray(rng.randbytes(min(size, BLOCK)))
    with open(path, "wb") as f:
        written = 0
        while written < size:
            block[:8] = written.to_bytes(8, "little")
            chunk = block[: min(len(block), size - written)]
            f.write(chunk)
            written += len(chunk)


def small_tree(root: Path, count: int, seed: int = 2) -> list[Path]:
    """`count` files of 4-64 KiB in 50 directories."""
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        path = root / f"d{i % 50:02d}" / f"f{i:05d}.bin"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(rng.randbytes(rng.randint(4096, 65536)))
        paths.append(path)
    return paths


def digest_file(path: Path) -> FileDigest:
    b3, sha = blake3.blake3(max_threads=blake3.blake3.AUTO), hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 * 1024 * 1024):
            b3.update(chunk)
            sha.update(chunk)
    return FileDigest(path.stat().st_size, str(b3.hexdigest()), sha.hexdigest())


def project_for(root: Path, models: dict[str, list[tuple[str, FileDigest]]], *, installed: bool = False) -> None:
    """A project whose manifest and lock hold `models` (name -> [(path, digest)]), installed under models/."""
    root.mkdir(parents=True, exist_ok=True)
    manifest = root / "modellock.toml"
    manifest.write_text("".join(f'[models.{name}]\nrepo = "org/{name}"\n\n' for name in models))
    specs = load_manifest(manifest).models
    locked = []
    for name, files in models.items():
        entries = tuple(LockedFile(p, d.size, d.blake3, d.sha256, format="data") for p, d in files)
        spec = specs[name]
        locked.append(
            LockedModel(
                name,
                "huggingface",
                spec.repo,
                "model",
                spec.install_path,
                "main",
                "a" * 40,
                spec.fingerprint(),
                entries,
            )
        )
        if installed:
            target = root / spec.install_path
            stats = {p: FileStat.of(target / p) for p, _ in files}
            model = locked[-1]
            write_state(target, InstallState(name, model.commit, model.digest, stats))
    write_lock(root / "modellock.lock", Lockfile(tuple(locked)))


def tiny_files(target: Path, count: int) -> list[tuple[str, FileDigest]]:
    """`count` files of a few bytes each (for lock and status scaling), with their digests."""
    files = []
    for i in range(count):
        rel = f"shard-{i // 1000:03d}/file-{i:06d}.json"
        path = target / rel
        data = str(i).encode()
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        files.append(
            (rel, FileDigest(len(data), str(blake3.blake3(data).hexdigest()), hashlib.sha256(data).hexdigest()))
        )
    return files


def safetensors_shard(size: int, seed: int) -> bytes:
    """A valid safetensors file of about `size` bytes: one U8 tensor of pseudo-random data."""
    import json
    import struct

    header = json.dumps({"w": {"dtype": "U8", "shape": [size], "data_offsets": [0, size]}}).encode()
    header += b" " * (-len(header) % 8)
    rng = random.Random(seed)
    block = rng.randbytes(min(size, BLOCK))
    body = (block * (size // len(block) + 1))[:size]
    return struct.pack("<Q", len(header)) + header + body


def env_for(**extra: str) -> dict[str, str]:
    # PYTHONDONTWRITEBYTECODE (set in some development shells) would make every run compile
    # modellock's sources again, 0.3-1 s a command that no installed copy pays.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HF_TOKEN", "MODELLOCK_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(
        HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_XET="1", HF_HUB_DISABLE_PROGRESS_BARS="1", TYPER_USE_RICH="1"
    )
    env.update(extra)
    return env
