"""Hostile JSON and lock strings end in `error:` + `hint:` (or a note, for optional metadata), never an internal error.

Each case runs the real `modellock` in a process of its own: how deep Python can recurse depends on
the stack it starts with, so an in-process run would prove less.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from modellock.jsonread import MAX_DEPTH, MalformedJSON, depth_exceeds, loads
from tests.helpers import snapshot
from tests.hostile_proxy import HostileProxy
from tests.hub import FakeHub
from tests.registry import LocalRegistry
from tests.test_hub_scan import FILES

MODELLOCK = str(Path(sys.executable).parent / "modellock")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MODELLOCK, *args], capture_output=True, text=True, timeout=300, env=dict(os.environ))


def clean_failure(done: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert done.returncode == code, (done.returncode, done.stderr)
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert "error: " in done.stderr and "hint: " in done.stderr, done.stderr
    for needle in needles:
        assert needle in done.stderr, done.stderr


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# -- the reader ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "fails", "too_deep"),
    [
        (b'{"a": [1, {"b": 2}]}', False, False),
        (nested(MAX_DEPTH), False, False),
        (nested(MAX_DEPTH + 1), True, True),  # parses, but deeper than the bound
        (nested(900), True, True),  # just under the interpreter's limit: parses, then refused
        (nested(200_000), True, True),  # RecursionError inside json.loads
        (b'{"a": ' * 100_000, True, True),
        (b"\xff\xfe not json", True, False),
        (b"", True, False),
        ("[1, 2", True, False),
    ],
)
def test_the_reader_bounds_depth_and_raises_one_typed_error(data: bytes | str, fails: bool, too_deep: bool) -> None:
    if not fails:
        loads(data, "a document")
        return
    with pytest.raises(MalformedJSON) as caught:
        loads(data, "a document", hint="do this")
    assert caught.value.too_deep is too_deep and caught.value.hint == "do this" and caught.value.exit_code == 2
    assert caught.value.message.startswith("a document is ")
    assert isinstance(caught.value, ValueError)  # callers that treat bad JSON as absent keep doing so


@pytest.mark.parametrize(
    ("value", "limit", "exceeds"),
    [
        (1, 0, False),
        ([], 0, True),
        ([], 1, False),
        ({"a": [[]]}, 2, True),
        ({"a": [[]]}, 3, False),
        ([1, [2]], 2, False),
    ],
)
def test_depth_exceeds(value: Any, limit: int, exceeds: bool) -> None:
    assert depth_exceeds(value, limit) is exceeds


# -- the Hub ------------------------------------------------------------------------------------------------


def _card_answer(raw: bytes) -> Any:
    """The expanded model_info answer (lineage's) replaced by `raw`; other answers untouched."""

    def rewrite(data: dict[str, Any]) -> Any:
        return raw if "siblings" not in data else data

    return rewrite


@pytest.mark.parametrize(
    ("answer", "note"),
    [
        (b'{"_id": "x", "id": "acme/m", "cardData": ' + nested(3000) + b"}", "nested deeper than 64 levels; not read"),
        (b'{"_id": "x", "id": "acme/m", "cardData": ' + nested(200) + b"}", "nested deeper than 64 levels; not read"),
        (b'{"_id": "x", "id": "acme/m", "cardData": ["license", "mit"]}', "`cardData` is a list, not a mapping"),
        (b'{"_id": "x", "id": "acme/m", "cardData": "license: mit"}', "`cardData` is a string, not a mapping"),
        (b'{"_id": "x", "id": "acme/m", "cardData": 3}', "`cardData` is a number, not a mapping"),
        (b"[1, 2]", "is a list, not an object; not read"),
        (b"<html>proxy error</html>", "is not JSON"),
    ],
)
def test_card_data_that_cannot_be_read_is_unavailable_not_fatal(
    project: Path, hub: FakeHub, answer: bytes, note: str
) -> None:
    hub.repo("acme/m").commit(FILES, card={"license": "mit"})
    hub.faults.info_json = _card_answer(answer)
    (project / "modellock.toml").write_text('[models.m]\nrepo = "acme/m"\n')
    done = run("lock")
    assert done.returncode == 0, done.stderr
    assert "warning: m: the Hub's card data for acme/m@" in done.stderr and note in done.stderr, done.stderr
    text = (project / "modellock.lock").read_text()
    assert "card = " not in text  # unavailable: no facts recorded, none guessed
    assert run("lock", "--check").returncode == 0


def test_a_hub_answer_nested_too_deep_at_resolve_is_a_clean_exit_2(project: Path, hub: FakeHub) -> None:
    hub.repo("acme/m").commit(FILES)
    hub.faults.info_json = lambda data: b'{"sha": ' + nested(200_000) + b"}"
    (project / "modellock.toml").write_text('[models.m]\nrepo = "acme/m"\n')
    before = snapshot(project)
    done = run("lock")
    clean_failure(done, 2, "the Hub's answer about acme/m@main is JSON nested too deep", "check HF_ENDPOINT")
    assert snapshot(project) == before


def test_a_tree_listing_nested_too_deep_is_a_clean_exit_2(project: Path, hub: FakeHub) -> None:
    hub.repo("acme/m").commit(FILES)
    hub.faults.tree_json = lambda page: nested(100_000)
    (project / "modellock.toml").write_text('[models.m]\nrepo = "acme/m"\n')
    before = snapshot(project)
    clean_failure(run("lock"), 2, "JSON nested too deep")
    assert snapshot(project) == before


def test_an_adapter_config_nested_deep_is_a_note_not_a_crash(project: Path, hub: FakeHub) -> None:
    hub.repo("acme/adapter").commit({**FILES, "adapter_config.json": nested(100_000)})
    (project / "modellock.toml").write_text('[models.a]\nrepo = "acme/adapter"\n')
    done = run("lock")
    assert done.returncode == 0, done.stderr
    assert "warning: a: adapter_config.json is nested deeper than 64 levels; not read" in done.stderr
    assert "internal error" not in done.stderr and "bases = " not in (project / "modellock.lock").read_text()


# -- the lock -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('requested = "main"', 'requested = "ma\\ud800in"'),
        ('requested = "main"', 'requested = "\\uDFFF"'),
        ('path = "config.json"', 'path = "config\\ud800.json"'),
        ('repo = "acme/m"', 'repo = "acme/\\ud83d\\ude00"'),  # a JSON surrogate pair: TOML has none
    ],
)
def test_a_lock_string_with_a_surrogate_escape_is_refused_with_file_and_line(
    project: Path, hub: FakeHub, old: str, new: str
) -> None:
    hub.repo("acme/m").commit(FILES)
    (project / "modellock.toml").write_text('[models.m]\nrepo = "acme/m"\n')
    assert run("lock").returncode == 0
    lock = project / "modellock.lock"
    text = lock.read_text()
    assert old in text
    lock.write_text(text.replace(old, new, 1))
    line = next(i for i, ln in enumerate(lock.read_text().splitlines(), 1) if new in ln)
    before = snapshot(project)
    for args in (("lock", "--check"), ("sync", "--frozen"), ("verify",)):
        done = run(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert f"modellock.lock:{line}: invalid TOML: escaped character is not a Unicode scalar value" in done.stderr
        assert "internal error" not in done.stderr and "hint: " in done.stderr, done.stderr
        assert snapshot(project) == before


# -- an OCI registry ----------------------------------------------------------------------------------------


def test_a_token_realm_answering_json_nested_200000_deep_is_a_clean_exit_2(
    project: Path, hub: FakeHub, registry: LocalRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_oci_registry import fresh_machine, make_tiny

    make_tiny(hub)
    assert run("add", "acme/tiny").returncode == 0
    realm = HostileProxy(lambda request, body: (200, {"Content-Type": "application/json"}, nested(200_000)))

    def challenge(request: Any, body: bytes) -> tuple[int, dict[str, str], bytes] | None:
        if not request.headers.get("Authorization"):
            return 401, {"WWW-Authenticate": f'Bearer realm="{realm.url}/token",service="x"'}, b"{}"
        return None

    evil = HostileProxy(challenge, upstream=registry.url)
    fresh_machine(tmp_path, monkeypatch)
    before = snapshot(project)
    done = run("sync", "--frozen", "--registry", f"{evil.url}/fleet")
    clean_failure(done, 2, "the token answer of 127.0.0.1:", "nested deeper than 64 levels: no usable token")
    assert snapshot(project) == before and not (project / "models").exists()
    assert realm.requests, "the realm was asked"
    evil.close()
    realm.close()


def test_a_docker_config_nested_deep_is_a_clean_exit_2(
    project: Path, hub: FakeHub, registry: LocalRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_oci_registry import make_tiny

    make_tiny(hub)
    assert run("add", "acme/tiny").returncode == 0
    config = tmp_path / "docker"
    config.mkdir()
    (config / "config.json").write_bytes(b'{"auths": ' + nested(100_000) + b"}")
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    before = snapshot(project)
    done = run("push", f"{registry.url}/fleet")
    clean_failure(done, 2, "config.json: cannot read Docker's credentials", "nested deeper than 64 levels")
    assert snapshot(project) == before


# -- error documents huggingface_hub indexes without checking -------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/api/models/acme/m/revision/main", b"[1, 2]", "the Hub's answer about acme/m@main is malformed"),
        ("/api/models/acme/m/revision/main", b'{"errors": 5}', "the Hub's answer about acme/m@main is malformed"),
        ("/api/models/acme/m/tree/", b'"x"', "is malformed"),
        ("/api/models/acme/m/revision/main", nested(100_000), "nested too deep"),
        ("/acme/m/resolve/", b'{"errors": [5]}', "the Hub's answer about acme/m@"),
    ],
)
def test_an_error_document_of_the_wrong_shape_is_a_clean_exit_2(
    project: Path, hub: FakeHub, monkeypatch: pytest.MonkeyPatch, path: str, body: bytes, message: str
) -> None:
    hub.repo("acme/m").commit(FILES)

    def refuse(request: Any, data: bytes) -> tuple[int, dict[str, str], bytes] | None:
        if request.path.startswith(path) and "expand=cardData" not in request.path:
            return 403, {"Content-Type": "application/json"}, body  # a refusal: not retried
        return None

    proxy = HostileProxy(refuse, upstream=hub.endpoint)
    monkeypatch.setenv("HF_ENDPOINT", proxy.url)
    (project / "modellock.toml").write_text('[models.m]\nrepo = "acme/m"\n')
    before = snapshot(project)
    clean_failure(run("lock"), 2, message)
    assert snapshot(project) == before
    proxy.close()


def _hub_raises(body: bytes) -> BaseException:
    import httpx2
    from huggingface_hub import hf_raise_for_status

    request = httpx2.Request("GET", "http://127.0.0.1:9/api/models/a/b")
    try:
        hf_raise_for_status(httpx2.Response(403, content=body, request=request))
    except Exception as exc:
        return exc
    raise AssertionError("no error")


def _we_raise() -> BaseException:
    try:
        [].append(1, 2)  # type: ignore[call-arg]
    except TypeError as exc:
        return exc
    raise AssertionError("no error")


def _json_under_hub() -> BaseException:
    from huggingface_hub.utils import _http

    try:
        _http.json.loads("not json")  # stands for huggingface_hub calling the decoder
    except ValueError as exc:
        return exc
    raise AssertionError("no error")


@pytest.mark.parametrize(
    ("make", "library"),
    [
        (lambda: _hub_raises(b"[1, 2]"), True),
        (lambda: _hub_raises(b'{"errors": 5}'), True),
        (_we_raise, False),  # the same TypeError from our own code is a bug to see, not a server to blame
        (_json_under_hub, False),  # raised in json, called from here: not huggingface_hub's doing
    ],
)
def test_only_errors_raised_inside_huggingface_hub_are_blamed_on_the_server(make: Any, library: bool) -> None:
    from modellock.sources.huggingface import _raised_in_huggingface_hub

    assert _raised_in_huggingface_hub(make()) is library


# -- a lone surrogate from JSON in a repository path ----------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "refused"),
    [("config.json", False), ("naïve/日本.json", False), ("con\ud800fig.json", True), ("a/\udfff", True)],
)
def test_a_path_with_a_lone_surrogate_is_unsafe(path: str, refused: bool) -> None:
    from modellock.project.paths import unsafe_reason

    reason = unsafe_reason(path)
    assert (reason is not None) is refused
    assert reason is None or "lone surrogate" in reason


