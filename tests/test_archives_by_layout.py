"""Archives read by their layout (issue #20): torch.export `.pt2` archives, torch zips written with CRC
computation off, GGUF in either byte order. Fixtures are real files from tests/data/make_corpus.py."""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from modellock.gate.buffer import Window
from modellock.gate.enforce import decide
from modellock.gate.formats import gguf_byte_order, gguf_metadata
from modellock.gate.pt2 import _raw_fits, record_role
from modellock.gate.pt2_program import (
    check_expression,
    check_guard,
    check_program,
    check_target,
    check_treespec,
    program_strings,
)
from modellock.gate.scanner import scan_bytes, scan_file
from modellock.gate.zipread import Member, ZipInvalid, check_crc, read_members
from modellock.project.policy import Policy
from tests import corpus
from tests.helpers import cli, snapshot
from tests.hub import FakeHub

ROOT = Path(__file__).parent / "data" / "corpus"
SAFE, MALICIOUS = ROOT / "safe", ROOT / "malicious"
DENY, SCAN, ALLOW = Policy(), Policy(pickle="scan"), Policy(pickle="allow", remote_code="allow")
SAFE_PT2 = sorted(p.name for p in SAFE.glob("pt2_*.pt2"))
MALICIOUS_PT2 = sorted(p.name for p in MALICIOUS.glob("pt2_*.pt2"))

# -- PT2: what each record is, by name -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("archive_format", "format"),
        ("archive_version", "version"),
        ("byteorder", "small"),
        (".data/version", "small"),
        (".data/serialization_id", "small"),
        ("models/model.json", "program"),
        ("models/sub/model.json", "unknown"),
        ("data/weights/model_weights_config.json", "payload-config"),
        ("data/constants/branch_constants_config.json", "payload-config"),
        ("data/weights/model_model_param_config.json", "param-config"),
        ("data/weights/weight_0", "raw-or-pickled"),
        ("data/weights/weight_x", "unknown"),
        ("data/constants/tensor_12", "raw-or-pickled"),
        ("data/constants/custom_obj_0", "custom-object"),
        ("data/constants/opaque_obj_3", "opaque-object"),
        ("data/sample_inputs/model.pt", "torch-save"),
        ("data/weights/model.pt", "torch-save"),
        ("extra/module_info.json", "extra"),
        ("data/aotinductor/model/model.so", "compiled"),
        ("data/executorch/model.pte", "compiled"),
        ("data/mtia/blob", "compiled"),
        ("data.pkl", "unknown"),
        ("code/__torch__.py", "unknown"),
        ("xl_model_weights/model_param_config", "unknown"),
    ],
)
def test_record_roles(name: str, role: str) -> None:
    assert record_role(name) == role


# -- PT2: the strings of the program its loader evaluates --------------------------------------------


