"""A throwaway nginx on loopback serving a directory: the native "CDN" of the download benchmarks.

Its own prefix, configuration, logs and pid file live in a temporary directory; nothing of the
system's nginx (configuration, service, port 80) is used or touched. Two ports serve the same
files: one as fast as the machine allows, one with nginx's per-request `limit_rate`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

_CONF = """\
daemon off;
master_process on;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{fast};
        root {root};
    }}
    server {{
        listen 127.0.0.1:{slow};
        root {root};
        limit_rate {rate};
    }}
}}
"""


def binary() -> str | None:
    """nginx's path: Debian installs it in /usr/sbin, which a user's PATH may lack."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def _die_with_parent() -> None:
    """In the child before exec: nginx gets SIGTERM when the benchmark dies, however it dies (Linux)."""
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Nginx:
    """`with Nginx(root, rate) as n:` serves `root` at `n.fast` and, `rate` bytes/s per request, at `n.capped`."""

    def __init__(self, root: Path, rate: float) -> None:
        self.root, self.rate = root, rate
        self._prefix = Path(tempfile.mkdtemp(prefix="modellock-nginx-"))
        self._process: subprocess.Popen[bytes] | None = None
        self.fast = self.capped = ""

    def __enter__(self) -> Nginx:
        nginx = binary()
        if nginx is None:
            raise RuntimeError("nginx not found")
        (self._prefix / "tmp").mkdir()
        # Started as root, nginx's workers run as `nobody`: the files must be readable by anyone.
        for path in (self.root, *self.root.rglob("*")):
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        for _ in range(5):  # a port picked free can be taken before nginx binds it: pick again
            fast, slow = _free_port(), _free_port()
            conf = self._prefix / "nginx.conf"
            conf.write_text(
                _CONF.format(prefix=self._prefix, root=self.root, fast=fast, slow=slow, rate=int(self.rate))
            )
            self._process = subprocess.Popen(
                [nginx, "-p", str(self._prefix), "-c", str(conf)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
            if self._wait_listening(fast) and self._wait_listening(slow):
                self.fast, self.capped = f"http://127.0.0.1:{fast}", f"http://127.0.0.1:{slow}"
                return self
            self._stop()
        log = (self._prefix / "error.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"nginx did not start: {log}")

    def _wait_listening(self, port: int) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self._process is not None and self._process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)  # fast shutdown: the master stops its workers, then exits
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop()
        shutil.rmtree(self._prefix, ignore_errors=True)
