"""Pull throughput from a local OCI registry: `modellock sync --registry` against `skopeo copy` (and oras-py).

One run: a model is locked against the local Hub, pushed with `modellock push` to Debian's
docker-registry on 127.0.0.1, then each contender pulls the same artifact from the same registry,
rounds interleaved: modellock into an empty store with the Hub unreachable (every byte verified
against the lock: SHA-256 and BLAKE3) and installed; skopeo into an OCI layout (it checks each
blob's SHA-256); oras-py's `pull` into a directory, where it is installed.
"""

from __future__ import annotations

import json
import shutil
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks import data
from benchmarks.measure import Sample, interleave, run_command

if TYPE_CHECKING:
    from benchmarks.run import Config, Row

GIB = 1024**3
MODELLOCK = [sys.executable, "-m", "modellock"]
ORAS_PULL = (
    "import sys, oras.client; c = oras.client.OrasClient(hostname=sys.argv[1], insecure=True); "
    "c.pull(target=sys.argv[2], outdir=sys.argv[3])"
)


def _closed() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def oci_pull(cfg: Config) -> list[Row]:
    from benchmarks.run import _row

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.hub import FakeHub
    from tests.registry import BINARY, LocalRegistry

    skopeo = shutil.which("skopeo")
    if BINARY is None or skopeo is None:
        print("oci-pull: skipped (apt-get install docker-registry skopeo)", file=sys.stderr)
        return []
    hub, registry = FakeHub(), LocalRegistry()
    try:
        shards = min(cfg.shards, 2)
        files: dict[str, bytes | tuple[bytes, bool]] = {
            f"model-{i + 1:05d}-of-{shards:05d}.safetensors": data.safetensors_shard(cfg.shard, i)
            for i in range(shards)
        }
        files.update({f"extra/file-{i:03d}.json": json.dumps({"i": i}).encode() for i in range(20)})
        commit = hub.repo("bench/model").commit(files)
        del files
        total = shards * cfg.shard
        project = cfg.root / "oci"
        shutil.rmtree(project, ignore_errors=True)
        project.mkdir(parents=True)
        (project / "modellock.toml").write_text(f'[models.m]\nrepo = "bench/model"\nrevision = "{commit}"\n')
        scratch = cfg.root / "oci-scratch"
        env = data.env_for(HF_ENDPOINT=hub.endpoint, MODELLOCK_CACHE_DIR=str(cfg.root / "oci-store"))
        run_command([*MODELLOCK, "-p", str(project), "lock"], env=env)
        run_command([*MODELLOCK, "-p", str(project), "push", f"{registry.url}/bench"], env=env)
        image = f"{registry.host}/bench/bench/model:{commit}"

        def fresh(name: str) -> None:
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir(parents=True)
            shutil.rmtree(project / "models", ignore_errors=True)

        pull_env = data.env_for(HF_ENDPOINT=_closed(), MODELLOCK_CACHE_DIR=str(scratch / "store"))
        contenders: dict[str, Callable[[], Sample]] = {
            "modellock sync --registry": lambda: run_command(
                [*MODELLOCK, "-p", str(project), "sync", "--frozen", "--registry", f"{registry.url}/bench"],
                env=pull_env,
            ),
            "skopeo copy": lambda: run_command(
                [skopeo, "copy", "-q", "--src-tls-verify=false", f"docker://{image}", f"oci:{scratch / 'layout'}:m"]
            ),
        }
        try:
            import oras.client  # noqa: F401

            contenders["oras-py pull"] = lambda: run_command(
                [sys.executable, "-c", ORAS_PULL, registry.host, image, str(scratch / "oras")]
            )
        except ImportError:
            print("oci-pull: oras-py not installed; comparing with skopeo only", file=sys.stderr)
        series = interleave(min(cfg.rounds, 3), contenders, before_each=fresh)
        ours = series["modellock sync --registry"]
        size = f"{shards} x {cfg.shard / GIB:.2f} GiB + 20 small files"
        rate = f"{total / ours.median / 1e9:.2f} GB/s, every byte verified (SHA-256 + BLAKE3) and installed"
        rows = [_row(f"pull from a local OCI registry ({size})", ours, series["skopeo copy"], 1.0, rate)]
        if "oras-py pull" in series:
            rows.append(_row("pull from a local OCI registry (same)", ours, series["oras-py pull"], 1.0))
        return rows
    finally:
        registry.close()
        hub.close()
