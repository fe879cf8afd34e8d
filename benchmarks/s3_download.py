"""One large S3 object: `modellock sync` against `aws s3 cp` and curl of a presigned URL, same server, same run.

The server is moto's standalone S3 emulator on 127.0.0.1 (the tests' server): a Python process
that serves every byte itself, so it is the bottleneck for all contenders alike and the figures
are ratios between clients, not what AWS would give. Each round starts from an empty store and
an empty target. `modellock sync` also hashes every byte twice (BLAKE3, SHA-256) and links the
file into place; curl only writes it; `aws s3 cp` writes it with several ranged connections.
moto answers each ranged GET at a cost that grows with the object, so ranged clients (modellock's
default, `aws s3 cp`) pay for the emulator; `modellock sync, 1 GET` shows the client without it.

    python -m benchmarks.s3_download --mib 512 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import data
from benchmarks.measure import interleave, ratio_of_medians, run_command
from tests.s3_server import S3Server

MODELLOCK = [sys.executable, "-m", "modellock"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    aws = shutil.which("aws")
    root = Path(tempfile.mkdtemp(prefix="modellock-s3-bench-"))
    server = S3Server()
    try:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MODELLOCK_"))}, **server.env()}
        bucket = server.bucket(versioned=True)
        source = root / "object.bin"
        source.write_bytes(data.safetensors_shard(args.mib << 20, 8))  # the gate checks it is one
        server.client().upload_file(str(source), bucket, "bench/model.safetensors")
        project = root / "project"
        project.mkdir()
        (project / "modellock.toml").write_text(f'[models.m]\nsource = "s3"\nrepo = "{bucket}/bench/"\n')
        env["MODELLOCK_CACHE_DIR"] = str(root / "lock-store")
        lock = run_command([*MODELLOCK, "-p", str(project), "lock"], env=env, rss=True)
        env["MODELLOCK_CACHE_DIR"] = str(root / "store")
        url = server.client().generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "bench/model.safetensors"}, ExpiresIn=3600
        )
        out = root / "out"
        one_get = {**env, "MODELLOCK_CONNECTIONS_PER_FILE": "1", "MODELLOCK_PIECE_SIZE": str(args.mib << 20)}

        def fresh(_: str) -> None:
            shutil.rmtree(root / "store", ignore_errors=True)
            shutil.rmtree(project / "models", ignore_errors=True)
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()

        contenders = {
            "modellock sync": lambda: run_command([*MODELLOCK, "-p", str(project), "sync"], env=env, rss=True),
            # One connection and one piece, so one GET: what the emulator serves at its best (see the note).
            "modellock sync, 1 GET": lambda: run_command(
                [*MODELLOCK, "-p", str(project), "sync"], env=one_get, rss=True
            ),
            "curl (presigned URL)": lambda: run_command(
                ["curl", "-sSf", "-o", str(out / "m.bin"), url], env=env, rss=True
            ),
        }
        if aws:
            contenders["aws s3 cp"] = lambda: run_command(
                [aws, "s3", "cp", "--only-show-errors", f"s3://{bucket}/bench/model.safetensors", str(out / "m.bin")],
                env=env,
                rss=True,
            )
        series = interleave(args.rounds, contenders, fresh)
        size = args.mib * (1 << 20)
        print(f"object: {args.mib} MiB from moto on 127.0.0.1; {args.rounds} interleaved rounds; 2 shared cores")
        print(f"  modellock lock (list, download, hash, write lock): {lock.seconds:.2f} s")
        for name, s in series.items():
            print(
                f"  {name:22s} median {s.median:6.2f} s  {size / s.median / 1e6:7.1f} MB/s  "
                f"cpu {s.cpu_median:5.2f} s  peak RSS {s.peak_rss_mib:6.1f} MiB"
            )
        ours = series["modellock sync"]
        for name, s in series.items():
            if name != "modellock sync":
                print(f"  modellock sync / {name}: {ratio_of_medians(ours, s):.2f}")
    finally:
        server.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
