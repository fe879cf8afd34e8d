"""`python -m benchmarks`: every scenario against its peer in the same run; a table of medians and ratios.

Run from the repository root after the README install (`pip install -e '.[test]'`); needs `b3sum`
(Debian package `b3sum`) and `cp`. Data goes to $MODELLOCK_BENCH_DIR or a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks import data
from benchmarks.measure import Sample, Series, interleave, ratio_of_medians, run_command

GIB = 1024**3
MODELLOCK = [sys.executable, "-m", "modellock"]
SNAPSHOT = (
    "import sys; from huggingface_hub import snapshot_download; "
    "snapshot_download(sys.argv[1], revision=sys.argv[2], cache_dir=sys.argv[3], endpoint=sys.argv[4])"
)


@dataclass
class Row:
    scenario: str
    ours: str
    peer: str
    ours_s: float
    peer_s: float
    metric: float
    target: str
    met: bool
    note: str = ""
    cpu: str = ""
    """CPU seconds per GiB moved, ours / the peer's (user + system of each client process)."""


@dataclass
class Config:
    root: Path
    rounds: int
    big: int
    small_files: int
    shard: int
    shards: int
    scale: tuple[int, ...]
    download_big: int = 2 * GIB
    download_capped: int = 512 * 1024**2
    download_small: int = 2000
    native_big: int = GIB
    native_capped: int = 512 * 1024**2


def _cli(*args: str, env: dict[str, str] | None = None, rss: bool = False) -> Callable[[], Sample]:
    return lambda: run_command([*MODELLOCK, *args], env=env or data.env_for(), rss=rss)


def _row(
    scenario: str, ours: Series, peer: Series, target: float, note: str = "", *, lower_is_better: bool = True
) -> Row:
    ratio = ratio_of_medians(ours, peer)
    met = ratio <= target if lower_is_better else (1 / ratio) >= target
    metric = ratio if lower_is_better else 1 / ratio
    sign = "≤" if lower_is_better else "≥"
    kind = "time ratio" if lower_is_better else "throughput ratio"
    return Row(scenario, ours.name, peer.name, ours.median, peer.median, metric, f"{kind} {sign} {target}", met, note)


def verify_large(cfg: Config) -> list[Row]:
    project = cfg.root / "verify-large"
    path = project / "models" / "big" / "big.bin"
    data.big_file(path, cfg.big)
    data.project_for(project, {"big": [("big.bin", data.digest_file(path))]})
    run_command(["cat", str(path)], env=None)  # warm the page cache
    series = interleave(
        cfg.rounds,
        {
            "modellock verify": _cli("-p", str(project), "verify"),
            "b3sum": lambda: run_command(["b3sum", str(path)]),
        },
    )
    from modellock.store.hashing import blake3_file

    started = time.perf_counter()
    blake3_file(path)
    hashing = time.perf_counter() - started
    note = (
        f"hashing alone, in process: {cfg.big / hashing / 1e9:.2f} GB/s "
        f"({series['b3sum'].median / hashing:.2f}x b3sum); the rest is interpreter and CLI start-up"
    )
    return [
        _row(
            f"verify 1 file of {cfg.big / GIB:.2f} GiB (warm)",
            series["modellock verify"],
            series["b3sum"],
            0.95,
            note,
            lower_is_better=False,
        )
    ]


def verify_small(cfg: Config) -> list[Row]:
    project = cfg.root / "verify-small"
    target = project / "models" / "small"
    paths = data.small_tree(target, cfg.small_files)
    files = [(p.relative_to(target).as_posix(), data.digest_file(p)) for p in paths]
    data.project_for(project, {"small": files})
    series = interleave(
        cfg.rounds,
        {
            "modellock verify": _cli("-p", str(project), "verify"),
            "b3sum": lambda: run_command(["b3sum", *map(str, paths)]),
        },
    )
    return [
        _row(
            f"verify {cfg.small_files} files of 4-64 KiB (warm)",
            series["modellock verify"],
            series["b3sum"],
            1.0,
            lower_is_better=False,
        )
    ]


