"""Downloads against the peers and the physical limits, in the same run, from the same local Hub.

- One large file behind a per-connection cap (the emulator's `rate` fault, as far-away CDN edges
  impose): modellock against `aria2c -x8 -s8`, with `curl` and `snapshot_download` for reference.
- One large file without a cap: against `curl` + `fsync` of the file (the durable-write limit
  here), with `curl | b3sum` (the network-and-hash limit) and `snapshot_download` for reference.
- `lock` of the same file against `sync` of it (lock also computes SHA-256 and the git SHA-1).
- Many small files: against `snapshot_download`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks import data
from benchmarks.measure import Sample, Series, interleave, run_command

if TYPE_CHECKING:
    from benchmarks.run import Config, Row

CAP = 40e6
"""Bytes per second per connection in the capped scenario (the figure issue #15 measured)."""


def _shell(script: str, *args: str, env: dict[str, str] | None = None) -> Callable[[], Sample]:
    return lambda: run_command(["sh", "-c", script, "sh", *args], env=env, rss=True)


def download(cfg: Config) -> list[Row]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.run import MODELLOCK, SNAPSHOT, _row
    from tests.hub import FakeHub

    for tool in ("aria2c", "curl", "b3sum"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed as a peer: apt-get install aria2 curl b3sum")
    hub = FakeHub()
    rows: list[Row] = []
    try:
        big, capped_size = cfg.download_big, cfg.download_capped
        name = "model.safetensors"
        scratch = cfg.root / "download"
        projects = {}
        small_files = {
            f"files/f-{i:05d}.json": json.dumps({"i": i, "pad": "x" * (i % 60_000)}).encode()
            for i in range(cfg.download_small)
        }
        for label, files in (
            ("capped", {name: data.safetensors_shard(capped_size, 7)}),
            ("big", {name: data.safetensors_shard(big, 8)}),
            ("small", small_files),
        ):
            repo = f"bench/{label}"
            commit = hub.repo(repo).commit(files)
            project = cfg.root / f"download-{label}"
            shutil.rmtree(project, ignore_errors=True)
            project.mkdir(parents=True)
            (project / "modellock.toml").write_text(f'[models.m]\nrepo = "{repo}"\nrevision = "{commit}"\n')
            projects[label] = (project, repo, commit)
            del files
        env = data.env_for(HF_ENDPOINT=hub.endpoint, MODELLOCK_CACHE_DIR=str(scratch / "store"))
        for label in projects:
            project, _, _ = projects[label]
            run_command([*MODELLOCK, "-p", str(project), "lock"], env=env)

        def fresh(_: str) -> None:
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir(parents=True)
            for project, _, _ in projects.values():
                shutil.rmtree(project / "models", ignore_errors=True)
            # What the previous contender left dirty in the page cache would be written back during
            # the next one's run, and slow its fsync (only modellock and `curl + fsync` wait for one).
            os.sync()

        def contenders(label: str) -> dict[str, Callable[[], Sample]]:
            project, repo, commit = projects[label]
            url = f"{hub.endpoint}/{repo}/resolve/{commit}/{name}"
            out = str(scratch / "out.bin")
            return {
                "modellock sync": lambda: run_command(
                    [*MODELLOCK, "-p", str(project), "sync", "--locked"], env=env, rss=True
                ),
                "aria2c -x8 -s8": lambda: run_command(
                    [
                        "aria2c",
                        "-q",
                        "-x8",
                        "-s8",
                        "-k1M",
                        "--file-allocation=none",
                        "--allow-overwrite=true",
                        "-d",
                        str(scratch),
                        "-o",
                        "aria.bin",
                        url,
                    ],
                    rss=True,
                ),
                "curl": _shell('curl -sSfL -o "$2" "$1"', url, out),
                "curl + fsync": _shell('curl -sSfL -o "$2" "$1" && sync "$2"', url, out),
                "curl | b3sum": _shell('curl -sSfL "$1" | b3sum >/dev/null', url),
                "snapshot_download": lambda: run_command(
                    [sys.executable, "-c", SNAPSHOT, repo, commit, str(scratch / "hf"), hub.endpoint], env=env, rss=True
                ),
            }

        rounds = min(cfg.rounds, 3)
        hub.faults.rate = CAP
        every = contenders("capped")
        capped = interleave(
            rounds, {k: every[k] for k in ("modellock sync", "aria2c -x8 -s8", "curl", "snapshot_download")}, fresh
        )
        hub.faults.rate = None
        mib = f"{capped_size / 2**20:.0f} MiB"
        cap = f"{CAP / 1e6:.0f} MB/s per connection"
        ours = capped["modellock sync"]
        rows.append(_row(f"one {mib} file, {cap}", ours, capped["aria2c -x8 -s8"], 1.1, _rates(capped_size, capped)))
        rows.append(_reference(f"one {mib} file, {cap}", ours, capped["curl"]))
        rows.append(_reference(f"one {mib} file, {cap}", ours, capped["snapshot_download"]))

        every = contenders("big")
        plain = interleave(rounds, every, fresh)
        size = f"one {big / 2**30:.2f} GiB file, no cap"
        ours = plain["modellock sync"]
        rows.append(_row(size, ours, plain["curl + fsync"], 1.1, _rates(big, plain)))
        for peer in ("curl | b3sum", "aria2c -x8 -s8", "snapshot_download"):
            rows.append(_reference(size, ours, plain[peer]))

        project, _, _ = projects["big"]
        lock_file = project / "modellock.lock"
        saved = lock_file.read_bytes()

        def fresh_lock(name: str) -> None:
            fresh(name)
            if name == "modellock lock":
                lock_file.unlink(missing_ok=True)
            else:
                lock_file.write_bytes(saved)

        locking = interleave(
            rounds,
            {
                "modellock lock": lambda: run_command([*MODELLOCK, "-p", str(project), "lock"], env=env, rss=True),
                "modellock sync": every["modellock sync"],
            },
            fresh_lock,
        )
        lock_file.write_bytes(saved)
        rows.append(
            _row(
                f"lock of {size.removeprefix('one ').removesuffix(', no cap')}",
                locking["modellock lock"],
                locking["modellock sync"],
                1.2,
                "lock computes BLAKE3, SHA-256 and the git SHA-1 of every byte; sync BLAKE3 and SHA-256; "
                + _rates(big, locking),
            )
        )

        small = contenders("small")
        many = interleave(
            cfg.rounds,
            {"modellock sync": small["modellock sync"], "snapshot_download": small["snapshot_download"]},
            fresh,
        )
        rows.append(
            _row(f"{cfg.download_small} small files (0-60 KB)", many["modellock sync"], many["snapshot_download"], 1.0)
        )
        peak = max(plain["modellock sync"].peak_rss_mib, capped["modellock sync"].peak_rss_mib)
        from benchmarks.run import Row as _Row

        rows.append(
            _Row(
                "peak RSS of sync (ranged download)",
                "modellock sync",
                "-",
                peak,
                0.0,
                peak,
                "≤ 200 MiB",
                peak <= 200,
                f"largest file {big / 2**30:.2f} GiB, 8 connections",
            )
        )
        return rows
    finally:
        hub.close()
        subprocess.run(["rm", "-rf", str(cfg.root / "download")], check=False)


def _reference(scenario: str, ours: Series, peer: Series) -> Row:
    from benchmarks.run import Row

    ratio = ours.median / peer.median
    return Row(scenario, ours.name, peer.name, ours.median, peer.median, ratio, "(reference)", True)


def _rates(size: int, series: dict[str, Series]) -> str:
    """Each contender's rate, and the CPU time it used (on a 2-core machine shared with the emulator,
    CPU is what the contenders compete for)."""
    return ", ".join(
        f"{name} {size / s.median / 1e6:.0f} MB/s ({s.cpu_median:.1f} s CPU)" for name, s in series.items()
    )
