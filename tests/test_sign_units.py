"""Table-driven tests of the decisions behind `sign` and the OMS bundle checks: each row is one rule."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from modellock.errors import UsageError
from modellock.signing.directory import canonical_ignore, is_ignored
from modellock.signing.oms import SignatureInvalid, parse_statement
from modellock.signing.shape import check_shape
from modellock.signing.statement import Serialization, Signed, build_statement, root_digest, shard_resources

PAYLOAD = "application/vnd.in-toto+json"


def _statement(**predicate: object) -> dict[str, object]:
    return {"_type": "https://in-toto.io/Statement/v1", "predicateType": "https://model_signing/signature/v1.0",
            "subject": [{"name": "m", "digest": {"sha256": "00"}}], "predicate": predicate}  # fmt: skip


def _bundle(material: object = None, envelope: object = None, **extra: object) -> bytes:
    env = {"payload": base64.b64encode(json.dumps(_statement()).encode()).decode(), "payloadType": PAYLOAD,
           "signatures": [{"sig": "AA==", "keyid": ""}]}  # fmt: skip
    bundle: dict[str, object] = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"publicKey": {"hint": "ab"}} if material is None else material,
        "dsseEnvelope": env if envelope is None else envelope,
    }
    bundle.update(extra)
    return json.dumps({k: v for k, v in bundle.items() if v != "DROP"}).encode()


CERT = {"rawBytes": "MII="}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (_bundle(), "key"),
        (_bundle({"publicKey": {"rawBytes": "MFkw"}}), "key"),  # pre-1.1 bundles (OMS §11.2)
        (_bundle({"x509CertificateChain": {"certificates": [CERT]}}), "certificate"),
        (_bundle({"certificate": CERT, "tlogEntries": [{}]}), "sigstore"),
        # Before bundle v0.3 a keyless bundle carried its Fulcio certificate as a chain.
        (
            _bundle(
                {"x509CertificateChain": {"certificates": [CERT]}, "tlogEntries": [{}]},
                mediaType="application/vnd.dev.sigstore.bundle+json;version=0.2",
            ),
            "sigstore",
        ),
        (_bundle({"x509CertificateChain": {"certificates": [CERT]}, "tlogEntries": [{}]}), "certificate"),
        (b"", "the signature file is empty"),
        (b"  \n", "the signature file is empty"),
        (b"{", "not JSON"),
        (b"[]", "not a JSON object"),
        (_bundle(mediaType="application/json"), "is not a Sigstore bundle"),
        (_bundle(verificationMaterial="DROP"), "no verification material"),
        (_bundle(dsseEnvelope="DROP"), "has no DSSE envelope"),
        (_bundle(dsseEnvelope="DROP", messageSignature={}), "a message signature, not DSSE envelope"),
        (_bundle({"publicKey": {}}), "neither a `hint` nor `rawBytes`"),
        (_bundle({"x509CertificateChain": {"certificates": []}}), "carries no certificates"),
        (_bundle({"certificate": CERT}), "at least one transparency-log entry"),
        (_bundle({"certificate": CERT, "tlogEntries": []}), "at least one transparency-log entry"),
        (_bundle({"certificate": {"rawBytes": ""}, "tlogEntries": [{}]}), "the Fulcio certificate is empty"),
        (_bundle({"timestampVerificationData": {}}), "names no public key"),
        (
            _bundle(envelope={"payload": "e30=", "payloadType": "text/plain", "signatures": [{"sig": "AA=="}]}),
            "payload type is 'text/plain'",
        ),
        (_bundle(envelope={"payload": "e30=", "payloadType": PAYLOAD, "signatures": []}), "carries no signature"),
        (_bundle(envelope={"payload": "e30=", "payloadType": PAYLOAD, "signatures": [{"keyid": ""}]}), "no `sig`"),
        (_bundle(envelope={"payload": "!!", "payloadType": PAYLOAD, "signatures": [{"sig": "AA=="}]}), "not Base64"),
        (
            _bundle(envelope={"payload": "e30=", "payloadType": PAYLOAD, "signatures": [{"sig": "AA=="}]}),
            "not an in-toto v1 statement",
        ),
        # keyid: absent, "" or null are all accepted (OMS §4.1)
        (
            _bundle(
                envelope={
                    "payload": base64.b64encode(json.dumps(_statement()).encode()).decode(),
                    "payloadType": PAYLOAD,
                    "signatures": [{"sig": "AA==", "keyid": None}],
                }
            ),
            "key",
        ),
        # A payload that is not JSON is left to the signature check (tampering reads as a broken signature).
        (
            _bundle(envelope={"payload": "bm90IGpzb24=", "payloadType": PAYLOAD, "signatures": [{"sig": "AA=="}]}),
            "key",
        ),
    ],
)
def test_check_shape(raw: bytes, expected: str) -> None:
    if expected in ("key", "certificate", "sigstore"):
        assert check_shape(raw, "b") == expected
    else:
        with pytest.raises(SignatureInvalid, match=expected.replace("`", ".").replace("(", r"\(").replace(")", r"\)")):
            check_shape(raw, "b")


def _payload(resources: list[dict[str, str]], **serialization: object) -> bytes:
    root = hashlib.sha256(b"".join(bytes.fromhex(r["digest"]) for r in resources)).hexdigest()
    statement = _statement(resources=resources, serialization=serialization)
    statement["subject"] = [{"name": "m", "digest": {"sha256": root}}]
    return json.dumps(statement).encode()


D = "ab" * 32


@pytest.mark.parametrize(
    ("resources", "serialization", "expected"),
    [
        ([{"name": "a", "algorithm": "sha256", "digest": D}], {"method": "files", "hash_type": "sha256"}, "a"),
        (
            [{"name": "a:0:5", "algorithm": "sha256", "digest": D}],
            {"method": "shards", "hash_type": "sha256", "shard_size": 5},
            "a[0:5]",
        ),
        (
            [{"name": "a:0:5", "algorithm": "sha256-sharded-5", "digest": D}],
            {"method": "shards", "shard_size": 5.0},
            "a[0:5]",
        ),
        (
            [{"name": "x:y:0:5", "algorithm": "sha256", "digest": D}],
            {"method": "shards", "shard_size": 5},
            "unsafe",  # the range is the last two fields; `x:y` is then refused, as every colon in a locked path
        ),
        ([{"name": "a:0:5", "algorithm": "sha256", "digest": D}], {"method": "files"}, "unsafe"),
        ([], {"method": "files"}, "signs no files"),
        ([{"name": "a", "algorithm": "sha256", "digest": D}], {"method": "zip"}, "unknown serialization method"),
        (
            [{"name": "a", "algorithm": "sha256", "digest": D}],
            {"method": "files", "hash_type": "md5"},
            "unsupported hash type",
        ),
        (
            [{"name": "a", "algorithm": "blake3", "digest": D}],
            {"method": "files", "hash_type": "sha256"},
            "uses blake3, the statement sha256",
        ),
        ([{"name": "a:0:5", "algorithm": "sha256", "digest": D}], {"method": "shards"}, "positive integer shard_size"),
        (
            [{"name": "a:0:5", "algorithm": "sha256", "digest": D}],
            {"method": "shards", "shard_size": 2.5},
            "positive integer shard_size",
        ),
        (
            [{"name": "a:0:5", "algorithm": "sha256", "digest": D}],
            {"method": "shards", "shard_size": True},
            "positive integer shard_size",
        ),
        (
            [{"name": "a:0:5", "algorithm": "sha256-sharded-5", "digest": D}],
            {"method": "files"},
            "is a shard .* outside shard serialization",
        ),
        (
            [{"name": "a:0:5", "algorithm": "sha256-sharded-9", "digest": D}],
            {"method": "shards", "shard_size": 5},
            "outside shard serialization",
        ),
        (
            [{"name": "a:5:5", "algorithm": "sha256", "digest": D}],
            {"method": "shards", "shard_size": 5},
            "empty or reversed range",
        ),
        (
            [{"name": "a", "algorithm": "sha256", "digest": D}],
            {"method": "shards", "shard_size": 5},
            "malformed shard name",
        ),
        ([{"name": "../a", "algorithm": "sha256", "digest": D}], {"method": "files"}, "unsafe"),
    ],
)
def test_parse_statement(resources: list[dict[str, str]], serialization: dict[str, object], expected: str) -> None:
    payload = _payload(resources, **serialization)
    if "[" in expected or expected == "a":
        manifest = parse_statement(PAYLOAD, payload, "s")
        r = manifest.resources[0]
        assert (f"{r.path}[{r.start}:{r.end}]" if r.start is not None else r.path) == expected
    else:
        with pytest.raises(SignatureInvalid, match=expected):
            parse_statement(PAYLOAD, payload, "s")


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("logs", "logs"),
        ("./logs/", "logs"),
        ("a//b/./c", "a/b/c"),
        ("*.bin", None),
        ("a?", None),
        ("[ab]", None),
        ("/etc", None),
        ("../x", None),
        ("a/../../x", None),
        (".", None),
        ("a\\b", None),
    ],
)
def test_canonical_ignore(entry: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(UsageError):
            canonical_ignore(entry)
    else:
        assert canonical_ignore(entry) == expected


@pytest.mark.parametrize(
    ("name", "ignores", "expected"),
    [
        (".git/HEAD", (".git",), True),
        ("sub/.git/HEAD", (".git",), False),  # defaults are top-level only (OMS §6.2.1)
        ("cache", ("cache",), True),
        ("cache/x", ("cache",), True),
        ("cachefile", ("cache",), False),
        ("sub/cache", ("cache",), False),
        ("model.sig", ("model.sig",), True),
    ],
)
def test_is_ignored(name: str, ignores: tuple[str, ...], expected: bool) -> None:
    assert is_ignored(name, ignores) is expected


def test_statement_sorts_by_code_point_and_roots_over_the_sorted_digests() -> None:
    digests = {"b": "01", "B": "02", "a/z": "03", "é": "04", "a": "05"}
    serialization = Serialization("files", "sha256", None, (".git", "model.sig", ".git"))
    payload, root = build_statement("m", [Signed(n, "sha256", d) for n, d in digests.items()], serialization)
    statement = json.loads(payload)
    names = [r["name"] for r in statement["predicate"]["resources"]]
    assert names == ["B", "a", "a/z", "b", "é"]
    assert (
        root == hashlib.sha256(bytes.fromhex("0205030104")).hexdigest() == statement["subject"][0]["digest"]["sha256"]
    )
    assert root == root_digest(Signed(n, "sha256", digests[n]) for n in names)
    assert statement["predicate"]["serialization"]["ignore_paths"] == [".git", "model.sig"]
    assert "shard_size" not in statement["predicate"]["serialization"]
    with pytest.raises(ValueError):
        build_statement("m", [], serialization)


def test_shard_resources() -> None:
    shards = Serialization("shards", "sha256", 4, ())
    assert shard_resources("w", [(0, 4, "aa"), (4, 6, "bb")], shards) == [
        Signed("w:0:4", "sha256", "aa"), Signed("w:4:6", "sha256", "bb")
    ]  # fmt: skip
    assert shard_resources("empty", [], shards) == []
    assert shard_resources("w", [(0, 6, "cc")], Serialization("files", "blake3", None, ())) == [
        Signed("w", "blake3", "cc")
    ]