@pytest.mark.parametrize(
    ("target", "verdict"),
    [
        ("torch.ops.aten.linear.default", None),
        ("torch.ops.aten._to_copy.default", None),
        ("torch.ops.higher_order.cond", None),
        ("torch.ops.aten.sym_size.int", None),
        ("_operator.floordiv", None),
        ("_operator.getitem", None),
        ("math.trunc", None),
        ("torch.sym_max", None),
        ("#executorch/op", None),  # an application-registered deserializer decides
        ("mymodule.helper", None),  # stays a string the graph cannot call
        ("torch.os.system", "malicious"),
        ("torch.serialization.load", "malicious"),
        ("torchvision.os.system", "malicious"),  # the prefix alone picks `torch`
        ("torch.ops.load_library", "malicious"),
        ("torch.ops.import_module", "malicious"),
        ("torch.ops.aten.__class__.x", "malicious"),
        ("_operator.call", "malicious"),
        ("_operator.methodcaller", "malicious"),
        ("_operator.index", "malicious"),  # every operator function is graded as a primitive
        ("math.gcd", None),  # the math module is pure
        ("math._private", "invalid"),
        ("torch._C._set_grad_enabled", None),  # what export's verifier lets a graph call
        ("torch.amp.autocast_mode._enter_autocast", None),
        ("torch._C._get_tracing_state", "invalid"),
        ("math.__loader__", "malicious"),
        ("torch.nn.Linear", "malicious"),  # gate.dangerous: a dotted name reaching objects by attribute
    ],
)
def test_operator_targets(target: str, verdict: str | None) -> None:
    found = check_target(target)
    assert (found.verdict if found else None) == verdict, found


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("Symbol('s77', positive=True, integer=True)", None),
        ("Add(Mul(Integer(3), Symbol('s74', positive=True, integer=True)), Integer(3))", None),
        ("FloorDiv(Symbol('s0', integer=True), Integer(2))", None),
        ("2*s0 + 1", None),
        ("Float('1.5', precision=53)", None),
        ("__import__('os').system('echo pwn')", "malicious"),
        ("open('/etc/passwd')", "malicious"),
        ("(lambda: 1)()", "malicious"),
        ("s0.__class__", "malicious"),
        ("Symbol('x', __class__=1)", "malicious"),
        ("[c for c in ()]", "malicious"),
        ("1)\nimport os\n(1", "malicious"),
        ("Piecewise((Integer(1), StrictLessThan(Symbol('s0'), Integer(2))), (Integer(0), true))", None),
        ("OpaqueUnaryFn_cos(Symbol('s0'))", None),
        ("lambdify(1)", "invalid"),  # a lowercase sympy name not in the list: lambdify and preview run code
        ("foo(1)", "invalid"),
    ],
)
def test_symbolic_expressions(text: str, verdict: str | None) -> None:
    found = check_expression(text)
    assert (found.verdict if found else None) == verdict, found


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("(L['x'].size()[0] % 2) == 0", None),
        ("1 + (L['x'].size()[0] // 2) <= L['y'].size()[0] + L['x'].size()[0]", None),
        ("L['x'].stride()[0] == 3 and L['args'][0].size()[1] >= 2", None),
        ("math.floor(L['x'].size()[0] / 2) == 3", None),
        ("torch.sym_max(L['x'].size()[0], 2) <= inf", None),
        ("max(L['x'].size()[0], 2) <= math.inf", None),  # what torch's Python printer writes for Max, oo
        ("float(L['x'].size()[0]) / 2 >= 1.5 and torch._sym_sqrt(L['x'].size()[0]) > 1", None),
        ("math.__loader__", "malicious"),
        ("exec('1')", "malicious"),
        ("__import__('os').system('echo pwn') == 0", "malicious"),
        ("torch.load('x')", "malicious"),
        ("L['x'].__class__", "malicious"),
        ("L['x'].size()[0] == 1)\n  import os\n  (1", "malicious"),
        ("L[L]", "malicious"),
        ("L['__globals__']", "malicious"),
        ("L['x'].shape[0] == 2", "invalid"),
        ("y == 2", "invalid"),
    ],
)
def test_guards(text: str, verdict: str | None) -> None:
    found = check_guard(text)
    assert (found.verdict if found else None) == verdict, found


LEAF = {"type": None, "context": None, "children_spec": []}


def _spec(kind: str, context: object) -> str:
    return json.dumps([1, {"type": kind, "context": json.dumps(context), "children_spec": [LEAF]}])


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        (_spec("builtins.dict", ["mask"]), None),
        (json.dumps([1, LEAF]), None),
        (
            _spec(
                "collections.defaultdict",
                {"default_factory_module": "builtins", "default_factory_name": "list", "dict_context": ["a"]},
            ),
            None,
        ),
        (
            _spec(
                "collections.defaultdict",
                {"default_factory_module": "os", "default_factory_name": "system", "dict_context": ["a"]},
            ),
            "malicious",
        ),
        (_spec("builtins.dict", [{"__enum__": True, "fqn": "subprocess:Popen", "name": "x"}]), "malicious"),
        # treespec_loads imports the enum's module: `this` prints the Zen of Python when imported.
        (_spec("builtins.dict", [{"__enum__": True, "fqn": "this:s", "name": "x"}]), "malicious"),
        (
            _spec("builtins.list", {"nested": [{"__enum__": True, "fqn": "myapp.colors:Color", "name": "RED"}]}),
            "suspicious",
        ),
        ("[1, {", "invalid"),
        (json.dumps([1, ["not", "a", "node"]]), "invalid"),
    ],
)
def test_input_and_output_specs(text: str, verdict: str | None) -> None:
    found = check_treespec(text)
    assert (found.verdict if found else None) == verdict, found