def install(cfg: Config) -> list[Row]:
    """Cold sync and lock against the local Hub, warm sync against cp -r, and peak memory."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.hub import FakeHub

    hub = FakeHub()
    try:
        files: dict[str, bytes | tuple[bytes, bool]] = {
            f"model-{i + 1:05d}-of-{cfg.shards:05d}.safetensors": data.safetensors_shard(cfg.shard, i)
            for i in range(cfg.shards)
        }
        files.update({f"extra/file-{i:03d}.json": json.dumps({"i": i}).encode() for i in range(200)})
        commit = hub.repo("bench/model").commit(files)
        del files
        total = cfg.shards * cfg.shard
        project = cfg.root / "install"
        shutil.rmtree(project, ignore_errors=True)
        project.mkdir(parents=True)
        (project / "modellock.toml").write_text(f'[models.m]\nrepo = "bench/model"\nrevision = "{commit}"\n')
        scratch = cfg.root / "scratch"

        def fresh(name: str) -> None:
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir(parents=True)
            shutil.rmtree(project / "models", ignore_errors=True)

        env = data.env_for(HF_ENDPOINT=hub.endpoint, MODELLOCK_CACHE_DIR=str(scratch / "store"))
        snapshot = lambda: run_command(  # noqa: E731
            [sys.executable, "-c", SNAPSHOT, "bench/model", commit, str(scratch / "hf"), hub.endpoint], env=env
        )
        run_command([*MODELLOCK, "-p", str(project), "lock"], env=env)  # the lock that sync installs
        rounds = min(cfg.rounds, 3)  # a cold run moves 4 GiB through the emulator: keep the suite under 10 min
        sync = interleave(
            rounds,
            {
                "modellock sync --locked": _cli("-p", str(project), "sync", "--locked", env=env, rss=True),
                "snapshot_download": snapshot,
            },
            before_each=fresh,
        )
        lock_file = project / "modellock.lock"
        saved = lock_file.read_bytes()

        def fresh_lock(name: str) -> None:
            fresh(name)
            lock_file.unlink(missing_ok=True)

        lock = interleave(
            rounds,
            {"modellock lock": _cli("-p", str(project), "lock", env=env), "snapshot_download": snapshot},
            before_each=fresh_lock,
        )
        lock_file.write_bytes(saved)
        fresh("")
        run_command([*MODELLOCK, "-p", str(project), "sync", "--locked"], env=env)
        installed = project / "models" / "m"

        def clear_targets(name: str) -> None:
            shutil.rmtree(project / "models" / "m", ignore_errors=True)
            shutil.rmtree(cfg.root / "copy", ignore_errors=True)

        run_command(["cp", "-r", str(installed), str(cfg.root / "reference")])
        warm = interleave(
            cfg.rounds,
            {
                "modellock sync (warm store)": _cli("-p", str(project), "sync", "--locked", env=env),
                "cp -r": lambda: run_command(["cp", "-r", str(cfg.root / "reference"), str(cfg.root / "copy")]),
            },
            before_each=clear_targets,
        )
        shutil.rmtree(cfg.root / "reference", ignore_errors=True)
        peak = sync["modellock sync --locked"].peak_rss_mib
        size = f"{cfg.shards} x {cfg.shard / GIB:.2f} GiB + 200 small files"
        return [
            _row(
                f"sync, empty store, local Hub ({size})",
                sync["modellock sync --locked"],
                sync["snapshot_download"],
                1.0,
                f"{total / sync['modellock sync --locked'].median / 1e9:.2f} GB/s, every byte verified",
            ),
            _row(
                "lock from scratch (same repo)",
                lock["modellock lock"],
                lock["snapshot_download"],
                1.3,
                "also computes SHA-256 and the git blob SHA-1",
            ),
            _row("sync, warm store, empty target", warm["modellock sync (warm store)"], warm["cp -r"], 0.05),
            Row(
                "peak RSS of cold sync",
                "modellock sync --locked",
                "-",
                peak,
                0.0,
                peak,
                "≤ 150 MiB",
                peak <= 150,
                f"largest file {cfg.shard / GIB:.2f} GiB",
            ),
        ]
    finally:
        hub.close()


def fast_paths(cfg: Config) -> list[Row]:
    floor = lambda: run_command([sys.executable, "-c", "import typer"])  # noqa: E731
    typical = cfg.root / "typical"
    models = {}
    for m in range(20):
        files = data.tiny_files(typical / "models" / f"m{m:02d}", 30)
        models[f"m{m:02d}"] = files
    data.project_for(typical, models)
    series = interleave(
        cfg.rounds * 3,
        {"lock --check": _cli("-p", str(typical), "lock", "--check"), "--help": _cli("--help"), "import typer": floor},
    )
    rows = [
        _row("lock --check, 20 models x 30 files", series["lock --check"], series["import typer"], 2.5),
        _row("modellock --help", series["--help"], series["import typer"], 2.0),
    ]
    for count in cfg.scale:
        project = cfg.root / f"scale-{count}"
        files = data.tiny_files(project / "models" / "m", count)
        data.project_for(project, {"m": files}, installed=True)
        contenders = {
            "lock --check": _cli("-p", str(project), "lock", "--check"),
            "status": _cli("-p", str(project), "status"),
            "import typer": floor,
        }
        if count == 10_000 and shutil.which("git"):
            tree = cfg.root / "git-10000"
            _git_tree(project / "models" / "m", tree)
            contenders["git status"] = lambda t=tree: run_command(["git", "-C", str(t), "status", "--porcelain"])
        s = interleave(cfg.rounds, contenders)
        target = 4.0 if count == 10_000 else float("inf")
        label = "≤ 4x floor" if count == 10_000 else "linear"
        for name in ("lock --check", "status"):
            note = f"git status: {s['git status'].median * 1000:.0f} ms" if "git status" in s else ""
            row = _row(f"{name}, {count} files in the lock", s[name], s["import typer"], target, note)
            row.target = f"time ratio {label}"
            rows.append(row)
    return rows


def _git_tree(source: Path, path: Path) -> None:
    """A git repository holding a copy of `source`, for `git status` over the same files."""
    if (path / ".git").exists():
        return
    shutil.copytree(source, path, ignore=shutil.ignore_patterns(".modellock*"))
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "check": True}
    subprocess.run(["git", "-C", str(path), "init", "-q"], **quiet)  # type: ignore[arg-type]
    subprocess.run(["git", "-C", str(path), "add", "-A"], **quiet)  # type: ignore[arg-type]
    subprocess.run(
        ["git", "-C", str(path), "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "x"],
        **quiet,  # type: ignore[arg-type]
    )


def _oci_pull(cfg: Config) -> list[Row]:
    from benchmarks.oci import oci_pull

    return oci_pull(cfg)


def _download(cfg: Config) -> list[Row]:
    from benchmarks.download import download

    return download(cfg)


def _gate(cfg: Config) -> list[Row]:
    from benchmarks.gate_stream import gate

    return gate(cfg)


def _native(cfg: Config) -> list[Row]:
    from benchmarks.native import native

    return native(cfg)


SCENARIOS = {
    "verify-large": verify_large,
    "verify-small": verify_small,
    "install": install,
    "download": _download,
    "download-native": _native,
    "fast-paths": fast_paths,
    "oci-pull": _oci_pull,
    "gate": _gate,
}


def render(rows: list[Row]) -> str:
    with_cpu = any(r.cpu for r in rows)
    cpu_head, cpu_rule = (" CPU s/GiB (ours / peer) |", " ---: |") if with_cpu else ("", "")
    lines = [
        f"| scenario | ours | peer | ours (median) | peer (median) | ratio | target | met |{cpu_head}",
        f"| --- | --- | --- | ---: | ---: | ---: | --- | --- |{cpu_rule}",
    ]
    for r in rows:
        peer = f"{r.peer_s:.3f} s" if r.peer_s else "-"
        value = f"{r.metric:.0f} MiB" if r.scenario.startswith("peak") else f"{r.metric:.2f}"
        cpu = f" {r.cpu or '-'} |" if with_cpu else ""
        peer_name = r.peer.replace("|", "\\|")  # `curl | b3sum` inside a table cell
        lines.append(
            f"| {r.scenario} | {r.ours} | {peer_name} | {r.ours_s:.3f} s | {peer} | {value} | {r.target} | "
            f"{'-' if r.target == '(reference)' else 'yes' if r.met else '**no**'} |{cpu}"
        )
    notes = [f"- {r.scenario}: {r.note}" for r in rows if r.note]
    return "\n".join([*lines, *([""] if notes else []), *notes])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run of the suite")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", choices=sorted(SCENARIOS), action="append")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results.json"))
    args = parser.parse_args()
    if not shutil.which("b3sum"):
        sys.exit("b3sum is needed as the peer: apt-get install b3sum")
    root = Path(os.environ.get("MODELLOCK_BENCH_DIR") or Path(tempfile.gettempdir()) / "modellock-bench")
    cfg = Config(
        root=root,
        rounds=args.rounds if not args.quick else min(args.rounds, 3),
        big=4 * GIB if not args.quick else 256 * 1024**2,
        small_files=5000 if not args.quick else 500,
        shard=GIB if not args.quick else 64 * 1024**2,
        shards=4,
        scale=(1_000, 10_000, 100_000) if not args.quick else (1_000, 10_000),
        download_big=2 * GIB if not args.quick else 256 * 1024**2,
        download_capped=512 * 1024**2 if not args.quick else 128 * 1024**2,
        download_small=2000 if not args.quick else 300,
        native_big=GIB if not args.quick else 256 * 1024**2,
        native_capped=512 * 1024**2 if not args.quick else 128 * 1024**2,
    )
    started = time.monotonic()
    rows: list[Row] = []
    for name in args.only or list(SCENARIOS):
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows += SCENARIOS[name](cfg)
    table = render(rows)
    print(table)
    print(f"\n{len(rows)} rows in {time.monotonic() - started:.0f} s; data in {root}", file=sys.stderr)
    args.json.write_text(json.dumps([r.__dict__ for r in rows], indent=2) + "\n")
