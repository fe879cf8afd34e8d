"""The pickle bypass classes of 2025-2026 (tests/data/bypasses.py), each as a file a real loader runs:
refused under every policy, the reason naming the import.

The fixtures are written by tests/data/make_bypasses.py, which proved each one executes with the
loader it targets (pickle.load, torch.load(weights_only=False), joblib.load, numpy.load(allow_pickle=True))
in a throwaway process before it was committed; the manifest records that, and where a technique
cannot run on the Python it was proven with, why. Here the stdlib-only payloads are proven again.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from modellock.gate.enforce import decide
from modellock.gate.scanner import scan_file
from modellock.project.lockread import read_lock
from modellock.project.policy import Policy
from tests.helpers import cli, reseal, snapshot
from tests.hub import FakeHub

DATA = Path(__file__).parent / "data"
ROOT = DATA / "bypasses"
sys.path.insert(0, str(DATA))
import bypasses  # noqa: E402

MANIFEST: dict[str, dict[str, object]] = json.loads((ROOT / "MANIFEST.json").read_text())
TECHNIQUES = {t.name: t for t in bypasses.techniques()}
# The most permissive policy a manifest can state short of allow-files (a reviewed exception).
POLICIES = [Policy(), Policy(pickle="scan"), Policy(pickle="allow", remote_code="allow")]


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_every_bypass_is_refused_under_every_policy_naming_its_import(name: str) -> None:
    entry = MANIFEST[name]
    result = scan_file(ROOT / name, name)
    assert result.kind == "pickle" and result.verdict == "malicious", (result.format, result.findings)
    for policy in POLICIES:
        decision = decide(name, result, policy, "m")
        assert not decision.allowed, policy
        assert f"{entry['names']}" in decision.reason, (policy, decision.reason)
        assert "allow-files" not in decision.change and 'pickle = "allow"' not in decision.change


def test_the_fixtures_cover_every_technique_shape_and_container() -> None:
    by_technique: dict[str, list[str]] = {}
    for name, entry in MANIFEST.items():
        by_technique.setdefault(str(entry["technique"]), []).append(name)
    assert set(by_technique) == set(TECHNIQUES)
    for technique, names in by_technique.items():
        suffixes = {n.split(".", 2)[2] for n in names}
        assert suffixes == {"pkl", "pt", "joblib", "joblib.z", "npz"}, technique
    encodings = {str(e["encoding"]) for e in MANIFEST.values()}
    assert encodings == set(bypasses.ENCODINGS)
    for needed in ("importlib_import_module", "importlib_find_spec_exec_module", "pkgutil_resolve_name",
                   "attrgetter_module_from_memo", "marshal_code_function_type", "xxsubinterpreters_run_string",
                   "interpreters_run_string", "mailcap_findmatch", "ensurepip_run_pip", "pickle_private_loads_nested",
                   "builtins_import_getattr", "sys_modules_lookup", "code_interpreter_newobj_build_dotted",
                   "runpy_run_code", "cprofile_run", "pydoc_locate", "torch_hub_load", "torch_load_nested",
                   "numpy_load_nested_allow_pickle", "asyncio_subprocess_shell", "idlelib_calltip_get_entity",
                   "webbrowser_open", "timeit_setup", "trace_runctx", "functools_partial_build_kwargs",
                   "memo_memoize_confusion", "memo_overwritten", "build_setattr_then_dotted_global_operands",
                   "exception_after_the_call"):  # fmt: skip
        assert needed in TECHNIQUES, needed


def test_every_fixture_is_what_the_generator_writes_and_was_proven_to_run() -> None:
    for name, entry in MANIFEST.items():
        technique = TECHNIQUES[str(entry["technique"])]
        if name.endswith(".pkl") and (technique.name != "marshal_code_function_type" or _on_proven_python()):
            assert (ROOT / name).read_bytes() == bypasses.payloads(technique)[str(entry["encoding"])], name
        # Each payload ran with its real loader, unless the manifest says why it cannot here.
        assert entry["ran"] is not bool(technique.cannot_run), name
    opcodes = b"".join((ROOT / n).read_bytes() for n in MANIFEST if n.endswith(".pkl"))
    for opcode in (b"\x93", b"\x92", b"\x81", b"\x95", b"\x94", b"h", b"i", b"o", b"b", b"R", b"c"):
        assert opcode in opcodes


@pytest.mark.timeout(600)
def test_stdlib_payloads_really_run_with_pickle_load() -> None:
    # One shape of each technique that needs no third-party library, loaded by pickle.load in a
    # forked child started in an empty directory: the marker it leaves proves the payload is live.
    chosen: dict[str, str] = {}
    for name, entry in sorted(MANIFEST.items()):
        technique = TECHNIQUES[str(entry["technique"])]
        slow = technique.name == "ensurepip_run_pip"  # runs pip in a subprocess: proven by the generator
        plain = name.endswith(".pkl") and not technique.loader_needs and not technique.cannot_run and not slow
        if plain and (_on_proven_python() or _importable(technique.expr)):
            chosen.setdefault(technique.name, str(ROOT / name))
    assert len(chosen) >= 30
    ran = bypasses.prove([(path, "pickle") for path in chosen.values()], timeout=60)
    assert [p for p, ok in ran.items() if not ok] == []


def _on_proven_python() -> bool:
    return sys.version_info[:2] == bypasses.PROVEN_ON


def _importable(expr: object) -> bool:
    """On another Python, prove only payloads whose modules exist there (mailcap left in 3.13)."""
    import importlib.util

    nodes: list[object] = []
    bypasses._walk_nodes(expr, nodes)
    roots = {n.module.split(".")[0] for n in nodes if isinstance(n, bypasses.G)}
    return all(importlib.util.find_spec(root) is not None for root in roots) and not any(
        isinstance(n, bypasses.Call) and n.fn == bypasses.G("marshal", "loads") for n in nodes
    )


def test_scan_cli_refuses_the_whole_directory_under_the_allow_policy() -> None:
    run = cli("scan", "--pickle", "allow", "--remote-code", "allow", "--format", "json", str(ROOT))
    assert run.exit_code == 1
    report = json.loads(run.stdout)
    files = [f for f in report["files"] if not f["path"].endswith(("MANIFEST.json",)) and "/benign/" not in f["path"]]
    assert len(files) == len(MANIFEST)
    assert [f["path"] for f in files if f["allowed"]] == []
    text = cli("scan", "--pickle", "allow", str(ROOT / "mailcap_findmatch.p2.pkl"))
    assert text.exit_code == 1 and "mailcap.findmatch" in text.stdout


def _hub_repo(hub: FakeHub, repo: str, files: dict[str, bytes]) -> None:
    hub.repo(repo).commit({"config.json": b"{}", **files})


def test_lock_refuses_a_bypass_in_a_torch_checkpoint_even_with_pickle_allowed(project: Path, hub: FakeHub) -> None:
    payload = (ROOT / "importlib_import_module.p5_memo.pt").read_bytes()
    _hub_repo(hub, "acme/evil", {"pytorch_model.bin": payload})
    (project / "modellock.toml").write_text('[models.evil]\nrepo = "acme/evil"\npickle = "allow"\n')
    before = snapshot(project)
    run = cli("lock")
    assert run.exit_code == 1, run.stderr
    assert "pytorch_model.bin (torch-zip): malicious" in run.stderr
    assert "importlib.import_module" in run.stderr
    assert "allow-files" not in run.stderr.split("pytorch_model.bin", 1)[1]
    assert snapshot(project) == before


def test_sync_gate_refuses_a_bypass_once_the_locks_reviewed_exception_is_gone(project: Path, hub: FakeHub) -> None:
    payload = (ROOT / "pkgutil_resolve_name.p0.joblib.z").read_bytes()
    _hub_repo(hub, "acme/evil", {"model.joblib": payload})
    (project / "modellock.toml").write_text(
        '[models.evil]\nrepo = "acme/evil"\npickle = "allow"\nallow-files = ["model.joblib"]\n'
    )
    assert cli("lock").exit_code == 0
    lock_path = project / "modellock.lock"
    model = read_lock(lock_path).get("evil")
    assert model is not None and "model.joblib" in {f.path for f in model.files}
    # The reviewed exception withdrawn from the lock itself; `sync --frozen` takes the lock's policy,
    # the most permissive one left: pickle = "allow".
    text = lock_path.read_text()
    assert 'allow-files = ["model.joblib"]' in text
    lock_path.write_text(text.replace('allow-files = ["model.joblib"]', "allow-files = []"))
    reseal(lock_path)
    before = snapshot(project)
    run = cli("sync", "--frozen")
    assert run.exit_code == 1, run.stdout + run.stderr
    assert "refusing evil: 1 file failed the safety gate" in run.stderr, run.stderr
    assert "model.joblib (" in run.stderr and "): malicious: imports pkgutil.resolve_name" in run.stderr
    assert snapshot(project) == before