def test_every_evaluated_string_of_a_real_program_is_found_and_passes() -> None:
    with zipfile.ZipFile(SAFE / "pt2_dynamic_guards.pt2") as archive:
        program = json.loads(archive.read("pt2_dynamic_guards/models/model.json"))
    assert program["guards_code"] and "expr_str" in json.dumps(program)  # derived dims: guards and sympy
    kinds = {kind for kind, _ in program_strings(program)}
    assert kinds == {"target", "expression", "guard", "treespec"}
    assert check_program(program) == []
    program["guards_code"].append("__import__('os').system('x') == 0")
    program["graph_module"]["graph"]["nodes"][0]["target"] = "torch.os.system"
    assert {f.verdict for f in check_program(program)} == {"malicious"}
    assert len(check_program(program)) == 2
    assert check_program({"nodes": []})[0].verdict == "invalid"


# -- PT2: raw tensors are the bytes their config declares --------------------------------------------


def _meta(dtype: int, sizes: list[int], strides: list[int], offset: int = 0) -> dict[str, object]:
    ints = [{"as_int": n} for n in sizes]
    return {"dtype": dtype, "sizes": ints, "strides": [{"as_int": s} for s in strides],
            "storage_offset": {"as_int": offset}}  # fmt: skip


@pytest.mark.parametrize(
    ("meta", "size", "fits"),
    [
        (_meta(7, [3, 4], [4, 1]), 48, True),  # float32 3x4
        (_meta(7, [3, 4], [4, 1]), 44, False),  # one element short
        (_meta(7, [3, 4], [4, 1]), 46, False),  # not whole elements
        (_meta(7, [4], [1], offset=8), 48, True),  # a view into a shared storage
        (_meta(7, [4], [1], offset=9), 48, False),
        (_meta(7, [2, 2], [1, 2]), 16, True),  # transposed
        (_meta(13, [8], [1]), 16, True),  # bfloat16
        (_meta(7, [3], [1]), 0, True),  # empty record: torch makes zeros
        (_meta(99, [3], [1]), 12, False),  # no such dtype
        (_meta(7, [3], [-1]), 12, False),
        (None, 12, False),
        ({"dtype": [7], "sizes": [], "strides": [], "storage_offset": {"as_int": 0}}, 12, False),  # unhashable
    ],
)
def test_raw_tensor_records(meta: object, size: int, fits: bool) -> None:
    assert (_raw_fits(meta, size) is None) == fits


# -- PT2: real archives --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SAFE_PT2)
def test_real_archives_pass_when_scanning_and_are_pickles_under_deny(name: str) -> None:
    result = scan_file(SAFE / name, name)
    assert (result.format, result.kind, result.verdict) == ("pt2", "pickle", "clean"), result.findings
    assert decide(name, result, SCAN, "m").allowed
    refused = decide(name, result, DENY, "m")  # sample inputs are unpickled by torch.export.load
    assert not refused.allowed and "pickle-based" in refused.reason


@pytest.mark.parametrize("name", MALICIOUS_PT2)
def test_payloads_in_archives_are_refused_under_every_policy(name: str) -> None:
    result = scan_file(MALICIOUS / name, name)
    assert result.format == "pt2" and result.verdict == "malicious", result.findings
    for policy in (DENY, SCAN, ALLOW):
        assert not decide(name, result, policy, "m").allowed


def test_the_archives_cover_the_layouts() -> None:
    assert len(SAFE_PT2) >= 6 and len(MALICIOUS_PT2) >= 5
    names = " ".join(SAFE_PT2 + MALICIOUS_PT2)
    for needed in ("buffers", "seeded", "dynamic", "branch", "two_models", "crc0", "opaque", "pickled_constant",
                   "sample_inputs", "sympy", "guard"):  # fmt: skip
        assert needed in names, needed


