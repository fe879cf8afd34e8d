"""Downloads served by a native server: the client's own cost, wall time and CPU seconds per GiB.

The Python emulator of `download.py` spends as much CPU serving as a client spends receiving, on
the same cores. Here the Hub emulator answers the API and redirects LFS files to nginx (sendfile
from the page cache, `limit_rate` for the per-connection cap), so what is left is the client:

- one 512 MiB file at 40 MB/s per connection: `modellock lock` against `aria2c -x8 -s8`;
- one 1 GiB file, no cap: `modellock lock` against `curl` + fsync, with `curl | b3sum`,
  `aria2c -x8 -s8` and `hf_hub_download` for reference;
- CPU: `modellock lock` (BLAKE3 + SHA-256 of every byte, written and fsynced) against the sum of
  `curl` (to a file), `b3sum` and `sha256sum` on the same bytes, the floor of the same work done
  by separate tools; `openssl dgst -sha256` (SHA-NI) beside `sha256sum` (coreutils, no SHA-NI).

CPU is user + system time of each client process and its children (`wait4`), not nginx's.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks import data, nginx
from benchmarks.download import CAP
from benchmarks.measure import Sample, Series, interleave, run_command

if TYPE_CHECKING:
    from benchmarks.run import Config, Row

GIB = 1024**3
PEERS = ("aria2c", "curl", "b3sum", "sha256sum", "openssl")
HF_DOWNLOAD = (
    "import sys; from huggingface_hub import hf_hub_download; "
    "hf_hub_download(sys.argv[1], sys.argv[2], revision=sys.argv[3], cache_dir=sys.argv[4], endpoint=sys.argv[5])"
)
NAME = "model.safetensors"


def missing() -> list[str]:
    """The tools this scenario needs that are not installed."""
    return [t for t in PEERS if not shutil.which(t)] + ([] if nginx.binary() else ["nginx"])


def _shell(script: str, *args: str) -> Callable[[], Sample]:
    return lambda: run_command(["sh", "-c", script, "sh", *args])


def native(cfg: Config) -> list[Row]:
    absent = missing()
    if absent:
        print(
            f"download-native skipped: {', '.join(absent)} not found (apt-get install nginx aria2 b3sum curl openssl)",
            file=sys.stderr,
        )
        return []
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.run import MODELLOCK
    from tests.hub import FakeHub

    hub = FakeHub()
    docroot = Path(tempfile.mkdtemp(prefix="modellock-cdn-"))
    scratch = cfg.root / "native"
    try:
        projects: dict[str, tuple[Path, str, str, Path]] = {}
        (docroot / "blobs").mkdir()
        for label, size, seed in (("capped", cfg.native_capped, 7), ("big", cfg.native_big, 8)):
            blob = data.safetensors_shard(size, seed)
            repo = f"bench/native-{label}"
            commit = hub.repo(repo).commit({NAME: blob})
            served = docroot / "blobs" / hub.repos[("model", repo)].commits[commit][NAME].sha256
            served.write_bytes(blob)
            del blob
            project = cfg.root / f"native-{label}"
            shutil.rmtree(project, ignore_errors=True)
            project.mkdir(parents=True)
            (project / "modellock.toml").write_text(f'[models.m]\nrepo = "{repo}"\nrevision = "{commit}"\n')
            projects[label] = (project, repo, commit, served)
        env = data.env_for(HF_ENDPOINT=hub.endpoint, MODELLOCK_CACHE_DIR=str(scratch / "store"))
        # The same lock with every byte already in a store: what a lock costs besides the download
        # (interpreter start-up, imports, the Hub's API, writing the lock).
        warm_env = {**env, "MODELLOCK_CACHE_DIR": str(cfg.root / "native-warm-store")}

        def fresh(_: str) -> None:
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir(parents=True)
            for project, *_ in projects.values():
                (project / "modellock.lock").unlink(missing_ok=True)
            # What the previous contender left dirty in the page cache would be written back during
            # the next one's run, and slow its fsync (only modellock and `curl + fsync` wait for one).
            os.sync()

        def contenders(label: str) -> dict[str, Callable[[], Sample]]:
            project, repo, commit, served = projects[label]
            url = f"{hub.endpoint}/{repo}/resolve/{commit}/{NAME}"
            out = str(scratch / "out.bin")
            aria = ["aria2c", "-q", "-x8", "-s8", "-k1M", "--file-allocation=none", "--allow-overwrite=true"]
            return {
                "modellock lock": lambda: run_command([*MODELLOCK, "-p", str(project), "lock"], env=env),
                "modellock lock (store warm)": lambda: run_command(
                    [*MODELLOCK, "-p", str(project), "lock"], env=warm_env
                ),
                "aria2c -x8 -s8": lambda: run_command([*aria, "-d", str(scratch), "-o", "aria.bin", url]),
                "curl + fsync": _shell('curl -sSfL -o "$2" "$1" && sync "$2"', url, out),
                "curl": _shell('curl -sSfL -o "$2" "$1"', url, out),
                "curl | b3sum": _shell('curl -sSfL "$1" | b3sum >/dev/null', url),
                "hf_hub_download": lambda: run_command(
                    [sys.executable, "-c", HF_DOWNLOAD, repo, NAME, commit, str(scratch / "hf"), hub.endpoint], env=env
                ),
                "b3sum": lambda: run_command(["b3sum", str(served)]),
                "sha256sum": lambda: run_command(["sha256sum", str(served)]),
                "openssl dgst -sha256": lambda: run_command(["openssl", "dgst", "-sha256", str(served)]),
            }

        rounds = max(3, cfg.rounds)
        with nginx.Nginx(docroot, CAP) as server:
            hub.faults.cdn_base = server.fast
            for label in projects:
                contenders(label)["modellock lock (store warm)"]()
            hub.faults.cdn_base = server.capped
            every = contenders("capped")
            names = ("modellock lock", "aria2c -x8 -s8", "modellock lock (store warm)")
            capped = interleave(rounds, {k: every[k] for k in names}, fresh)
            hub.faults.cdn_base = server.fast
            every = contenders("big")
            plain = interleave(rounds, every, fresh)
        return _rows(cfg, capped, plain)
    finally:
        hub.close()
        shutil.rmtree(docroot, ignore_errors=True)
        subprocess.run(["rm", "-rf", str(scratch), str(cfg.root / "native-warm-store")], check=False)


def _rows(cfg: Config, capped: dict[str, Series], plain: dict[str, Series]) -> list[Row]:
    from benchmarks.download import _reference
    from benchmarks.run import Row, _row

    def per_gib(series: Series, size: int) -> float:
        return series.cpu_median / (size / GIB)

    def cpu(row: Row, ours: Series, peer: Series, size: int) -> Row:
        row.cpu = f"{per_gib(ours, size):.2f} / {per_gib(peer, size):.2f}"
        return row

    small, big = cfg.native_capped, cfg.native_big
    names = ("modellock lock", "aria2c -x8 -s8")
    ours = capped["modellock lock"]
    where = f"one {small / 2**20:.0f} MiB file, {CAP / 1e6:.0f} MB/s per connection, nginx"
    rows = [
        cpu(
            _row(where, ours, capped["aria2c -x8 -s8"], 1.0, _rates(small, {k: capped[k] for k in names[:2]})),
            ours,
            capped["aria2c -x8 -s8"],
            small,
        )
    ]
    rows.append(_fixed_cost(where, ours, capped["modellock lock (store warm)"], capped["aria2c -x8 -s8"]))
    where = f"one {big / GIB:.2f} GiB file, no cap, nginx"
    ours = plain["modellock lock"]
    downloads = {
        k: plain[k]
        for k in ("modellock lock", "curl + fsync", "curl", "curl | b3sum", "aria2c -x8 -s8", "hf_hub_download")
    }
    rows.append(
        cpu(_row(where, ours, plain["curl + fsync"], 1.15, _rates(big, downloads)), ours, plain["curl + fsync"], big)
    )
    for peer in ("curl | b3sum", "aria2c -x8 -s8", "hf_hub_download"):
        rows.append(cpu(_reference(where, ours, plain[peer]), ours, plain[peer], big))
    rows.append(_fixed_cost(where, ours, plain["modellock lock (store warm)"], plain["curl + fsync"]))
    parts = ("curl", "b3sum", "sha256sum")
    floor = sum(per_gib(plain[p], big) for p in parts)
    strict = floor - per_gib(plain["sha256sum"], big) + per_gib(plain["openssl dgst -sha256"], big)
    mine = per_gib(ours, big)
    components = ", ".join(f"{p} {per_gib(plain[p], big):.2f}" for p in (*parts, "openssl dgst -sha256"))
    rows.append(
        Row(
            f"CPU s per GiB, {big / GIB:.2f} GiB file, no cap, nginx",
            "modellock lock",
            "curl + b3sum + sha256sum",
            mine,
            floor,
            mine / floor,
            "CPU ratio ≤ 1.1",
            mine / floor <= 1.1,
            f"medians, CPU s per GiB: {components}; with openssl's SHA-256 in place of sha256sum the floor is "
            f"{strict:.2f} ({mine / strict:.2f}x)",
            cpu=f"{mine:.2f} / {floor:.2f}",
        )
    )
    return rows


def _fixed_cost(where: str, ours: Series, warm: Series, peer: Series) -> Row:
    """The download part of a lock against the peer: each round's lock minus the same round's lock
    with the bytes already in a store (start-up, imports, the Hub's API, the lock file)."""
    from benchmarks.run import Row

    download = statistics.median(o.seconds - w.seconds for o, w in zip(ours.samples, warm.samples, strict=True))
    return Row(
        where,
        "lock minus lock (store warm)",
        peer.name,
        download,
        peer.median,
        download / peer.median,
        "(reference)",
        True,
        f"the lock without the download (start-up, imports, the Hub's API, the lock file): "
        f"{warm.median:.2f} s, {warm.cpu_median:.2f} CPU s",
    )


def _rates(size: int, series: dict[str, Series]) -> str:
    return ", ".join(
        f"{name} {size / s.median / 1e6:.0f} MB/s ({s.cpu_median / (size / GIB):.2f} CPU s/GiB)"
        for name, s in series.items()
    )
