"""The emulator's `cdn_base` knob: LFS redirects point at another server (the benchmarks' nginx)."""

from __future__ import annotations

import httpx2

from tests.hub import FakeHub


def test_lfs_redirects_go_to_the_cdn_base_and_small_files_stay() -> None:
    hub, other = FakeHub(), FakeHub()
    try:
        weights = b"\x01" * 5000
        files = {"model.safetensors": weights, "config.json": b"{}"}
        commit = hub.repo("org/m").commit(files)
        other.repo("org/m").commit(files)  # the other server holds the same blobs under /blobs/<sha256>
        hub.faults.cdn_base = other.cdn
        with httpx2.Client() as client:
            base = f"{hub.endpoint}/org/m/resolve/{commit}"
            redirect = client.get(f"{base}/model.safetensors")
            assert redirect.status_code == 302
            assert redirect.headers["location"].startswith(f"{other.cdn}/blobs/")
            assert client.get(redirect.headers["location"]).content == weights
            assert client.get(f"{base}/config.json").content == b"{}"
        assert not [path for server, path, _ in hub.auth if server == "cdn"]
    finally:
        hub.close()
        other.close()