def test_raw_weights_are_never_sniffed() -> None:
    data = (SAFE / "pt2_seeded.pt2").read_bytes()
    assert b"\x80\x02N." in data and b"GGUF" in data  # seeded into a raw weight record by the generator
    assert scan_bytes(data, "model.pt2").verdict == "clean"


def _rewrite(data: bytes, change: dict[str, bytes | None], add: dict[str, bytes] | None = None) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    root = src.namelist()[0].split("/", 1)[0]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            new = change.get(info.filename[len(root) + 1 :], src.read(info))
            if new is not None:
                dst.writestr(info, new)
        for name, body in (add or {}).items():
            dst.writestr(f"{root}/{name}", body)
    return out.getvalue()


def _findings(data: bytes, verdict: str = "invalid") -> str:
    result = scan_bytes(data, "model.pt2")
    assert result.verdict == verdict, result
    return " | ".join(f.message for f in result.findings)


def test_tampered_archives_are_refused() -> None:
    data = (SAFE / "pt2_buffers.pt2").read_bytes()
    assert "declared view reaches" in _findings(_rewrite(data, {"data/weights/weight_0": b"\0" * 8}))
    assert "not 0, the version torch reads" in _findings(_rewrite(data, {"archive_version": b"1"}))
    assert "archive_format is not 'pt2'" in _findings(_rewrite(data, {"archive_format": b"pt3"}))
    assert "no payload config declares" in _findings(_rewrite(data, {}, {"data/weights/weight_9": b"\0" * 4}))
    assert "not part of a PT2 archive" in _findings(_rewrite(data, {}, {"data.pkl": corpus.call("os", "system")}))
    assert "not in the archive" in _findings(_rewrite(data, {"data/weights/weight_0": None}))
    assert "unexpected content" in _findings(_rewrite(data, {"byteorder": b"sideways"}))
    assert "not JSON" in _findings(_rewrite(data, {"models/model.json": b"{"}))
    assert "no archive_version" in _findings(_rewrite(data, {"archive_version": None}))
    # A broken record beside a payload: the payload is still named, so the file stays malicious.
    payload = corpus.torch_zip(corpus.call("os", "system"))
    both = _rewrite(data, {"models/model.json": b"{", "archive_format": b"x" * 100,
                           "data/sample_inputs/model.pt": payload})  # fmt: skip
    assert "not JSON" in _findings(both, "malicious") and "system" in _findings(both, "malicious")


def test_custom_objects_and_legacy_state_are_walked() -> None:
    data = (SAFE / "pt2_buffers.pt2").read_bytes()
    payload = corpus.torch_zip(corpus.call("os", "system"))
    config = json.loads(
        zipfile.ZipFile(io.BytesIO(data)).read("pt2_buffers/data/constants/model_constants_config.json")
    )
    config["config"]["obj"] = {"path_name": "custom_obj_0", "is_param": False, "use_pickle": True, "tensor_meta": None}
    declared = {"data/constants/model_constants_config.json": json.dumps(config).encode()}
    hostile = _rewrite(data, declared, {"data/constants/custom_obj_0": payload})
    assert "custom_obj_0" in _findings(hostile, "malicious") and "system" in _findings(hostile, "malicious")
    legacy = _rewrite(data, {}, {"data/weights/model.pt": payload})
    assert "data/weights/model.pt" in _findings(legacy, "malicious")
    not_a_zip = _rewrite(data, {"data/sample_inputs/model.pt": b"\x80\x02N."})
    assert "where torch expects a torch.save archive" in _findings(not_a_zip)


def test_compiled_artifacts_are_code() -> None:
    data = _rewrite((SAFE / "pt2_buffers.pt2").read_bytes(), {}, {"data/aotinductor/model/model.so": b"\x7fELF"})
    result = scan_bytes(data, "model.pt2")
    assert (result.kind, result.verdict) == ("code", "safe")
    assert "remote-code is denied" in decide("model.pt2", result, SCAN, "m").reason
    assert decide("model.pt2", result, ALLOW, "m").allowed


