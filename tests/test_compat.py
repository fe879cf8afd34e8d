"""modellock/compat.py: each private name of a dependency works on the installed release, and a
release outside the tested range is refused with `error:` + `hint:` naming the package and range."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from types import ModuleType

import h11
import httpcore2
import httpx2
import huggingface_hub
import pytest
import sigstore
import typer

from modellock import compat
from modellock.download import reads
from modellock.errors import UnsupportedDependency

_MODULES: dict[str, ModuleType] = {
    "httpcore2": httpcore2,
    "h11": h11,
    "huggingface_hub": huggingface_hub,
    "typer": typer,
    "sigstore": sigstore,
}


@pytest.fixture(autouse=True)
def _fresh_checks() -> Iterator[None]:
    compat.forget_checks()
    yield
    compat.forget_checks()


@pytest.mark.parametrize(
    ("version", "low", "high", "holds"),
    [
        ("2.17.0", "2.17", "3", True),
        ("2.17", "2.17", "3", True),
        ("2.17", "2.17.0", "3", True),  # trailing zeros name the same release
        ("3", "2.17", "3.0.0", False),
        ("2.99.1", "2.17", "3", True),
        ("3.0.0", "2.17", "3", False),
        ("3.0.0rc1", "2.17", "3", False),
        ("2.16.9", "2.17", "3", False),
        ("0.28.0", "0.26", "0.29", True),
        ("0.29.0", "0.26", "0.29", False),
        ("0.28.99.dev1", "0.26", "0.29", True),
        ("0.9", "0.26", "0.29", False),  # numeric, not string, comparison
        ("v4.5.1", "4.5", "5", True),
        ("unknown", "4.5", "5", False),
        ("", "4.5", "5", False),
    ],
)
def test_range(version: str, low: str, high: str, holds: bool) -> None:
    assert compat.Range(low, high).holds(version) is holds


def test_the_ranges_are_pyprojects_bounds() -> None:
    """A range wider than pyproject's would accept a release the resolver never allowed, and narrower
    one would refuse an install pip considers correct."""
    from pathlib import Path

    import tomllib

    pyproject = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text(encoding="utf-8"))
    declared = {
        d.split(">")[0].split("=")[0].split("<")[0].strip().replace("-", "_"): d
        for d in pyproject["project"]["dependencies"]
    }
    for package, supported in compat.SUPPORTED.items():
        spec = declared[package].split(";")[0]
        assert f">={supported.low}" in spec and f"<{supported.high}" in spec, (package, spec, supported)


@pytest.mark.parametrize("package", sorted(compat.SUPPORTED))
def test_the_installed_releases_are_supported(package: str) -> None:
    compat.require(package)


@pytest.mark.parametrize("package", sorted(compat.SUPPORTED))
def test_an_unsupported_release_is_refused(package: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_MODULES[package], "__version__", "999.0.0", raising=False)
    with pytest.raises(UnsupportedDependency) as caught:
        compat.require(package)
    supported = str(compat.SUPPORTED[package])
    assert caught.value.message == f"{package} 999.0.0 is installed; modellock supports {package}{supported}"
    assert caught.value.hint == f"install a supported release: pip install '{package}{supported}'"
    assert caught.value.facts() == {"package": package, "installed": "999.0.0", "supported": supported}
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("package", "use"),
    [
        ("httpcore2", compat.httpcore_reading),
        ("h11", compat.h11_receive_buffer),
        ("huggingface_hub", compat.hf_default_client_factory),
        ("huggingface_hub", lambda: compat.hf_paginate("http://127.0.0.1:9/", params={}, headers={})),
        ("typer", compat.typer_internals),
        ("sigstore", compat.sigstore_shipped_store),
    ],
)
def test_every_private_name_goes_through_the_check(package: str, use: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_MODULES[package], "__version__", "0.0.1", raising=False)
    with pytest.raises(UnsupportedDependency):
        use()  # type: ignore[operator]


def test_the_private_names_exist_on_the_installed_releases() -> None:
    connection, stream, timeout = compat.httpcore_reading()
    assert isinstance(connection.READ_NUM_BYTES, int) and callable(stream.read) and issubclass(timeout, Exception)
    with compat.hf_default_client_factory()() as client:
        assert isinstance(client, httpx2.Client) and client.event_hooks["request"]
    internals = compat.typer_internals()
    assert issubclass(internals.UsageError, internals.ClickException)
    assert "complete" in internals.get_completion_script(prog_name="modellock", complete_var="_X", shell="bash")
    assert (compat.sigstore_shipped_store() / "trusted_root.json").is_file()
    assert hasattr(compat.h11_receive_buffer(), "maybe_extract_at_most")


# --- download/reads.py: the adjustment applies to the installed httpcore2, or nothing runs ---


def test_reads_adjustment_applies() -> None:
    reads.install()
    connection, stream, _ = compat.httpcore_reading()
    assert connection.READ_NUM_BYTES >= 1024 * 1024
    assert stream.read.__module__ == reads.__name__
    assert compat.h11_receive_buffer().maybe_extract_at_most.__module__ == reads.__name__


def _trickling_server() -> tuple[socket.socket, threading.Event]:
    """A server that accepts, reads the request, and sends its status line one byte per 0.2 s."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def serve() -> None:
        conn, _ = server.accept()
        conn.recv(65536)
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000:
            if stop.is_set():
                break
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.2)
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return server, stop


def test_header_deadline_applies_to_a_real_connection() -> None:
    """Every read succeeds within its own timeout; only the deadline across reads ends the response."""
    server, stop = _trickling_server()
    port = server.getsockname()[1]
    started = time.monotonic()
    try:
        with httpx2.Client(timeout=5) as client, pytest.raises(httpx2.ReadTimeout), reads.headers_within(1.0):
            client.get(f"http://127.0.0.1:{port}/")
    finally:
        stop.set()
        server.close()
    assert time.monotonic() - started < 30  # the trickle would take 200 s


def test_reads_refuse_an_unsupported_httpcore(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reads, "_installed", False)
    monkeypatch.setattr(httpcore2, "__version__", "3.1.0")
    with pytest.raises(UnsupportedDependency, match=r"httpcore2 3\.1\.0 is installed"):
        reads.install()
    assert reads._installed is False  # refused again next time, never half-installed


def test_the_cli_refuses_an_unsupported_typer_cleanly() -> None:
    code = (
        "import sys, typer; typer.__version__ = '0.30.0'; sys.argv = ['modellock', '--help'];"
        " from modellock.cli.app import main; main()"
    )
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        "error: typer 0.30.0 is installed; modellock supports typer>=0.26,<0.29",
        "hint: install a supported release: pip install 'typer>=0.26,<0.29'",
    ]
    assert done.stdout == ""
