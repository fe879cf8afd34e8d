"""The test-only Sigstore instance (tests/sigstore_fake.py) served over HTTP on loopback: a Fulcio that issues
a certificate for the identity in the OIDC token it is given, and a Rekor (v1 API) that logs a DSSE entry and
returns its inclusion proof, checkpoint and SET. sigstore-python's own signer talks to it unchanged, through a
ClientTrustConfig naming these URLs, so keyless signing runs end to end with nothing mocked in the client.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.sigstore_fake import FakeSigstore

ISSUER = "https://oidc.test.invalid"


def identity_token(email: str, issuer: str = ISSUER, lifetime: int = 600) -> str:
    """An OIDC token as an identity provider would issue it for Sigstore (audience `sigstore`)."""
    now = int(datetime.now(timezone.utc).timestamp())
    claims = {"iss": issuer, "sub": email, "email": email, "email_verified": True, "aud": "sigstore",
              "iat": now, "nbf": now, "exp": now + lifetime}  # fmt: skip
    return jwt.encode(claims, "test-only identity provider secret, 32+ bytes", algorithm="HS256")


class _Holder:
    def __init__(self, public_key: Any) -> None:
        self._public = public_key

    def public_key(self) -> Any:
        return self._public


def _handler(fake: FakeSigstore) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            # Whole seconds, a little in the past: the log's integrated time falls inside the certificate's validity.
            now = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=5)
            if self.path == "/api/v2/signingCert":
                token = self.headers["Authorization"].removeprefix("Bearer ")
                claims = jwt.decode(token, options={"verify_signature": False})
                csr = x509.load_pem_x509_csr(base64.b64decode(request["certificateSigningRequest"]))
                cert = fake.issue_cert(_Holder(csr.public_key()), claims["email"], claims["iss"], now)
                chain = [c.public_bytes(serialization.Encoding.PEM).decode() for c in (cert, fake.ca_cert)]
                self._reply(201, {"signedCertificateEmbeddedSct": {"chain": {"certificates": chain}}})
            elif self.path == "/api/v1/log/entries":
                content = request["spec"]["proposedContent"]
                envelope = json.loads(content["envelope"])
                payload = base64.b64decode(envelope["payload"])
                body = {
                    "apiVersion": "0.0.1",
                    "kind": "dsse",
                    "spec": {
                        "envelopeHash": {"algorithm": "sha256",
                                         "value": hashlib.sha256(content["envelope"].encode()).hexdigest()},
                        "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
                        "signatures": [{"signature": s["sig"], "verifier": content["verifiers"][0]}
                                       for s in envelope["signatures"]],
                    },
                }  # fmt: skip
                entry = fake._tlog_entry(body, now)
                proof = entry["inclusionProof"]

                def hexed(b64: str) -> str:
                    return base64.b64decode(b64).hex()

                self._reply(201, {"0" * 64: {
                    "body": entry["canonicalizedBody"],
                    "integratedTime": int(entry["integratedTime"]),
                    "logID": hexed(entry["logId"]["keyId"]),
                    "logIndex": int(entry["logIndex"]),
                    "verification": {
                        "inclusionProof": {"checkpoint": proof["checkpoint"]["envelope"],
                                           "hashes": [hexed(h) for h in proof["hashes"]],
                                           "logIndex": int(proof["logIndex"]), "rootHash": hexed(proof["rootHash"]),
                                           "treeSize": int(proof["treeSize"])},
                        "signedEntryTimestamp": entry["inclusionPromise"]["signedEntryTimestamp"],
                    },
                }})  # fmt: skip
            else:
                self._reply(404, {"message": f"no route {self.path}"})

    return Handler


@contextmanager
def serve(fake: FakeSigstore) -> Iterator[dict[str, Any]]:
    """Run the service; yields the ClientTrustConfig (trusted root + signing config) that points at it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"

    def service(where: str) -> dict[str, Any]:
        return {"url": where, "majorApiVersion": 1, "validFor": {"start": "2020-01-01T00:00:00Z"},
                "operator": "modellock-test"}  # fmt: skip

    try:
        yield {
            "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
            "trustedRoot": fake.trusted_root(),
            "signingConfig": {
                "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
                "caUrls": [service(url)],
                "oidcUrls": [service(f"{url}/oidc")],
                "rekorTlogUrls": [service(url)],
                "tsaUrls": [],
                "rekorTlogConfig": {"selector": "ANY"},
                "tsaConfig": {"selector": "ANY"},
            },
        }
    finally:
        server.shutdown()
        server.server_close()
