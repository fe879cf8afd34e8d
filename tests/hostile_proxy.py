"""A hostile HTTP server on 127.0.0.1 in front of a real registry: a hook answers what it wants to, the
rest is passed through; every request's method, path and headers are recorded."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[int, dict[str, str], bytes]
HANDLED = (0, {}, b"")
"""What a hook returns when it wrote the whole answer itself."""
Hook = Callable[[BaseHTTPRequestHandler, bytes], "Answer | None"]


class HostileProxy:
    def __init__(self, hook: Hook | None = None, upstream: str | None = None) -> None:
        self.hook, self.upstream = hook, upstream
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _do(self) -> None:
                body = self._body()
                outer.requests.append((self.command, self.path, dict(self.headers)))
                answer = outer.hook(self, body) if outer.hook else None
                if answer is HANDLED:
                    self.close_connection = True
                    return
                status, headers, data = answer if answer is not None else outer._proxy(self, body)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding") == "chunked":
                    body = b""
                    while size := int(self.rfile.readline().strip(), 16):
                        body += self.rfile.read(size)
                        self.rfile.readline()
                    self.rfile.readline()
                    return body
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _do

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _proxy(self, request: BaseHTTPRequestHandler, body: bytes) -> Answer:
        assert self.upstream is not None, "no hook answered and there is no upstream"
        host, port = self.upstream.split("//", 1)[1].split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "transfer-encoding")}
        headers["Content-Length"] = str(len(body))
        connection.request(request.command, request.path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        dropped = ("transfer-encoding", "connection", "content-length")
        out = {k: v for k, v in response.getheaders() if k.lower() not in dropped}
        if "Location" in out:
            out["Location"] = out["Location"].replace(self.upstream, self.url)
        if request.command == "HEAD":
            out["Content-Length"] = response.getheader("Content-Length") or "0"
        return response.status, out, data

    def basic_credentials_seen(self) -> list[str]:
        import base64

        found = []
        for _, _, headers in self.requests:
            value = headers.get("Authorization", "")
            if value.startswith("Basic "):
                found.append(base64.b64decode(value[6:]).decode())
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