def test_a_hub_listing_path_with_a_lone_surrogate_is_refused_cleanly(project: Path, hub: FakeHub) -> None:
    hub.repo("acme/m").commit(FILES)

    def surrogate(page: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for entry in page:
            if entry["path"] == "config.json":
                entry["path"] = "con\ud800fig.json"  # json.dumps sends it as the escape `\ud800`
        return page

    hub.faults.tree_json = surrogate
    (project / "modellock.toml").write_text('[models.m]\nrepo = "acme/m"\n')
    before = snapshot(project)
    clean_failure(run("lock"), 1, "repository path 'con\\ud800fig.json' is unsafe: the path contains a lone surrogate")
    assert snapshot(project) == before


def test_an_unreadable_card_is_remembered_as_unreadable_for_offline_relocks(project: Path, hub: FakeHub) -> None:
    commit = hub.repo("acme/m").commit(FILES, card={"license": "mit"})
    hub.faults.info_json = _card_answer(b'{"_id": "x", "id": "acme/m", "cardData": ["license", "mit"]}')
    (project / "modellock.toml").write_text(f'[models.m]\nrepo = "acme/m"\nrevision = "{commit}"\n')
    assert "`cardData` is a list, not a mapping" in run("lock").stderr
    (project / "modellock.lock").unlink()
    done = run("lock", "--offline")  # the store's record of the answer, no request
    assert done.returncode == 0, done.stderr
    assert "warning: m: the Hub's card data for acme/m@" in done.stderr and "is a list, not a mapping" in done.stderr
    assert "card = " not in (project / "modellock.lock").read_text()