# -- CRC 0: torch's writer with CRC computation off ------------------------------------------------------


def _member(crc: int, local_crc: int, size: int) -> Member:
    return Member("archive/data.pkl", 0, crc, size, size, 0, local_crc)


BODY = b"\x80\x02}q\x00."
REAL = zlib.crc32(BODY)


@pytest.mark.parametrize(
    ("crc", "local_crc", "unset_ok", "accepted"),
    [
        (0, 0, True, True),  # torch.serialization.set_crc32_options(False): 0 in the directory and descriptor
        (0, 0, False, False),  # other zips: Python's zipfile refuses it too
        (0, REAL, True, False),  # the directory's CRC zeroed by hand, the local record still has it
        (0x12345678, 0, True, False),  # no writer writes a wrong nonzero CRC
        (REAL, 0, True, True),  # torch's usual zip: the CRC is in the descriptor, the local header says 0
        (REAL, 0, False, True),
    ],
)
def test_crc_rule(crc: int, local_crc: int, unset_ok: bool, accepted: bool) -> None:
    member = _member(crc, local_crc, len(BODY))
    if accepted:
        check_crc(Window(BODY), member, unset_ok=unset_ok)
    else:
        with pytest.raises(ZipInvalid, match="CRC"):
            check_crc(Window(BODY), member, unset_ok=unset_ok)


def test_the_reader_finds_the_crc_where_torch_writes_it() -> None:
    for name, expected in (("torch_crc0.pt", 0), ("bert_fp32.bin", None)):
        data = (SAFE / name).read_bytes()
        members = read_members(Window(data))
        directory = {i.filename: i.CRC for i in zipfile.ZipFile(io.BytesIO(data)).infolist()}
        for member in members:
            assert member.local_crc == member.crc == (directory[member.name] if expected is None else expected)


def test_torch_zips_with_crc_zero() -> None:
    data = (SAFE / "torch_crc0.pt").read_bytes()
    assert all(info.CRC == 0 for info in zipfile.ZipFile(io.BytesIO(data)).infolist())
    assert scan_bytes(data, "pytorch_model.bin").verdict == "clean"
    assert "system" in _findings((MALICIOUS / "torch_crc0_payload.pt").read_bytes(), "malicious")
    # A nonzero CRC that does not match: the bytes changed after torch wrote them.
    normal = (SAFE / "bert_fp32.bin").read_bytes()
    crc = struct.pack("<I", zipfile.ZipFile(io.BytesIO(normal)).getinfo("archive/data.pkl").CRC)
    assert normal.count(crc) == 2  # local header and central directory
    result = scan_bytes(normal.replace(crc, struct.pack("<I", 0x12345678)), "pytorch_model.bin")
    assert "fails its CRC check" in " ".join(f.message for f in result.findings)


# -- GGUF in both byte orders -----------------------------------------------------------------------------


def _gguf(order: str, template: str, version: int = 3) -> bytes:
    """A GGUF header with one chat template, written field by field as gguf-py writes it."""
    e = ">" if order == "big" else "<"
    key, value = b"tokenizer.chat_template", template.encode()
    kv = struct.pack(f"{e}Q", len(key)) + key + struct.pack(f"{e}I", 8) + struct.pack(f"{e}Q", len(value)) + value
    return b"GGUF" + struct.pack(f"{e}IQQ", version, 0, 1) + kv


@pytest.mark.parametrize(
    ("head", "order"),
    [
        (b"GGUF\x03\x00\x00\x00", "little"),
        (b"GGUF\x02\x00\x00\x00", "little"),
        (b"GGUF\x00\x00\x00\x03", "big"),
        (b"GGUF\x00\x00\x00\x02", "big"),
        (b"GGUF\x00\x00", "little"),  # truncated: the reader refuses it later
    ],
)
def test_gguf_byte_order(head: bytes, order: str) -> None:
    assert gguf_byte_order(Window(head)) == order


