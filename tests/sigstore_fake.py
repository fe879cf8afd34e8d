"""A test-only Sigstore instance: our own Fulcio-style CA, CT log key and Rekor key (no network).

Bundles it makes carry a real certificate chain, SCT, Rekor entry with inclusion proof, signed
checkpoint and SET, so sigstore-python verifies them through a custom trusted root with no
verification step mocked (research/sigstore.md §4.2). Everything is signed at a fixed instant.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

OIDC_ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
OIDC_ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
SCT_LIST_OID = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
PAYLOAD_TYPE = "application/vnd.in-toto+json"
T0 = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def spki(key: Any) -> bytes:
    public = key.public_key() if hasattr(key, "public_key") else key
    return bytes(public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def _der_octet_string(data: bytes) -> bytes:
    n = len(data)
    if n < 0x80:
        return b"\x04" + bytes([n]) + data
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return b"\x04" + bytes([0x80 | len(size)]) + size + data


def _der_utf8(text: str) -> bytes:
    raw = text.encode()
    return b"\x0c" + bytes([len(raw)]) + raw


def pae(payload_type: str, payload: bytes) -> bytes:
    return f"DSSEv1 {len(payload_type)} {payload_type} {len(payload)} ".encode() + payload


@dataclass
class FakeSigstore:
    ca_key: ec.EllipticCurvePrivateKey
    ca_cert: x509.Certificate
    ct_key: ec.EllipticCurvePrivateKey
    rekor_key: ec.EllipticCurvePrivateKey
    rekor_origin: str = "rekor.test.invalid - 1"

    @classmethod
    def create(cls) -> FakeSigstore:
        ca_key = ec.generate_private_key(ec.SECP384R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "modellock-test"),
                x509.NameAttribute(NameOID.COMMON_NAME, "modellock-test-fulcio"),
            ]
        )
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(T0 - timedelta(days=365))
            .not_valid_after(T0 + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA384())
        )
        return cls(ca_key, ca_cert, ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1()))

    def trusted_root(self) -> dict[str, Any]:
        def log(key: Any, url: str) -> dict[str, Any]:
            return {
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": b64(spki(key)),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": "2020-01-01T00:00:00Z"},
                },
                "logId": {"keyId": b64(hashlib.sha256(spki(key)).digest())},
            }

        return {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [log(self.rekor_key, "https://rekor.test.invalid")],
            "ctlogs": [log(self.ct_key, "https://ctfe.test.invalid")],
            "certificateAuthorities": [
                {
                    "subject": {"organization": "modellock-test", "commonName": "modellock-test-fulcio"},
                    "uri": "https://fulcio.test.invalid",
                    "certChain": {
                        "certificates": [{"rawBytes": b64(self.ca_cert.public_bytes(serialization.Encoding.DER))}]
                    },
                    "validFor": {"start": "2020-01-01T00:00:00Z"},
                }
            ],
            "timestampAuthorities": [],
        }

    def issue_cert(self, key: Any, identity: str, issuer: str, when: datetime = T0) -> x509.Certificate:
        san: list[x509.GeneralName] = (
            [x509.UniformResourceIdentifier(identity)] if "://" in identity else [x509.RFC822Name(identity)]
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(when)
            .not_valid_after(when + timedelta(minutes=10))
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()), critical=False)
            .add_extension(x509.SubjectAlternativeName(san), critical=True)
            .add_extension(x509.UnrecognizedExtension(OIDC_ISSUER_V1, issuer.encode()), critical=False)
            .add_extension(x509.UnrecognizedExtension(OIDC_ISSUER_V2, _der_utf8(issuer)), critical=False)
        )
        # RFC 6962 precertificate SCT over the TBS without the SCT extension.
        tbs = builder.sign(self.ca_key, hashes.SHA384()).tbs_certificate_bytes
        ts_ms = int(when.timestamp() * 1000)
        signed = (
            struct.pack("!BBQH", 0, 0, ts_ms, 1)
            + hashlib.sha256(spki(self.ca_key)).digest()
            + len(tbs).to_bytes(3, "big")
            + tbs
            + struct.pack("!H", 0)
        )
        sig = self.ct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        sct = (
            b"\x00"
            + hashlib.sha256(spki(self.ct_key)).digest()
            + struct.pack("!QH", ts_ms, 0)
            + struct.pack("!BBH", 4, 3, len(sig))
            + sig
        )
        sct_list = struct.pack("!H", len(sct) + 2) + struct.pack("!H", len(sct)) + sct
        return builder.add_extension(
            x509.UnrecognizedExtension(SCT_LIST_OID, _der_octet_string(sct_list)), critical=False
        ).sign(self.ca_key, hashes.SHA384())

    def _tlog_entry(
        self, body: dict[str, Any], when: datetime, delay: timedelta = timedelta(seconds=1), promise: bool = True
    ) -> dict[str, Any]:
        body_bytes = rfc8785.dumps(body)
        log_id = hashlib.sha256(spki(self.rekor_key)).digest()
        leaf = hashlib.sha256(b"\x00" + body_bytes).digest()
        sibling = hashlib.sha256(b"\x00" + b"some earlier entry").digest()
        root = hashlib.sha256(b"\x01" + sibling + leaf).digest()
        note = f"{self.rekor_origin}\n2\n{b64(root)}\n"
        checkpoint_sig = self.rekor_key.sign(note.encode(), ec.ECDSA(hashes.SHA256()))
        checkpoint = note + "\n" + f"\u2014 {self.rekor_origin.split(' ')[0]} {b64(log_id[:4] + checkpoint_sig)}\n"
        integrated = int((when + delay).timestamp())
        set_payload = rfc8785.dumps(
            {"body": b64(body_bytes), "integratedTime": integrated, "logID": log_id.hex(), "logIndex": 1}
        )
        entry: dict[str, Any] = {
            "logIndex": "1",
            "logId": {"keyId": b64(log_id)},
            "kindVersion": {"kind": body["kind"], "version": body["apiVersion"]},
            "integratedTime": str(integrated),
            "inclusionPromise": {
                "signedEntryTimestamp": b64(self.rekor_key.sign(set_payload, ec.ECDSA(hashes.SHA256())))
            },
            "inclusionProof": {
                "logIndex": "1",
                "rootHash": b64(root),
                "treeSize": "2",
                "hashes": [b64(sibling)],
                "checkpoint": {"envelope": checkpoint},
            },
            "canonicalizedBody": b64(body_bytes),
        }
        if not promise:
            del entry["inclusionPromise"]
        return entry

    def sign_dsse(
        self,
        payload: bytes,
        identity: str,
        issuer: str,
        *,
        when: datetime = T0,
        log_delay: timedelta = timedelta(seconds=1),
        promise: bool = True,
    ) -> dict[str, Any]:
        key = ec.generate_private_key(ec.SECP256R1())  # ephemeral, as in keyless signing
        cert = self.issue_cert(key, identity, issuer, when)
        sig = key.sign(pae(PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256()))
        envelope = {"payload": b64(payload), "payloadType": PAYLOAD_TYPE, "signatures": [{"sig": b64(sig)}]}
        pem = cert.public_bytes(serialization.Encoding.PEM)
        body = {
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": {
                    "algorithm": "sha256",
                    "value": hashlib.sha256(json.dumps(envelope).encode()).hexdigest(),
                },
                "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
                "signatures": [{"signature": b64(sig), "verifier": b64(pem)}],
            },
        }
        return {
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {
                "certificate": {"rawBytes": b64(cert.public_bytes(serialization.Encoding.DER))},
                "tlogEntries": [self._tlog_entry(body, when, log_delay, promise)],
            },
            "dsseEnvelope": envelope,
        }


def sign_with_key(payload: bytes, key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    """An OMS key-mode bundle: DSSE signed with a plain EC key, no certificate, no log."""
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = {256: hashes.SHA256(), 384: hashes.SHA384()}[key.curve.key_size]
    sig = key.sign(pae(PAYLOAD_TYPE, payload), ec.ECDSA(digest))
    return {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"publicKey": {"hint": hashlib.sha256(pem).hexdigest()}, "tlogEntries": []},
        "dsseEnvelope": {"payload": b64(payload), "payloadType": PAYLOAD_TYPE, "signatures": [{"sig": b64(sig)}]},
    }


DEFAULT_IGNORES = [".git", ".gitattributes", ".github", ".gitignore"]


def statement(
    files: dict[str, bytes],
    *,
    algorithm: str = "sha256",
    ignores: tuple[str, ...] = ("model.sig",),
    shard_size: int | None = None,
    shards: dict[str, list[tuple[int, int]]] | None = None,
) -> bytes:
    """An OMS v1.0 in-toto statement over `files`, as model_signing writes it.

    `shard_size` signs each file as `path:start:end` ranges (`use_shard_serialization`); `shards`
    replaces the ranges of some files, to sign less (or more) than every byte.
    """
    import blake3

    def digest(data: bytes) -> str:
        return blake3.blake3(data).hexdigest() if algorithm == "blake3" else hashlib.sha256(data).hexdigest()

    if shard_size is None:
        resources = [{"name": n, "algorithm": algorithm, "digest": digest(files[n])} for n in sorted(files)]
    else:
        resources = []
        for name in sorted(files):
            data = files[name]
            # Zero-byte files have no shard (OMS §6.3.2), as model_signing omits them.
            ranges = [(i, min(i + shard_size, len(data))) for i in range(0, len(data), shard_size)]
            for start, end in (shards or {}).get(name, ranges):
                resources.append(
                    {
                        "name": f"{name}:{start}:{end}",
                        "algorithm": f"sha256-sharded-{shard_size}",
                        "digest": hashlib.sha256(data[start:end]).hexdigest(),
                    }
                )
    root = hashlib.sha256(b"".join(bytes.fromhex(r["digest"]) for r in resources)).hexdigest()
    return json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "model", "digest": {"sha256": root}}],
            "predicateType": "https://model_signing/signature/v1.0",
            "predicate": {
                "serialization": {
                    "method": "files" if shard_size is None else "shards",
                    "hash_type": algorithm,
                    "allow_symlinks": False,
                    "ignore_paths": [*DEFAULT_IGNORES, *ignores],
                    **({} if shard_size is None else {"shard_size": float(shard_size)}),  # a protobuf Struct's float
                },
                "resources": resources,
            },
        }
    ).encode()