def test_big_endian_gguf_is_read_like_little_endian() -> None:
    little, big = (SAFE / "gguf_little_endian.gguf").read_bytes(), (SAFE / "gguf_big_endian.gguf").read_bytes()
    assert little[4:8] == b"\x03\0\0\0" and big[4:8] == b"\0\0\0\x03"
    for name, data in (("little", little), ("big", big)):
        result = scan_bytes(data, f"{name}.gguf")
        assert (result.format, result.verdict) == ("gguf", "safe"), result.findings
    wanted = gguf_metadata(Window(big), lambda key: key == "general.architecture")
    assert wanted == {"general.architecture": "llama"}
    for order in ("little", "big"):
        assert scan_bytes(_gguf(order, "{{ m.content }}"), "m.gguf").verdict == "safe"
        hostile = scan_bytes(_gguf(order, "{{ cycler.__init__.__globals__.os.popen('id') }}"), "m.gguf")
        assert hostile.verdict == "malicious", (order, hostile)
        assert "GGUF version 4" in str(scan_bytes(_gguf(order, "", version=4), "m.gguf").findings)


# -- end to end: lock refuses or records a .pt2 as the policy says -----------------------------------------


def test_lock_refuses_a_pt2_by_default_and_records_it_when_scanning(project: Path, hub: FakeHub) -> None:
    hub.repo("acme/exported").commit({"model.pt2": (SAFE / "pt2_dynamic_guards.pt2").read_bytes()})
    (project / "modellock.toml").write_text('[models.exported]\nrepo = "acme/exported"\n')
    before = snapshot(project)
    run = cli("lock")
    assert run.exit_code == 1 and "model.pt2 (pt2): pickle-based" in run.stderr
    assert snapshot(project) == before
    (project / "modellock.toml").write_text('[policy]\npickle = "scan"\n\n[models.exported]\nrepo = "acme/exported"\n')
    run = cli("lock")
    assert run.exit_code == 0, run.stderr
    assert 'format = "pt2", scan = "clean"' in (project / "modellock.lock").read_text()
    hub.repo("acme/evil").commit({"model.pt2": (MALICIOUS / "pt2_sympy_expression_payload.pt2").read_bytes()})
    (project / "modellock.toml").write_text('[policy]\npickle = "allow"\n\n[models.evil]\nrepo = "acme/evil"\n')
    run = cli("lock")
    assert run.exit_code == 1 and "malicious" in run.stderr and "symbolic expression" in run.stderr


# -- PT2: torchbind objects and the flat layout before the PT2 archive ---------------------------------


def test_torchbind_classes_are_accepted_in_custom_objects_only() -> None:
    data = (SAFE / "pt2_custom_object.pt2").read_bytes()
    assert b"__torch__.torch.classes.quantized" in data  # a real packed-parameters object, pickled by torch
    assert scan_bytes(data, "model.pt2").verdict == "clean"
    torchbind = corpus.P2 + corpus.g("__torch__.torch.classes.quantized", "LinearPackedParamsBase") + b")\x81."
    as_inputs = _rewrite(data, {"data/sample_inputs/model.pt": corpus.torch_zip(torchbind)})
    assert "not on the allowlist" in _findings(as_inputs, "suspicious")  # torch.load would not resolve it
    system = corpus.P2 + corpus.g("__torch__.torch.classes.os", "system") + b")\x81."
    as_object = _rewrite(data, {"data/constants/custom_obj_0": corpus.torch_zip(system)})
    assert "custom_obj_0" in _findings(as_object, "malicious")


def test_the_flat_layout_before_pt2_archives() -> None:
    data = (SAFE / "pt2_legacy_layout.pt2").read_bytes()
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "serialized_exported_program.json" in names and "version" in names
    result = scan_bytes(data, "model.pt2")
    assert (result.format, result.kind, result.verdict) == ("pt2", "pickle", "clean"), result.findings
    hostile = scan_bytes((MALICIOUS / "pt2_legacy_inputs_payload.pt2").read_bytes(), "model.pt2")
    assert hostile.verdict == "malicious" and "serialized_example_inputs.pt" in str(hostile.findings)
    flat = zipfile.ZipFile(io.BytesIO(data))

    def rebuilt(change: dict[str, bytes]) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as dst:
            for info in flat.infolist():
                dst.writestr(info.filename, change.get(info.filename, flat.read(info.filename)))
            for name in change.keys() - set(flat.namelist()):
                dst.writestr(name, change[name])
        return out.getvalue()

    program = json.loads(flat.read("serialized_exported_program.json"))
    program["guards_code"] = ["__import__('os').system('x') == 0"]
    assert "guard" in _findings(
        rebuilt({"serialized_exported_program.json": json.dumps(program).encode()}), "malicious"
    )
    assert "not part of a torch.export archive" in _findings(rebuilt({"evil.pkl": corpus.call("os", "system")}))
    assert "schema version" in _findings(rebuilt({"version": b"x"}))


# -- mutations end in a verdict, never in "the scanner could not parse it" -------------------------------


def test_mutated_archives_end_in_a_verdict() -> None:
    import random

    from tests.test_scan_fuzz import mutants

    rng = random.Random(20)
    for name in ("pt2_dynamic_guards.pt2", "pt2_legacy_layout.pt2", "torch_crc0.pt", "gguf_big_endian.gguf"):
        for data in mutants((SAFE / name).read_bytes(), rng):
            result = scan_bytes(data, name)
            assert result.verdict in ("safe", "clean") or result.findings
            assert result.format != "unparsed", (name, result.findings)


def _mutate(value: object, rng: object) -> object:
    """One node somewhere in a JSON document replaced by a value of another shape."""
    import random

    assert isinstance(rng, random.Random)
    replacements: list[object] = [None, 0, -1, 2**70, 1.5, "x", "__import__", [], {}, [None], {"a": None}, True]
    if isinstance(value, dict) and value and rng.random() < 0.85:
        key = rng.choice(list(value))
        return {**value, key: _mutate(value[key], rng)}
    if isinstance(value, list) and value and rng.random() < 0.85:
        at = rng.randrange(len(value))
        return [*value[:at], _mutate(value[at], rng), *value[at + 1 :]]
    return rng.choice(replacements)


def test_programs_and_configs_of_any_shape_end_in_a_verdict() -> None:
    import random

    rng = random.Random(21)
    data = (SAFE / "pt2_dynamic_guards.pt2").read_bytes()
    records = ["models/model.json", "data/weights/model_weights_config.json",
               "data/constants/model_constants_config.json"]  # fmt: skip
    archive = zipfile.ZipFile(io.BytesIO(data))
    documents = {r: json.loads(archive.read(f"pt2_dynamic_guards/{r}")) for r in records}
    for _ in range(400):
        record = rng.choice(records)
        mutated = _rewrite(data, {record: json.dumps(_mutate(documents[record], rng)).encode()})
        result = scan_bytes(mutated, "model.pt2")
        assert result.format == "pt2", result
        assert result.verdict in ("clean", "safe") or result.findings


def test_lock_takes_a_big_endian_gguf_by_default_and_a_crc0_checkpoint_when_scanning(
    project: Path, hub: FakeHub
) -> None:
    hub.repo("acme/quant").commit({"model.gguf": (SAFE / "gguf_big_endian.gguf").read_bytes()})
    hub.repo("acme/ckpt").commit({"pytorch_model.bin": (SAFE / "torch_crc0.pt").read_bytes()})
    (project / "modellock.toml").write_text('[models.quant]\nrepo = "acme/quant"\n')
    run = cli("lock")
    assert run.exit_code == 0, run.stderr  # pickle = "deny" (the default) has nothing to refuse
    (project / "modellock.toml").write_text(
        '[policy]\npickle = "scan"\n\n[models.quant]\nrepo = "acme/quant"\n\n[models.ckpt]\nrepo = "acme/ckpt"\n'
    )
    run = cli("lock")
    assert run.exit_code == 0, run.stderr
    text = (project / "modellock.lock").read_text()
    assert 'format = "gguf"' in text and 'format = "torch-zip", scan = "clean"' in text
    assert cli("sync").exit_code == 0
